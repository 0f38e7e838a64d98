//! Batch jobs: the job configuration a client sends, and the job's state and counts.
//!
//! A job moves only forward through Created → Queued → Running → Completed. There is no failed
//! state, so a job that hit errors is Completed with `errorCount > 0`.

use serde::Serialize;
use serde_json::{Map, Value};

/// Job action applied to the items it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Create new indicators and update existing ones.
    Create,
    /// Delete the matching indicators of the owner.
    Delete,
}

/// Rule for combining incoming attributes with those already on an indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AttributeWriteType {
    /// Add every incoming attribute, with no duplicate check.
    Append,
    /// Remove all existing attributes, then add the incoming ones.
    Replace,
    /// Replace only the existing attributes of the types present in the input.
    Singleton,
    /// Keep existing attributes and ignore incoming ones on existing indicators.
    Static,
}

/// Rule for combining incoming tags or security labels with existing ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SetWriteType {
    Append,
    Replace,
}

/// Rule for file hashes that match two or more existing File indicators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FileMergeMode {
    Distribute,
    Merge,
}

/// Rule for an incoming hash that differs from the existing hash of the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum HashCollisionMode {
    Split,
    IgnoreIncoming,
    IgnoreExisting,
    FavorIncoming,
    FavorExisting,
}

/// The batch file format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Version {
    /// Indicators only; dates such as firstSeen are not stored.
    V1,
    V2,
}

/// A validated job configuration (the body of `POST /v2/batch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobConfig {
    pub owner: String,
    pub halt_on_error: bool,
    pub action: Action,
    pub attribute_write_type: AttributeWriteType,
    pub tag_write_type: SetWriteType,
    pub security_label_write_type: SetWriteType,
    pub file_merge_mode: FileMergeMode,
    pub hash_collision_mode: HashCollisionMode,
    pub version: Version,
}

/// Job configuration rejection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JobConfigError {
    /// Malformed configuration, returned as 400.
    #[error("{0}")]
    Invalid(String),
    /// An owner that does not exist or is not accessible, returned as 403.
    #[error("Owner '{0}' does not exist or you do not have access to it")]
    UnknownOwner(String),
}

impl JobConfig {
    /// Parses and validates a job configuration against the known owners.
    pub fn parse(body: &[u8], owners: &[String]) -> Result<JobConfig, JobConfigError> {
        let value: Value = serde_json::from_slice(body).map_err(|error| {
            JobConfigError::Invalid(format!(
                "Batch job configuration is not valid JSON: {error}"
            ))
        })?;
        let Value::Object(fields) = value else {
            return Err(JobConfigError::Invalid(
                "Batch job configuration must be a JSON object".to_owned(),
            ));
        };

        let owner = match required(&fields, "owner")? {
            Value::String(owner) if !owner.trim().is_empty() => owner.clone(),
            other => return Err(invalid_value("owner", other, "an owner name")),
        };
        let halt_on_error = boolean(required(&fields, "haltOnError")?, "haltOnError")?;
        let action = choice(
            required(&fields, "action")?,
            "action",
            &[("Create", Action::Create), ("Delete", Action::Delete)],
        )?;
        let attribute_write_type = choice(
            required(&fields, "attributeWriteType")?,
            "attributeWriteType",
            &[
                ("Append", AttributeWriteType::Append),
                ("Replace", AttributeWriteType::Replace),
                ("Singleton", AttributeWriteType::Singleton),
                ("Static", AttributeWriteType::Static),
            ],
        )?;
        let set_choices = [
            ("Append", SetWriteType::Append),
            ("Replace", SetWriteType::Replace),
        ];
        let tag_write_type =
            optional_choice(&fields, "tagWriteType", &set_choices, SetWriteType::Replace)?;
        let security_label_write_type = optional_choice(
            &fields,
            "securityLabelWriteType",
            &set_choices,
            SetWriteType::Replace,
        )?;
        let file_merge_mode = optional_choice(
            &fields,
            "fileMergeMode",
            &[
                ("Distribute", FileMergeMode::Distribute),
                ("Merge", FileMergeMode::Merge),
            ],
            FileMergeMode::Merge,
        )?;
        let hash_collision_mode = optional_choice(
            &fields,
            "hashCollisionMode",
            &[
                ("Split", HashCollisionMode::Split),
                ("IgnoreIncoming", HashCollisionMode::IgnoreIncoming),
                ("IgnoreExisting", HashCollisionMode::IgnoreExisting),
                ("FavorIncoming", HashCollisionMode::FavorIncoming),
                ("FavorExisting", HashCollisionMode::FavorExisting),
            ],
            HashCollisionMode::FavorIncoming,
        )?;
        let version = optional_choice(
            &fields,
            "version",
            &[("V1", Version::V1), ("V2", Version::V2)],
            Version::V1,
        )?;
        for flag in ["playbookTriggersEnabled", "removeOrphanIndicators"] {
            if let Some(value) = fields.get(flag) {
                boolean(value, flag)?;
            }
        }

        if !owners.contains(&owner) {
            return Err(JobConfigError::UnknownOwner(owner));
        }
        Ok(JobConfig {
            owner,
            halt_on_error,
            action,
            attribute_write_type,
            tag_write_type,
            security_label_write_type,
            file_merge_mode,
            hash_collision_mode,
            version,
        })
    }
}

fn required<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a Value, JobConfigError> {
    fields.get(name).ok_or_else(|| {
        JobConfigError::Invalid(format!(
            "Batch job configuration is missing the required field '{name}'"
        ))
    })
}

fn invalid_value(name: &str, value: &Value, expected: &str) -> JobConfigError {
    JobConfigError::Invalid(format!(
        "Invalid value {value} for '{name}' in the batch job configuration: expected {expected}"
    ))
}

