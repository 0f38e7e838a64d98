//! End-to-end tests of the `feedpipe` binary delivering to the ThreatConnect batch API emulator,
//! each against its own `feedpipe emulate threatconnect` process over HTTP on 127.0.0.1.
//!
//! What ThreatConnect would hold is read back through the emulator's admin view
//! (`/_emulator/indicators`, `/_emulator/jobs`) and compared with what the file sink writes for
//! the same feeds, so the ThreatConnect path is checked against the plain mapping.

mod tc_support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use tc_support::*;

/// Delivers `feeds` to the emulator with the fast test settings plus `extra_sink`, and returns
/// the run, its summary and the rejects file's lines.
fn run_threatconnect(
    dir: &Path,
    emulator: &EmulatorProcess,
    feeds: &Path,
    extra_sink: &str,
    env: &[(&str, &str)],
) -> (RunOutput, Value, Vec<Value>) {
    let config = write_feedpipe_config(dir, extra_sink, "");
    let summary = dir.join("summary.json");
    let rejects = dir.join("rejects.jsonl");
    let run = feedpipe(
        dir,
        &args![
            "run",
            feeds,
            "--sink",
            "threatconnect",
            "--tc-url",
            emulator.api_url(),
            "--tc-owner",
            OWNER,
            "--config",
            &config,
            "--summary-json",
            &summary,
            "--rejects",
            &rejects,
        ],
        env,
    );
    let summary = read_json(&summary);
    let rejects = read_jsonl(&rejects);
    (run, summary, rejects)
}

fn normalized_file_sink(dir: &Path, feeds: &Path) -> Vec<Value> {
    let file_dir = dir.join("file-sink");
    std::fs::create_dir_all(&file_dir).unwrap();
    file_sink_indicators(&file_dir, feeds)
        .iter()
        .map(normalize_sent)
        .collect()
}

fn rejected_by_reason(summary: &Value, reason: &str) -> u64 {
    summary["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|source| source["rejected_by_reason"][reason].as_u64().unwrap_or(0))
        .sum()
}

fn sink_stat(summary: &Value, name: &str) -> u64 {
    summary["sink"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("summary has no sink figure {name}: {summary}"))
}

#[test]
fn sample_feeds_stored_as_file_sink_writes() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feeds = sample_feeds();

    let (run, summary, rejects) = run_threatconnect(dir.path(), &emulator, &feeds, "", &hmac_env());
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);

    let sent = normalized_file_sink(dir.path(), &feeds);
    let [read, delivered, rejected, filtered] = counts(&summary);
    assert_eq!(delivered, sent.len() as u64, "delivered ≠ file sink lines");
    assert_eq!(read, delivered + rejected + filtered);
    assert_eq!(rejected, rejects.len() as u64);
    assert!(
        rejects
            .iter()
            .all(|reject| reject["code"] != "threatconnect"),
        "the emulator rejected an indicator the file sink wrote: {rejects:#?}"
    );

    let jobs = emulator.jobs();
    assert!(
        jobs.iter().all(|job| job["status"] == "Completed"),
        "{jobs:#?}"
    );
    assert_eq!(job_count_sum(&jobs, "successCount"), delivered);
    assert_eq!(job_count_sum(&jobs, "errorCount"), 0);

    let stored = emulator.indicators();
    let identities = assert_store_matches(&stored, &sent, OWNER);
    assert_eq!(stored.len(), identities);
    assert_no_duplicate_attributes(&stored);
}

/// A fault on every endpoint: 5xx, 429 with `Retry-After` in seconds and as a date, a
/// connection dropped before and after the request was handled, an upload whose response
/// comes only after the client timed out, `/errors` 404 before 200, and jobs that stay
/// Running for a while.
const FAULT_PLAN_TOML: &str = r#"
[faults]
job_delay_millis = 150
running_polls = 2

[[faults.rules]]
endpoint = "create"
times = 2
action = { kind = "respond", status = 503 }
[[faults.rules]]
endpoint = "create"
times = 1
action = { kind = "drop_after_accept" }
[[faults.rules]]
endpoint = "create"
times = 1
action = { kind = "respond", status = 429, retry_after = { seconds = 1 } }

