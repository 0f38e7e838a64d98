//! The null sink: counts indicators as delivered and drops them. It measures the pipeline
//! without any output cost, for profiling.

use async_trait::async_trait;
use feedpipe_pipeline::{Delivery, Ledger, Sink, SinkError};

/// Drops every indicator after counting it delivered.
#[derive(Debug, Default)]
pub struct NullSink {
    dropped: u64,
}

#[async_trait]
impl Sink for NullSink {
    fn name(&self) -> &'static str {
        "null"
    }

    async fn send(&mut self, batch: Vec<Delivery>, ledger: &Ledger) -> Result<(), SinkError> {
        self.dropped += batch.len() as u64;
        ledger.add_delivered(batch.iter().map(|delivery| &delivery.origin));
        Ok(())
    }

    async fn finish(&mut self, ledger: &Ledger) -> Result<(), SinkError> {
        ledger.set_sink_stat("null.indicators_dropped", self.dropped.into());
        Ok(())
    }
}
