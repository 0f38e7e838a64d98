//! Handlers of the ThreatConnect endpoints a batch client uses.
//!
//! Each handler turns one authenticated request into one response with ThreatConnect's status
//! code, envelope and message text. Job state changes go through [`Shared`], so a handler never
//! moves a job backwards.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Response};
use serde_json::{Value, json};

use crate::body::{self, CappedBody, InflateError};
use crate::config::UploadResponse;
use crate::item::indicator_type_names;
use crate::job::{Job, JobConfig, JobConfigError, JobState};
use crate::process::count_items;
use crate::response::{Body, failure, invalid, json_value, not_found, success, with_body};
use crate::state::Shared;

/// Largest job configuration body read, in bytes.
const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Query parameters decoded from a request target.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect();
        Query(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (b'+', _) => {
                decoded.push(b' ');
                index += 1;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn config_error(error: JobConfigError) -> Response<Body> {
    match error {
        JobConfigError::Invalid(message) => invalid(400, &message),
        unknown @ JobConfigError::UnknownOwner(_) => failure(403, &unknown.to_string()),
    }
}

fn file_too_large(limit: usize) -> Response<Body> {
    invalid(
        400,
        &format!("File size greater than allowable limit of {limit}"),
    )
}

fn unreadable_body(error: &hyper::Error) -> Response<Body> {
    invalid(400, &format!("The request body could not be read: {error}"))
}

/// `POST /v2/batch`: creates a job from its configuration.
pub async fn create(shared: &Arc<Shared>, body: Incoming) -> Response<Body> {
    let body = match body::read_capped(body, MAX_CONFIG_BYTES).await {
        Ok(body) => body,
        Err(error) => return unreadable_body(&error),
    };
    if body.exceeds(MAX_CONFIG_BYTES) {
        return invalid(400, "Batch job configuration is larger than 64 KiB");
    }
    match JobConfig::parse(&body.bytes, &shared.config.owners) {
        Ok(config) => {
            let id = shared.create_job(config);
            success(201, json!({"batchId": id}))
        }
        Err(error) => config_error(error),
    }
}

/// Reason an uploaded batch file was rejected.
enum DataError {
    TooLarge { limit: usize },
    Undecodable(InflateError),
}

impl DataError {
    fn response(self) -> Response<Body> {
        match self {
            DataError::TooLarge { limit } => file_too_large(limit),
            DataError::Undecodable(error) => invalid(
                400,
                &format!("The batch file could not be decompressed: {error}"),
            ),
        }
    }
}

/// Checks the size of a batch file and decompresses it if it is gzip.
fn batch_data(
    shared: &Shared,
    headers: &HeaderMap,
    body: CappedBody,
) -> Result<bytes::Bytes, DataError> {
    let limit = shared.config.max_upload_bytes;
    if body.exceeds(limit) {
        return Err(DataError::TooLarge { limit });
    }
    if !body::is_gzip(headers, &body.bytes) {
        return Ok(body.bytes);
    }
    match body::gunzip(&body.bytes, limit) {
        Ok(data) => Ok(data),
        Err(InflateError::TooLarge { .. }) => Err(DataError::TooLarge { limit }),
        Err(error) => Err(DataError::Undecodable(error)),
    }
}

fn is_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| {
            media_type
                .trim()
                .eq_ignore_ascii_case("application/octet-stream")
        })
}

