//! The ThreatConnect batch sink: batches deliveries into jobs and runs each job in its own
//! tokio task, at most `max_jobs_in_flight` at once.
//!
//! Backpressure: `send` waits for a free job slot (a semaphore permit) before it starts a job,
//! so a slow ThreatConnect instance slows the reader instead of growing a queue. A job keeps
//! its slot through all of its retries, polls and splits. Until ThreatConnect accepts the first
//! upload there is one slot. When the first jobs are too large for the server's upload limit,
//! the first one is rejected and split alone, and jobs built after that follow the limit it
//! stated. Jobs that outgrow the limit only after the slots opened can still be split side by
//! side.
//!
//! Memory bound: at most `max_jobs_in_flight` jobs in flight plus one job being filled (or
//! waiting for a slot), each containing at most `max_job_bytes` of upload body plus, per
//! indicator, its origin (feed, source name, offset and a copy of the original element bytes)
//! and its summary, kept to match ThreatConnect's error records to deliveries. So the sink uses
//! about `(max_jobs_in_flight + 1) × (max_job_bytes + max_indicators_per_job × origin size)` in
//! all. A completed job's error list adds to that while it is matched, and so does a second
//! copy of a job's body while it is split in halves. Request bodies share the job's buffer, so
//! a retry copies nothing, and finished bodies are filled again by later jobs.
//!
//! Accounting: each delivery ends counted exactly once in the [`Ledger`], delivered or
//! rejected, by the time `finish` returns; also when a job fails, because the failed job's
//! indicators and everything not yet sent are then rejected (`job_failed`, `not_sent`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use async_trait::async_trait;
use feedpipe_pipeline::ledger::Reject;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{Delivery, Ledger, Sink, SinkError};
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};
use tracing::{error, info};

use crate::auth::Credentials;
use crate::batcher::{Batcher, JobPayload};
use crate::client::TcClient;
use crate::config::ThreatConnectSinkConfig;
use crate::dry_run::DryRunWriter;
use crate::errors::BuildError;
use crate::job::{BatchJob, JobContext, JobReport};
use crate::job_config::BatchJobConfig;
use crate::stats::SinkStats;

const SINK_NAME: &str = "threatconnect";
/// Reject code of indicators never sent because the sink stopped on an earlier error.
pub const REJECT_NOT_SENT: &str = "not_sent";

enum Mode {
    Live {
        context: Arc<JobContext>,
        tasks: JoinSet<JobReport>,
    },
    DryRun(DryRunWriter),
}

/// Delivers indicators through ThreatConnect's v2 batch API.
pub struct ThreatConnectSink {
    batcher: Batcher,
    mode: Mode,
    stats: Arc<SinkStats>,
    /// The error that stopped the sink; later deliveries are rejected as `not_sent`.
    fatal: Option<String>,
}

impl ThreatConnectSink {
    /// Builds the sink from a validated-on-the-spot config, reading credentials from the files
    /// it names or from the `FEEDPIPE_TC_*` environment variables.
    pub fn new(config: ThreatConnectSinkConfig) -> Result<Self, BuildError> {
        Self::with_env(config, |name| std::env::var(name).ok())
    }

    /// Builds the sink with `env` in place of the process environment.
    pub fn with_env(
        config: ThreatConnectSinkConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        config.validate()?;
        let stats = Arc::new(SinkStats::default());
        let byte_limit = Arc::new(AtomicUsize::new(config.max_job_bytes));
        // Buffers of the jobs in flight, the one being filled and one that waits for a slot.
        let kept_jobs = config.max_jobs_in_flight + 2;
        let batcher = Batcher::new(config.max_indicators_per_job, byte_limit.clone(), kept_jobs);
        let job_config = BatchJobConfig::from_config(&config).to_json();

        let mode = if config.dry_run {
            let writer = DryRunWriter::new(&config.dry_run_dir, job_config).map_err(|source| {
                BuildError::DryRunDir {
                    path: config.dry_run_dir.display().to_string(),
                    source,
                }
            })?;
            Mode::DryRun(writer)
        } else {
            let credentials = Credentials::load(&config, env)?;
            let client = TcClient::new(&config, credentials, stats.clone())?;
            let context = Arc::new(JobContext {
                client: Arc::new(client),
                config: Arc::new(config),
                job_config,
                stats: stats.clone(),
                byte_limit,
                slots: Arc::new(Semaphore::new(1)),
                slots_opened: AtomicBool::new(false),
            });
            Mode::Live {
                context,
                tasks: JoinSet::new(),
            }
        };
        Ok(ThreatConnectSink {
            batcher,
            mode,
            stats,
            fatal: None,
        })
    }

    /// Starts a job, waiting for a free slot first; in a dry run, writes its files.
    async fn dispatch(&mut self, payload: JobPayload, ledger: &Ledger) -> Result<(), SinkError> {
        let slots = match &mut self.mode {
            Mode::DryRun(writer) => {
                let path = writer.write(&payload).map_err(|source| {
                    SinkError::new(
                        SINK_NAME,
                        format!(
                            "cannot write dry-run job file in {}: {source}",
                            writer.dir().display()
                        ),
                    )
                })?;
                self.stats.job_submitted(payload.len(), payload.byte_len());
                info!(
                    path = %path.display(),
                    indicators = payload.len(),
                    bytes = payload.byte_len(),
                    "Dry run: wrote ThreatConnect batch job file."
                );
                ledger.add_delivered(payload.entries.iter().map(|entry| &entry.origin));
                return Ok(());
            }
            Mode::Live { context, .. } => context.slots.clone(),
        };

        let permit = slots
            .acquire_owned()
            .await
            .map_err(|_| SinkError::new(SINK_NAME, "the job slot semaphore was closed"))?;
        self.collect_finished(ledger)?;
        if self.fatal.is_some() {
            drop(permit);
            self.reject_unsent(
                payload.entries.into_iter().map(|entry| entry.origin),
                ledger,
            )?;
            return Err(self.stop_error());
        }
        if let Mode::Live { context, tasks, .. } = &mut self.mode {
            let job = BatchJob::new(context.clone(), payload);
            tasks.spawn(async move {
                let report = job.run().await;
                drop(permit);
                report
            });
        }
        Ok(())
    }

