//! Feed sources: a plain `.json` file, a `.json.gz` file, a `.zip` holding one feed, every feed
//! file of a directory, or standard input. Every source is read as a stream; none is loaded into
//! memory whole. A source's feed is recognised from its file-name prefix unless the run names it.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use flate2::read::MultiGzDecoder;

use crate::catalog::{FeedCatalog, FeedSpec};

/// A source that cannot be opened or recognised.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot tell which feed {path} is: its name starts with no known feed prefix; \
         rename it or pass --feed NAME|ID. Known prefixes: {known}"
    )]
    UnknownFeed { path: String, known: String },
    #[error("unknown feed {name:?}; run `feedpipe feeds` for the catalog. Known prefixes: {known}")]
    UnknownFeedName { name: String, known: String },
    #[error("reading standard input ('-') needs --feed NAME|ID")]
    StdinNeedsFeed,
    #[error(
        "standard input holds a zip archive, but '-' reads plain or gzip JSON only; \
         name the .zip file instead"
    )]
    StdinZip,
    #[error("{path} holds {count} files; a feed archive must hold exactly one feed file")]
    ZipEntries { path: String, count: usize },
    #[error("cannot open zip archive {path}: {message}")]
    Zip { path: String, message: String },
    #[error("{path} is not a feed file: expected .json, .json.gz or .zip")]
    UnsupportedFile { path: String },
    #[error("feed file or directory {path} not found")]
    NotFound { path: String },
    #[error("directory {path} holds no feed files (.json, .json.gz or .zip)")]
    EmptyDirectory { path: String },
}

/// The container a source's bytes are stored in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Container {
    Plain(PathBuf),
    Gzip(PathBuf),
    Zip(PathBuf),
    Stdin,
}

/// One feed to read.
#[derive(Clone, Debug)]
pub struct FeedSource {
    pub feed: &'static FeedSpec,
    /// Name used in logs, the summary and the rejects file.
    pub name: Arc<str>,
    pub container: Container,
}

impl FeedSource {
    /// Opens the source and passes its decompressed bytes to `read`. Zip entries borrow their
    /// archive, so the reader is lent to a closure instead of returned.
    pub fn with_reader<T>(
        &self,
        read: impl FnOnce(&mut (dyn Read + Send)) -> T,
    ) -> Result<T, SourceError> {
        self.with_reader_until(None, read)
    }

    /// Opens the source as [`FeedSource::with_reader`] does, but a read of standard input fails
    /// once `stop` is set, so that an interrupted run does not wait for more input.
    pub fn with_reader_until<T>(
        &self,
        stop: Option<&Arc<AtomicBool>>,
        read: impl FnOnce(&mut (dyn Read + Send)) -> T,
    ) -> Result<T, SourceError> {
        match &self.container {
            Container::Plain(path) => {
                let mut file = open(path)?;
                Ok(read(&mut file))
            }
            Container::Gzip(path) => {
                let mut decoder = GzipReader(MultiGzDecoder::new(BufReader::new(open(path)?)));
                Ok(read(&mut decoder))
            }
            Container::Zip(path) => {
                let mut archive =
                    zip::ZipArchive::new(open(path)?).map_err(|error| zip_error(path, error))?;
                let index = single_entry(&mut archive, path)?;
                let mut entry = archive
                    .by_index(index)
                    .map_err(|error| zip_error(path, error))?;
                Ok(read(&mut entry))
            }
            Container::Stdin => {
                let stdin_error = |source| SourceError::Io {
                    path: "standard input".to_owned(),
                    source,
                };
                let mut stdin = StdinChunks::start(stop.cloned()).map_err(stdin_error)?;
                let head = read_head(&mut stdin).map_err(stdin_error)?;
                if head.starts_with(b"PK") {
                    return Err(SourceError::StdinZip);
                }
                let mut whole = io::Cursor::new(head.clone()).chain(stdin);
                if head.starts_with(&GZIP_MAGIC) {
                    Ok(read(&mut GzipReader(MultiGzDecoder::new(BufReader::new(
                        whole,
                    )))))
                } else {
                    Ok(read(&mut whole))
                }
            }
        }
    }
}

