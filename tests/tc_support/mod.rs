//! Helpers for the end-to-end tests of `feedpipe` against the ThreatConnect emulator process.
//! They start and always stop `feedpipe emulate threatconnect`, run `feedpipe run` with a time
//! limit, talk to the emulator's admin and API endpoints over a small HTTP/1.1 client, and
//! compare stored indicators with the file sink's output.
//!
//! Every process a helper starts is killed when its guard is dropped, also when a test panics.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Credential variables the sink and the emulator read; cleared for every child process.
const CREDENTIAL_VARS: [&str; 3] = [
    "FEEDPIPE_TC_ACCESS_ID",
    "FEEDPIPE_TC_SECRET_KEY",
    "FEEDPIPE_TC_API_TOKEN",
];

/// Maximum duration of one `feedpipe run` before the test fails.
const RUN_TIME_LIMIT: Duration = Duration::from_secs(180);

/// Maximum time the emulator may take to print its address.
const START_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The emulator's default HMAC credentials and API token.
pub const ACCESS_ID: &str = "emulator";
pub const SECRET_KEY: &str = "emulator-secret-key";
pub const API_TOKEN: &str = "emulator-token";
pub const OWNER: &str = "Emulator Org";

pub fn feedpipe_binary() -> &'static str {
    env!("CARGO_BIN_EXE_feedpipe")
}

/// Returns the repository's sample feed directory.
pub fn sample_feeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/feeds")
}

/// A running `feedpipe emulate threatconnect` process, killed on drop.
pub struct EmulatorProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

impl EmulatorProcess {
    /// Starts the emulator on a free loopback port with the given TOML configuration (written
    /// to `dir`), and waits until it prints its address.
    pub fn start(dir: &Path, config_toml: &str) -> EmulatorProcess {
        let config = dir.join("emulator.toml");
        std::fs::write(&config, config_toml).expect("write emulator config");
        let mut command = Command::new(feedpipe_binary());
        command
            .args(["emulate", "threatconnect", "--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for name in CREDENTIAL_VARS {
            command.env_remove(name);
        }
        let mut child = command
            .spawn()
            .expect("start feedpipe emulate threatconnect");

        // A thread keeps reading stderr so that the emulator never blocks on a full pipe.
        let pipe = child.stderr.take().expect("emulator stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        let collected = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_address(&line) {
                    let _ = address_sender.send(addr);
                }
                let mut text = collected.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });

        let mut emulator = EmulatorProcess {
            child,
            addr: String::new(),
            stderr,
        };
        match address_receiver.recv_timeout(START_TIME_LIMIT) {
            Ok(addr) => emulator.addr = addr,
            Err(_) => panic!(
                "the emulator printed no listening address; its stderr:\n{}",
                emulator.stderr()
            ),
        }
        emulator
    }

    /// Returns the API base URL, `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `GET /_emulator{path}` as JSON.
    pub fn admin_get(&self, path: &str) -> Value {
        let response = http(&self.addr, "GET", &format!("/_emulator{path}"), &[], None);
        assert_eq!(response.status, 200, "GET /_emulator{path}: {response:?}");
        response.json()
    }

    /// `POST /_emulator{path}` with a JSON body, and returns the JSON response.
    pub fn admin_post(&self, path: &str, body: &Value) -> Value {
        let bytes = body.to_string().into_bytes();
        let headers = [("Content-Type", "application/json")];
        let response = http(
            &self.addr,
            "POST",
            &format!("/_emulator{path}"),
            &headers,
            Some(&bytes),
        );
        assert_eq!(response.status, 200, "POST /_emulator{path}: {response:?}");
        response.json()
    }

    /// `GET /api{path}` authenticated with the emulator's API token.
    pub fn api_get(&self, path: &str) -> HttpResponse {
        let authorization = format!("TC-Token {API_TOKEN}");
        let headers = [("Authorization", authorization.as_str())];
        http(&self.addr, "GET", &format!("/api{path}"), &headers, None)
    }

    /// Returns the stored-indicator view.
    pub fn indicators(&self) -> Vec<Value> {
        array(self.admin_get("/indicators"))
    }

    /// Returns the job view.
    pub fn jobs(&self) -> Vec<Value> {
        array(self.admin_get("/jobs"))
    }

    /// Returns the request log.
    pub fn requests(&self) -> Vec<Value> {
        array(self.admin_get("/requests"))
    }

    /// Returns the error list of a job, as `GET /v2/batch/{id}/errors` returns it.
    pub fn job_errors(&self, job_id: u64) -> Vec<Value> {
        let response = self.api_get(&format!("/v2/batch/{job_id}/errors"));
        if response.status == 404 {
            return Vec::new();
        }
        assert_eq!(response.status, 200, "errors of job {job_id}: {response:?}");
        array(response.json())
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_address(line: &str) -> Option<String> {
    let rest = line.split("API base URL http://").nth(1)?;
    let addr = rest.split("/api").next()?;
    Some(addr.to_owned())
}

fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("expected a JSON array, got {other}"),
    }
}

