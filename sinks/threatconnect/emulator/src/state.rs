//! Shared emulator state: jobs, the indicator store, the fault plan and the request log.
//!
//! One mutex guards all of it, and it is never held across an `.await`, so a handler reads
//! and changes jobs, store and faults atomically.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::faults::{Endpoint, FaultPlan};
use crate::job::{Job, JobConfig, JobState, JobView};
use crate::process::{BatchContext, BatchOutcome, process_batch};
use crate::store::{IndicatorStore, StoredIndicator};

/// Most requests the log keeps; older entries are dropped first.
const REQUEST_LOG_CAPACITY: usize = 10_000;

/// One API request as the emulator saw it (`GET /_emulator/requests`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Emulator clock when the request arrived, Unix milliseconds.
    pub at_ms: u64,
    pub method: String,
    /// Path and query exactly as received.
    pub target: String,
    pub endpoint: Option<Endpoint>,
    /// Response status; `None` when the connection was dropped instead.
    pub status: Option<u16>,
    /// `hmac` or `token` when the request authenticated.
    pub auth: Option<&'static str>,
    /// The injected fault, if one fired.
    pub fault: Option<String>,
}

/// Everything behind the emulator's mutex.
pub struct Inner {
    pub jobs: BTreeMap<u64, Job>,
    next_job_id: u64,
    pub store: IndicatorStore,
    pub faults: FaultPlan,
    pub requests: VecDeque<RequestRecord>,
    job_tasks: Vec<JoinHandle<()>>,
}

/// State shared by every connection of one emulator.
pub struct Shared {
    pub config: EmulatorConfig,
    inner: Mutex<Inner>,
}

/// Processing plan of a just-accepted upload.
pub struct Acceptance {
    pub delay: Duration,
    pub stalled: bool,
}

impl Shared {
    pub fn new(config: EmulatorConfig) -> Shared {
        let inner = Inner {
            jobs: BTreeMap::new(),
            next_job_id: 0,
            store: IndicatorStore::new(&config.security_labels),
            faults: config.faults.clone(),
            requests: VecDeque::new(),
            job_tasks: Vec::new(),
        };
        Shared {
            config,
            inner: Mutex::new(inner),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A handler that panicked left consistent data (every change is one assignment), so a
        // poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the emulator clock in Unix milliseconds: the system clock plus the fault offset.
    pub fn now_ms(&self) -> u64 {
        let offset_ms = self.lock().faults.clock_offset_secs * 1000;
        let system_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        (system_ms + offset_ms).max(0) as u64
    }

    pub fn now_secs(&self) -> i64 {
        (self.now_ms() / 1000) as i64
    }

    pub fn record_request(&self, record: RequestRecord) {
        let mut inner = self.lock();
        if inner.requests.len() == REQUEST_LOG_CAPACITY {
            inner.requests.pop_front();
        }
        inner.requests.push_back(record);
    }

    /// Creates a job in state Created and returns its id.
    pub fn create_job(&self, config: JobConfig) -> u64 {
        let now_ms = self.now_ms();
        let mut inner = self.lock();
        inner.next_job_id += 1;
        let id = inner.next_job_id;
        inner.jobs.insert(id, Job::new(id, config, now_ms));
        tracing::debug!(batch_id = id, "Batch job created.");
        id
    }

    /// Moves a Created job to Queued with its data size, and returns how to process it; `None`
    /// when the job already has data.
    pub fn accept_upload(&self, id: u64, upload_bytes: usize) -> Option<Acceptance> {
        let now_ms = self.now_ms();
        let mut inner = self.lock();
        let acceptance = Acceptance {
            delay: Duration::from_millis(inner.faults.job_delay_millis),
            stalled: inner.faults.take_stalled_job(),
        };
        let running_polls = inner.faults.running_polls;
        let job = inner.jobs.get_mut(&id)?;
        if job.state != JobState::Created {
            return None;
        }
        job.state = JobState::Queued;
        job.upload_bytes = Some(upload_bytes);
        job.queued_at_ms = Some(now_ms);
        job.running_polls_left = running_polls;
        Some(acceptance)
    }

    /// Processes a queued job's data at once and completes it.
    pub fn process_now(&self, id: u64, data: &[u8]) {
        let now_ms = self.now_ms();
        let mut inner = self.lock();
        let Some(job) = inner.jobs.get(&id) else {
            return;
        };
        let config = job.config.clone();
        let context = BatchContext {
            job_id: id,
            config: &config,
            attribute_types: &self.config.attribute_types,
            max_indicators: self.config.max_indicators_per_job,
        };
        let BatchOutcome { counts, errors } = process_batch(data, &context, &mut inner.store);
        if let Some(job) = inner.jobs.get_mut(&id) {
            job.counts = counts;
            job.errors = errors;
            job.state = JobState::Completed;
            job.completed_at_ms = Some(now_ms);
        }
        tracing::debug!(
            batch_id = id,
            success = counts.success_count,
            errors = counts.error_count,
            unprocessed = counts.unprocess_count,
            "Batch job completed."
        );
    }

    /// Starts processing a queued job in the background: Running, the configured delay, then
    /// the items. A stalled job stays Running.
    pub fn spawn_job(self: &Arc<Self>, id: u64, data: Bytes, acceptance: Acceptance) {
        let shared = Arc::clone(self);
        let task = tokio::spawn(async move {
            shared.set_running(id);
            if acceptance.stalled {
                tracing::info!(batch_id = id, "Batch job stalled by fault injection.");
                return;
            }
            tokio::time::sleep(acceptance.delay).await;
            shared.process_now(id, &data);
        });

        let mut inner = self.lock();
        inner.job_tasks.retain(|task| !task.is_finished());
        inner.job_tasks.push(task);
    }

    fn set_running(&self, id: u64) {
        if let Some(job) = self.lock().jobs.get_mut(&id)
            && job.state == JobState::Queued
        {
            job.state = JobState::Running;
        }
    }

    /// Stops every background job.
    pub fn abort_jobs(&self) {
        for task in self.lock().job_tasks.drain(..) {
            task.abort();
        }
    }

    /// Forgets all jobs, indicators and logged requests, and restores the configured faults.
    pub fn reset(&self) {
        self.abort_jobs();
        let mut inner = self.lock();
        inner.jobs.clear();
        inner.store = IndicatorStore::new(&self.config.security_labels);
        inner.faults = self.config.faults.clone();
        inner.requests.clear();
    }

    pub fn indicators(&self) -> Vec<StoredIndicator> {
        self.lock().store.list()
    }

    pub fn jobs(&self) -> Vec<JobView> {
        self.lock().jobs.values().map(Job::view).collect()
    }
}
