//! Test helpers: items built from JSON text as the parser would hand them to the stages.

use std::sync::Arc;

use bytes::Bytes;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{FeedCatalog, FeedSpec, Item, Record};

use crate::fields::parse;

/// Returns the catalog entry named `feed` (display name, prefix or ID).
pub fn feed(feed: &str) -> &'static FeedSpec {
    FeedCatalog
        .lookup(feed)
        .unwrap_or_else(|| panic!("unknown feed {feed}"))
}

/// Builds a `New` item of `feed` from one JSON element, read from a file named after the feed.
pub fn item(feed_name: &str, json: &str) -> Item<'static> {
    let spec = feed(feed_name);
    let source: Arc<str> = Arc::from(format!("/feeds/{}_240519_0832.json", spec.prefix));
    Item::new(Record {
        origin: Origin {
            feed: spec,
            source,
            offset: 1,
            raw: Bytes::copy_from_slice(json.as_bytes()),
        },
        value: parse(json),
    })
}
