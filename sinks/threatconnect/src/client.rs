//! The HTTP client of the ThreatConnect batch API: signs each request, sends it, classifies the
//! response and retries what is safe to retry.
//!
//! Retry rules, per attempt:
//!
//! - Connection failures before the request was sent, 408, 429 and 503 are retried for every
//!   request: the server did not take the request. `Retry-After` (seconds or HTTP date) sets
//!   the wait, else full-jitter exponential backoff ([`crate::retry`]).
//! - Timeouts, connections dropped after sending, and other 5xx (except 501) may hide a request
//!   the server did process. They are retried only for requests marked [`Resend::Always`]
//!   (status polls, error lists, job creation); for uploads they come back as
//!   [`JobError::Ambiguous`] and [`crate::job`] decides whether a resend is safe.
//! - 401, 403, the "Batch job api is not available" 503 and other 4xx are not retried.
//!
//! A retry waits inside the caller's job task, so it keeps the job's in-flight slot.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, DATE, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use reqwest::{Body, Certificate, Method, StatusCode, Url};
use tracing::warn;

use crate::auth::{Credentials, explain_unauthorized, shorten, unix_now};
use crate::config::ThreatConnectSinkConfig;
use crate::errors::{BuildError, JobError};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::stats::SinkStats;

const TOO_LARGE_MESSAGE: &str = "File size greater than allowable limit of";
const API_UNAVAILABLE_MESSAGE: &str = "Batch job api is not available";
const MAX_BODY_IN_MESSAGE: usize = 300;

/// A request body.
#[derive(Clone, Debug)]
pub enum RequestBody {
    Empty,
    /// `application/json; charset=utf-8`.
    Json(Bytes),
    /// `application/octet-stream`, as ThreatConnect requires for batch data.
    OctetStream(Bytes),
    /// `multipart/form-data` with the parts `config` and `content`.
    Multipart {
        config: Bytes,
        content: Bytes,
    },
}

/// Whether a request may be sent again when its outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resend {
    /// Sending it twice does no harm.
    Always,
    /// Resend only when the server certainly did not take it.
    IfNotReceived,
}

/// A 2xx response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One failed attempt.
enum AttemptFailure {
    /// A failure no retry can fix, such as an unverifiable certificate.
    Fatal(JobError),
    NotSent(String),
    MaybeReceived(String),
    Status {
        status: StatusCode,
        body: String,
        retry_after: Option<Duration>,
        server_date: Option<SystemTime>,
    },
}

/// A signed HTTP client bound to one ThreatConnect instance and owner.
pub struct TcClient {
    http: reqwest::Client,
    base: Url,
    owner: String,
    credentials: Credentials,
    retry: RetryPolicy,
    stats: Arc<SinkStats>,
}

