//! The synthetic feed generator. It writes one feed file (a top-level JSON array, pretty-printed
//! like Kaspersky's files) record by record into a buffered writer, so memory stays at one record
//! plus the write buffer whatever the record count, and the output depends only on the feed, the
//! record count and the seed.

mod fields;
mod json;
mod shapes;
mod vocab;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use feedpipe_pipeline::FeedSpec;
use flate2::Compression;
use flate2::write::GzEncoder;

pub use shapes::Shape;

use fields::Synth;

/// Size of the output buffer between the generator and the file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// A failure to write a generated feed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("failed to create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("failed to write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Writes a feed of `records` records of `spec`'s shape to `out` and returns the number of
/// bytes written.
pub fn write_feed<W: Write>(
    spec: &FeedSpec,
    records: u64,
    seed: u64,
    out: &mut W,
) -> io::Result<u64> {
    let shape = Shape::of(spec);
    let mut synth = Synth::new(seed);
    let mut written = 0u64;

    out.write_all(b"[")?;
    written += 1;
    for index in 0..records {
        synth.buf.start_element(index);
        shape.write_record(&mut synth, index);
        let bytes = synth.buf.as_bytes();
        out.write_all(bytes)?;
        written += bytes.len() as u64;
    }
    out.write_all(b"\n]\n")?;
    written += 3;
    Ok(written)
}