/// A gzip decoder whose errors name the gzip stream as their cause. flate2 reports a stream
/// cut short, or followed by bytes that are not gzip, as an unexpected end of file.
struct GzipReader<R>(MultiGzDecoder<R>);

impl<R: Read> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|error| {
            let hint = if error.kind() == io::ErrorKind::UnexpectedEof {
                " (the gzip data is cut short or followed by bytes that are not gzip)"
            } else {
                ""
            };
            io::Error::new(error.kind(), format!("gzip stream: {error}{hint}"))
        })
    }
}

/// Bytes per read of standard input.
const STDIN_CHUNK_BYTES: usize = 256 * 1024;

/// Maximum number of chunks of standard input read ahead.
const STDIN_CHUNKS_AHEAD: usize = 4;

/// How often a read waiting for standard input checks whether the run was stopped.
const STDIN_STOP_POLL: Duration = Duration::from_millis(100);

/// Standard input, read on a thread of its own, so that a reader waiting for input can give up
/// when the run is stopped. A blocked read of standard input cannot be cancelled, so the thread
/// is left waiting and ends with the process.
struct StdinChunks {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    stop: Option<Arc<AtomicBool>>,
}

impl StdinChunks {
    fn start(stop: Option<Arc<AtomicBool>>) -> io::Result<Self> {
        let (sender, chunks) = mpsc::sync_channel(STDIN_CHUNKS_AHEAD);
        std::thread::Builder::new()
            .name("stdin".to_owned())
            .spawn(move || {
                let mut stdin = io::stdin();
                loop {
                    let mut chunk = vec![0; STDIN_CHUNK_BYTES];
                    let result = match stdin.read(&mut chunk) {
                        Ok(0) => return,
                        Ok(read) => {
                            chunk.truncate(read);
                            Ok(chunk)
                        }
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                        Err(error) => Err(error),
                    };
                    let failed = result.is_err();
                    if sender.send(result).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(StdinChunks {
            chunks,
            current: Vec::new(),
            at: 0,
            stop,
        })
    }
}

impl Read for StdinChunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Checked on every read, because input that keeps trickling in would otherwise keep a
        // stopped run reading until its batch is full.
        let stopped = || {
            self.stop
                .as_ref()
                .is_some_and(|stop| stop.load(Ordering::Relaxed))
        };
        let stopped_error = || io::Error::other("the run was stopped before the end of the input");
        if stopped() {
            return Err(stopped_error());
        }
        while self.at == self.current.len() {
            match self.chunks.recv_timeout(STDIN_STOP_POLL) {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.at = 0;
                }
                Err(mpsc::RecvTimeoutError::Timeout) if stopped() => return Err(stopped_error()),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let count = (self.current.len() - self.at).min(buf.len());
        buf[..count].copy_from_slice(&self.current[self.at..self.at + count]);
        self.at += count;
        Ok(count)
    }
}

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads the first byte of the input, and a second one when the first may start a gzip stream
/// or a zip archive, so that both are recognised however the pipe splits its first write. Fewer
/// bytes come back only at the end of the input.
fn read_head(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(2);
    input.take(1).read_to_end(&mut head)?;
    if matches!(head.first(), Some(&byte) if byte == GZIP_MAGIC[0] || byte == b'P') {
        input.take(1).read_to_end(&mut head)?;
    }
    Ok(head)
}

fn open(path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|source| SourceError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn zip_error(path: &Path, error: zip::result::ZipError) -> SourceError {
    SourceError::Zip {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}

fn single_entry(archive: &mut zip::ZipArchive<File>, path: &Path) -> Result<usize, SourceError> {
    let files: Vec<usize> = (0..archive.len())
        .filter(|&index| {
            archive
                .by_index_data(index)
                .map(|entry| !entry.is_dir())
                .unwrap_or(true)
        })
        .collect();
    match files.as_slice() {
        [index] => Ok(*index),
        _ => Err(SourceError::ZipEntries {
            path: path.display().to_string(),
            count: files.len(),
        }),
    }
}

fn zip_entry_name(path: &Path) -> Result<String, SourceError> {
    let mut archive = zip::ZipArchive::new(open(path)?).map_err(|error| zip_error(path, error))?;
    let index = single_entry(&mut archive, path)?;
    let entry = archive
        .by_index_data(index)
        .map_err(|error| zip_error(path, error))?;
    let name = entry.name().map_err(|error| zip_error(path, error))?;
    Ok(name.into_owned())
}

/// Tells a feed file's container from its extension.
fn container_of(path: &Path) -> Option<Container> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".json.gz") || name.ends_with(".gz") {
        Some(Container::Gzip(path.to_owned()))
    } else if name.ends_with(".zip") {
        Some(Container::Zip(path.to_owned()))
    } else if name.ends_with(".json") {
        Some(Container::Plain(path.to_owned()))
    } else {
        None
    }
}

/// Resolves command-line inputs (files, directories, `-`) into feed sources, in order. Files in a
/// directory are taken in name order. A directory entry that is not a feed file, or whose name
/// matches no feed, is skipped with a warning. A file named explicitly must be recognised, and a
/// file named twice is read once.
pub fn resolve(
    inputs: &[PathBuf],
    feed_override: Option<&str>,
) -> Result<Vec<FeedSource>, SourceError> {
    let catalog = FeedCatalog;
    let forced = match feed_override {
        Some(name) => Some(
            catalog
                .lookup(name)
                .ok_or_else(|| SourceError::UnknownFeedName {
                    name: name.to_owned(),
                    known: catalog.prefixes(),
                })?,
        ),
        None => None,
    };

    let mut sources: Vec<FeedSource> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            if sources
                .iter()
                .any(|source| source.container == Container::Stdin)
            {
                tracing::warn!("Standard input is named twice; reading it once.");
                continue;
            }
            let feed = forced.ok_or(SourceError::StdinNeedsFeed)?;
            sources.push(FeedSource {
                feed,
                name: Arc::from("-"),
                container: Container::Stdin,
            });
        } else if input.is_dir() {
            let found = resolve_directory(input, forced)?;
            if found.is_empty() {
                return Err(SourceError::EmptyDirectory {
                    path: input.display().to_string(),
                });
            }
            for source in found {
                push_once(&mut sources, &mut seen, source);
            }
        } else {
            let source = resolve_file(input, forced)?;
            push_once(&mut sources, &mut seen, source);
        }
    }
    Ok(sources)
}

