//! Errors of the ThreatConnect sink: why it could not be built, and why a batch job failed.
//! Messages name the request and what ThreatConnect returned, cut to a readable length; they
//! never contain credentials, because no credential is part of a URL or a response.

use std::time::Duration;

use crate::auth::CredentialError;
use crate::config::ConfigError;

/// The sink could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("cannot use [sink.threatconnect] tls_ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot build the ThreatConnect HTTP client: {0}")]
    Client(String),
    #[error("cannot create the dry-run directory {path}: {source}")]
    DryRunDir {
        path: String,
        source: std::io::Error,
    },
}

/// A batch job failure.
#[derive(Debug, thiserror::Error, Clone)]
pub enum JobError {
    /// A 401: wrong credentials, clock skew or a missing permission (the message names the likely one).
    #[error("{request} failed: {message}")]
    Unauthorized { request: String, message: String },
    /// A 403: the owner does not exist or the user cannot access it, or HTTPS is required.
    #[error(
        "{request} failed with 403 Forbidden ({body}): the owner {owner:?} does not exist, the \
         API user has no access to it, or the instance requires HTTPS"
    )]
    Forbidden {
        request: String,
        owner: String,
        body: String,
    },
    /// The instance has the batch API or document storage disabled.
    #[error(
        "{request} failed: {body}. Enable the batch API (batchJobEnabled) and document storage \
         on the ThreatConnect instance"
    )]
    BatchApiUnavailable { request: String, body: String },
    /// The server stated that the upload exceeds its size limit.
    #[error(
        "{request} was rejected: the upload is larger than the server's limit of {limit} bytes"
    )]
    TooLarge { request: String, limit: usize },
    /// Any other 4xx response.
    #[error("{request} failed with {status}: {body}")]
    Rejected {
        request: String,
        status: u16,
        body: String,
    },
    /// A retryable failure persisted through every attempt.
    #[error("{request} failed after {attempts} attempts; last failure: {last}")]
    RetriesExhausted {
        request: String,
        attempts: u32,
        last: String,
    },
    /// The request may or may not have reached the server (timeout, reset connection, 5xx).
    #[error("{request} has an unknown outcome: {detail}")]
    Ambiguous { request: String, detail: String },
    /// The server's TLS certificate could not be verified; retrying cannot help.
    #[error(
        "{request} failed: the TLS certificate of the server could not be verified ({detail}); \
         check the api_url host name, or name the CA that signed the certificate in \
         [sink.threatconnect] tls_ca_file"
    )]
    Tls { request: String, detail: String },
    /// A 2xx response whose body is not what ThreatConnect documents.
    #[error("{request} returned an unexpected response: {detail}")]
    InvalidResponse { request: String, detail: String },
    /// The job did not reach `Completed` in time.
    #[error(
        "batch job {job_id} did not complete within {}s (status {status}); raise \
         [sink.threatconnect] poll_timeout_secs if the instance is just slow",
        waited.as_secs()
    )]
    PollTimeout {
        job_id: u64,
        waited: Duration,
        status: String,
    },
    /// ThreatConnect reported a job-fatal error.
    #[error("batch job {job_id} failed: {reason}")]
    Critical { job_id: u64, reason: String },
    /// An upload whose outcome is unknown was not resent, because resending would duplicate
    /// attributes.
    #[error(
        "the upload of a job of {indicators} indicators has an unknown outcome ({detail}) and \
         was not resent, because attribute_write_type Append would duplicate attributes; use \
         upload_mode two_step or attribute_write_type Replace"
    )]
    UnsafeResend { indicators: usize, detail: String },
}

impl JobError {
    /// Returns whether the failure is a 404 (used for `/errors` right after completion).
    pub fn is_not_found(&self) -> bool {
        matches!(self, JobError::Rejected { status: 404, .. })
    }
}