/// Writes a feed to `path`: gzip-compressed when the name ends in `.gz`, plain JSON otherwise.
/// Returns the number of uncompressed bytes.
pub fn write_feed_file(
    spec: &FeedSpec,
    records: u64,
    seed: u64,
    path: &Path,
) -> Result<u64, GenerateError> {
    let write_error = |source| GenerateError::Write {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(|source| GenerateError::Create {
        path: path.to_owned(),
        source,
    })?;
    let gzip = path.extension().is_some_and(|extension| extension == "gz");

    let written = if gzip {
        // Level 1 keeps generation fast; decompression speed barely depends on the level.
        let encoder = GzEncoder::new(file, Compression::fast());
        let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, encoder);
        let written = write_feed(spec, records, seed, &mut out).map_err(write_error)?;
        let encoder = out
            .into_inner()
            .map_err(|error| write_error(error.into_error()))?;
        encoder.finish().map_err(write_error)?;
        written
    } else {
        let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        let written = write_feed(spec, records, seed, &mut out).map_err(write_error)?;
        out.flush().map_err(write_error)?;
        written
    };
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use feedpipe_pipeline::FeedCatalog;
    use flate2::read::GzDecoder;
    use serde_json::Value;

    use super::*;

    fn generate(feed: &str, records: u64, seed: u64) -> Vec<u8> {
        let spec = FeedCatalog.lookup(feed).unwrap();
        let mut out = Vec::new();
        let written = write_feed(spec, records, seed, &mut out).unwrap();
        assert_eq!(written, out.len() as u64);
        out
    }

    fn parse(bytes: &[u8]) -> Vec<Value> {
        serde_json::from_slice(bytes).expect("generated feed is valid JSON")
    }

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(generate("68", 500, 11), generate("68", 500, 11));
        assert_ne!(generate("68", 500, 11), generate("68", 500, 12));
    }

    #[test]
    fn every_catalog_feed_is_valid_json_with_its_key() {
        for spec in FeedCatalog.all() {
            let records = parse(&generate(spec.name, 300, 5));
            assert_eq!(records.len(), 300, "{}", spec.name);
            for record in &records {
                let has_key = ["ip", "mask", "MD5"]
                    .iter()
                    .any(|key| record.get(key).is_some_and(Value::is_string));
                assert!(has_key, "{}: record without key field: {record}", spec.name);
            }
        }
    }

    #[test]
    fn record_count_matches() {
        for count in [0, 1, 2, 1000] {
            assert_eq!(parse(&generate("116", count, 1)).len() as u64, count);
        }
    }

    #[test]
    fn ip_reputation_field_shares() {
        let records = parse(&generate("IP Reputation", 4000, 3));
        let share =
            |field: &str| records.iter().filter(|r| r.get(field).is_some()).count() as f64 / 4000.0;
        assert!(
            (0.45..0.55).contains(&share("ip_whois")),
            "{}",
            share("ip_whois")
        );
        assert!((0.15..0.25).contains(&share("files")), "{}", share("files"));
        assert!((0.95..0.995).contains(&share("popularity")));
        let bytes = generate("IP Reputation", 4000, 3).len() / 4000;
        assert!((300..=600).contains(&bytes), "{bytes} bytes per record");
        for record in &records {
            if let Some(popularity) = record.get("popularity") {
                assert!(popularity.as_u64().unwrap() <= 5, "{record}");
            }
            let first_seen = record["first_seen"].as_str().unwrap();
            assert_eq!(first_seen.len(), 16, "{first_seen}");
            assert_eq!(&first_seen[2..3], ".", "{first_seen}");
            assert_eq!(&first_seen[13..14], ":", "{first_seen}");
        }
    }

    #[test]
    fn url_masks_have_every_form() {
        let records = parse(&generate("Malicious URL", 2000, 8));
        let masks: Vec<&str> = records
            .iter()
            .map(|r| r["mask"].as_str().unwrap())
            .collect();
        let count = |predicate: fn(&str) -> bool| masks.iter().filter(|m| predicate(m)).count();
        let hosts = count(|m| !m.contains('/') && !m.contains('*') && !m.contains('?'));
        let paths = count(|m| m.contains('/') && !m.contains('*') && !m.contains('?'));
        let host_star = count(|m| m.ends_with("/*") && m.matches('*').count() == 1);
        let leading = count(|m| m.starts_with("*."));
        let inner = count(|m| m.contains('?') || m.contains("/*/") || m.contains("/*."));
        assert!(hosts > 800, "{hosts} host masks");
        assert!(paths > 600, "{paths} path masks");
        assert!(host_star > 100, "{host_star} host/* masks");
        assert!(leading > 50, "{leading} *.host masks");
        assert!((20..150).contains(&inner), "{inner} inner wildcards");
        assert!(
            masks
                .iter()
                .all(|m| m.contains("example") || m.contains('.'))
        );
    }

    #[test]
    fn gzip_file_decompresses_to_plain_output() {
        let directory = tempfile::tempdir().unwrap();
        let spec = FeedCatalog.lookup("66").unwrap();
        let plain_path = directory.path().join("Malicious_Hash_Data_Feed.json");
        let gzip_path = directory.path().join("Malicious_Hash_Data_Feed.json.gz");
        let plain_bytes = write_feed_file(spec, 700, 4, &plain_path).unwrap();
        let gzip_bytes = write_feed_file(spec, 700, 4, &gzip_path).unwrap();
        assert_eq!(plain_bytes, gzip_bytes);

        let plain = std::fs::read(&plain_path).unwrap();
        let mut unpacked = Vec::new();
        GzDecoder::new(File::open(&gzip_path).unwrap())
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, plain);
        assert!(std::fs::metadata(&gzip_path).unwrap().len() < plain_bytes / 2);
        assert_eq!(parse(&plain).len(), 700);
    }

    #[test]
    fn file_output_is_deterministic() {
        let directory = tempfile::tempdir().unwrap();
        let spec = FeedCatalog.lookup("137").unwrap();
        let first = directory.path().join("a.json.gz");
        let second = directory.path().join("b.json.gz");
        write_feed_file(spec, 300, 99, &first).unwrap();
        write_feed_file(spec, 300, 99, &second).unwrap();
        assert_eq!(
            std::fs::read(first).unwrap(),
            std::fs::read(second).unwrap()
        );
    }

    #[test]
    fn unwritable_path_names_the_path() {
        let spec = FeedCatalog.lookup("68").unwrap();
        let path = Path::new("/nonexistent-directory/feed.json");
        let error = write_feed_file(spec, 1, 1, path).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("/nonexistent-directory/feed.json")
        );
    }
}