/// `POST /v2/batch/{id}`: takes the batch file of a Created job and queues it.
pub async fn upload(
    shared: &Arc<Shared>,
    id: u64,
    headers: &HeaderMap,
    body: Incoming,
) -> Response<Body> {
    if !shared.lock().jobs.contains_key(&id) {
        return not_found();
    }
    if shared.config.require_octet_stream && !is_octet_stream(headers) {
        let sent = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none");
        return invalid(
            415,
            &format!(
                "Batch data must be sent as Content-Type application/octet-stream, not '{sent}'"
            ),
        );
    }

    let body = match body::read_capped(body, shared.config.max_upload_bytes).await {
        Ok(body) => body,
        Err(error) => return unreadable_body(&error),
    };
    let data = match batch_data(shared, headers, body) {
        Ok(data) => data,
        Err(error) => return error.response(),
    };
    let Some(acceptance) = shared.accept_upload(id, data.len()) else {
        return invalid(
            400,
            &format!("Batch job {id} already has data; each job takes one upload"),
        );
    };
    shared.spawn_job(id, data, acceptance);

    match shared.config.upload_response {
        UploadResponse::Queued => json_value(202, &json!({"status": "Queued"})),
        UploadResponse::BatchStatus => {
            success(202, json!({"batchStatus": {"id": id, "status": "Queued"}}))
        }
    }
}

/// `POST /v2/batch/createAndUpload`: creates a job from the `config` part and queues the
/// `content` part; small jobs may be processed before the response.
pub async fn create_and_upload(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    query: &Query,
    body: Incoming,
) -> Response<Body> {
    let Some(content_type) = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return invalid(400, "createAndUpload needs a multipart/form-data body");
    };
    let content_type = content_type.to_owned();
    let cap = shared
        .config
        .max_upload_bytes
        .saturating_add(MAX_CONFIG_BYTES);
    let body = match body::read_capped(body, cap).await {
        Ok(body) => body,
        Err(error) => return unreadable_body(&error),
    };
    if body.exceeds(cap) {
        return file_too_large(shared.config.max_upload_bytes);
    }
    let parts = match body::multipart_parts(&content_type, body.bytes).await {
        Ok(parts) => parts,
        Err(error) => return invalid(400, &format!("Invalid multipart body: {error}")),
    };
    let (Some(config), Some(content)) = (parts.config, parts.content) else {
        return invalid(
            400,
            "createAndUpload needs the multipart parts 'config' and 'content'",
        );
    };

    let config = match JobConfig::parse(&config, &shared.config.owners) {
        Ok(config) => config,
        Err(error) => return config_error(error),
    };
    let content = CappedBody {
        total: content.len(),
        bytes: content,
    };
    let data = match batch_data(shared, &HeaderMap::new(), content) {
        Ok(data) => data,
        Err(error) => return error.response(),
    };
    let id = shared.create_job(config);
    let acceptance = shared
        .accept_upload(id, data.len())
        .expect("a new job takes its first upload");

    let limit = shared.config.synchronous_batch_save_limit;
    let synchronous = limit > 0
        && !acceptance.stalled
        && acceptance.delay.is_zero()
        && count_items(&data).is_some_and(|items| items <= limit);
    if !synchronous {
        shared.spawn_job(id, data, acceptance);
        return success(201, json!({"batchStatus": {"id": id, "status": "Queued"}}));
    }

    shared.process_now(id, &data);
    let mut inner = shared.lock();
    let Some(job) = inner.jobs.get_mut(&id) else {
        return not_found();
    };
    job.running_polls_left = 0;
    let mut status = status_json(job, JobState::Completed, query.flag("includeAdditional"));
    if !shared.config.synchronous_status_has_id
        && let Some(fields) = status.as_object_mut()
    {
        fields.remove("id");
    }
    success(201, json!({"batchStatus": status}))
}

fn status_json(job: &Job, state: JobState, include_additional: bool) -> Value {
    let mut status = json!({"id": job.id, "status": state.as_str()});
    if state != JobState::Completed {
        return status;
    }
    let counts = &job.counts;
    let fields = status.as_object_mut().expect("status is an object");
    fields.insert("errorCount".into(), counts.error_count.into());
    fields.insert("successCount".into(), counts.success_count.into());
    fields.insert("unprocessCount".into(), counts.unprocess_count.into());
    if include_additional {
        fields.insert(
            "successIndicatorCount".into(),
            counts.success_indicator_count.into(),
        );
        fields.insert(
            "errorIndicatorCount".into(),
            counts.error_indicator_count.into(),
        );
        fields.insert(
            "successGroupCount".into(),
            counts.success_group_count.into(),
        );
        fields.insert("errorGroupCount".into(), counts.error_group_count.into());
    }
    status
}

