//! Emulator configuration: credentials, owners, limits and the attribute-type catalog.
//!
//! Every field has a default, so an empty TOML table or `EmulatorConfig::default()` gives a
//! working emulator. Secrets are wrapped in [`Secret`], whose `Debug` output never shows them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::faults::FaultPlan;

/// A credential value (secret key or API token) that is never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the secret value, for signing or comparing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The API user the emulator accepts: one HMAC key pair and one API token.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// Access ID for `Authorization: TC <access_id>:<signature>`.
    pub access_id: String,
    /// Secret key that HMAC signatures are checked against.
    pub secret_key: Secret,
    /// Token for `Authorization: TC-Token <token>`; `None` disables token authentication.
    pub token: Option<Secret>,
    /// Unix time in seconds after which the token is rejected as expired; `None` never expires.
    pub token_expires_at: Option<i64>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            access_id: "emulator".to_owned(),
            secret_key: Secret::new("emulator-secret-key"),
            token: Some(Secret::new("emulator-token")),
            token_expires_at: None,
        }
    }
}

/// Body of the `202` response to `POST /v2/batch/{id}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadResponse {
    /// `{"status":"Queued"}`, as the batch API documentation shows it.
    #[default]
    Queued,
    /// `{"status":"Success","data":{"batchStatus":{"id":…,"status":"Queued"}}}`.
    BatchStatus,
}

/// Known attribute types with their maximum value length in characters (`maxSize`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeTypes {
    /// Accept attributes of any type name; unknown types get `default_max_size`.
    pub accept_any: bool,
    /// `maxSize` for types accepted through `accept_any`.
    pub default_max_size: usize,
    /// Type name to `maxSize`.
    pub types: BTreeMap<String, usize>,
}

/// `maxSize` of most ThreatConnect attribute types.
pub const DEFAULT_ATTRIBUTE_MAX_SIZE: usize = 500;

// NOTE: 65,500 for Description and Additional Analysis and Context is an estimate of what
// `GET /v3/attributeTypes` returns on ThreatConnect instances, not a documented constant.
// Configure `types` to match the target instance.
/// `maxSize` of the long free-text attribute types.
pub const LONG_TEXT_ATTRIBUTE_MAX_SIZE: usize = 65_500;

const LONG_TEXT_TYPES: [&str; 2] = ["Description", "Additional Analysis and Context"];

const STANDARD_TYPES: [&str; 30] = [
    "Source",
    "First Seen",
    "Last Seen",
    "IP WhoIs",
    "Files",
    "Urls",
    "IP",
    "Whois",
    "Detection date",
    "Publication name",
    "Publication id",
    "Actors",
    "Industries",
    "Geo",
    "Users Geo",
    "IP Geo",
    "Category",
    "Threat",
    "Industry",
    "File Type",
    "File Size",
    "Exploits",
    "Domains",
    "Severity",
    "CVE",
    "Kaspersky Mask",
    "Kaspersky Record ID",
    "Kaspersky Mask Type",
    "Popularity",
    "Threat Score",
];

impl Default for AttributeTypes {
    fn default() -> Self {
        let mut types = BTreeMap::new();
        for name in LONG_TEXT_TYPES {
            types.insert(name.to_owned(), LONG_TEXT_ATTRIBUTE_MAX_SIZE);
        }
        for name in STANDARD_TYPES {
            types.insert(name.to_owned(), DEFAULT_ATTRIBUTE_MAX_SIZE);
        }
        AttributeTypes {
            accept_any: false,
            default_max_size: DEFAULT_ATTRIBUTE_MAX_SIZE,
            types,
        }
    }
}

impl AttributeTypes {
    /// Returns the `maxSize` of a type, or `None` when the type is not accepted.
    pub fn max_size(&self, attribute_type: &str) -> Option<usize> {
        match self.types.get(attribute_type) {
            Some(size) => Some(*size),
            None if self.accept_any => Some(self.default_max_size),
            None => None,
        }
    }
}

/// Everything the emulator can be configured with at start.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    pub credentials: Credentials,
    /// Owners (organizations, communities, sources) that jobs may write to.
    pub owners: Vec<String>,
    /// Allowed distance between the `Timestamp` header and the server clock, in seconds.
    pub timestamp_window_secs: u64,
    /// Maximum indicators in one job; more fails the whole job.
    pub max_indicators_per_job: usize,
    /// Maximum size of one uploaded batch file in bytes, after gzip decompression.
    pub max_upload_bytes: usize,
    /// Reject data uploads whose `Content-Type` is not `application/octet-stream`.
    pub require_octet_stream: bool,
    pub upload_response: UploadResponse,
    /// `createAndUpload` jobs with at most this many items are processed before the response,
    /// which then carries the final status; 0 turns this off.
    pub synchronous_batch_save_limit: usize,
    /// Whether the final status of a synchronous job carries the job `id`.
    pub synchronous_status_has_id: bool,
    pub attribute_types: AttributeTypes,
    /// Security labels that exist before any job runs.
    pub security_labels: Vec<String>,
    /// Faults active from the start; the admin endpoint replaces them at run time.
    pub faults: FaultPlan,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            credentials: Credentials::default(),
            owners: vec!["Emulator Org".to_owned()],
            timestamp_window_secs: 300,
            max_indicators_per_job: 25_000,
            max_upload_bytes: 2_000_000,
            require_octet_stream: true,
            upload_response: UploadResponse::default(),
            synchronous_batch_save_limit: 0,
            synchronous_status_has_id: true,
            attribute_types: AttributeTypes::default(),
            security_labels: [
                "TLP:CLEAR",
                "TLP:WHITE",
                "TLP:GREEN",
                "TLP:AMBER",
                "TLP:RED",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            faults: FaultPlan::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let credentials = Credentials::default();
        let text = format!("{credentials:?}");
        assert!(!text.contains("emulator-secret-key"));
        assert!(!text.contains("emulator-token"));
    }

    #[test]
    fn attribute_max_sizes() {
        let mut types = AttributeTypes::default();
        assert_eq!(types.max_size("Source"), Some(500));
        assert_eq!(types.max_size("Description"), Some(65_500));
        assert_eq!(types.max_size("Colour"), None);
        types.accept_any = true;
        assert_eq!(types.max_size("Colour"), Some(500));
    }

    #[test]
    fn config_reads_partial_json() {
        let config: EmulatorConfig =
            serde_json::from_str(r#"{"owners":["Acme"],"max_upload_bytes":10}"#).unwrap();
        assert_eq!(config.owners, vec!["Acme".to_owned()]);
        assert_eq!(config.max_upload_bytes, 10);
        assert_eq!(config.max_indicators_per_job, 25_000);
    }
}
