//! The null sink: counts indicators as delivered and drops them. It measures the pipeline
//! without any output cost, for profiling.

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use feedpipe_pipeline::{Delivery, Encoder, Ledger, Sink, SinkError};

/// Drops every indicator after counting it delivered.
#[derive(Debug, Default)]
pub struct NullSink {
    dropped: u64,
}

/// The null sink's output form, which is empty. Workers still run it, so they free each
/// indicator as they would after encoding it for a real sink.
struct EmptyEncoder;

impl Encoder for EmptyEncoder {
    fn encode(&self, _delivery: &Delivery, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl Sink for NullSink {
    fn name(&self) -> &'static str {
        "null"
    }

    fn encoder(&self) -> Option<Arc<dyn Encoder>> {
        Some(Arc::new(EmptyEncoder))
    }

    async fn send(&mut self, batch: &mut Vec<Delivery>, ledger: &Ledger) -> Result<(), SinkError> {
        self.dropped += batch.len() as u64;
        ledger.add_delivered(batch.iter().map(|delivery| &delivery.origin));
        Ok(())
    }

    async fn finish(&mut self, ledger: &Ledger) -> Result<(), SinkError> {
        ledger.set_sink_stat("null.indicators_dropped", self.dropped.into());
        Ok(())
    }
}
