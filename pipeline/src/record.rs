//! Records as they travel through the stages: the parsed element, where it came from, and the
//! outcome the stages have decided so far.

use std::sync::Arc;

use bytes::Bytes;

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

/// A parsed feed element. Its strings borrow the text the worker parsed in place, so a value
/// lives no longer than the batch it belongs to.
pub type Value<'a> = simd_json::BorrowedValue<'a>;

/// The fields of a parsed object, in record order for up to 32 fields.
pub type Object<'a> = simd_json::borrowed::Object<'a>;

/// One parsed feed element.
#[derive(Debug)]
pub struct Record<'a> {
    pub origin: Origin,
    /// The element as parsed by simd-json; every field, known or not, is kept.
    pub value: Value<'a>,
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
pub struct Item<'a> {
    pub record: Record<'a>,
    pub state: ItemState,
}

impl<'a> Item<'a> {
    /// Wraps a freshly parsed record.
    pub fn new(record: Record<'a>) -> Self {
        Item {
            record,
            state: ItemState::New,
        }
    }

    /// Copies the borrowed strings of the record into the item, so that it can outlive its
    /// batch.
    pub fn into_static(self) -> Item<'static> {
        Item {
            record: Record {
                origin: self.record.origin,
                value: self.record.value.into_static(),
            },
            state: self.state,
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
