//! Run figures of the ThreatConnect sink, kept both as `metrics` counters (for a live exporter)
//! and as totals for the run summary. Counters are bumped once per job or per request, never
//! per indicator.

use std::sync::atomic::{AtomicU64, Ordering};

use feedpipe_pipeline::Ledger;
use metrics::counter;

pub const JOBS_SUBMITTED: &str = "feedpipe_threatconnect_jobs_submitted_total";
pub const JOBS_RETRIED: &str = "feedpipe_threatconnect_jobs_retried_total";
pub const JOBS_FAILED: &str = "feedpipe_threatconnect_jobs_failed_total";
pub const REQUESTS_RETRIED: &str = "feedpipe_threatconnect_requests_retried_total";

/// Totals for one run.
#[derive(Debug, Default)]
pub struct SinkStats {
    jobs_submitted: AtomicU64,
    jobs_retried: AtomicU64,
    jobs_failed: AtomicU64,
    jobs_split: AtomicU64,
    requests_retried: AtomicU64,
    indicators_submitted: AtomicU64,
    bytes_submitted: AtomicU64,
    unmatched_errors: AtomicU64,
    count_mismatches: AtomicU64,
}

impl SinkStats {
    /// Counts a job whose data was sent (or, in a dry run, written).
    pub fn job_submitted(&self, indicators: usize, bytes: usize) {
        self.jobs_submitted.fetch_add(1, Ordering::Relaxed);
        self.indicators_submitted
            .fetch_add(indicators as u64, Ordering::Relaxed);
        self.bytes_submitted
            .fetch_add(bytes as u64, Ordering::Relaxed);
        counter!(JOBS_SUBMITTED).increment(1);
    }

    /// Counts an upload sent again after a failure.
    pub fn job_retried(&self) {
        self.jobs_retried.fetch_add(1, Ordering::Relaxed);
        counter!(JOBS_RETRIED).increment(1);
    }

    pub fn job_failed(&self) {
        self.jobs_failed.fetch_add(1, Ordering::Relaxed);
        counter!(JOBS_FAILED).increment(1);
    }

    pub fn job_split(&self) {
        self.jobs_split.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_retried(&self) {
        self.requests_retried.fetch_add(1, Ordering::Relaxed);
        counter!(REQUESTS_RETRIED).increment(1);
    }

    pub fn unmatched_errors(&self, count: usize) {
        self.unmatched_errors
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    pub fn count_mismatch(&self) {
        self.count_mismatches.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the totals into the run summary under `threatconnect_*` keys.
    pub fn write_to(&self, ledger: &Ledger, dry_run: bool) {
        let figures = [
            ("jobs_submitted", &self.jobs_submitted),
            ("jobs_retried", &self.jobs_retried),
            ("jobs_failed", &self.jobs_failed),
            ("jobs_split", &self.jobs_split),
            ("requests_retried", &self.requests_retried),
            ("indicators_submitted", &self.indicators_submitted),
            ("bytes_submitted", &self.bytes_submitted),
            ("unmatched_errors", &self.unmatched_errors),
            ("count_mismatches", &self.count_mismatches),
        ];
        for (name, value) in figures {
            ledger.set_sink_stat(
                &format!("threatconnect_{name}"),
                serde_json::Value::from(value.load(Ordering::Relaxed)),
            );
        }
        ledger.set_sink_stat("threatconnect_dry_run", serde_json::Value::Bool(dry_run));
    }

    pub fn jobs_submitted(&self) -> u64 {
        self.jobs_submitted.load(Ordering::Relaxed)
    }

    pub fn jobs_retried(&self) -> u64 {
        self.jobs_retried.load(Ordering::Relaxed)
    }

    pub fn requests_retried(&self) -> u64 {
        self.requests_retried.load(Ordering::Relaxed)
    }

    pub fn jobs_split(&self) -> u64 {
        self.jobs_split.load(Ordering::Relaxed)
    }
}
