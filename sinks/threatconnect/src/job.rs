//! One batch job from upload to per-indicator outcomes.
//!
//! Lifecycle: create the job and upload its data (two-step `POST /v2/batch` +
//! `POST /v2/batch/{id}`, or one multipart `createAndUpload`), poll `GET /v2/batch/{id}` at
//! growing intervals until `Completed` (there is no failed state), fetch `/errors` when
//! `errorCount > 0` (a 404 right after completion is retried), then give every indicator of
//! the job exactly one outcome: rejected when an error record names it, rejected as
//! `not_processed` when it is among the `unprocessCount` last indicators (haltOnError), and
//! delivered otherwise.
//!
//! Resend policy. An upload is never resent while the server may already have it:
//!
//! - Two-step (the default): the job ID is known before the data is sent. When an upload ends
//!   with an unknown outcome (timeout, dropped connection, 5xx), the job's status tells whether
//!   the data arrived: still `Created` means it did not, and the same job is uploaded again;
//!   any later status means it did, and the job is polled as usual. This holds for every
//!   attribute write type.
//! - createAndUpload: the job ID comes only with a successful response. With an idempotent
//!   `attributeWriteType` (Replace, Singleton, Static) a resend stores the same state, because
//!   indicators are upserts keyed by owner, type and summary, so the request is resent. With
//!   Append a resend would duplicate every attribute, so the job fails instead
//!   ([`JobError::UnsafeResend`]), and its indicators are rejected.
//!
//! A 400 "File size greater than allowable limit of N" splits the job in halves, which are
//! submitted as new jobs (recursively, down to single indicators), and lowers the byte limit
//! of later jobs to N. Any other failure ends the job: its indicators are rejected with code
//! `job_failed` and the error stops the run.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use feedpipe_pipeline::ledger::Reject;
use feedpipe_pipeline::record::Origin;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::batcher::JobPayload;
use crate::client::{Reply, RequestBody, Resend, TcClient};
use crate::config::{ThreatConnectSinkConfig, UploadMode};
use crate::errors::JobError;
use crate::matching::{BatchErrorRecord, match_errors, parse_error_list};
use crate::retry::RetryPolicy;
use crate::stats::SinkStats;

/// Reject code of ThreatConnect's own per-item errors.
pub const REJECT_THREATCONNECT: &str = "threatconnect";
/// Reject code of indicators a halted job left unprocessed.
pub const REJECT_NOT_PROCESSED: &str = "not_processed";
/// Reject code of indicators whose job failed as a whole.
pub const REJECT_JOB_FAILED: &str = "job_failed";
/// Reject code of an indicator that alone exceeds the server's upload limit.
pub const REJECT_TOO_LARGE: &str = "too_large";

/// Settings and clients shared by every job of a run.
pub struct JobContext {
    pub client: Arc<TcClient>,
    pub config: Arc<ThreatConnectSinkConfig>,
    /// The job configuration JSON.
    pub job_config: Bytes,
    pub stats: Arc<SinkStats>,
    /// Byte limit of new jobs, lowered when the server states a smaller one.
    pub byte_limit: Arc<AtomicUsize>,
    /// Permits for jobs in flight: one until ThreatConnect accepts an upload, then
    /// `max_jobs_in_flight`.
    pub slots: Arc<Semaphore>,
    /// Flag set once an upload was accepted and the other slots were opened.
    pub slots_opened: AtomicBool,
}

impl JobContext {
    /// Opens the remaining job slots once ThreatConnect has accepted an upload. Until then one
    /// job runs at a time, so jobs built before the server states a smaller byte limit are not
    /// uploaded and split side by side, each taking twice its size while it is split.
    fn upload_accepted(&self) {
        if !self.slots_opened.swap(true, Ordering::AcqRel) {
            let more = self.config.max_jobs_in_flight.saturating_sub(1);
            self.slots.add_permits(more);
        }
    }
}

/// Outcomes of one job (and of the jobs it was split into).
#[derive(Debug, Default)]
pub struct JobReport {
    pub delivered: Vec<Origin>,
    pub rejected: Vec<(Origin, Reject)>,
    /// The failure that should stop the run, if any.
    pub fatal: Option<JobError>,
}

/// A job's status as `GET /v2/batch/{id}` returns it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub error_count: u64,
    #[serde(default)]
    pub success_count: Option<u64>,
    #[serde(default)]
    pub unprocess_count: u64,
}

