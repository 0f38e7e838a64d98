//! Records as they travel through the stages: the parsed element, where it came from, and the
//! outcome the stages have decided so far.

use std::sync::Arc;

use bytes::Bytes;
use simd_json::OwnedValue;

use crate::catalog::FeedSpec;
use crate::indicator::Indicator;
use crate::ledger::Reject;

/// The provenance of a record: its feed, its source file and the byte offset of its first byte.
/// `raw` is the element's original text, kept for the rejects file.
#[derive(Clone, Debug)]
pub struct Origin {
    pub feed: &'static FeedSpec,
    /// Source name as given on the command line (a path, a path inside a zip, or `-`).
    pub source: Arc<str>,
    /// Byte offset of the element's first byte in the decompressed feed.
    pub offset: u64,
    pub raw: Bytes,
}

/// One parsed feed element.
#[derive(Debug)]
pub struct Record {
    pub origin: Origin,
    /// The element as parsed by simd-json; every field, known or not, is kept.
    pub value: OwnedValue,
}

/// The outcome a record has reached so far.
#[derive(Debug)]
pub enum ItemState {
    /// Parsed and not yet classified.
    New,
    /// Classified; later stages fill in tags, rating, confidence and attributes.
    Indicator(Box<Indicator>),
    /// It cannot become an indicator.
    Rejected(Reject),
    /// A rule removed it on purpose; the text is the reason counted in the summary.
    Filtered(String),
}

/// A record and its state, the unit that stages work on.
#[derive(Debug)]
pub struct Item {
    pub record: Record,
    pub state: ItemState,
}

impl Item {
    /// Wraps a freshly parsed record.
    pub fn new(record: Record) -> Self {
        Item {
            record,
            state: ItemState::New,
        }
    }

    /// Marks the item rejected.
    pub fn reject(&mut self, reject: Reject) {
        self.state = ItemState::Rejected(reject);
    }

    /// Returns the indicator when the item is still on its way to a sink.
    pub fn indicator_mut(&mut self) -> Option<&mut Indicator> {
        match &mut self.state {
            ItemState::Indicator(indicator) => Some(indicator),
            _ => None,
        }
    }
}
