//! The sink trait and the unit sinks receive. A sink reports each indicator's outcome itself,
//! through the [`Ledger`], because only the sink knows when an indicator is delivered (for
//! ThreatConnect: when its batch job reports it as a success, long after `send` returned).

use async_trait::async_trait;

use crate::indicator::Indicator;
use crate::ledger::Ledger;
use crate::record::Origin;

/// An indicator ready for a sink, with the origin needed to report its outcome.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub origin: Origin,
    pub indicator: Indicator,
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

    /// Takes a batch of indicators. Every delivery must end up counted in the ledger as
    /// delivered or rejected, either before `send` returns or by the end of `finish`.
    async fn send(&mut self, batch: Vec<Delivery>, ledger: &Ledger) -> Result<(), SinkError>;

    /// Flushes buffered indicators and waits for outstanding work; called once at the end of a
    /// run, also when the reader stopped on a broken feed.
    async fn finish(&mut self, ledger: &Ledger) -> Result<(), SinkError>;
}