/// Adds a source unless the same file was already named, directly or through a directory.
fn push_once(
    sources: &mut Vec<FeedSource>,
    seen: &mut std::collections::HashSet<PathBuf>,
    source: FeedSource,
) {
    let path = match &source.container {
        Container::Plain(path) | Container::Gzip(path) | Container::Zip(path) => path,
        Container::Stdin => {
            sources.push(source);
            return;
        }
    };
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
    if seen.insert(key) {
        sources.push(source);
    } else {
        tracing::warn!(source = %source.name, "Skipping a feed file named twice; reading it once.");
    }
}

fn resolve_directory(
    dir: &Path,
    forced: Option<&'static FeedSpec>,
) -> Result<Vec<FeedSource>, SourceError> {
    let io_error = |source| SourceError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let hidden = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with('.'));
        if hidden || container_of(&path).is_none() {
            continue;
        }
        if path.is_file() {
            paths.push(path);
        } else {
            // A dangling link or a subdirectory named like a feed file is reported, not skipped silently.
            tracing::warn!(
                path = %path.display(),
                "Skipping a directory entry that is not a readable regular file."
            );
        }
    }
    paths.sort();

    let mut sources = Vec::new();
    for path in paths {
        match resolve_file(&path, forced) {
            Ok(source) => sources.push(source),
            Err(SourceError::UnknownFeed { path, .. }) => {
                tracing::warn!(%path, "Skipping a file whose name matches no feed prefix.");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(sources)
}

fn resolve_file(path: &Path, forced: Option<&'static FeedSpec>) -> Result<FeedSource, SourceError> {
    let display = path.display().to_string();
    if !path.exists() {
        return Err(SourceError::NotFound { path: display });
    }
    let container = container_of(path).ok_or_else(|| SourceError::UnsupportedFile {
        path: display.clone(),
    })?;
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    let catalog = FeedCatalog;

    let (feed, name) = match &container {
        Container::Zip(_) => match zip_entry_name(path) {
            Ok(entry) => {
                let entry_file = entry.rsplit('/').next().unwrap_or(&entry).to_owned();
                let feed = forced
                    .or_else(|| catalog.detect(file_name))
                    .or_else(|| catalog.detect(&entry_file));
                (feed, format!("{display}:{entry}"))
            }
            // A damaged archive whose name matches a feed is a broken source of that feed, as a
            // damaged .json.gz is, so the run reports it and goes on with the other feeds.
            Err(error) => match forced.or_else(|| catalog.detect(file_name)) {
                Some(feed) => (Some(feed), display.clone()),
                None => return Err(error),
            },
        },
        _ => (
            forced.or_else(|| catalog.detect(file_name)),
            display.clone(),
        ),
    };

    let feed = feed.ok_or_else(|| SourceError::UnknownFeed {
        path: display,
        known: catalog.prefixes(),
    })?;
    Ok(FeedSource {
        feed,
        name: Arc::from(name),
        container,
    })
}

/// Returns, for each source, the feed that supersedes it in this run, if any: an ordinary URL
/// feed gives way to its Exact version, and Vulnerability to ICS Vulnerability.
pub fn superseded(sources: &[FeedSource]) -> Vec<Option<&'static FeedSpec>> {
    sources
        .iter()
        .map(|source| {
            let prefix = source.feed.superseded_by?;
            sources
                .iter()
                .map(|other| other.feed)
                .find(|feed| feed.prefix == prefix)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Returns one byte per read call, as a pipe may.
    struct Trickle(std::collections::VecDeque<u8>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.pop_front(), buf.first_mut()) {
                (Some(byte), Some(slot)) => {
                    *slot = byte;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn head_reads_two_bytes_across_reads() {
        let mut input = Trickle([0x1f, 0x8b, 0x08].into_iter().collect());
        assert_eq!(read_head(&mut input).unwrap(), GZIP_MAGIC);
        let mut rest = Vec::new();
        input.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, [0x08]);

        let mut short = Trickle([0x1f].into_iter().collect());
        assert_eq!(read_head(&mut short).unwrap(), [0x1f]);
        // JSON can start neither a gzip stream nor a zip archive, so one byte is enough.
        let mut json = Trickle(b"[{".iter().copied().collect());
        assert_eq!(read_head(&mut json).unwrap(), b"[");
        let mut rest = Vec::new();
        json.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"{");
        let mut empty = Trickle(Default::default());
        assert!(read_head(&mut empty).unwrap().is_empty());
    }

    fn read_all(source: &FeedSource) -> String {
        source
            .with_reader(|reader| {
                let mut text = String::new();
                reader.read_to_string(&mut text).unwrap();
                text
            })
            .unwrap()
    }

    #[test]
    fn reads_plain_gzip_and_zip() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"[{"ip":"192.0.2.1"}]"#;

        let plain = dir.path().join("IP_Reputation_Data_Feed_261201_0900.json");
        std::fs::write(&plain, body).unwrap();

        let gzip = dir.path().join("APT_IP_Data_Feed_261201_0900.json.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&gzip).unwrap(),
            flate2::Compression::fast(),
        );
        encoder.write_all(body.as_bytes()).unwrap();
        encoder.finish().unwrap();

        let archive = dir.path().join("Demo_APT_IP_Data_Feed_261201_0900.zip");
        let mut writer = zip::ZipWriter::new(File::create(&archive).unwrap());
        writer
            .start_file(
                "Demo_APT_IP_Data_Feed_261201_0900.json",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        writer.write_all(body.as_bytes()).unwrap();
        writer.finish().unwrap();

        let sources = resolve(&[dir.path().to_owned()], None).unwrap();
        let feeds: Vec<&str> = sources.iter().map(|source| source.feed.name).collect();
        assert_eq!(feeds, ["APT IP", "Demo APT IP", "IP Reputation"]);
        for source in &sources {
            assert_eq!(read_all(source), body, "{}", source.name);
        }
        assert!(
            sources[1]
                .name
                .ends_with(".zip:Demo_APT_IP_Data_Feed_261201_0900.json")
        );
    }

    #[test]
    fn unknown_file_name_lists_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.json");
        std::fs::write(&path, "[]").unwrap();
        let error = resolve(std::slice::from_ref(&path), None).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("feed.json"), "{message}");
        assert!(message.contains("IP_Reputation_Data_Feed"), "{message}");

        let forced = resolve(&[path], Some("68")).unwrap();
        assert_eq!(forced[0].feed.name, "IP Reputation");
    }

    #[test]
    fn missing_file_is_not_found() {
        let error = resolve(
            &[PathBuf::from("/nonexistent/IP_Reputation_Data_Feed_1.json")],
            None,
        )
        .unwrap_err();
        assert!(matches!(error, SourceError::NotFound { .. }), "{error}");
        let error = resolve(&[PathBuf::from("/nonexistent/feed.json")], None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "feed file or directory /nonexistent/feed.json not found"
        );
    }

    #[test]
    fn unknown_feed_override_is_an_error() {
        let error = resolve(&[PathBuf::from("-")], Some("Nope")).unwrap_err();
        assert!(matches!(error, SourceError::UnknownFeedName { .. }));
        let error = resolve(&[PathBuf::from("-")], None).unwrap_err();
        assert!(matches!(error, SourceError::StdinNeedsFeed));
    }

    #[test]
    fn directory_skips_unrecognised_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "x").unwrap();
        std::fs::write(dir.path().join("notes.json"), "[]").unwrap();
        std::fs::write(dir.path().join("APT_URL_Data_Feed_1.json"), "[]").unwrap();
        let sources = resolve(&[dir.path().to_owned()], None).unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].feed.id, Some(91));
    }

    #[test]
    fn file_named_twice_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("APT_URL_Data_Feed_1.json");
        std::fs::write(&path, "[]").unwrap();
        let inputs = [
            path.clone(),
            dir.path().to_owned(),
            dir.path().join(".").join("APT_URL_Data_Feed_1.json"),
        ];
        let sources = resolve(&inputs, None).unwrap();
        assert_eq!(sources.len(), 1);
    }

    #[test]
    fn zip_with_two_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("APT_URL_Data_Feed_1.zip");
        let mut writer = zip::ZipWriter::new(File::create(&archive).unwrap());
        for name in ["a.json", "b.json"] {
            writer
                .start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(b"[]").unwrap();
        }
        writer.finish().unwrap();
        let sources = resolve(&[archive], None).unwrap();
        let error = sources[0].with_reader(|_| ()).unwrap_err();
        assert!(
            matches!(error, SourceError::ZipEntries { count: 2, .. }),
            "{error}"
        );

        let damaged = dir.path().join("APT_IP_Data_Feed_1.zip");
        std::fs::write(&damaged, b"PK not really a zip").unwrap();
        let sources = resolve(&[damaged], None).unwrap();
        let error = sources[0].with_reader(|_| ()).unwrap_err();
        assert!(matches!(error, SourceError::Zip { .. }), "{error}");

        let unnamed = dir.path().join("archive.zip");
        std::fs::write(&unnamed, b"PK not really a zip").unwrap();
        assert!(resolve(&[unnamed], None).is_err());
    }

    #[test]
    fn exact_feed_supersedes_ordinary_feed() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "Malicious_URL_Data_Feed_1.json",
            "Malicious_URL_Exact_Data_Feed_1.json",
            "Vulnerability_Data_Feed_1.json",
            "Phishing_URL_Data_Feed_1.json",
        ] {
            std::fs::write(dir.path().join(name), "[]").unwrap();
        }
        let sources = resolve(&[dir.path().to_owned()], None).unwrap();
        let by: Vec<(&str, Option<&str>)> = sources
            .iter()
            .zip(superseded(&sources))
            .map(|(source, by)| (source.feed.name, by.map(|feed| feed.name)))
            .collect();
        assert_eq!(
            by,
            [
                ("Malicious URL", Some("Malicious URL Exact")),
                ("Malicious URL Exact", None),
                ("Phishing URL", None),
                ("Vulnerability", None),
            ]
        );
    }
}
