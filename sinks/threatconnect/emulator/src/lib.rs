//! A local emulator of ThreatConnect's v2 batch API over real HTTP.
//!
//! It serves the batch endpoints under `/api` with ThreatConnect's authentication, job state
//! machine, per-item validation, limits and error formats, keeps the written indicators in an
//! upsert store, and injects counted, repeatable faults. Tests and trial runs point a
//! ThreatConnect client at [`EmulatorHandle::base_url`] instead of a real instance.
//!
//! ```no_run
//! # async fn example() -> Result<(), feedpipe_tc_emulator::EmulatorError> {
//! use feedpipe_tc_emulator::{Emulator, EmulatorConfig};
//!
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! let base_url = emulator.base_url(); // http://127.0.0.1:<port>/api
//! // … run a client against base_url …
//! let stored = emulator.indicators();
//! emulator.shutdown().await;
//! # let _ = (base_url, stored);
//! # Ok(())
//! # }
//! ```

mod admin;
mod api;
mod auth;
mod body;
mod config;
mod faults;
mod item;
mod job;
mod process;
mod response;
mod routes;
mod server;
mod state;
mod store;
mod values;

pub use auth::hmac_signature;
pub use config::{AttributeTypes, Credentials, EmulatorConfig, Secret, UploadResponse};
pub use faults::{Endpoint, FaultAction, FaultPlan, FaultRule, RetryAfter};
pub use item::{AttributeValue, MAX_TAG_LENGTH};
pub use job::{
    Action, AttributeWriteType, Counts, FileMergeMode, HashCollisionMode, JobConfig, JobState,
    JobView, SetWriteType, Version,
};
pub use server::{Emulator, EmulatorError, EmulatorHandle};
pub use state::RequestRecord;
pub use store::StoredIndicator;