/// One HTTP response.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when the response has `Content-Encoding: gzip`.
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("response body is not JSON ({error}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {} body {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// Sends one HTTP/1.1 request on a new loopback connection and reads the whole response.
pub fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to the emulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set read timeout");
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    stream.write_all(body).expect("send request body");

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("response has a header section");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("response has a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert!(
        response.header("Transfer-Encoding").is_none(),
        "chunked responses are not expected from the emulator"
    );
    if response.header("Content-Encoding") == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(response.body.as_slice())
            .read_to_end(&mut plain)
            .expect("gunzip the response body");
        response.body = plain;
    }
    response
}

/// The result of one `feedpipe run`.
pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl std::fmt::Debug for RunOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `feedpipe ARGS` in `dir` with only the given credential variables set, and kills it
/// when it runs longer than the time limit.
pub fn feedpipe(dir: &Path, args: &[OsString], env: &[(&str, &str)]) -> RunOutput {
    let stdout_path = dir.join("feedpipe.stdout");
    let stderr_path = dir.join("feedpipe.stderr");
    let mut command = Command::new(feedpipe_binary());
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create stdout file"))
        .stderr(File::create(&stderr_path).expect("create stderr file"));
    for name in CREDENTIAL_VARS {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start feedpipe run");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for feedpipe") {
            break status;
        }
        if started.elapsed() > RUN_TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "feedpipe {args:?} ran longer than {RUN_TIME_LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    RunOutput {
        status,
        stdout: std::fs::read_to_string(&stdout_path).expect("read stdout"),
        stderr: std::fs::read_to_string(&stderr_path).expect("read stderr"),
    }
}

/// Builds an argument list from strings and paths.
#[macro_export]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        [$(std::ffi::OsString::from($arg)),*]
    };
}

/// HMAC credentials as the sink reads them from the environment.
pub fn hmac_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("FEEDPIPE_TC_ACCESS_ID", ACCESS_ID),
        ("FEEDPIPE_TC_SECRET_KEY", SECRET_KEY),
    ]
}

/// Sink settings that keep a run fast: short poll and retry waits.
pub const FAST_SINK_SETTINGS: &str = "\
poll_initial_interval_secs = 0.05
poll_growth_factor = 1.5
poll_max_interval_secs = 0.2
retry_initial_backoff_secs = 0.05
retry_max_backoff_secs = 2.0
errors_not_found_delay_secs = 0.05
";

/// Writes a feedpipe configuration with `[sink.threatconnect]` = the fast settings plus
/// `extra_sink`, followed by `extra` (other tables), and returns its path.
pub fn write_feedpipe_config(dir: &Path, extra_sink: &str, extra: &str) -> PathBuf {
    let path = dir.join("feedpipe.toml");
    let text = format!("[sink.threatconnect]\n{FAST_SINK_SETTINGS}{extra_sink}\n{extra}\n");
    std::fs::write(&path, text).expect("write feedpipe config");
    path
}

/// Reads a JSONL file into values.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("invalid JSONL line ({error}): {line}"))
        })
        .collect()
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Runs the file sink over `feeds` and returns the indicator objects it writes.
pub fn file_sink_indicators(dir: &Path, feeds: &Path) -> Vec<Value> {
    let output = dir.join("file-sink.jsonl");
    let rejects = dir.join("file-sink.rejects.jsonl");
    let run = feedpipe(
        dir,
        &args!["run", feeds, "--output", &output, "--rejects", &rejects],
        &[],
    );
    assert_eq!(run.code(), Some(0), "file sink run failed: {run:?}");
    read_jsonl(&output)
}

/// Returns the summary counts `read`, `delivered`, `rejected`, `filtered` of a summary JSON
/// object (the whole run or one source).
pub fn counts(summary: &Value) -> [u64; 4] {
    ["read", "delivered", "rejected", "filtered"].map(|key| {
        summary[key]
            .as_u64()
            .unwrap_or_else(|| panic!("summary has no {key}: {summary}"))
    })
}

/// Asserts `read = delivered + rejected + filtered` for the run and every source, and that
/// the per-source counts add up to the totals.
pub fn assert_balanced(summary: &Value) {
    let [read, delivered, rejected, filtered] = counts(summary);
    assert_eq!(
        read,
        delivered + rejected + filtered,
        "run totals do not add up: {summary}"
    );
    assert_eq!(summary["balanced"], json!(true), "{summary}");
    let mut sums = [0u64; 4];
    for source in summary["sources"].as_array().expect("sources array") {
        let [read, delivered, rejected, filtered] = counts(source);
        assert_eq!(
            read,
            delivered + rejected + filtered,
            "source counts do not add up: {source}"
        );
        for (sum, value) in sums.iter_mut().zip(counts(source)) {
            *sum += value;
        }
    }
    assert_eq!(sums, counts(summary), "sources do not add up to the totals");
}