    /// Counts the outcomes of jobs that have finished, without waiting.
    fn collect_finished(&mut self, ledger: &Ledger) -> Result<(), SinkError> {
        let mut finished = Vec::new();
        if let Mode::Live { tasks, .. } = &mut self.mode {
            while let Some(result) = tasks.try_join_next() {
                finished.push(result);
            }
        }
        for result in finished {
            self.record(result, ledger)?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        result: Result<JobReport, JoinError>,
        ledger: &Ledger,
    ) -> Result<(), SinkError> {
        let report = match result {
            Ok(report) => report,
            Err(join_error) => {
                // NOTE: a panicked job task loses its indicators' outcomes, so the run's
                // counts no longer balance, and the stop error reports it.
                self.fatal.get_or_insert_with(|| {
                    format!("a batch job task ended abnormally ({join_error}); its indicators are uncounted")
                });
                return Ok(());
            }
        };
        ledger.add_delivered(report.delivered.iter());
        for (origin, reject) in &report.rejected {
            add_rejected(ledger, origin, reject)?;
        }
        if let Some(fatal) = report.fatal {
            error!(error = %fatal, "ThreatConnect sink stopped.");
            self.fatal.get_or_insert_with(|| fatal.to_string());
        }
        Ok(())
    }

    fn reject_unsent(
        &self,
        origins: impl IntoIterator<Item = Origin>,
        ledger: &Ledger,
    ) -> Result<(), SinkError> {
        let reject = Reject::new(
            REJECT_NOT_SENT,
            format!(
                "not sent: the ThreatConnect sink stopped on an earlier error: {}",
                self.fatal.as_deref().unwrap_or("unknown")
            ),
        );
        for origin in origins {
            add_rejected(ledger, &origin, &reject)?;
        }
        Ok(())
    }

    fn stop_error(&self) -> SinkError {
        SinkError::new(
            SINK_NAME,
            self.fatal.clone().unwrap_or_else(|| "stopped".to_owned()),
        )
    }
}

fn add_rejected(ledger: &Ledger, origin: &Origin, reject: &Reject) -> Result<(), SinkError> {
    ledger.add_rejected(origin, reject).map_err(|error| {
        SinkError::new(SINK_NAME, format!("cannot write the rejects file: {error}"))
    })
}

#[async_trait]
impl Sink for ThreatConnectSink {
    fn name(&self) -> &'static str {
        SINK_NAME
    }

    fn encoder(&self) -> Option<std::sync::Arc<dyn feedpipe_pipeline::Encoder>> {
        Some(std::sync::Arc::new(crate::batcher::IndicatorEncoder))
    }

    async fn send(&mut self, batch: &mut Vec<Delivery>, ledger: &Ledger) -> Result<(), SinkError> {
        self.collect_finished(ledger)?;
        if self.fatal.is_some() {
            self.reject_unsent(batch.drain(..).map(|delivery| delivery.origin), ledger)?;
            return Err(self.stop_error());
        }

        let mut ready = Vec::new();
        let mut deliveries = batch.drain(..);
        while let Some(delivery) = deliveries.next() {
            if let Err(rejected) = self.batcher.push(delivery, &mut ready) {
                let (origin, reject) = *rejected;
                add_rejected(ledger, &origin, &reject)?;
            }

            // A full job leaves at once, so the batcher keeps one unfinished job at most.
            let mut full = std::mem::take(&mut ready).into_iter();
            while let Some(payload) = full.next() {
                if let Err(error) = self.dispatch(payload, ledger).await {
                    let mut unsent: Vec<Origin> = full
                        .flat_map(|payload| payload.entries)
                        .map(|entry| entry.origin)
                        .collect();
                    unsent.extend(
                        self.batcher.flush().into_iter().flat_map(|payload| {
                            payload.entries.into_iter().map(|entry| entry.origin)
                        }),
                    );
                    unsent.extend(deliveries.map(|delivery| delivery.origin));
                    self.reject_unsent(unsent, ledger)?;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    async fn finish(&mut self, ledger: &Ledger) -> Result<(), SinkError> {
        let mut result = Ok(());
        if let Some(payload) = self.batcher.flush() {
            if self.fatal.is_some() {
                self.reject_unsent(
                    payload.entries.into_iter().map(|entry| entry.origin),
                    ledger,
                )?;
            } else if let Err(error) = self.dispatch(payload, ledger).await {
                result = Err(error);
            }
        }

        loop {
            let next = match &mut self.mode {
                Mode::Live { tasks, .. } => tasks.join_next().await,
                Mode::DryRun(_) => None,
            };
            let Some(finished) = next else { break };
            self.record(finished, ledger)?;
        }

        let dry_run = matches!(self.mode, Mode::DryRun(_));
        self.stats.write_to(ledger, dry_run);
        if let Mode::DryRun(writer) = &self.mode {
            ledger.set_sink_stat(
                "threatconnect_dry_run_dir",
                serde_json::Value::String(writer.dir().display().to_string()),
            );
        }
        if self.fatal.is_some() {
            return Err(self.stop_error());
        }
        result
    }
}