/// `GET /v2/batch/{id}`: the job status. A poll while `running_polls` are left reports Running
/// and uses one of them up.
pub fn status(shared: &Shared, id: u64, query: &Query) -> Response<Body> {
    let mut inner = shared.lock();
    let Some(job) = inner.jobs.get_mut(&id) else {
        return not_found();
    };
    let state = job.visible_state();
    if state != job.state {
        job.running_polls_left -= 1;
    }
    let status = status_json(job, state, query.flag("includeAdditional"));
    success(200, json!({"batchStatus": status}))
}

/// Returns the finished job, or the response for a job that is missing or not finished.
fn completed_job(
    jobs: &std::collections::BTreeMap<u64, Job>,
    id: u64,
) -> Result<&Job, Box<Response<Body>>> {
    let job = jobs.get(&id).ok_or_else(|| Box::new(not_found()))?;
    let state = job.visible_state();
    if state != JobState::Completed {
        let message = format!("Batch still in {} state", state.as_str());
        return Err(Box::new(invalid(400, &message)));
    }
    Ok(job)
}

/// `GET /v2/batch/{id}/errors`: the gzip JSON array of errors; 404 when there are none.
pub fn errors(shared: &Shared, id: u64) -> Response<Body> {
    let inner = shared.lock();
    let job = match completed_job(&inner.jobs, id) {
        Ok(job) => job,
        Err(response) => return *response,
    };
    if job.errors.is_empty() {
        return not_found();
    }
    let entries: Vec<Value> = job
        .errors
        .iter()
        .map(|error| json!({"errorReason": error.reason, "errorSource": error.source}))
        .collect();
    drop(inner);

    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let json = Value::Array(entries).to_string();
    encoder
        .write_all(json.as_bytes())
        .expect("writing to a Vec cannot fail");
    let packed = encoder.finish().expect("writing to a Vec cannot fail");
    let mut response = with_body(200, "application/octet-stream", packed);
    response
        .headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
}

fn severity_matches(filter: &str) -> Option<bool> {
    match filter.to_ascii_lowercase().as_str() {
        "err" | "error" => Some(true),
        "warn" | "warning" | "info" => Some(false),
        _ => None,
    }
}

/// `GET /v2/batch/{id}/results`: errors with code and severity, filtered by `code`, `contains`
/// and `severity`. Every emulator result has severity Error.
pub fn results(shared: &Shared, id: u64, query: &Query) -> Response<Body> {
    let inner = shared.lock();
    let job = match completed_job(&inner.jobs, id) {
        Ok(job) => job,
        Err(response) => return *response,
    };
    let severity_filter = match query.get("severity").map(severity_matches) {
        None => true,
        Some(Some(matches)) => matches,
        Some(None) => {
            return invalid(
                400,
                "severity must be one of err, error, info, warn, warning",
            );
        }
    };
    let entries: Vec<Value> = job
        .errors
        .iter()
        .filter(|_| severity_filter)
        .filter(|error| {
            query
                .get("code")
                .is_none_or(|code| code.eq_ignore_ascii_case(error.code))
        })
        .filter(|error| {
            query.get("contains").is_none_or(|text| {
                error.reason.contains(text)
                    || error.detail.as_deref().is_some_and(|d| d.contains(text))
            })
        })
        .map(|error| {
            json!({
                "code": error.code,
                "severity": "Error",
                "errorReason": error.detail.as_deref().unwrap_or(&error.reason),
                "errorMessage": error.reason,
            })
        })
        .collect();
    json_value(200, &Value::Array(entries))
}

/// `GET /v2/owners`: the configured owners, all of type Organization.
pub fn owners(shared: &Shared) -> Response<Body> {
    let owners: Vec<Value> = shared
        .config
        .owners
        .iter()
        .enumerate()
        .map(|(index, name)| json!({"id": index + 1, "name": name, "type": "Organization"}))
        .collect();
    success(200, json!({"resultCount": owners.len(), "owner": owners}))
}

