//! Checks that the Python ijson peer of the comparison writes the same indicator objects as
//! feedpipe. The test generates an IP Reputation feed and runs it through feedpipe's splitter,
//! parser, stages and JSON encoder. It runs `perf/peers/ijson_convert.py` on the same file and
//! compares the two outputs line by line.
//!
//! The test needs python3 with ijson. Without them it prints a notice and passes, unless
//! `FEEDPIPE_REQUIRE_PEERS` is set, as CI sets it, in which case it fails.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use feedpipe_perf::generate::write_feed;
use feedpipe_pipeline::json::write_indicator;
use feedpipe_pipeline::parser::Parser;
use feedpipe_pipeline::splitter::{Splitter, SplitterConfig};
use feedpipe_pipeline::{FeedCatalog, ItemState};
use feedpipe_stages::{RateConfig, standard_stages};

const RECORDS: u64 = 3000;

/// Checks whether python3 can import ijson. Fails the test when it cannot and
/// `FEEDPIPE_REQUIRE_PEERS` is set.
fn ijson_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import ijson"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        assert!(
            std::env::var_os("FEEDPIPE_REQUIRE_PEERS").is_none(),
            "python3 with ijson is required (pip install ijson)"
        );
        eprintln!("skipped: python3 with ijson is not installed (pip install ijson)");
    }
    available
}

/// Converts the feed file at `path` as feedpipe's file sink does, one JSON line per indicator.
fn feedpipe_lines(path: &Path) -> Vec<String> {
    let spec = FeedCatalog.lookup("IP Reputation").unwrap();
    let text = std::fs::read(path).unwrap();
    let config = SplitterConfig::default();
    let mut splitter = Splitter::new(&text[..], config);
    let mut frames = Vec::new();
    while let Some(frame) = splitter.next_frame().unwrap() {
        frames.push(frame);
    }
    let source: Arc<str> = Arc::from(path.to_str().unwrap());
    let mut parser = Parser::new();
    let mut items = parser.parse_batch(frames, spec, &source, config.max_element_bytes);
    for stage in standard_stages(RateConfig::default()).unwrap() {
        stage.process(&mut items);
    }
    items
        .iter()
        .map(|item| match &item.state {
            ItemState::Indicator(indicator) => {
                let mut line = Vec::new();
                write_indicator(&mut line, indicator);
                String::from_utf8(line).unwrap()
            }
            other => panic!(
                "record at {} not delivered: {other:?}",
                item.record.origin.offset
            ),
        })
        .collect()
}

#[test]
fn ijson_peer_matches_feedpipe_output() {
    if !ijson_available() {
        return;
    }
    let spec = FeedCatalog.lookup("IP Reputation").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("IP_Reputation_Data_Feed_peer.json");
    let mut text = Vec::new();
    write_feed(spec, RECORDS, 5, &mut text).unwrap();
    std::fs::write(&feed, &text).unwrap();

    let output = dir.path().join("ijson.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/ijson_convert.py");
    let run = Command::new("python3")
        .arg(&script)
        .arg(&feed)
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let expected = feedpipe_lines(&feed);
    let written = std::fs::read_to_string(&output).unwrap();
    let written: Vec<&str> = written.lines().collect();
    assert_eq!(written.len(), expected.len());
    for (index, (peer, ours)) in written.iter().zip(&expected).enumerate() {
        let peer: serde_json::Value = serde_json::from_str(peer).unwrap();
        let ours: serde_json::Value = serde_json::from_str(ours).unwrap();
        assert_eq!(peer, ours, "line {}", index + 1);
    }
}
