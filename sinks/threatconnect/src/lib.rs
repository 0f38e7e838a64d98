//! The ThreatConnect batch sink: delivers indicators to a ThreatConnect instance through the v2
//! batch API, in jobs bounded by indicator count and upload bytes, with a bounded number of
//! jobs in flight, and reports every indicator as delivered or rejected from the job's results.
//!
//! ```no_run
//! # async fn wire(ledger: &feedpipe_pipeline::Ledger) -> Result<(), Box<dyn std::error::Error>> {
//! use feedpipe_pipeline::Sink;
//! use feedpipe_sink_threatconnect::{ThreatConnectSink, ThreatConnectSinkConfig};
//!
//! let config = ThreatConnectSinkConfig {
//!     api_url: "https://tc.example.org/api".to_owned(),
//!     owner: "Example Org".to_owned(),
//!     ..ThreatConnectSinkConfig::default()
//! };
//! let mut sink = ThreatConnectSink::new(config)?;
//! sink.finish(ledger).await?;
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod batcher;
pub mod client;
pub mod config;
pub mod dry_run;
pub mod errors;
pub mod job;
pub mod job_config;
pub mod matching;
pub mod retry;
pub mod secret;
pub mod sink;
pub mod stats;

pub use config::{
    AttributeWriteType, AuthMethod, ConfigError, TagWriteType, ThreatConnectSinkConfig, UploadMode,
};
pub use errors::{BuildError, JobError};
pub use secret::Secret;
pub use sink::ThreatConnectSink;
