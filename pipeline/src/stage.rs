//! The stage trait. A stage is a synchronous transform over a batch of items; it runs on a
//! worker thread, so CPU-bound work never blocks the async runtime. A stage only touches items
//! whose state it is responsible for: classify turns `New` into `Indicator` or `Rejected`, and
//! later stages only change items that are `Indicator`.

use crate::record::Item;

pub trait Stage: Send + Sync {
    /// Short name used in logs, metrics and profiles (`classify`, `tag`, `rate`).
    fn name(&self) -> &'static str;

    /// Transforms the batch in place.
    fn process(&self, batch: &mut [Item<'_>]);

    /// Returns named event counts for the run summary, for example how many records got the
    /// default rating because their popularity was missing. Stages count with atomics so that
    /// several worker threads can share one stage.
    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}