impl BatchStatus {
    pub fn is_completed(&self) -> bool {
        self.status == "Completed"
    }
}

/// One batch job: a payload and the shared context.
pub struct BatchJob {
    context: Arc<JobContext>,
    payload: JobPayload,
}

/// The end of one submitted job.
struct Completion {
    job_id: Option<u64>,
    status: BatchStatus,
    errors: Vec<BatchErrorRecord>,
    polls: u32,
}

impl BatchJob {
    pub fn new(context: Arc<JobContext>, payload: JobPayload) -> Self {
        BatchJob { context, payload }
    }

    /// Runs the job to the end and returns every indicator's outcome.
    pub async fn run(self) -> JobReport {
        let BatchJob { context, payload } = self;
        let mut queue = VecDeque::from([payload]);
        let mut report = JobReport::default();

        while let Some(payload) = queue.pop_front() {
            if let Some(fatal) = &report.fatal {
                reject_all(payload, REJECT_JOB_FAILED, &fatal.to_string(), &mut report);
                continue;
            }
            let started = Instant::now();
            match submit(&context, &payload).await {
                Ok(completion) => {
                    resolve(
                        &context,
                        payload,
                        completion,
                        started.elapsed(),
                        &mut report,
                    );
                }
                Err(JobError::TooLarge { request, limit }) => {
                    if limit > 0 {
                        context.byte_limit.fetch_min(limit, Ordering::Relaxed);
                    }
                    if payload.len() >= 2 {
                        context.stats.job_split();
                        warn!(
                            indicators = payload.len(),
                            bytes = payload.byte_len(),
                            limit,
                            "ThreatConnect rejected the job as too large; splitting it in halves."
                        );
                        let (first, second) = payload.split_halves();
                        queue.push_front(second);
                        queue.push_front(first);
                    } else {
                        let message = format!(
                            "{request}: the indicator alone exceeds the server's upload limit of \
                             {limit} bytes"
                        );
                        reject_all(payload, REJECT_TOO_LARGE, &message, &mut report);
                    }
                }
                Err(error) => {
                    context.stats.job_failed();
                    warn!(indicators = payload.len(), %error, "ThreatConnect batch job failed.");
                    reject_all(payload, REJECT_JOB_FAILED, &error.to_string(), &mut report);
                    report.fatal = Some(error);
                }
            }
        }
        report
    }
}

/// Uploads one payload and waits for its job to complete.
async fn submit(context: &JobContext, payload: &JobPayload) -> Result<Completion, JobError> {
    let (job_id, first_status) = match context.config.upload_mode {
        UploadMode::TwoStep => {
            let job_id = create_job(context).await?;
            upload(context, job_id, payload).await?;
            (Some(job_id), None)
        }
        UploadMode::CreateAndUpload => {
            let status = create_and_upload(context, payload).await?;
            (status.id, Some(status))
        }
    };
    context.upload_accepted();
    context
        .stats
        .job_submitted(payload.len(), payload.byte_len());

    let (status, polls) = match (job_id, first_status) {
        (_, Some(status)) if status.is_completed() => (status, 0),
        (Some(job_id), _) => poll(context, job_id).await?,
        (None, status) => {
            return Err(JobError::InvalidResponse {
                request: "POST /v2/batch/createAndUpload".to_owned(),
                detail: format!(
                    "the job is not completed ({:?}) and has no ID to poll",
                    status.map(|status| status.status).unwrap_or_default()
                ),
            });
        }
    };

    let errors = match (status.error_count > 0, job_id) {
        (true, Some(job_id)) => fetch_errors(context, job_id).await?,
        (true, None) => {
            return Err(JobError::InvalidResponse {
                request: "POST /v2/batch/createAndUpload".to_owned(),
                detail: format!(
                    "the job reports {} errors but has no ID to fetch them by, so its indicators \
                     cannot be told apart; use upload_mode two_step",
                    status.error_count
                ),
            });
        }
        (false, _) => Vec::new(),
    };
    if let Some(critical) = errors.iter().find(|error| error.is_critical()) {
        return Err(JobError::Critical {
            job_id: job_id.unwrap_or_default(),
            reason: critical.reason.clone(),
        });
    }
    Ok(Completion {
        job_id,
        status,
        errors,
        polls,
    })
}

