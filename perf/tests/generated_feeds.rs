//! Generated feeds through the real splitter, parser and classify stage: every catalog feed
//! splits and parses completely, and only the intended share of records (URL masks with a
//! wildcard inside a label or path) is rejected.

use std::collections::BTreeMap;
use std::sync::Arc;

use feedpipe_perf::generate::write_feed;
use feedpipe_pipeline::parser::Parser;
use feedpipe_pipeline::splitter::{Splitter, SplitterConfig};
use feedpipe_pipeline::{FeedCatalog, FeedSpec, ItemState, KeyKind, Stage};
use feedpipe_stages::ClassifyStage;

const RECORDS: u64 = 4000;

/// Generates, splits, parses and classifies one feed; returns the reject counts by code.
fn classify_generated(spec: &'static FeedSpec) -> BTreeMap<String, u64> {
    let mut text = Vec::new();
    write_feed(spec, RECORDS, 21, &mut text).unwrap();

    let config = SplitterConfig::default();
    let mut splitter = Splitter::new(&text[..], config);
    let mut parser = Parser::new();
    let source: Arc<str> = Arc::from("generated.json");
    let mut frames = Vec::new();
    while let Some(frame) = splitter.next_frame().unwrap() {
        frames.push(frame);
    }
    let mut items = parser.parse_batch(frames, spec, &source, config.max_element_bytes);
    assert_eq!(items.len() as u64, RECORDS, "{}", spec.name);

    ClassifyStage::new().process(&mut items);
    let mut rejects = BTreeMap::new();
    for item in &items {
        match &item.state {
            ItemState::Indicator(_) => {}
            ItemState::Rejected(reject) => *rejects.entry(reject.code.clone()).or_insert(0) += 1,
            other => panic!("{}: unexpected state {other:?}", spec.name),
        }
    }
    rejects
}

#[test]
fn feeds_reject_only_wildcard_masks() {
    for spec in FeedCatalog.all() {
        let rejects = classify_generated(spec);
        let other: Vec<_> = rejects
            .iter()
            .filter(|(code, _)| code.as_str() != "wildcard_mask")
            .collect();
        assert!(other.is_empty(), "{}: {rejects:?}", spec.name);
        if matches!(spec.key, KeyKind::Ip | KeyKind::Hash) {
            assert!(rejects.is_empty(), "{}: {rejects:?}", spec.name);
        }
    }
}

#[test]
fn url_feed_rejects_only_inner_wildcards() {
    let spec = FeedCatalog.lookup("Malicious URL").unwrap();
    let rejects = classify_generated(spec);
    let wildcards = rejects.get("wildcard_mask").copied().unwrap_or(0);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(
        (RECORDS / 100..RECORDS / 20).contains(&wildcards),
        "{wildcards} wildcard rejects in {RECORDS} records"
    );
}