/// Sum of `counts.<field>` over the emulator's jobs.
pub fn job_count_sum(jobs: &[Value], field: &str) -> u64 {
    jobs.iter()
        .map(|job| job["counts"][field].as_u64().expect("job count"))
        .sum()
}

/// Indicator fields compared between the file sink and the emulator's store.
///
/// The emulator stores File hashes upper-case with the summary rebuilt as
/// `md5 : sha1 : sha256`, deduplicates tag names without regard to case (keeping the first
/// spelling), stores the rating as a number, and sets `displayed` false on attributes that do
/// not set it. Both sides are brought to that form. Attribute and tag order is not compared,
/// but duplicates are.
pub fn normalize_sent(indicator: &Value) -> Value {
    let indicator_type = text(&indicator["type"]);
    let summary = text(&indicator["summary"]);
    let summary = if indicator_type == "File" {
        summary.to_ascii_uppercase()
    } else {
        summary
    };
    let mut tags: Vec<String> = Vec::new();
    for tag in indicator["tag"].as_array().into_iter().flatten() {
        let name = text(&tag["name"]);
        if !tags.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
            tags.push(name);
        }
    }
    let attributes = indicator["attribute"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|attribute| {
            json!({
                "type": attribute["type"],
                "value": attribute["value"],
                "displayed": attribute.get("displayed").cloned().unwrap_or(json!(false)),
            })
        })
        .collect();
    comparable(
        &indicator_type,
        summary,
        &indicator["rating"],
        &indicator["confidence"],
        tags,
        attributes,
        &indicator["firstSeen"],
        &indicator["lastSeen"],
    )
}

