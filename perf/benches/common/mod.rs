//! Bench inputs: a generated feed held in memory, its frames and its parsed records. Every bench
//! reports throughput in bytes of feed text, so the groups compare as shares of one pipeline pass.

#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use feedpipe_perf::generate::write_feed;
use feedpipe_pipeline::parser::Parser;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::splitter::{Frame, Splitter, SplitterConfig};
use feedpipe_pipeline::{FeedCatalog, FeedSpec, Item, Record, Value};

/// Records per bench input: large enough to leave the L2 cache, small enough to set up quickly.
pub const RECORDS: u64 = 10_000;

/// A generated feed and the forms later parts of the pipeline take it in.
pub struct Corpus {
    pub feed: &'static FeedSpec,
    /// The whole feed file.
    pub text: Vec<u8>,
    /// Each element with its offset.
    pub frames: Vec<(u64, Bytes)>,
    /// Each element parsed, with its strings copied out of the parse buffer.
    pub values: Vec<Value<'static>>,
}

impl Corpus {
    /// Generates `records` records of `feed` with a fixed seed, splits and parses them.
    pub fn new(feed: &str, records: u64) -> Corpus {
        let feed = FeedCatalog
            .lookup(feed)
            .unwrap_or_else(|| panic!("unknown feed {feed}"));
        let mut text = Vec::new();
        write_feed(feed, records, 1, &mut text).expect("writing to memory");

        let mut splitter = Splitter::new(&text[..], SplitterConfig::default());
        let mut frames = Vec::new();
        while let Some(frame) = splitter.next_frame().expect("generated feed splits") {
            let Frame::Element { offset, bytes } = frame else {
                panic!("generated element over the size cap");
            };
            frames.push((offset, bytes));
        }
        drop(splitter);

        let mut parser = Parser::new();
        let values = frames
            .iter()
            .map(|(_, bytes)| {
                let value = parser.parse(bytes).expect("generated element parses");
                value.into_static()
            })
            .collect();
        Corpus {
            feed,
            text,
            frames,
            values,
        }
    }

    /// Bytes of element text, the throughput unit of the per-record benches.
    pub fn element_bytes(&self) -> u64 {
        self.frames
            .iter()
            .map(|(_, bytes)| bytes.len() as u64)
            .sum()
    }

    /// Builds fresh `New` items, as the parser hands them to the stages.
    pub fn items(&self) -> Vec<Item<'static>> {
        let source: Arc<str> = Arc::from("bench.json");
        self.frames
            .iter()
            .zip(&self.values)
            .map(|((offset, bytes), value)| {
                let origin = Origin {
                    feed: self.feed,
                    source: source.clone(),
                    offset: *offset,
                    raw: bytes.clone(),
                };
                Item::new(Record {
                    origin,
                    value: value.clone(),
                })
            })
            .collect()
    }
}