/// `POST /v2/batch`: creates an empty job and returns its ID. Resending is harmless: a job
/// created by a lost request stays empty in `Created`.
async fn create_job(context: &JobContext) -> Result<u64, JobError> {
    let reply = context
        .client
        .request(
            Method::POST,
            "/v2/batch",
            RequestBody::Json(context.job_config.clone()),
            Resend::Always,
        )
        .await?;
    let value = json_body("POST /v2/batch", &reply)?;
    let batch_id = &value["data"]["batchId"];
    batch_id
        .as_u64()
        .or_else(|| batch_id.as_str().and_then(|text| text.parse().ok()))
        .ok_or_else(|| JobError::InvalidResponse {
            request: "POST /v2/batch".to_owned(),
            detail: format!("no data.batchId in {}", preview(&reply.body)),
        })
}

/// `POST /v2/batch/{id}`: uploads the data, resending only when the job is known not to have
/// received it.
async fn upload(context: &JobContext, job_id: u64, payload: &JobPayload) -> Result<(), JobError> {
    let path = format!("/v2/batch/{job_id}");
    let retry = RetryPolicy::from_config(&context.config);
    let mut uploads = 0;
    loop {
        uploads += 1;
        let result = context
            .client
            .request(
                Method::POST,
                &path,
                RequestBody::OctetStream(payload.body()),
                Resend::IfNotReceived,
            )
            .await;
        let failure = match result {
            Ok(_) => return Ok(()),
            Err(error @ JobError::Ambiguous { .. }) => error,
            // A repeated upload may find the first one arrived after all.
            Err(error @ JobError::Rejected { .. }) if uploads > 1 => error,
            Err(error) => return Err(error),
        };

        warn!(job_id, %failure, "Checking whether ThreatConnect received the job's data.");
        tokio::time::sleep(retry.delay(uploads, None)).await;
        let status = job_status(context, job_id).await?;
        if status.status != "Created" {
            info!(job_id, status = %status.status, "ThreatConnect has the job's data; not resending.");
            return Ok(());
        }
        if !retry.allows_another(uploads) {
            return Err(JobError::RetriesExhausted {
                request: format!("POST {path}"),
                attempts: uploads,
                last: failure.to_string(),
            });
        }
        context.stats.job_retried();
        info!(
            job_id,
            "ThreatConnect did not receive the job's data; uploading it again."
        );
    }
}

/// `POST /v2/batch/createAndUpload`, resent after an unknown outcome only when the attribute
/// write type makes a resend idempotent.
async fn create_and_upload(
    context: &JobContext,
    payload: &JobPayload,
) -> Result<BatchStatus, JobError> {
    let request = "POST /v2/batch/createAndUpload";
    let retry = RetryPolicy::from_config(&context.config);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = context
            .client
            .request(
                Method::POST,
                "/v2/batch/createAndUpload",
                RequestBody::Multipart {
                    config: context.job_config.clone(),
                    content: payload.body(),
                },
                Resend::IfNotReceived,
            )
            .await;
        let detail = match result {
            Ok(reply) => return batch_status(request, &reply),
            Err(JobError::Ambiguous { detail, .. }) => detail,
            Err(error) => return Err(error),
        };
        if !context.config.attribute_write_type.is_idempotent() {
            return Err(JobError::UnsafeResend {
                indicators: payload.len(),
                detail,
            });
        }
        if !retry.allows_another(attempts) {
            return Err(JobError::RetriesExhausted {
                request: request.to_owned(),
                attempts,
                last: detail,
            });
        }
        context.stats.job_retried();
        warn!(%detail, "Resending createAndUpload: the write types make a resend idempotent.");
        tokio::time::sleep(retry.delay(attempts, None)).await;
    }
}

/// Polls the job at growing intervals until it is `Completed` or the poll timeout passes.
async fn poll(context: &JobContext, job_id: u64) -> Result<(BatchStatus, u32), JobError> {
    let config = &context.config;
    let deadline = Instant::now() + config.poll_timeout();
    let mut interval = config.poll_initial_interval();
    let mut polls = 0;
    let mut last_status = String::from("unknown");
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(JobError::PollTimeout {
                job_id,
                waited: config.poll_timeout(),
                status: last_status,
            });
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        polls += 1;
        let status = job_status(context, job_id).await?;
        if status.is_completed() {
            return Ok((status, polls));
        }
        last_status = status.status;
        interval = interval
            .mul_f64(config.poll_growth_factor)
            .min(config.poll_max_interval());
    }
}