/// Brings a stored indicator of the emulator's view to the compared form.
pub fn normalize_stored(stored: &Value) -> Value {
    let tags = stored["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let attributes = stored["attributes"].as_array().cloned().unwrap_or_default();
    comparable(
        &text(&stored["type"]),
        text(&stored["summary"]),
        &stored["rating"],
        &stored["confidence"],
        tags,
        attributes,
        &stored["firstSeen"],
        &stored["lastSeen"],
    )
}

#[allow(clippy::too_many_arguments)]
fn comparable(
    indicator_type: &str,
    summary: String,
    rating: &Value,
    confidence: &Value,
    mut tags: Vec<String>,
    mut attributes: Vec<Value>,
    first_seen: &Value,
    last_seen: &Value,
) -> Value {
    tags.sort();
    attributes.sort_by_key(|attribute| attribute.to_string());
    let optional_text = |value: &Value| match value {
        Value::Null => Value::Null,
        other => json!(text(other)),
    };
    json!({
        "type": indicator_type,
        "summary": summary,
        "rating": rating.as_f64(),
        "confidence": confidence.as_u64(),
        "tags": tags,
        "attributes": attributes,
        "firstSeen": optional_text(first_seen),
        "lastSeen": optional_text(last_seen),
    })
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

/// Returns the File hashes of a summary `md5 : sha1 : sha256` (any subset), upper-case.
fn file_hashes(summary: &str) -> Vec<String> {
    summary
        .split(':')
        .map(|part| part.trim().to_ascii_uppercase())
        .filter(|part| !part.is_empty())
        .collect()
}

/// Indicators that ThreatConnect keeps as one: the same type and summary, or, for File, any
/// shared hash. `members` are the normalised indicators sent. `summary` is the one the store
/// ends with, which for File is the union of the hashes in md5, sha1, sha256 order.
#[derive(Debug)]
pub struct IdentityGroup {
    pub indicator_type: String,
    pub summary: String,
    pub members: Vec<Value>,
}

/// Groups normalised sent indicators by the identity ThreatConnect stores them under.
pub fn identity_groups(sent: &[Value]) -> Vec<IdentityGroup> {
    let mut groups: Vec<IdentityGroup> = Vec::new();
    let mut hashes_of_group: Vec<BTreeSet<String>> = Vec::new();
    for indicator in sent {
        let indicator_type = text(&indicator["type"]);
        let summary = text(&indicator["summary"]);
        if indicator_type != "File" {
            match groups
                .iter_mut()
                .find(|group| group.indicator_type == indicator_type && group.summary == summary)
            {
                Some(group) => group.members.push(indicator.clone()),
                None => {
                    groups.push(IdentityGroup {
                        indicator_type,
                        summary,
                        members: vec![indicator.clone()],
                    });
                    hashes_of_group.push(BTreeSet::new());
                }
            }
            continue;
        }

        let hashes: BTreeSet<String> = file_hashes(&summary).into_iter().collect();
        let matching: Vec<usize> = (0..groups.len())
            .filter(|&index| !hashes_of_group[index].is_disjoint(&hashes))
            .collect();
        let mut members = vec![indicator.clone()];
        let mut union = hashes;
        for &index in matching.iter().rev() {
            let group = groups.remove(index);
            union.extend(hashes_of_group.remove(index));
            members.extend(group.members);
        }
        let mut by_length: BTreeMap<usize, &String> = BTreeMap::new();
        for hash in &union {
            let previous = by_length.insert(hash.len(), hash);
            assert!(
                previous.is_none(),
                "two different hashes of {} digits in one File identity: {union:?}",
                hash.len()
            );
        }
        let summary = by_length
            .values()
            .map(|hash| hash.as_str())
            .collect::<Vec<_>>()
            .join(" : ");
        groups.push(IdentityGroup {
            indicator_type,
            summary,
            members,
        });
        hashes_of_group.push(union);
    }
    groups
}

/// Asserts that the store contains exactly one indicator per identity group of `sent` (already
/// normalised), owned by `owner`, and that each stored indicator is what the last write of its
/// identity leaves with attribute and tag write type Replace. Returns the number of identity
/// groups.
///
/// Which indicator of a group is written last depends on job order, so any member may be the
/// last one. Its tags and attributes replace the stored ones. Its rating, confidence, firstSeen
/// and lastSeen replace the stored ones only where it has them, so a field it lacks keeps the
/// value of an earlier write or stays unset.
pub fn assert_store_matches(stored: &[Value], sent: &[Value], owner: &str) -> usize {
    let groups = identity_groups(sent);
    let mut unmatched: Vec<&IdentityGroup> = groups.iter().collect();
    for indicator in stored {
        assert_eq!(indicator["owner"], json!(owner), "{indicator}");
        let normalized = normalize_stored(indicator);
        let indicator_type = text(&normalized["type"]);
        let summary = text(&normalized["summary"]);
        let position = unmatched
            .iter()
            .position(|group| group.indicator_type == indicator_type && group.summary == summary)
            .unwrap_or_else(|| {
                panic!(
                    "stored {indicator_type} '{summary}' matches no indicator sent, or is \
                     stored twice:\n{indicator:#}"
                )
            });
        let group = unmatched.remove(position);
        let candidates: Vec<Value> = group
            .members
            .iter()
            .map(|member| {
                let mut expected = member.clone();
                expected["summary"] = json!(group.summary);
                expected
            })
            .collect();
        assert!(
            candidates
                .iter()
                .any(|last| is_last_write(&normalized, last, &candidates)),
            "stored indicator differs from every indicator sent under its identity\n\
             stored: {normalized:#}\nsent: {candidates:#?}"
        );
    }
    assert!(
        unmatched.is_empty(),
        "{} identities were sent but not stored, the first: {:#?}",
        unmatched.len(),
        unmatched.first()
    );
    groups.len()
}

/// Returns whether `stored` is what writing `last` after the other `members` leaves.
fn is_last_write(stored: &Value, last: &Value, members: &[Value]) -> bool {
    for field in ["type", "summary", "tags", "attributes"] {
        if stored[field] != last[field] {
            return false;
        }
    }
    for field in ["rating", "confidence", "firstSeen", "lastSeen"] {
        let kept_earlier = last[field].is_null()
            && (stored[field].is_null()
                || members.iter().any(|member| member[field] == stored[field]));
        if stored[field] != last[field] && !kept_earlier {
            return false;
        }
    }
    true
}

/// Asserts that no stored indicator carries the same attribute (type and value) twice.
pub fn assert_no_duplicate_attributes(stored: &[Value]) {
    for indicator in stored {
        let mut seen = BTreeSet::new();
        for attribute in indicator["attributes"].as_array().expect("attributes") {
            let key = (
                attribute["type"].to_string(),
                attribute["value"].to_string(),
            );
            assert!(
                seen.insert(key),
                "attribute {attribute} is stored twice on {} '{}'",
                indicator["type"],
                indicator["summary"]
            );
        }
    }
}

/// Returns the attribute types the emulator accepts by default, with their maximum length, so
/// that a test can drop or shrink one.
pub fn default_attribute_types() -> Vec<(String, usize)> {
    feedpipe_tc_emulator::AttributeTypes::default()
        .types
        .into_iter()
        .collect()
}

/// Renders an `[attribute_types.types]` table for the emulator configuration.
pub fn attribute_types_table(types: &[(String, usize)]) -> String {
    let mut table = String::from("[attribute_types.types]\n");
    for (name, max_size) in types {
        table.push_str(&format!("{name:?} = {max_size}\n"));
    }
    table
}