impl TcClient {
    /// Builds the client: TLS through rustls with the system roots plus `tls_ca_file`,
    /// certificates always verified, proxies from the standard environment variables
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), no redirects (a redirected request would
    /// carry a signature for the wrong path).
    pub fn new(
        config: &ThreatConnectSinkConfig,
        credentials: Credentials,
        stats: Arc<SinkStats>,
    ) -> Result<Self, BuildError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another component may install a provider first; either one serves.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }

        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .connect_timeout(config.request_timeout().min(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("feedpipe/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.tls_ca_file {
            let ca_error = |reason: String| BuildError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|error| ca_error(error.to_string()))?;
            let certificates =
                Certificate::from_pem_bundle(&pem).map_err(|error| ca_error(error.to_string()))?;
            if certificates.is_empty() {
                return Err(ca_error("the file holds no PEM certificate".to_owned()));
            }
            builder = builder.tls_certs_merge(certificates);
        }
        let http = builder
            .build()
            .map_err(|error| BuildError::Client(error.to_string()))?;

        Ok(TcClient {
            http,
            base: config.api_base()?,
            owner: config.owner.trim().to_owned(),
            credentials,
            retry: RetryPolicy::from_config(config),
            stats,
        })
    }

    /// Sends `method path` (path below the API base, for example `/v2/batch/12`), retrying as
    /// the module doc describes. Returns the 2xx response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        resend: Resend,
    ) -> Result<Reply, JobError> {
        let url = self.url(path)?;
        let request_name = format!("{method} {}", url.path());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(&method, &url, &body).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };

            let (detail, retry_after) = match failure {
                AttemptFailure::Fatal(error) => return Err(error),
                AttemptFailure::NotSent(detail) => (detail, None),
                AttemptFailure::MaybeReceived(detail) => {
                    if resend == Resend::IfNotReceived {
                        return Err(JobError::Ambiguous {
                            request: request_name,
                            detail,
                        });
                    }
                    (detail, None)
                }
                AttemptFailure::Status {
                    status,
                    body,
                    retry_after,
                    server_date,
                } => {
                    let retryable =
                        self.classify_status(&request_name, status, &body, server_date, resend)?;
                    (retryable, retry_after)
                }
            };

            if !self.retry.allows_another(attempt) {
                return Err(JobError::RetriesExhausted {
                    request: request_name,
                    attempts: attempt,
                    last: detail,
                });
            }
            let delay = self.retry.delay(attempt, retry_after);
            self.stats.request_retried();
            warn!(
                request = %request_name,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %detail,
                "Retrying ThreatConnect request."
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Turns a non-2xx status into an error, or returns the text to log when it is retryable.
    fn classify_status(
        &self,
        request: &str,
        status: StatusCode,
        body: &str,
        server_date: Option<SystemTime>,
        resend: Resend,
    ) -> Result<String, JobError> {
        let detail = if body.is_empty() {
            format!("status {status}")
        } else {
            format!("status {status}: {}", shorten(body, MAX_BODY_IN_MESSAGE))
        };
        match status.as_u16() {
            401 => Err(JobError::Unauthorized {
                request: request.to_owned(),
                message: explain_unauthorized(
                    &self.credentials,
                    body,
                    server_date,
                    SystemTime::now(),
                ),
            }),
            403 => Err(JobError::Forbidden {
                request: request.to_owned(),
                owner: self.owner.clone(),
                body: shorten(body, MAX_BODY_IN_MESSAGE),
            }),
            503 if body.contains(API_UNAVAILABLE_MESSAGE) => Err(JobError::BatchApiUnavailable {
                request: request.to_owned(),
                body: shorten(body, MAX_BODY_IN_MESSAGE),
            }),
            400 if body.contains(TOO_LARGE_MESSAGE) => Err(JobError::TooLarge {
                request: request.to_owned(),
                limit: parse_size_limit(body).unwrap_or(0),
            }),
            408 | 429 | 503 => Ok(detail),
            501 => Err(self.rejected(request, status, body)),
            500..=599 if resend == Resend::Always => Ok(detail),
            500..=599 => Err(JobError::Ambiguous {
                request: request.to_owned(),
                detail,
            }),
            _ => Err(self.rejected(request, status, body)),
        }
    }

    fn rejected(&self, request: &str, status: StatusCode, body: &str) -> JobError {
        JobError::Rejected {
            request: request.to_owned(),
            status: status.as_u16(),
            body: shorten(body, MAX_BODY_IN_MESSAGE),
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: &RequestBody,
    ) -> Result<Reply, AttemptFailure> {
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request = self.http.request(method.clone(), url.clone());
        for (name, value) in self
            .credentials
            .headers(method.as_str(), &target, unix_now())
        {
            request = request.header(name, value);
        }
        request = match body {
            RequestBody::Empty => request,
            RequestBody::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .body(bytes.clone()),
            RequestBody::OctetStream(bytes) => request
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes.clone()),
            RequestBody::Multipart { config, content } => {
                request.multipart(multipart(config, content))
            }
        };

        let response = request.send().await.map_err(|error| {
            let detail = error_chain(&error);
            if is_certificate_failure(&detail) {
                AttemptFailure::Fatal(JobError::Tls {
                    request: format!("{method} {}", url.path()),
                    detail,
                })
            } else if error.is_connect() {
                AttemptFailure::NotSent(detail)
            } else {
                AttemptFailure::MaybeReceived(detail)
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|error| AttemptFailure::MaybeReceived(error_chain(&error)))?;
        if status.is_success() {
            return Ok(Reply { status, body });
        }

        let header_text = |name| {
            headers
                .get(name)
                .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
        };
        Err(AttemptFailure::Status {
            status,
            body: String::from_utf8_lossy(&body).trim().to_owned(),
            retry_after: header_text(RETRY_AFTER)
                .and_then(|value| parse_retry_after(value, SystemTime::now())),
            server_date: header_text(DATE).and_then(|value| httpdate::parse_http_date(value).ok()),
        })
    }

    fn url(&self, path: &str) -> Result<Url, JobError> {
        let text = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        Url::parse(&text).map_err(|error| JobError::InvalidResponse {
            request: text.clone(),
            detail: format!("cannot build the request URL: {error}"),
        })
    }
}

fn multipart(config: &Bytes, content: &Bytes) -> Form {
    let part = |bytes: &Bytes, name: &'static str, mime: &str| {
        Part::stream_with_length(Body::from(bytes.clone()), bytes.len() as u64)
            .file_name(name)
            .mime_str(mime)
            .expect("static MIME types parse")
    };
    Form::new()
        .part("config", part(config, "config", "application/json"))
        .part(
            "content",
            part(content, "content", "application/octet-stream"),
        )
}

/// Reads `N` from "File size greater than allowable limit of N".
pub fn parse_size_limit(body: &str) -> Option<usize> {
    let rest = &body[body.find(TOO_LARGE_MESSAGE)? + TOO_LARGE_MESSAGE.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Formats an error with its sources, which is where reqwest puts the useful part.
/// Tells a TLS certificate failure from other connection errors by the text rustls gives it
/// (`invalid peer certificate: UnknownIssuer`, `CaUsedAsEndEntity`, …).
fn is_certificate_failure(detail: &str) -> bool {
    let lowered = detail.to_ascii_lowercase();
    lowered.contains("certificate") || lowered.contains("unknownissuer")
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_are_told_apart() {
        assert!(is_certificate_failure(
            "client error (Connect): invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"
        ));
        assert!(is_certificate_failure(
            "invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_certificate_failure(
            "client error (Connect): Connection refused (os error 111)"
        ));
    }

    #[test]
    fn size_limit_parsed() {
        assert_eq!(
            parse_size_limit(
                r#"{"status":"Invalid","description":"File size greater than allowable limit of 2000000"}"#
            ),
            Some(2_000_000)
        );
        assert_eq!(
            parse_size_limit("File size greater than allowable limit of 512 bytes"),
            Some(512)
        );
        assert_eq!(
            parse_size_limit("File size greater than allowable limit of"),
            None
        );
        assert_eq!(parse_size_limit("other"), None);
    }
}
