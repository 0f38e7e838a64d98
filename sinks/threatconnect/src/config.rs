//! The `[sink.threatconnect]` configuration table and its validation. A config that passes
//! [`ThreatConnectSinkConfig::validate`] has a usable API URL (HTTPS, or plain HTTP only on a
//! loopback address), an owner, job limits within ThreatConnect's 25,000-indicator ceiling and
//! positive, finite durations. Secrets are never part of this table: it names only the files
//! they are read from (see [`crate::auth`]).
//!
//! ```toml
//! [sink.threatconnect]
//! api_url = "https://tc.example.org/api"
//! owner = "Example Org"
//! max_indicators_per_job = 5000
//! secret_key_file = "/etc/feedpipe/tc-secret-key"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};
use url::Host;

/// ThreatConnect's limit on indicators in one batch job.
pub const MAX_INDICATORS_PER_JOB_LIMIT: usize = 25_000;

/// Maximum `max_jobs_in_flight` the sink accepts. ThreatConnect documents no limit and tcex
/// runs one job at a time, while each job in flight takes up to `max_job_bytes` of memory.
pub const MAX_JOBS_IN_FLIGHT_LIMIT: usize = 256;

/// Attribute write mode of a job (`attributeWriteType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeWriteType {
    /// Adds every attribute without a duplicate check, so a resent job duplicates attributes.
    Append,
    /// Removes all attributes of the indicator, then adds the incoming ones.
    Replace,
    /// Replaces only the attribute types present in the input.
    Singleton,
    /// Ignores incoming attributes.
    Static,
}

impl AttributeWriteType {
    /// Returns whether writing the same indicator twice leaves the same state as writing it once.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, AttributeWriteType::Append)
    }
}

/// Tag write mode of a job (`tagWriteType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TagWriteType {
    Append,
    Replace,
}

/// Request flow that creates a job and uploads its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadMode {
    /// `POST /v2/batch` with the job config, then `POST /v2/batch/{id}` with the data. This is
    /// the documented flow, and the job ID is known before the data is sent.
    TwoStep,
    /// One multipart `POST /v2/batch/createAndUpload` with the parts `config` and `content`.
    CreateAndUpload,
}

/// Credential kind that authenticates requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Access ID and secret key, HMAC-SHA256 signed requests.
    Hmac,
    /// API token (`Authorization: TC-Token …`).
    Token,
}

/// Settings of the ThreatConnect batch sink. Durations are seconds (fractions allowed), sizes
/// are bytes.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThreatConnectSinkConfig {
    /// API base URL, `https://HOST/api` (default: none, required unless `dry_run`). Plain
    /// `http://` is accepted only for loopback hosts (127.0.0.0/8, ::1, `localhost`).
    pub api_url: String,
    /// ThreatConnect owner (Organization, Community or Source) the indicators are written to
    /// (default: none, required).
    pub owner: String,
    /// Credentials to use (default: whichever of HMAC or token credentials is present; an
    /// error when both or neither are).
    pub auth: Option<AuthMethod>,
    /// File holding the access ID (default: none; then `FEEDPIPE_TC_ACCESS_ID` is read).
    pub access_id_file: Option<PathBuf>,
    /// File holding the secret key (default: none; then `FEEDPIPE_TC_SECRET_KEY` is read).
    pub secret_key_file: Option<PathBuf>,
    /// File holding the API token (default: none; then `FEEDPIPE_TC_API_TOKEN` is read).
    pub api_token_file: Option<PathBuf>,
    /// `attributeWriteType` of every job (default `Replace`).
    pub attribute_write_type: AttributeWriteType,
    /// `tagWriteType` of every job (default `Replace`).
    pub tag_write_type: TagWriteType,
    /// `haltOnError` of every job: stop processing a job at its first failing item (default
    /// false).
    pub halt_on_error: bool,
    /// Request flow that creates and uploads jobs (default `two_step`).
    pub upload_mode: UploadMode,
    /// Maximum indicators per job (default 5,000, at most 25,000).
    pub max_indicators_per_job: usize,
    /// Maximum bytes of one job's upload body (default 10,000,000). A job the server finds too
    /// large is split in halves, and later jobs are kept below the server's stated limit.
    pub max_job_bytes: usize,
    /// Maximum jobs submitted and not yet finished at once (default 2, at most 256).
    pub max_jobs_in_flight: usize,
    /// Wait before the first status poll of a job, in seconds (default 2).
    pub poll_initial_interval_secs: f64,
    /// Factor each poll interval grows by (default 1.5, at least 1).
    pub poll_growth_factor: f64,
    /// Maximum interval between status polls, in seconds (default 30).
    pub poll_max_interval_secs: f64,
    /// Time from upload to `Completed` after which the job fails, in seconds (default 3,600).
    pub poll_timeout_secs: f64,
    /// Timeout of one HTTP request, in seconds (default 120).
    pub request_timeout_secs: f64,
    /// Attempts per request before giving up, the first one included (default 6).
    pub retry_max_attempts: u32,
    /// Upper bound of the first retry's randomized backoff, in seconds (default 1); it doubles
    /// per attempt.
    pub retry_initial_backoff_secs: f64,
    /// Cap of any retry wait, `Retry-After` included, in seconds (default 60).
    pub retry_max_backoff_secs: f64,
    /// Retries of `GET /v2/batch/{id}/errors` when it returns 404 right after completion
    /// (default 3).
    pub errors_not_found_retries: u32,
    /// Wait before each of those retries, in seconds (default 5).
    pub errors_not_found_delay_secs: f64,
    /// Extra CA certificates (PEM) trusted besides the system roots (default: none). TLS
    /// certificates are always verified.
    pub tls_ca_file: Option<PathBuf>,
    /// Write the job files to `dry_run_dir` instead of sending them (default false).
    pub dry_run: bool,
    /// Directory the dry run writes job files to (default `threatconnect-jobs`).
    pub dry_run_dir: PathBuf,
}