async fn job_status(context: &JobContext, job_id: u64) -> Result<BatchStatus, JobError> {
    let path = format!("/v2/batch/{job_id}");
    let reply = context
        .client
        .request(Method::GET, &path, RequestBody::Empty, Resend::Always)
        .await?;
    batch_status(&format!("GET {path}"), &reply)
}

/// `GET /v2/batch/{id}/errors`; a 404 right after completion means the list is not ready yet.
async fn fetch_errors(
    context: &JobContext,
    job_id: u64,
) -> Result<Vec<BatchErrorRecord>, JobError> {
    let path = format!("/v2/batch/{job_id}/errors");
    let mut not_found = 0;
    loop {
        let result = context
            .client
            .request(Method::GET, &path, RequestBody::Empty, Resend::Always)
            .await;
        match result {
            Ok(reply) => {
                return parse_error_list(&reply.body).map_err(|detail| JobError::InvalidResponse {
                    request: format!("GET {path}"),
                    detail,
                });
            }
            Err(error)
                if error.is_not_found() && not_found < context.config.errors_not_found_retries =>
            {
                not_found += 1;
                context.stats.request_retried();
                info!(
                    job_id,
                    attempt = not_found,
                    "Job error list not available yet; retrying."
                );
                tokio::time::sleep(context.config.errors_not_found_delay()).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Gives every indicator of a completed job its outcome.
fn resolve(
    context: &JobContext,
    payload: JobPayload,
    completion: Completion,
    duration: Duration,
    report: &mut JobReport,
) {
    let Completion {
        job_id,
        status,
        errors,
        polls,
    } = completion;
    let count = payload.len();
    let bytes = payload.byte_len();
    let matches = match_errors(&payload.entries, &errors);

    let outcomes = assign_outcomes(count, matches.rejected, status.unprocess_count);

    if !matches.unmatched.is_empty() {
        context.stats.unmatched_errors(matches.unmatched.len());
        warn!(
            job_id,
            count = matches.unmatched.len(),
            first = %matches.unmatched[0],
            "ThreatConnect error records name no indicator of the job; those indicators count as delivered."
        );
    }
    let rejected = outcomes.iter().filter(|outcome| outcome.is_some()).count();
    let delivered = count - rejected;
    if let Some(successes) = status.success_count
        && successes != delivered as u64
    {
        context.stats.count_mismatch();
        warn!(
            job_id,
            server_successes = successes,
            delivered,
            "ThreatConnect's success count differs from the indicators counted delivered."
        );
    }
    info!(
        job_id,
        indicators = count,
        bytes,
        polls,
        duration_ms = duration.as_millis() as u64,
        successes = delivered,
        errors = rejected,
        server_errors = status.error_count,
        "ThreatConnect batch job completed."
    );

    report.delivered.reserve_exact(delivered);
    report.rejected.reserve_exact(rejected);
    for (entry, outcome) in payload.entries.into_iter().zip(outcomes) {
        match outcome {
            Some(reject) => report.rejected.push((entry.origin, reject)),
            None => report.delivered.push(entry.origin),
        }
    }
}

/// Returns each entry's reject, or `None` for a delivered entry: entries named by an error
/// record are rejected with ThreatConnect's reason, and the last `unprocessed` entries not
/// already rejected are rejected as `not_processed`, because a halted job processes its items
/// in order.
pub fn assign_outcomes(
    count: usize,
    errors: Vec<(usize, String)>,
    unprocessed: u64,
) -> Vec<Option<Reject>> {
    let mut outcomes: Vec<Option<Reject>> = vec![None; count];
    for (index, reason) in errors {
        outcomes[index] = Some(Reject::new(REJECT_THREATCONNECT, reason));
    }

    let mut unprocessed = usize::try_from(unprocessed).unwrap_or(usize::MAX);
    for outcome in outcomes.iter_mut().rev() {
        if unprocessed == 0 {
            break;
        }
        if outcome.is_none() {
            *outcome = Some(Reject::new(
                REJECT_NOT_PROCESSED,
                "not processed: ThreatConnect stopped the job at an earlier error (haltOnError)",
            ));
            unprocessed -= 1;
        }
    }
    outcomes
}

fn reject_all(payload: JobPayload, code: &str, message: &str, report: &mut JobReport) {
    for entry in payload.entries {
        report
            .rejected
            .push((entry.origin, Reject::new(code, message)));
    }
}

fn json_body(request: &str, reply: &Reply) -> Result<serde_json::Value, JobError> {
    serde_json::from_slice(&reply.body).map_err(|error| JobError::InvalidResponse {
        request: request.to_owned(),
        detail: format!("not JSON ({error}): {}", preview(&reply.body)),
    })
}

/// Reads `data.batchStatus` from a status or createAndUpload response.
pub fn batch_status(request: &str, reply: &Reply) -> Result<BatchStatus, JobError> {
    let value = json_body(request, reply)?;
    let status = &value["data"]["batchStatus"];
    if !status.is_object() {
        return Err(JobError::InvalidResponse {
            request: request.to_owned(),
            detail: format!("no data.batchStatus in {}", preview(&reply.body)),
        });
    }
    serde_json::from_value(status.clone()).map_err(|error| JobError::InvalidResponse {
        request: request.to_owned(),
        detail: format!(
            "invalid data.batchStatus ({error}): {}",
            preview(&reply.body)
        ),
    })
}

fn preview(body: &[u8]) -> String {
    crate::auth::shorten(&String::from_utf8_lossy(body), 200)
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;

    fn reply(text: &str) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Bytes::from(text.to_owned()),
        }
    }

    #[test]
    fn completed_status_parsed() {
        let status = batch_status(
            "GET /v2/batch/1",
            &reply(
                r#"{"status":"Success","data":{"batchStatus":{"id":12345,"status":"Completed","errorCount":342,"successCount":405432,"unprocessCount":0}}}"#,
            ),
        )
        .unwrap();
        assert_eq!(status.id, Some(12345));
        assert!(status.is_completed());
        assert_eq!(status.error_count, 342);
        assert_eq!(status.success_count, Some(405_432));
    }

    #[test]
    fn running_status_parsed() {
        let status = batch_status(
            "GET /v2/batch/1",
            &reply(r#"{"status":"Success","data":{"batchStatus":{"id":7,"status":"Running"}}}"#),
        )
        .unwrap();
        assert!(!status.is_completed());
        assert_eq!(status.error_count, 0);
    }

    #[test]
    fn outcomes_follow_error_records() {
        let outcomes = assign_outcomes(4, vec![(2, "Invalid host name".to_owned())], 0);
        assert!(outcomes[0].is_none());
        assert!(outcomes[1].is_none());
        assert_eq!(
            outcomes[2],
            Some(Reject::new(REJECT_THREATCONNECT, "Invalid host name"))
        );
        assert!(outcomes[3].is_none());
    }

    #[test]
    fn halted_job_rejects_tail() {
        // haltOnError: item 1 failed, so items 2 to 4 were never processed.
        let outcomes = assign_outcomes(5, vec![(1, "Invalid tag".to_owned())], 3);
        let codes: Vec<Option<&str>> = outcomes
            .iter()
            .map(|outcome| outcome.as_ref().map(|reject| reject.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                None,
                Some(REJECT_THREATCONNECT),
                Some(REJECT_NOT_PROCESSED),
                Some(REJECT_NOT_PROCESSED),
                Some(REJECT_NOT_PROCESSED),
            ]
        );
    }

    #[test]
    fn unprocessed_skips_rejected_entries() {
        let outcomes = assign_outcomes(3, vec![(2, "Invalid URL".to_owned())], 1);
        assert!(outcomes[0].is_none());
        assert_eq!(outcomes[1].as_ref().unwrap().code, REJECT_NOT_PROCESSED);
        assert_eq!(outcomes[2].as_ref().unwrap().code, REJECT_THREATCONNECT);
    }

    #[test]
    fn malformed_status_rejected() {
        let error = batch_status("GET /v2/batch/1", &reply("<html>")).unwrap_err();
        assert!(error.to_string().contains("not JSON"));
        let error = batch_status("GET /v2/batch/1", &reply(r#"{"status":"Queued"}"#)).unwrap_err();
        assert!(error.to_string().contains("no data.batchStatus"));
    }
}