[[faults.rules]]
endpoint = "upload"
times = 1
action = { kind = "respond", status = 502 }
[[faults.rules]]
endpoint = "upload"
times = 1
action = { kind = "drop_after_accept" }
[[faults.rules]]
endpoint = "upload"
times = 1
action = { kind = "respond", status = 429, retry_after = { http_date_in = 1 } }
[[faults.rules]]
endpoint = "upload"
times = 1
action = { kind = "delay", millis = 3000 }

[[faults.rules]]
endpoint = "status"
times = 2
action = { kind = "respond", status = 500 }
[[faults.rules]]
endpoint = "status"
times = 1
action = { kind = "drop" }
[[faults.rules]]
endpoint = "status"
times = 1
action = { kind = "respond", status = 429, retry_after = { seconds = 1 } }

[[faults.rules]]
endpoint = "errors"
times = 2
action = { kind = "respond", status = 404 }
[[faults.rules]]
endpoint = "errors"
times = 1
action = { kind = "respond", status = 503 }
"#;

/// Emulator attribute types without `Severity`, so that the ICS Vulnerability indicators that
/// carry one fail and the sink has to fetch `/errors`.
fn attribute_types_without(name: &str) -> String {
    let types: Vec<(String, usize)> = default_attribute_types()
        .into_iter()
        .filter(|(type_name, _)| type_name != name)
        .collect();
    attribute_types_table(&types)
}

/// Returns the type, summary and reason of every indicator the emulator reported as an error.
fn error_sources(emulator: &EmulatorProcess) -> Vec<(String, String, String)> {
    let mut sources = Vec::new();
    for job in emulator.jobs() {
        if job["errors"].as_u64().unwrap() == 0 {
            continue;
        }
        for error in emulator.job_errors(job["id"].as_u64().unwrap()) {
            let source = &error["errorSource"];
            sources.push((
                source["type"].as_str().unwrap().to_owned(),
                source["summary"].as_str().unwrap().to_owned(),
                error["errorReason"].as_str().unwrap().to_owned(),
            ));
        }
    }
    sources
}

/// Returns the sent indicators that no emulator error names.
fn without_errors(sent: &[Value], errors: &[(String, String, String)]) -> Vec<Value> {
    sent.iter()
        .filter(|indicator| {
            !errors.iter().any(|(indicator_type, summary, _)| {
                indicator["type"] == json!(indicator_type)
                    && indicator["summary"]
                        .as_str()
                        .unwrap()
                        .eq_ignore_ascii_case(summary)
            })
        })
        .cloned()
        .collect()
}

/// Asserts that the emulator took exactly one upload for each job with data, and never had to
/// refuse a second one.
fn assert_one_upload_per_job(emulator: &EmulatorProcess, jobs: &[Value]) {
    let requests = emulator.requests();
    let uploads: Vec<&Value> = requests
        .iter()
        .filter(|request| request["endpoint"] == "upload")
        .collect();
    for upload in &uploads {
        assert_ne!(upload["status"], json!(400), "a second upload: {upload}");
    }
    for job in jobs.iter().filter(|job| !job["uploadBytes"].is_null()) {
        let target = format!("/api/v2/batch/{}", job["id"]);
        let accepted_uploads = uploads
            .iter()
            .filter(|upload| upload["target"] == json!(target))
            .filter(|upload| {
                let delayed = upload["fault"]
                    .as_str()
                    .is_some_and(|fault| fault.starts_with("delay"));
                upload["status"] == json!(202) || upload["fault"] == "drop after accept" || delayed
            })
            .count();
        assert!(
            accepted_uploads == 1,
            "{accepted_uploads} uploads accepted for job {}: {uploads:#?}",
            job["id"]
        );
    }
}

fn assert_every_fault_fired(emulator: &EmulatorProcess) {
    let plan = emulator.admin_get("/faults");
    for rule in plan["rules"].as_array().unwrap() {
        assert_eq!(rule["times"], json!(0), "a fault never fired: {rule}");
    }
}

