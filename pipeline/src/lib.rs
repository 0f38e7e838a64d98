//! feedpipe core: the record and indicator model, the Kaspersky feed catalog, sources, the
//! array splitter, the element parser, the `Stage` and `Sink` traits, the runner and the
//! outcome accounting that proves every record ends delivered, rejected or filtered.

pub mod catalog;
pub mod indicator;
pub mod json;
pub mod ledger;
pub mod parser;
pub mod pool;
pub mod profile;
pub mod record;
pub mod runner;
pub mod sink;
pub mod source;
pub mod splitter;
pub mod stage;

pub use catalog::{FeedCatalog, FeedSpec, KeyKind};
pub use indicator::{Attribute, Indicator, IndicatorType};
pub use ledger::{Ledger, Reject, RejectsFailure, Summary};
pub use record::{Item, ItemState, Object, Record, Value};
pub use sink::{Delivery, Encoder, Sink, SinkError};
pub use stage::Stage;
