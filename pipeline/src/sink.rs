//! The sink trait and the unit sinks receive. A sink reports each indicator's outcome itself,
//! through the [`Ledger`], because only the sink can tell when an indicator is delivered (for
//! ThreatConnect: when its batch job reports it as a success, long after `send` returned).

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::indicator::Indicator;
use crate::ledger::Ledger;
use crate::record::Origin;

/// An indicator ready for a sink, with the origin needed to report its outcome.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub origin: Origin,
    pub indicator: Indicator,
    /// The indicator in the sink's output form, when the sink has an [`Encoder`]; encoded on
    /// a worker thread so that the sink's own thread only writes. When it is set, `indicator`
    /// keeps only its type and summary.
    pub encoded: Option<Bytes>,
}

impl Delivery {
    pub fn new(origin: Origin, indicator: Indicator) -> Self {
        Delivery {
            origin,
            indicator,
            encoded: None,
        }
    }
}

/// Turns an indicator into a sink's output bytes. Workers run it in parallel, so encoding costs
/// no time on the sink's thread.
pub trait Encoder: Send + Sync {
    /// Appends the encoded delivery to `out`.
    fn encode(&self, delivery: &Delivery, out: &mut Vec<u8>) -> io::Result<()>;
}

/// A failure that stops the run: the sink can deliver nothing more.
#[derive(Debug, thiserror::Error)]
#[error("{sink} sink failed: {message}")]
pub struct SinkError {
    pub sink: &'static str,
    pub message: String,
}

impl SinkError {
    pub fn new(sink: &'static str, message: impl Into<String>) -> Self {
        SinkError {
            sink,
            message: message.into(),
        }
    }
}

#[async_trait]
pub trait Sink: Send {
    /// Short name used in logs, metrics and the summary (`file`, `threatconnect`, `null`).
    fn name(&self) -> &'static str;

    /// Returns the encoder the workers apply to every delivery before it reaches `send`, if the
    /// sink writes a per-indicator encoding.
    fn encoder(&self) -> Option<Arc<dyn Encoder>> {
        None
    }

    /// Takes a batch of indicators. Every delivery must end up counted in the ledger as
    /// delivered or rejected, either before `send` returns or by the end of `finish`. A sink
    /// that keeps deliveries past the call moves them out of `batch`. The runner drops what is
    /// left and reuses the emptied vector for a later batch.
    async fn send(&mut self, batch: &mut Vec<Delivery>, ledger: &Ledger) -> Result<(), SinkError>;

    /// Flushes buffered indicators and waits for outstanding work; called once at the end of a
    /// run, also when the reader stopped on a broken feed.
    async fn finish(&mut self, ledger: &Ledger) -> Result<(), SinkError>;
}