/// API branch, entity, case preference and validation regexes of each indicator type.
fn indicator_type_json(name: &str, include_additional: bool) -> Value {
    let (branch, entity, case, regexes): (&str, &str, &str, &[&str]) = match name {
        "Address" => (
            "addresses",
            "address",
            "lower",
            &[
                r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
                r"\b[0-9a-fA-F:]*:[0-9a-fA-F:.]+\b",
            ],
        ),
        "Host" => (
            "hosts",
            "host",
            "lower",
            &[r"\b(?:[a-zA-Z0-9_-]{1,63}\.)+[a-zA-Z0-9_-]*[a-zA-Z_-][a-zA-Z0-9_-]*\b"],
        ),
        "URL" => (
            "urls",
            "url",
            "sensitive",
            &[r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#]+\S*"],
        ),
        "File" => (
            "files",
            "file",
            "upper",
            &[
                r"\b([a-fA-F\d]{32})\b",
                r"\b([a-fA-F\d]{40})\b",
                r"\b([a-fA-F\d]{64})\b",
            ],
        ),
        "EmailAddress" => (
            "emailAddresses",
            "emailAddress",
            "lower",
            &[r"\S+@\S+\.\S+"],
        ),
        "ASN" => ("asns", "asn", "upper", &[r"^ASN\d+$"]),
        "CIDR" => ("cidrBlocks", "cidrBlock", "lower", &[r"\S+/\d{1,3}"]),
        "Mutex" => ("mutexes", "mutex", "sensitive", &[]),
        "Registry Key" => (
            "registryKeys",
            "registryKey",
            "sensitive",
            &[r"^HKEY_[A-Z_]+\\"],
        ),
        _ => ("userAgents", "userAgent", "sensitive", &[]),
    };
    let mut entry = json!({
        "name": name,
        "custom": "false",
        "parsable": "true",
        "apiBranch": branch,
        "apiEntity": entity,
        "casePreference": case,
    });
    if include_additional {
        entry["regexes"] = json!(regexes);
    }
    entry
}

/// `GET /v2/types/indicatorTypes[/{type}]`: the indicator types the emulator accepts.
pub fn indicator_types(requested: Option<&str>, query: &Query) -> Response<Body> {
    let include_additional = query.flag("includeAdditional");
    let Some(requested) = requested else {
        let types: Vec<Value> = indicator_type_names()
            .map(|name| indicator_type_json(name, include_additional))
            .collect();
        return success(
            200,
            json!({"resultCount": types.len(), "indicatorType": types}),
        );
    };

    let found = indicator_type_names()
        .map(|name| indicator_type_json(name, include_additional))
        .find(|entry| {
            ["name", "apiBranch", "apiEntity"].iter().any(|field| {
                entry[field]
                    .as_str()
                    .is_some_and(|value| value.eq_ignore_ascii_case(requested))
            })
        });
    match found {
        Some(entry) => success(200, json!({"indicatorType": entry})),
        None => not_found(),
    }
}

/// `GET /v3/attributeTypes`: the configured attribute types with their `maxSize`.
pub fn attribute_types(shared: &Shared) -> Response<Body> {
    let types: Vec<Value> = shared
        .config
        .attribute_types
        .types
        .iter()
        .enumerate()
        .map(
            |(index, (name, max_size))| json!({"id": index + 1, "name": name, "maxSize": max_size}),
        )
        .collect();
    json_value(
        200,
        &json!({"status": "Success", "count": types.len(), "data": types}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_pairs() {
        let query = Query::parse(Some("contains=not%20an+x&includeAdditional=TRUE&flag"));
        assert_eq!(query.get("contains"), Some("not an x"));
        assert!(query.flag("includeadditional"));
        assert_eq!(query.get("flag"), Some(""));
        assert_eq!(query.get("missing"), None);
    }

    #[test]
    fn octet_stream_with_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/Octet-Stream; charset=utf-8"),
        );
        assert!(is_octet_stream(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_octet_stream(&headers));
    }
}