impl Default for ThreatConnectSinkConfig {
    fn default() -> Self {
        ThreatConnectSinkConfig {
            api_url: String::new(),
            owner: String::new(),
            auth: None,
            access_id_file: None,
            secret_key_file: None,
            api_token_file: None,
            attribute_write_type: AttributeWriteType::Replace,
            tag_write_type: TagWriteType::Replace,
            halt_on_error: false,
            upload_mode: UploadMode::TwoStep,
            max_indicators_per_job: 5_000,
            max_job_bytes: 10_000_000,
            max_jobs_in_flight: 2,
            poll_initial_interval_secs: 2.0,
            poll_growth_factor: 1.5,
            poll_max_interval_secs: 30.0,
            poll_timeout_secs: 3_600.0,
            request_timeout_secs: 120.0,
            retry_max_attempts: 6,
            retry_initial_backoff_secs: 1.0,
            retry_max_backoff_secs: 60.0,
            errors_not_found_retries: 3,
            errors_not_found_delay_secs: 5.0,
            tls_ca_file: None,
            dry_run: false,
            dry_run_dir: PathBuf::from("threatconnect-jobs"),
        }
    }
}

/// An invalid `[sink.threatconnect]` setting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("[sink.threatconnect] api_url is missing: set it to https://HOST/api")]
    MissingUrl,
    #[error("[sink.threatconnect] api_url {url:?} is invalid: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "[sink.threatconnect] api_url {url:?} uses plain http on a non-loopback host; \
         use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)"
    )]
    InsecureUrl { url: String },
    #[error("[sink.threatconnect] owner is missing: set the ThreatConnect owner name")]
    MissingOwner,
    #[error(
        "[sink.threatconnect] max_indicators_per_job = {value} is out of range: \
         ThreatConnect takes 1 to {MAX_INDICATORS_PER_JOB_LIMIT} indicators per job"
    )]
    TooManyIndicators { value: usize },
    #[error("[sink.threatconnect] {key} = {value} is invalid: {expected}")]
    OutOfRange {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl ThreatConnectSinkConfig {
    /// Checks every setting; the error names the key and the value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.dry_run || !self.api_url.is_empty() {
            self.api_base()?;
        }
        if self.owner.trim().is_empty() {
            return Err(ConfigError::MissingOwner);
        }
        if self.max_indicators_per_job == 0
            || self.max_indicators_per_job > MAX_INDICATORS_PER_JOB_LIMIT
        {
            return Err(ConfigError::TooManyIndicators {
                value: self.max_indicators_per_job,
            });
        }
        check_count("max_job_bytes", self.max_job_bytes, 64, "at least 64 bytes")?;
        if !(1..=MAX_JOBS_IN_FLIGHT_LIMIT).contains(&self.max_jobs_in_flight) {
            return Err(out_of_range(
                "max_jobs_in_flight",
                self.max_jobs_in_flight,
                "1 to 256",
            ));
        }
        check_count(
            "retry_max_attempts",
            self.retry_max_attempts as usize,
            1,
            "at least 1",
        )?;
        for (key, value) in [
            (
                "poll_initial_interval_secs",
                self.poll_initial_interval_secs,
            ),
            ("poll_max_interval_secs", self.poll_max_interval_secs),
            ("poll_timeout_secs", self.poll_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            (
                "retry_initial_backoff_secs",
                self.retry_initial_backoff_secs,
            ),
            ("retry_max_backoff_secs", self.retry_max_backoff_secs),
        ] {
            check_seconds(key, value, "a positive number of seconds")?;
        }
        if !(self.errors_not_found_delay_secs.is_finite()
            && self.errors_not_found_delay_secs >= 0.0)
        {
            return Err(out_of_range(
                "errors_not_found_delay_secs",
                self.errors_not_found_delay_secs,
                "zero or a positive number of seconds",
            ));
        }
        if !(self.poll_growth_factor.is_finite() && self.poll_growth_factor >= 1.0) {
            return Err(out_of_range(
                "poll_growth_factor",
                self.poll_growth_factor,
                "a number of at least 1",
            ));
        }
        Ok(())
    }

    /// Returns the API base URL without a trailing slash, after checking its scheme and host.
    /// Error messages show the URL with any user name and password replaced by `***`.
    pub fn api_base(&self) -> Result<Url, ConfigError> {
        let text = self.api_url.trim();
        if text.is_empty() {
            return Err(ConfigError::MissingUrl);
        }
        let redacted_url = without_userinfo(text);
        let invalid = |reason: &str| ConfigError::InvalidUrl {
            url: redacted_url.clone(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "it must not hold credentials; use the credential files or environment variables",
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url.host()) => {}
            "http" => {
                return Err(ConfigError::InsecureUrl { url: redacted_url });
            }
            _ => return Err(invalid("the scheme must be https")),
        }
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(url)
    }

    pub(crate) fn poll_initial_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_initial_interval_secs)
    }

    pub(crate) fn poll_max_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_max_interval_secs)
    }

    pub(crate) fn poll_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.poll_timeout_secs)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_secs)
    }

    pub(crate) fn errors_not_found_delay(&self) -> Duration {
        Duration::from_secs_f64(self.errors_not_found_delay_secs)
    }
}

fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn check_count(
    key: &'static str,
    value: usize,
    minimum: usize,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if value < minimum {
        return Err(out_of_range(key, value, expected));
    }
    Ok(())
}

fn check_seconds(key: &'static str, value: f64, expected: &'static str) -> Result<(), ConfigError> {
    // Durations above seven days are rejected too, so `Duration::from_secs_f64` never overflows.
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0 * 7.0) {
        return Err(out_of_range(key, value, expected));
    }
    Ok(())
}

fn out_of_range(key: &'static str, value: impl ToString, expected: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        key,
        value: value.to_string(),
        expected,
    }
}

/// Replaces the user information of a URL (`user:password@`) with `***`, so that an error
/// message never repeats a password someone put in the URL.
fn without_userinfo(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |index| index + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |index| authority_start + index);
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_hide_credentials() {
        let config = ThreatConnectSinkConfig {
            api_url: "http://user:ZZPASSzz@203.0.113.9:8443/api".to_owned(),
            owner: "Example Org".to_owned(),
            ..ThreatConnectSinkConfig::default()
        };
        let message = config.api_base().unwrap_err().to_string();
        assert!(!message.contains("ZZPASSzz"), "{message}");
        assert!(
            message.contains("http://***@203.0.113.9:8443/api"),
            "{message}"
        );
        assert_eq!(
            without_userinfo("https://tc.example.org/api"),
            "https://tc.example.org/api"
        );
        assert_eq!(without_userinfo("https://a:b@h/p@q"), "https://***@h/p@q");
    }

    fn config(url: &str) -> ThreatConnectSinkConfig {
        ThreatConnectSinkConfig {
            api_url: url.to_owned(),
            owner: "Example Org".to_owned(),
            ..ThreatConnectSinkConfig::default()
        }
    }

    #[test]
    fn https_url_accepted() {
        let url = config("https://tc.example.org/api/").api_base().unwrap();
        assert_eq!(url.as_str(), "https://tc.example.org/api");
    }

    #[test]
    fn http_on_loopback_accepted() {
        for url in [
            "http://127.0.0.1:8080/api",
            "http://127.3.4.5/api",
            "http://[::1]:9000/api",
            "http://LOCALHOST/api",
        ] {
            assert!(config(url).validate().is_ok(), "{url} should be accepted");
        }
    }

    #[test]
    fn http_on_remote_host_rejected() {
        for url in [
            "http://tc.example.org/api",
            "http://10.0.0.5/api",
            "http://localhost.example.org/api",
        ] {
            let error = config(url).validate().unwrap_err();
            assert_eq!(
                error,
                ConfigError::InsecureUrl {
                    url: url.to_owned()
                }
            );
            assert!(error.to_string().contains("use https"));
        }
    }

    #[test]
    fn other_url_problems_rejected() {
        assert_eq!(config("").validate(), Err(ConfigError::MissingUrl));
        assert!(matches!(
            config("ftp://tc.example.org/api").validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            config("https://user:pw@tc.example.org/api").validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            config("https://tc.example.org/api?owner=x").validate(),
            Err(ConfigError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn indicator_limit_enforced() {
        let mut settings = config("https://tc.example.org/api");
        settings.max_indicators_per_job = 25_000;
        assert!(settings.validate().is_ok());
        settings.max_indicators_per_job = 25_001;
        let error = settings.validate().unwrap_err();
        assert_eq!(error, ConfigError::TooManyIndicators { value: 25_001 });
        assert!(error.to_string().contains("25001"));
        settings.max_indicators_per_job = 0;
        assert!(settings.validate().is_err());
    }

    #[test]
    fn jobs_in_flight_limit_enforced() {
        let mut settings = config("https://tc.example.org/api");
        settings.max_jobs_in_flight = MAX_JOBS_IN_FLIGHT_LIMIT;
        assert!(settings.validate().is_ok());
        for value in [0, MAX_JOBS_IN_FLIGHT_LIMIT + 1, 1 << 62] {
            settings.max_jobs_in_flight = value;
            let message = settings.validate().unwrap_err().to_string();
            assert!(message.contains("max_jobs_in_flight"), "{message}");
            assert!(message.contains(&value.to_string()), "{message}");
            assert!(message.contains("1 to 256"), "{message}");
        }
    }

    #[test]
    fn missing_owner_rejected() {
        let mut settings = config("https://tc.example.org/api");
        settings.owner = "  ".to_owned();
        assert_eq!(settings.validate(), Err(ConfigError::MissingOwner));
    }

    #[test]
    fn durations_checked() {
        let mut settings = config("https://tc.example.org/api");
        settings.poll_growth_factor = 0.5;
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("poll_growth_factor")
        );
        settings.poll_growth_factor = 2.0;
        settings.request_timeout_secs = f64::NAN;
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("request_timeout_secs")
        );
    }

    #[test]
    fn dry_run_needs_no_url() {
        let mut settings = config("");
        settings.dry_run = true;
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn toml_table_parsed() {
        let settings: ThreatConnectSinkConfig = toml::from_str(
            r#"
            api_url = "https://tc.example.org/api"
            owner = "Example Org"
            attribute_write_type = "Singleton"
            tag_write_type = "Append"
            upload_mode = "create_and_upload"
            auth = "token"
            max_indicators_per_job = 1000
            poll_initial_interval_secs = 0.5
            "#,
        )
        .unwrap();
        assert_eq!(settings.attribute_write_type, AttributeWriteType::Singleton);
        assert_eq!(settings.tag_write_type, TagWriteType::Append);
        assert_eq!(settings.upload_mode, UploadMode::CreateAndUpload);
        assert_eq!(settings.auth, Some(AuthMethod::Token));
        assert_eq!(settings.max_indicators_per_job, 1000);
        assert_eq!(settings.max_jobs_in_flight, 2);
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn unknown_key_rejected() {
        let result: Result<ThreatConnectSinkConfig, _> = toml::from_str("secret_key = \"x\"");
        assert!(result.unwrap_err().to_string().contains("secret_key"));
    }
}