#[test]
fn faults_on_every_endpoint_store_each_indicator_once() {
    let dir = tempfile::tempdir().unwrap();
    let emulator_config = format!("{}\n{FAULT_PLAN_TOML}", attribute_types_without("Severity"));
    let emulator = EmulatorProcess::start(dir.path(), &emulator_config);
    let feeds = sample_feeds();
    let sink = "max_indicators_per_job = 10\nrequest_timeout_secs = 2\nretry_max_attempts = 8\n";
    let sent = normalized_file_sink(dir.path(), &feeds);
    let initial_plan = emulator.admin_get("/faults");

    let mut first_delivered = 0;
    for round in 1..=2 {
        if round == 2 {
            emulator.admin_post("/faults", &initial_plan);
        }
        let (run, summary, rejects) =
            run_threatconnect(dir.path(), &emulator, &feeds, sink, &hmac_env());
        assert_eq!(run.code(), Some(0), "round {round}: {run:?}");
        assert_balanced(&summary);
        assert_every_fault_fired(&emulator);
        // Retried request by request: 4 create faults, the upload 429, 4 status faults, and
        // the 3 error-list faults. The 502, the dropped and the delayed upload are resolved
        // by reading the job's status instead.
        assert!(sink_stat(&summary, "threatconnect_requests_retried") >= 12);
        assert!(sink_stat(&summary, "threatconnect_jobs_retried") >= 1);
        assert_eq!(sink_stat(&summary, "threatconnect_jobs_failed"), 0);

        let errors = error_sources(&emulator);
        let server_rejects = rejected_by_reason(&summary, "threatconnect");
        let [_, delivered, _, _] = counts(&summary);
        // The emulator keeps the jobs of both rounds, so its error lists contain the errors of both rounds.
        assert_eq!(server_rejects * round as u64, errors.len() as u64);
        assert!(
            server_rejects > 0,
            "no indicator failed, so /errors was not fetched"
        );
        assert_eq!(delivered + server_rejects, sent.len() as u64);
        assert_eq!(
            rejects
                .iter()
                .filter(|reject| reject["code"] == "threatconnect")
                .count() as u64,
            server_rejects
        );
        if round == 1 {
            first_delivered = delivered;
        }
        assert_eq!(delivered, first_delivered, "round {round}");

        // Each job's data was processed once: the server's success count over all jobs is
        // what the two rounds delivered, so no upload was processed twice.
        let jobs = emulator.jobs();
        assert_eq!(
            job_count_sum(&jobs, "successCount"),
            first_delivered * round as u64,
            "round {round}: {jobs:#?}"
        );

        assert_one_upload_per_job(&emulator, &jobs);

        let accepted = without_errors(&sent, &errors);
        let stored = emulator.indicators();
        let identities = assert_store_matches(&stored, &accepted, OWNER);
        assert_eq!(stored.len(), identities, "round {round}");
        assert_no_duplicate_attributes(&stored);
    }
}

#[test]
fn append_resend_duplicates_attributes() {
    // The control for the check above: with attributeWriteType Append, delivering the same
    // feed twice does duplicate attributes, so assert_no_duplicate_attributes can fail.
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feed = sample_feeds().join("APT_IP_Data_Feed_261201_0900.json");
    let sink = "attribute_write_type = \"Append\"\n";
    for _ in 0..2 {
        let (run, _, _) = run_threatconnect(dir.path(), &emulator, &feed, sink, &hmac_env());
        assert_eq!(run.code(), Some(0), "{run:?}");
    }
    let stored = emulator.indicators();
    let duplicated = std::panic::catch_unwind(|| assert_no_duplicate_attributes(&stored));
    assert!(duplicated.is_err(), "Append stored no duplicate attribute");
}

/// Returns the bytes of a feed file after decompression (plain JSON or gzip).
fn feed_bytes(path: &str) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
    if path.ends_with(".gz") {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut plain)
            .unwrap();
        return plain;
    }
    assert!(path.ends_with(".json"), "unexpected feed container: {path}");
    raw
}

