use std::sync::Arc;

use bytes::Bytes;
use feedpipe_pipeline::catalog::FEEDS;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{Indicator, IndicatorType};

use super::*;

fn delivery(summary: &str, offset: u64) -> Delivery {
    let mut indicator = Indicator::new(IndicatorType::Address, summary);
    indicator.rating = 4;
    indicator.confidence = 90;
    indicator.add_tag("Kaspersky");
    indicator.add_tag("IP_Reputation");
    indicator.add_attribute("Description", "line one, \"quoted\"\nline two");
    indicator.first_seen = Some("2015-01-21T00:00:00Z".to_owned());
    Delivery {
        origin: Origin {
            feed: &FEEDS[0],
            source: Arc::from("IP_Reputation_Data_Feed_1.json"),
            offset,
            raw: Bytes::new(),
        },
        indicator,
        encoded: None,
    }
}

#[tokio::test]
async fn jsonl_lines_are_batch_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/indicators.jsonl");
    let ledger = Ledger::new(None).unwrap();
    let mut sink = FileSink::create(&path, FileFormat::Jsonl).unwrap();
    sink.send(
        &mut vec![delivery("192.0.2.1", 1), delivery("192.0.2.2", 90)],
        &ledger,
    )
    .await
    .unwrap();
    assert!(
        !path.exists(),
        "the file appears only when the run finishes"
    );
    sink.finish(&ledger).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "Address");
    assert_eq!(lines[0]["summary"], "192.0.2.1");
    assert_eq!(lines[0]["rating"], 4);
    assert_eq!(lines[0]["tag"][1]["name"], "IP_Reputation");
    assert_eq!(lines[0]["firstSeen"], "2015-01-21T00:00:00Z");
    let back: Indicator = serde_json::from_value(lines[1].clone()).unwrap();
    assert_eq!(back, delivery("192.0.2.2", 90).indicator);
    assert_eq!(ledger.summary().delivered, 2);
}

#[tokio::test]
async fn csv_rows_quote_text_and_keep_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indicators.csv");
    let ledger = Ledger::new(None).unwrap();
    let mut sink = FileSink::create(&path, FileFormat::Csv).unwrap();
    sink.send(&mut vec![delivery("192.0.2.1", 1)], &ledger)
        .await
        .unwrap();
    sink.finish(&ledger).await.unwrap();

    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.get(1), Some("summary"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get(0), Some("Address"));
    assert_eq!(rows[0].get(4), Some("Kaspersky;IP_Reputation"));
    let attributes: serde_json::Value = serde_json::from_str(rows[0].get(7).unwrap()).unwrap();
    assert_eq!(attributes[0]["value"], "line one, \"quoted\"\nline two");
    assert_eq!(rows[0].get(10), Some("1"));
}

#[test]
fn format_names_parse() {
    assert_eq!("CSV".parse::<FileFormat>().unwrap(), FileFormat::Csv);
    assert_eq!("jsonl".parse::<FileFormat>().unwrap(), FileFormat::Jsonl);
    assert!("xml".parse::<FileFormat>().unwrap_err().contains("xml"));
}

#[tokio::test]
async fn failed_write_rejects_the_batch() {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: /dev/full is not available on this system");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let ledger = Ledger::new(Some(&rejects)).unwrap();
    let mut sink = FileSink::create(full, FileFormat::Jsonl).unwrap();
    let error = sink
        .send(
            &mut vec![delivery("192.0.2.1", 1), delivery("192.0.2.2", 90)],
            &ledger,
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("/dev/full"), "{error}");
    assert!(sink.finish(&ledger).await.is_err());
    assert!(
        full.exists(),
        "the device is written in place, never replaced"
    );

    let summary = ledger.summary();
    assert_eq!(summary.delivered, 0);
    assert_eq!(summary.rejected, 2);
    assert_eq!(summary.sources[0].rejected_by_reason["sink_failed"], 2);
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_output_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.jsonl");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let ledger = Ledger::new(None).unwrap();
    let mut sink = FileSink::create(&link, FileFormat::Jsonl).unwrap();
    sink.send(&mut vec![delivery("192.0.2.1", 1)], &ledger)
        .await
        .unwrap();
    sink.finish(&ledger).await.unwrap();

    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("{\"type\":\"Address\""), "{text}");
    assert_eq!(text.lines().count(), 1);
}

#[test]
fn directory_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = FileSink::create(dir.path(), FileFormat::Jsonl)
        .err()
        .unwrap();
    assert!(error.to_string().contains("is a directory"), "{error}");
}