/// Reads a flag given as a JSON boolean or as the string `"true"` or `"false"`.
fn boolean(value: &Value, name: &str) -> Result<bool, JobConfigError> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(invalid_value(name, other, "true or false")),
    }
}

fn choice<T: Copy>(value: &Value, name: &str, choices: &[(&str, T)]) -> Result<T, JobConfigError> {
    let found = value
        .as_str()
        .and_then(|text| choices.iter().find(|(label, _)| *label == text));
    match found {
        Some((_, choice)) => Ok(*choice),
        None => {
            let labels: Vec<&str> = choices.iter().map(|(label, _)| *label).collect();
            Err(invalid_value(
                name,
                value,
                &format!("one of {}", labels.join(", ")),
            ))
        }
    }
}

fn optional_choice<T: Copy>(
    fields: &Map<String, Value>,
    name: &str,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, JobConfigError> {
    match fields.get(name) {
        Some(value) => choice(value, name, choices),
        None => Ok(default),
    }
}

/// The status of a job as `GET /v2/batch/{id}` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum JobState {
    Created,
    Queued,
    Running,
    Completed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Created => "Created",
            JobState::Queued => "Queued",
            JobState::Running => "Running",
            JobState::Completed => "Completed",
        }
    }
}

/// Outcome counts of a processed job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub success_count: u64,
    pub error_count: u64,
    pub unprocess_count: u64,
    pub success_indicator_count: u64,
    pub error_indicator_count: u64,
    pub success_group_count: u64,
    pub error_group_count: u64,
}

/// One entry of `GET /v2/batch/{id}/errors` and `/results`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    /// Error code from ThreatConnect's batch error table, such as `0x1005` (invalid indicator).
    pub code: &'static str,
    pub reason: String,
    /// Lower-level cause, such as the JSON parser's message; `/results` shows it as
    /// `errorReason`.
    pub detail: Option<String>,
    /// The offending item as it was sent, or a JSON path for errors about the whole file.
    pub source: Value,
}

/// A job as the emulator keeps it.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub config: JobConfig,
    pub state: JobState,
    /// Status polls left that report Running although processing has finished.
    pub running_polls_left: u32,
    pub counts: Counts,
    pub errors: Vec<ItemError>,
    /// Size of the uploaded batch file in bytes after decompression.
    pub upload_bytes: Option<usize>,
    pub created_at_ms: u64,
    pub queued_at_ms: Option<u64>,
    pub completed_at_ms: Option<u64>,
}

impl Job {
    pub fn new(id: u64, config: JobConfig, now_ms: u64) -> Job {
        Job {
            id,
            config,
            state: JobState::Created,
            running_polls_left: 0,
            counts: Counts::default(),
            errors: Vec::new(),
            upload_bytes: None,
            created_at_ms: now_ms,
            queued_at_ms: None,
            completed_at_ms: None,
        }
    }

    /// Returns the state reported to a client, without consuming a poll.
    pub fn visible_state(&self) -> JobState {
        if self.state == JobState::Completed && self.running_polls_left > 0 {
            JobState::Running
        } else {
            self.state
        }
    }

    /// Returns the read-only view of the job.
    pub fn view(&self) -> JobView {
        JobView {
            id: self.id,
            status: self.visible_state(),
            config: self.config.clone(),
            counts: self.counts,
            errors: self.errors.len(),
            upload_bytes: self.upload_bytes,
            created_at_ms: self.created_at_ms,
            queued_at_ms: self.queued_at_ms,
            completed_at_ms: self.completed_at_ms,
        }
    }
}

/// Read-only view of a job for tests (`GET /_emulator/jobs`). Times are Unix milliseconds of the
/// emulator clock.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: u64,
    pub status: JobState,
    pub config: JobConfig,
    pub counts: Counts,
    /// Number of entries `/errors` returns.
    pub errors: usize,
    pub upload_bytes: Option<usize>,
    pub created_at_ms: u64,
    pub queued_at_ms: Option<u64>,
    pub completed_at_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners() -> Vec<String> {
        vec!["Acme".to_owned()]
    }

    #[test]
    fn config_accepts_string_booleans() {
        let body = br#"{"owner":"Acme","haltOnError":"true","action":"Create",
            "attributeWriteType":"Append","version":"V2"}"#;
        let config = JobConfig::parse(body, &owners()).unwrap();
        assert!(config.halt_on_error);
        assert_eq!(config.attribute_write_type, AttributeWriteType::Append);
        assert_eq!(config.tag_write_type, SetWriteType::Replace);
        assert_eq!(config.version, Version::V2);
    }

    #[test]
    fn config_names_missing_field() {
        let body = br#"{"owner":"Acme","haltOnError":false,"action":"Create"}"#;
        let error = JobConfig::parse(body, &owners()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Batch job configuration is missing the required field 'attributeWriteType'"
        );
    }

    #[test]
    fn config_rejects_bad_enum() {
        let body = br#"{"owner":"Acme","haltOnError":false,"action":"Update",
            "attributeWriteType":"Replace"}"#;
        let error = JobConfig::parse(body, &owners()).unwrap_err().to_string();
        assert!(error.contains("\"Update\""), "{error}");
        assert!(error.contains("Create, Delete"), "{error}");
    }

    #[test]
    fn config_rejects_unknown_owner() {
        let body = br#"{"owner":"Other","haltOnError":false,"action":"Create",
            "attributeWriteType":"Replace"}"#;
        let error = JobConfig::parse(body, &owners()).unwrap_err();
        assert_eq!(error, JobConfigError::UnknownOwner("Other".to_owned()));
    }
}