#[test]
fn emulator_rejections_reach_rejects_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut types: Vec<(String, usize)> = default_attribute_types()
        .into_iter()
        .filter(|(name, _)| name != "Severity")
        .collect();
    for (name, max_size) in types.iter_mut() {
        if name == "Popularity" {
            *max_size = 1;
        }
    }
    let emulator_config = format!(
        "{}\n[[faults.rules]]\nendpoint = \"errors\"\ntimes = 1\n\
         action = {{ kind = \"respond\", status = 404 }}\n",
        attribute_types_table(&types)
    );
    let emulator = EmulatorProcess::start(dir.path(), &emulator_config);
    let feeds = sample_feeds();

    let (run, summary, rejects) = run_threatconnect(dir.path(), &emulator, &feeds, "", &hmac_env());
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);
    assert_every_fault_fired(&emulator);

    let errors = error_sources(&emulator);
    let server_rejects: Vec<&Value> = rejects
        .iter()
        .filter(|reject| reject["code"] == "threatconnect")
        .collect();
    assert!(!errors.is_empty());
    assert_eq!(server_rejects.len(), errors.len());
    assert_eq!(
        rejected_by_reason(&summary, "threatconnect"),
        errors.len() as u64
    );
    let jobs = emulator.jobs();
    assert_eq!(job_count_sum(&jobs, "errorCount"), errors.len() as u64);
    assert_eq!(job_count_sum(&jobs, "successCount"), counts(&summary)[1]);

    let mut expected_reasons: Vec<&str> = errors
        .iter()
        .map(|(_, _, reason)| reason.as_str())
        .collect();
    let mut reasons: Vec<&str> = server_rejects
        .iter()
        .map(|reject| reject["reason"].as_str().unwrap())
        .collect();
    expected_reasons.sort();
    reasons.sort();
    assert_eq!(
        reasons, expected_reasons,
        "reject reasons differ from the emulator's"
    );
    let severity = reasons
        .iter()
        .filter(|reason| reason.contains("attribute type 'Severity' does not exist"))
        .count();
    let popularity = reasons
        .iter()
        .filter(|reason| {
            reason.contains("attribute 'Popularity' value is")
                && reason.contains("the maximum for this type is 1")
        })
        .count();
    assert!(severity > 0, "{reasons:#?}");
    assert!(popularity > 0, "{reasons:#?}");
    assert_eq!(severity + popularity, reasons.len(), "{reasons:#?}");

    let mut per_feed: BTreeMap<String, u64> = BTreeMap::new();
    for reject in &server_rejects {
        let feed = reject["feed"].as_str().unwrap();
        *per_feed.entry(feed.to_owned()).or_default() += 1;
        let file = reject["file"].as_str().unwrap();
        let offset = reject["offset"].as_u64().unwrap() as usize;
        let record = reject["record"].as_str().unwrap();
        let bytes = feed_bytes(file);
        assert_eq!(
            bytes.get(offset..offset + record.len()),
            Some(record.as_bytes()),
            "the record is not at byte {offset} of {file}"
        );
        let parsed: Value = serde_json::from_str(record).unwrap();
        assert!(parsed.is_object(), "{record}");
    }
    for source in summary["sources"].as_array().unwrap() {
        let feed = source["feed"].as_str().unwrap();
        assert_eq!(
            source["rejected_by_reason"]["threatconnect"]
                .as_u64()
                .unwrap_or(0),
            per_feed.get(feed).copied().unwrap_or(0),
            "feed {feed}"
        );
    }

    let sent = normalized_file_sink(dir.path(), &feeds);
    let accepted = without_errors(&sent, &errors);
    let stored = emulator.indicators();
    assert_eq!(
        stored.len(),
        assert_store_matches(&stored, &accepted, OWNER)
    );
}

/// Runs one feed against an emulator that fails authentication and checks the exit status,
/// the explanation and that `secret` is written nowhere.
fn assert_auth_failure(
    emulator_config: &str,
    env: &[(&str, &str)],
    likely_cause: &str,
    secret: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), emulator_config);
    let feed = sample_feeds().join("APT_IP_Data_Feed_261201_0900.json");
    let (run, summary, rejects) = run_threatconnect(dir.path(), &emulator, &feed, "", env);

    assert_eq!(run.code(), Some(4), "{run:?}");
    assert!(run.stderr.contains("401 Unauthorized"), "{run:?}");
    assert!(run.stderr.contains(likely_cause), "{run:?}");
    assert_balanced(&summary);
    assert_eq!(counts(&summary)[1], 0, "nothing can be delivered");
    assert!(
        rejects.iter().any(|reject| reject["code"] == "job_failed"),
        "{rejects:#?}"
    );
    assert!(emulator.indicators().is_empty());

    let summary_text = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
    let rejects_text = std::fs::read_to_string(dir.path().join("rejects.jsonl")).unwrap();
    for (name, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("summary", &summary_text),
        ("rejects file", &rejects_text),
    ] {
        assert!(!text.contains(secret), "the secret appears in the {name}");
    }
}

#[test]
fn wrong_secret_key_fails_clearly() {
    let secret = "wrong-secret-key-5f1c9e";
    assert_auth_failure(
        "",
        &[
            ("FEEDPIPE_TC_ACCESS_ID", ACCESS_ID),
            ("FEEDPIPE_TC_SECRET_KEY", secret),
        ],
        "the access ID or secret key is wrong",
        secret,
    );
}

#[test]
fn wrong_api_token_fails_clearly() {
    let token = "APIV2:1:wrong-token-8d2a4b";
    assert_auth_failure(
        "",
        &[("FEEDPIPE_TC_API_TOKEN", token)],
        "the API token is wrong, expired or was regenerated",
        token,
    );
}

#[test]
fn skewed_server_clock_fails_clearly() {
    assert_auth_failure(
        "[faults]\nclock_offset_secs = 900\n",
        &hmac_env(),
        "behind the server's clock, beyond the 300s ThreatConnect allows: synchronize the clock",
        SECRET_KEY,
    );
}

#[test]
fn job_limit_splits_indicators_into_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feeds = sample_feeds();
    let (run, summary, _) = run_threatconnect(
        dir.path(),
        &emulator,
        &feeds,
        "max_indicators_per_job = 10\n",
        &hmac_env(),
    );
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);
    let delivered = counts(&summary)[1];

    let jobs = emulator.jobs();
    for job in &jobs {
        let counts = &job["counts"];
        let items = ["successCount", "errorCount", "unprocessCount"]
            .iter()
            .map(|field| counts[field].as_u64().unwrap())
            .sum::<u64>();
        assert!((1..=10).contains(&items), "job holds {items} items: {job}");
        assert_eq!(job["status"], "Completed", "{job}");
    }
    assert_eq!(jobs.len() as u64, delivered.div_ceil(10), "{jobs:#?}");
    assert_eq!(job_count_sum(&jobs, "successCount"), delivered);
    assert_eq!(
        sink_stat(&summary, "threatconnect_jobs_submitted"),
        jobs.len() as u64
    );

    let sent = normalized_file_sink(dir.path(), &feeds);
    let stored = emulator.indicators();
    assert_eq!(stored.len(), assert_store_matches(&stored, &sent, OWNER));
}

#[test]
fn oversized_upload_split_on_server_limit() {
    const LIMIT: u64 = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), &format!("max_upload_bytes = {LIMIT}\n"));
    let feeds = sample_feeds();
    let sent = normalized_file_sink(dir.path(), &feeds);

    for mode in ["create_and_upload", "two_step"] {
        emulator.admin_post("/reset", &json!({}));
        let sink = format!("upload_mode = \"{mode}\"\n");
        let (run, summary, rejects) =
            run_threatconnect(dir.path(), &emulator, &feeds, &sink, &hmac_env());
        assert_eq!(run.code(), Some(0), "{mode}: {run:?}");
        assert_balanced(&summary);
        assert!(
            sink_stat(&summary, "threatconnect_jobs_split") >= 1,
            "{mode}: {summary}"
        );
        assert!(
            rejects.iter().all(|reject| reject["code"] != "too_large"),
            "{mode}: {rejects:#?}"
        );
        assert_eq!(counts(&summary)[1], sent.len() as u64, "{mode}");

        let jobs = emulator.jobs();
        let completed: Vec<&Value> = jobs
            .iter()
            .filter(|job| job["status"] == "Completed")
            .collect();
        assert!(completed.len() >= 2, "{mode}: {jobs:#?}");
        for job in &completed {
            let bytes = job["uploadBytes"].as_u64().unwrap();
            assert!(bytes <= LIMIT, "{mode}: job of {bytes} bytes: {job}");
        }
        // A job rejected as too large has no data and is never processed.
        for job in jobs.iter().filter(|job| job["status"] != "Completed") {
            assert_eq!(job["status"], "Created", "{mode}: {job}");
            assert_eq!(job["uploadBytes"], Value::Null, "{mode}: {job}");
        }
        assert_eq!(
            job_count_sum(&jobs, "successCount"),
            sent.len() as u64,
            "{mode}"
        );

        let stored = emulator.indicators();
        assert_eq!(
            stored.len(),
            assert_store_matches(&stored, &sent, OWNER),
            "{mode}"
        );
        assert_no_duplicate_attributes(&stored);
    }
}

#[test]
fn dry_run_writes_jobs_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feeds = sample_feeds();
    let jobs_dir = dir.path().join("jobs");
    let sink = format!(
        "dry_run_dir = {:?}\nmax_indicators_per_job = 50\n",
        jobs_dir.display().to_string()
    );
    let config = write_feedpipe_config(dir.path(), &sink, "");
    let summary_path = dir.path().join("summary.json");
    let run = feedpipe(
        dir.path(),
        &args![
            "run",
            &feeds,
            "--sink",
            "threatconnect",
            "--tc-url",
            emulator.api_url(),
            "--tc-owner",
            OWNER,
            "--config",
            &config,
            "--dry-run",
            "--summary-json",
            &summary_path,
            "--rejects",
            dir.path().join("rejects.jsonl"),
        ],
        &[],
    );
    assert_eq!(run.code(), Some(0), "{run:?}");
    let summary = read_json(&summary_path);
    assert_balanced(&summary);
    assert_eq!(summary["sink"]["threatconnect_dry_run"], json!(true));

    assert!(emulator.requests().is_empty(), "{:#?}", emulator.requests());
    assert!(emulator.jobs().is_empty());
    assert!(emulator.indicators().is_empty());

    let mut written = Vec::new();
    let mut job_files: Vec<_> = std::fs::read_dir(&jobs_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| !path.to_string_lossy().ends_with(".config.json"))
        .collect();
    job_files.sort();
    assert_eq!(job_files.len(), 3, "{job_files:?}");
    for path in &job_files {
        let job = read_json(path);
        let indicators = job["indicator"].as_array().unwrap();
        assert!(indicators.len() <= 50, "{}", path.display());
        written.extend(indicators.iter().map(normalize_sent));
        let config = read_json(&path.with_extension("config.json"));
        assert_eq!(config["owner"], OWNER);
        assert_eq!(config["attributeWriteType"], "Replace");
        assert_eq!(config["action"], "Create");
    }
    assert_eq!(counts(&summary)[1], written.len() as u64);

    let mut expected: Vec<String> = normalized_file_sink(dir.path(), &feeds)
        .iter()
        .map(Value::to_string)
        .collect();
    let mut written: Vec<String> = written.iter().map(Value::to_string).collect();
    expected.sort();
    written.sort();
    assert_eq!(written, expected);
}

#[test]
fn halted_job_rejects_unprocessed_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), &attribute_types_without("Severity"));
    let feeds = sample_feeds();
    let sink = "halt_on_error = true\nmax_indicators_per_job = 20\n";
    let (run, summary, rejects) =
        run_threatconnect(dir.path(), &emulator, &feeds, sink, &hmac_env());
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);

    let jobs = emulator.jobs();
    assert!(
        jobs.iter()
            .all(|job| job["config"]["haltOnError"] == json!(true))
    );
    let unprocessed = job_count_sum(&jobs, "unprocessCount");
    assert!(unprocessed > 0, "no job halted: {jobs:#?}");
    let code_count = |code: &str| {
        rejects
            .iter()
            .filter(|reject| reject["code"] == code)
            .count() as u64
    };
    assert_eq!(code_count("not_processed"), unprocessed);
    assert_eq!(
        code_count("threatconnect"),
        job_count_sum(&jobs, "errorCount")
    );
    assert_eq!(counts(&summary)[1], job_count_sum(&jobs, "successCount"));
    for reject in rejects
        .iter()
        .filter(|reject| reject["code"] == "not_processed")
    {
        assert!(
            reject["reason"].as_str().unwrap().contains("haltOnError"),
            "{reject}"
        );
    }
}

#[test]
fn stalled_job_times_out_and_fails_run() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "[faults]\nstalled_jobs = 1\n");
    let feed = sample_feeds().join("APT_IP_Data_Feed_261201_0900.json");
    let (run, summary, rejects) = run_threatconnect(
        dir.path(),
        &emulator,
        &feed,
        "poll_timeout_secs = 1\n",
        &hmac_env(),
    );
    assert_eq!(run.code(), Some(4), "{run:?}");
    assert!(run.stderr.contains("did not complete within"), "{run:?}");
    assert!(run.stderr.contains("poll_timeout_secs"), "{run:?}");
    assert_balanced(&summary);
    assert_eq!(counts(&summary)[1], 0);

    let failed: Vec<&Value> = rejects
        .iter()
        .filter(|reject| reject["code"] == "job_failed")
        .collect();
    assert_eq!(failed.len(), 5, "{rejects:#?}");
    let jobs = emulator.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["status"], "Running");
    assert!(emulator.indicators().is_empty());
}

#[test]
fn unknown_owner_fails_with_owner_named() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feed = sample_feeds().join("APT_IP_Data_Feed_261201_0900.json");
    let config = write_feedpipe_config(dir.path(), "", "");
    let run = feedpipe(
        dir.path(),
        &args![
            "run",
            &feed,
            "--sink",
            "threatconnect",
            "--tc-url",
            emulator.api_url(),
            "--tc-owner",
            "Other Org",
            "--config",
            &config,
            "--rejects",
            dir.path().join("rejects.jsonl"),
        ],
        &hmac_env(),
    );
    assert_eq!(run.code(), Some(4), "{run:?}");
    assert!(run.stderr.contains("403 Forbidden"), "{run:?}");
    assert!(run.stderr.contains("\"Other Org\""), "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");
    assert!(emulator.jobs().is_empty());
}

/// Returns the milliseconds between the request that got `fault` on `endpoint` and the next
/// request to the same endpoint.
fn gap_after_fault(requests: &[Value], endpoint: &str, fault: &str) -> u64 {
    let same_endpoint: Vec<&Value> = requests
        .iter()
        .filter(|request| request["endpoint"] == endpoint)
        .collect();
    let index = same_endpoint
        .iter()
        .position(|request| request["fault"] == fault)
        .unwrap_or_else(|| panic!("no {endpoint} request got {fault}: {requests:#?}"));
    let next = same_endpoint
        .get(index + 1)
        .unwrap_or_else(|| panic!("no {endpoint} request after {fault}: {requests:#?}"));
    let at = |request: &Value| request["atMs"].as_u64().unwrap();
    at(next) - at(same_endpoint[index])
}

#[test]
fn retry_after_delays_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let emulator_config = r#"
[[faults.rules]]
endpoint = "create"
times = 1
action = { kind = "respond", status = 429, retry_after = { seconds = 1 } }
[[faults.rules]]
endpoint = "status"
times = 1
action = { kind = "respond", status = 503, retry_after = { http_date_in = 2 } }
"#;
    let emulator = EmulatorProcess::start(dir.path(), emulator_config);
    let feed = sample_feeds().join("APT_IP_Data_Feed_261201_0900.json");
    let (run, summary, _) = run_threatconnect(dir.path(), &emulator, &feed, "", &hmac_env());
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(counts(&summary)[1], 5);
    assert_every_fault_fired(&emulator);

    // Without Retry-After the fast settings wait at most 50 ms before the first retry. An HTTP
    // date has whole seconds, so "2 s from now" is between 1 and 2 s away.
    let requests = emulator.requests();
    let create_gap = gap_after_fault(&requests, "create", "respond 429");
    assert!(create_gap >= 950, "create retried after {create_gap} ms");
    let status_gap = gap_after_fault(&requests, "status", "respond 503");
    assert!(status_gap >= 900, "status retried after {status_gap} ms");
}

#[test]
fn create_and_upload_survives_faults() {
    // createAndUpload returns the job ID only with its response, so after a lost response the
    // sink resends the whole request: with Replace the store ends the same, although the
    // emulator processes that job twice.
    let dir = tempfile::tempdir().unwrap();
    let emulator_config = r#"
[faults]
job_delay_millis = 100
running_polls = 1

[[faults.rules]]
endpoint = "create_and_upload"
times = 1
action = { kind = "respond", status = 503 }
[[faults.rules]]
endpoint = "create_and_upload"
times = 1
action = { kind = "drop_after_accept" }
[[faults.rules]]
endpoint = "create_and_upload"
times = 1
action = { kind = "respond", status = 500 }
[[faults.rules]]
endpoint = "create_and_upload"
times = 1
action = { kind = "delay", millis = 3000 }
[[faults.rules]]
endpoint = "status"
times = 1
action = { kind = "drop" }
"#;
    let emulator = EmulatorProcess::start(dir.path(), emulator_config);
    let feeds = sample_feeds();
    let sink = "upload_mode = \"create_and_upload\"\nmax_indicators_per_job = 25\n\
                request_timeout_secs = 2\nretry_max_attempts = 8\n";
    let (run, summary, rejects) =
        run_threatconnect(dir.path(), &emulator, &feeds, sink, &hmac_env());
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);
    assert_every_fault_fired(&emulator);
    assert!(
        rejects.iter().all(|reject| reject["code"] != "job_failed"),
        "{rejects:#?}"
    );

    let sent = normalized_file_sink(dir.path(), &feeds);
    let delivered = counts(&summary)[1];
    assert_eq!(delivered, sent.len() as u64);
    let jobs = emulator.jobs();
    let processed = job_count_sum(&jobs, "successCount");
    assert!(processed >= delivered, "{processed} < {delivered}");
    assert!(sink_stat(&summary, "threatconnect_jobs_retried") >= 1);

    let stored = emulator.indicators();
    assert_eq!(stored.len(), assert_store_matches(&stored, &sent, OWNER));
    assert_no_duplicate_attributes(&stored);
}

#[test]
fn job_byte_limit_bounds_uploads() {
    const MAX_JOB_BYTES: u64 = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feeds = sample_feeds();
    let sink = format!("max_job_bytes = {MAX_JOB_BYTES}\n");
    let (run, summary, _) = run_threatconnect(dir.path(), &emulator, &feeds, &sink, &hmac_env());
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);
    assert_eq!(sink_stat(&summary, "threatconnect_jobs_split"), 0);

    let jobs = emulator.jobs();
    let mut total_bytes = 0;
    for job in &jobs {
        let bytes = job["uploadBytes"].as_u64().unwrap();
        assert!(bytes <= MAX_JOB_BYTES, "job of {bytes} bytes: {job}");
        total_bytes += bytes;
    }
    assert_eq!(job_count_sum(&jobs, "successCount"), counts(&summary)[1]);
    assert_eq!(
        sink_stat(&summary, "threatconnect_bytes_submitted"),
        total_bytes
    );
}

#[test]
fn security_labels_reach_threatconnect() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = EmulatorProcess::start(dir.path(), "");
    let feed = sample_feeds().join("APT_IP_Data_Feed_261201_0900.json");
    let (run, summary, _) = run_threatconnect(
        dir.path(),
        &emulator,
        &feed,
        "\n[stages.rate]\nsecurity_labels = [\"TLP:AMBER\"]",
        &hmac_env(),
    );

    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_balanced(&summary);
    let stored = emulator.indicators();
    assert_eq!(stored.len() as u64, counts(&summary)[1]);
    for indicator in &stored {
        assert_eq!(
            indicator["securityLabels"],
            serde_json::json!(["TLP:AMBER"]),
            "{indicator}"
        );
    }
}
