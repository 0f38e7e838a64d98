//! The sink against the ThreatConnect batch API emulator over real HTTP on 127.0.0.1: jobs
//! within limits, item errors as rejects, faults on every endpoint without duplicate writes,
//! authentication failures, and uploads split on the server's size limit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use feedpipe_pipeline::catalog::FEEDS;
use feedpipe_pipeline::ledger::Summary;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{Delivery, Indicator, IndicatorType, Ledger, Sink, SinkError};
use feedpipe_sink_threatconnect::{
    AttributeWriteType, AuthMethod, ThreatConnectSink, ThreatConnectSinkConfig, UploadMode,
};
use feedpipe_tc_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Endpoint, FaultAction, FaultPlan, FaultRule,
    JobState, RetryAfter,
};

const OWNER: &str = "Emulator Org";
const ACCESS_ID: &str = "emulator";
const SECRET_KEY: &str = "emulator-secret-key";
const TOKEN: &str = "emulator-token";

fn host(index: usize, run: &str) -> Delivery {
    let summary = format!("host{index}.{run}.example");
    let mut indicator = Indicator::new(IndicatorType::Host, summary.clone());
    indicator.rating = 3;
    indicator.confidence = 75;
    indicator.add_tag("Kaspersky");
    indicator.add_attribute("Source", "Kaspersky IP Reputation");
    indicator.add_attribute("Description", format!("test indicator {index}"));
    delivery(index, indicator)
}

fn delivery(index: usize, indicator: Indicator) -> Delivery {
    Delivery {
        origin: Origin {
            feed: &FEEDS[0],
            source: Arc::from("feed.json"),
            offset: index as u64 * 100,
            raw: Bytes::from(format!("{{\"mask\":\"{}\"}}", indicator.summary)),
        },
        indicator,
        encoded: None,
    }
}

fn hosts(count: usize, run: &str) -> Vec<Delivery> {
    (0..count).map(|index| host(index, run)).collect()
}

/// Returns a config with short waits, so fault tests run in well under a second each.
fn sink_config(emulator: &EmulatorHandle) -> ThreatConnectSinkConfig {
    ThreatConnectSinkConfig {
        api_url: emulator.base_url(),
        owner: OWNER.to_owned(),
        poll_initial_interval_secs: 0.01,
        poll_growth_factor: 1.5,
        poll_max_interval_secs: 0.05,
        poll_timeout_secs: 20.0,
        request_timeout_secs: 10.0,
        retry_max_attempts: 5,
        retry_initial_backoff_secs: 0.01,
        retry_max_backoff_secs: 0.2,
        errors_not_found_delay_secs: 0.01,
        ..ThreatConnectSinkConfig::default()
    }
}

fn hmac_env(secret_key: &'static str) -> impl Fn(&str) -> Option<String> {
    move |name| match name {
        "FEEDPIPE_TC_ACCESS_ID" => Some(ACCESS_ID.to_owned()),
        "FEEDPIPE_TC_SECRET_KEY" => Some(secret_key.to_owned()),
        _ => None,
    }
}

fn token_env(token: &'static str) -> impl Fn(&str) -> Option<String> {
    move |name| (name == "FEEDPIPE_TC_API_TOKEN").then(|| token.to_owned())
}

struct RunResult {
    result: Result<(), SinkError>,
    summary: Summary,
}

/// Sends `deliveries` in batches of `batch_size`, finishes, and returns the outcome and counts.
async fn run_sink(
    config: ThreatConnectSinkConfig,
    env: impl Fn(&str) -> Option<String>,
    deliveries: Vec<Delivery>,
    batch_size: usize,
    rejects: Option<&Path>,
) -> RunResult {
    let ledger = Ledger::new(rejects).unwrap();
    let source: Arc<str> = Arc::from("feed.json");
    ledger.add_read(&FEEDS[0], &source, deliveries.len() as u64);
    let mut sink = ThreatConnectSink::with_env(config, env).unwrap();

    let mut result = Ok(());
    for batch in deliveries.chunks(batch_size) {
        if let Err(error) = sink.send(&mut batch.to_vec(), &ledger).await {
            result = Err(error);
            break;
        }
    }
    let finished = sink.finish(&ledger).await;
    if result.is_ok() {
        result = finished;
    }
    ledger.flush().unwrap();
    RunResult {
        result,
        summary: ledger.summary(),
    }
}

async fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.unwrap()
}

fn rule(endpoint: Endpoint, times: u32, action: FaultAction) -> FaultRule {
    FaultRule {
        endpoint,
        times,
        action,
    }
}

fn respond(status: u16, retry_after: Option<RetryAfter>) -> FaultAction {
    FaultAction::Respond {
        status,
        retry_after,
        body: None,
        content_type: None,
    }
}

/// Checks that the store contains each summary once, with no attribute stored twice.
fn assert_stored_once(emulator: &EmulatorHandle, expected: usize) {
    let stored = emulator.indicators();
    assert_eq!(stored.len(), expected, "stored indicator count");
    let summaries: BTreeSet<&str> = stored.iter().map(|item| item.summary.as_str()).collect();
    assert_eq!(summaries.len(), expected, "distinct summaries");
    for item in &stored {
        let mut seen = BTreeSet::new();
        for attribute in &item.attributes {
            assert!(
                seen.insert((&attribute.attribute_type, &attribute.value)),
                "{} has attribute {:?} twice",
                item.summary,
                attribute.attribute_type
            );
        }
        assert_eq!(item.attributes.len(), 2, "{} attributes", item.summary);
    }
}

#[tokio::test]
async fn many_indicators_across_jobs() {
    let emulator = start(EmulatorConfig::default()).await;
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 100,
        max_jobs_in_flight: 3,
        ..sink_config(&emulator)
    };

    let run = run_sink(
        config,
        hmac_env(SECRET_KEY),
        hosts(1_050, "many"),
        250,
        None,
    )
    .await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 1_050);
    assert_eq!(run.summary.rejected, 0);
    assert!(run.summary.sources[0].balanced());
    assert_eq!(run.summary.sink["threatconnect_jobs_submitted"], 11);
    let jobs = emulator.jobs();
    assert_eq!(jobs.len(), 11);
    for job in &jobs {
        let counts = &job.counts;
        assert!(counts.success_count <= 100, "job {} too large", job.id);
        assert_eq!(counts.error_count, 0);
    }
    assert_stored_once(&emulator, 1_050);
    emulator.shutdown().await;
}

#[tokio::test]
async fn token_auth_and_create_and_upload() {
    let emulator = start(EmulatorConfig::default()).await;
    let config = ThreatConnectSinkConfig {
        upload_mode: UploadMode::CreateAndUpload,
        max_indicators_per_job: 40,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, token_env(TOKEN), hosts(100, "token"), 100, None).await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 100);
    assert_eq!(emulator.jobs().len(), 3);
    assert_stored_once(&emulator, 100);
    emulator.shutdown().await;
}

fn invalid_mix(run: &str) -> (Vec<Delivery>, BTreeSet<u64>) {
    let mut deliveries = hosts(30, run);
    let mut invalid = BTreeSet::new();

    let mut bad_address = Indicator::new(IndicatorType::Address, "999.1.2.3");
    bad_address.rating = 2;
    deliveries[4] = delivery(4, bad_address);
    invalid.insert(400);

    let mut long_tag = Indicator::new(IndicatorType::Host, format!("tag.{run}.example"));
    long_tag.add_tag("x".repeat(129));
    deliveries[11] = delivery(11, long_tag);
    invalid.insert(1_100);

    let mut bad_rating = Indicator::new(IndicatorType::Host, format!("rating.{run}.example"));
    bad_rating.rating = 9;
    deliveries[25] = delivery(25, bad_rating);
    invalid.insert(2_500);

    (deliveries, invalid)
}

#[tokio::test]
async fn item_errors_become_rejects() {
    let emulator = start(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let rejects_path = dir.path().join("rejects.jsonl");
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 20,
        ..sink_config(&emulator)
    };
    let (deliveries, invalid) = invalid_mix("errors");

    let run = run_sink(
        config,
        hmac_env(SECRET_KEY),
        deliveries,
        30,
        Some(&rejects_path),
    )
    .await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 27);
    assert_eq!(run.summary.rejected, 3);
    assert_eq!(
        run.summary.sources[0].rejected_by_reason["threatconnect"],
        3
    );
    assert!(run.summary.sources[0].balanced());

    let text = std::fs::read_to_string(&rejects_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let offsets: BTreeSet<u64> = lines
        .iter()
        .map(|line| line["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, invalid);
    let reasons: BTreeMap<u64, String> = lines
        .iter()
        .map(|line| {
            (
                line["offset"].as_u64().unwrap(),
                line["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for reason in reasons.values() {
        assert!(!reason.is_empty());
    }
    assert!(
        reasons[&1_100].to_lowercase().contains("tag"),
        "{}",
        reasons[&1_100]
    );
    assert_eq!(emulator.indicators().len(), 27);
    emulator.shutdown().await;
}

#[tokio::test]
async fn halted_job_rejects_unprocessed() {
    let emulator = start(EmulatorConfig::default()).await;
    let config = ThreatConnectSinkConfig {
        halt_on_error: true,
        max_indicators_per_job: 30,
        ..sink_config(&emulator)
    };
    let (deliveries, _) = invalid_mix("halt");

    let run = run_sink(config, hmac_env(SECRET_KEY), deliveries, 30, None).await;

    run.result.unwrap();
    let source = &run.summary.sources[0];
    assert!(source.balanced());
    assert_eq!(source.delivered, 4);
    assert_eq!(source.rejected_by_reason["threatconnect"], 1);
    assert_eq!(source.rejected_by_reason["not_processed"], 25);
    assert_eq!(run.summary.sink["threatconnect_count_mismatches"], 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn faults_on_every_endpoint_two_step() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![
            rule(
                Endpoint::Create,
                1,
                respond(503, Some(RetryAfter::Seconds(0))),
            ),
            rule(Endpoint::Create, 1, respond(500, None)),
            rule(
                Endpoint::Upload,
                1,
                respond(429, Some(RetryAfter::HttpDateIn(0))),
            ),
            rule(Endpoint::Upload, 1, FaultAction::DropAfterAccept),
            rule(Endpoint::Upload, 1, respond(502, None)),
            rule(Endpoint::Status, 2, respond(500, None)),
            rule(Endpoint::Status, 1, FaultAction::Drop),
            rule(Endpoint::Errors, 1, respond(404, None)),
            rule(
                Endpoint::Errors,
                1,
                respond(503, Some(RetryAfter::Seconds(0))),
            ),
        ],
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 10,
        max_jobs_in_flight: 1,
        ..sink_config(&emulator)
    };
    let (deliveries, _) = invalid_mix("faults");

    let run = run_sink(config, hmac_env(SECRET_KEY), deliveries, 30, None).await;

    run.result.unwrap();
    let source = &run.summary.sources[0];
    assert!(source.balanced());
    assert_eq!(source.delivered, 27);
    assert_eq!(source.rejected_by_reason["threatconnect"], 3);
    assert!(emulator.faults().rules.iter().all(|rule| rule.times == 0));
    assert!(
        run.summary.sink["threatconnect_requests_retried"]
            .as_u64()
            .unwrap()
            >= 7
    );

    let stored = emulator.indicators();
    assert_eq!(stored.len(), 27);
    let summaries: BTreeSet<&str> = stored.iter().map(|item| item.summary.as_str()).collect();
    assert_eq!(summaries.len(), 27);
    emulator.shutdown().await;
}

#[tokio::test]
async fn replace_resend_never_duplicates() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![
            rule(Endpoint::CreateAndUpload, 1, FaultAction::DropAfterAccept),
            rule(Endpoint::CreateAndUpload, 1, respond(500, None)),
        ],
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        upload_mode: UploadMode::CreateAndUpload,
        attribute_write_type: AttributeWriteType::Replace,
        max_indicators_per_job: 25,
        ..sink_config(&emulator)
    };

    let first = run_sink(
        config.clone(),
        hmac_env(SECRET_KEY),
        hosts(50, "replace"),
        50,
        None,
    )
    .await;
    first.result.unwrap();
    assert_eq!(first.summary.delivered, 50);
    assert!(
        first.summary.sink["threatconnect_jobs_retried"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert_stored_once(&emulator, 50);

    // Ingesting the same records again updates them in place.
    let second = run_sink(config, hmac_env(SECRET_KEY), hosts(50, "replace"), 50, None).await;
    second.result.unwrap();
    assert_stored_once(&emulator, 50);
    emulator.shutdown().await;
}

#[tokio::test]
async fn append_upload_never_resent_blindly() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![rule(
            Endpoint::CreateAndUpload,
            1,
            FaultAction::DropAfterAccept,
        )],
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        upload_mode: UploadMode::CreateAndUpload,
        attribute_write_type: AttributeWriteType::Append,
        max_indicators_per_job: 25,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(20, "append"), 20, None).await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("was not resent"), "{error}");
    assert!(error.contains("Append"), "{error}");
    assert_eq!(emulator.jobs().len(), 1);
    // The sink stopped without polling, so wait for the emulator to process the accepted job.
    for _ in 0..200 {
        if emulator.jobs()[0].status == JobState::Completed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_stored_once(&emulator, 20);
    let source = &run.summary.sources[0];
    assert!(source.balanced());
    assert_eq!(source.rejected_by_reason["job_failed"], 20);
    emulator.shutdown().await;
}

#[tokio::test]
async fn append_two_step_checks_status() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![
            rule(Endpoint::Upload, 1, FaultAction::DropAfterAccept),
            rule(Endpoint::Upload, 1, FaultAction::Drop),
        ],
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        attribute_write_type: AttributeWriteType::Append,
        max_indicators_per_job: 10,
        max_jobs_in_flight: 1,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(20, "append2"), 20, None).await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 20);
    // The dropped-after-accept upload is not resent; the dropped one is, to the same job.
    assert_eq!(run.summary.sink["threatconnect_jobs_retried"], 1);
    assert_eq!(emulator.jobs().len(), 2);
    assert_stored_once(&emulator, 20);
    emulator.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_reported_clearly() {
    let emulator = start(EmulatorConfig::default()).await;
    let secret = "wrong-secret-value-1234";

    let run = run_sink(
        sink_config(&emulator),
        hmac_env(secret),
        hosts(5, "secret"),
        5,
        None,
    )
    .await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("401"), "{error}");
    assert!(
        error.contains("access ID or secret key is wrong"),
        "{error}"
    );
    assert!(!error.contains(secret));
    assert!(!error.contains(SECRET_KEY));
    assert!(run.summary.sources[0].balanced());
    emulator.shutdown().await;
}

#[tokio::test]
async fn wrong_token_reported_clearly() {
    let emulator = start(EmulatorConfig::default()).await;
    let token = "APIV2:1:wrong-token-5678";
    let config = ThreatConnectSinkConfig {
        auth: Some(AuthMethod::Token),
        ..sink_config(&emulator)
    };

    let run = run_sink(config, token_env(token), hosts(5, "token"), 5, None).await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("API token is wrong"), "{error}");
    assert!(!error.contains(token));
    emulator.shutdown().await;
}

#[tokio::test]
async fn skewed_clock_reported_clearly() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        clock_offset_secs: 1_000,
        ..FaultPlan::default()
    });

    let run = run_sink(
        sink_config(&emulator),
        hmac_env(SECRET_KEY),
        hosts(5, "skew"),
        5,
        None,
    )
    .await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("synchronize the clock"), "{error}");
    assert!(!error.contains(SECRET_KEY));
    emulator.shutdown().await;
}

#[tokio::test]
async fn unknown_owner_stops_run() {
    let emulator = start(EmulatorConfig::default()).await;
    let config = ThreatConnectSinkConfig {
        owner: "Nobody Org".to_owned(),
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(5, "owner"), 5, None).await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("Nobody Org"), "{error}");
    assert!(run.summary.sources[0].balanced());
    assert_eq!(run.summary.sources[0].rejected_by_reason["job_failed"], 5);
    emulator.shutdown().await;
}

#[tokio::test]
async fn oversized_upload_split_on_response() {
    let emulator = start(EmulatorConfig {
        max_upload_bytes: 4_000,
        ..EmulatorConfig::default()
    })
    .await;
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 100,
        max_job_bytes: 1_000_000,
        max_jobs_in_flight: 1,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(90, "split"), 90, None).await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 90);
    assert!(
        run.summary.sink["threatconnect_jobs_split"]
            .as_u64()
            .unwrap()
            >= 3
    );
    for job in emulator.jobs() {
        if let Some(bytes) = job.upload_bytes {
            assert!(bytes <= 4_000, "job {} uploaded {bytes} bytes", job.id);
        }
    }
    assert_stored_once(&emulator, 90);
    emulator.shutdown().await;
}

#[tokio::test]
async fn one_job_runs_until_upload_accepted() {
    // Jobs of 100 indicators are too large for the server and their halves fit. Only the
    // first job and the one built while it ran are split: the third is built after the
    // server stated its limit, because no second job starts before an upload is accepted.
    let deliveries = hosts(300, "start");
    let item_bytes: usize = deliveries
        .iter()
        .map(|delivery| serde_json::to_vec(&delivery.indicator).unwrap().len() + 1)
        .sum::<usize>()
        / deliveries.len();
    let emulator = start(EmulatorConfig {
        max_upload_bytes: 75 * item_bytes,
        ..EmulatorConfig::default()
    })
    .await;
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 100,
        max_job_bytes: 1_000_000,
        max_jobs_in_flight: 4,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), deliveries, 300, None).await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 300);
    assert_eq!(run.summary.sink["threatconnect_jobs_split"], 2);
    let rejected_uploads = emulator
        .jobs()
        .iter()
        .filter(|job| job.upload_bytes.is_none())
        .count();
    assert_eq!(rejected_uploads, 2, "jobs whose upload was too large");
    assert_stored_once(&emulator, 300);
    emulator.shutdown().await;
}

#[tokio::test]
async fn stalled_job_times_out() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        stalled_jobs: 1,
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        poll_timeout_secs: 0.3,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(5, "stall"), 5, None).await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("did not complete within"), "{error}");
    assert!(run.summary.sources[0].balanced());
    emulator.shutdown().await;
}

#[tokio::test]
async fn jobs_in_flight_bounded() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        job_delay_millis: 60,
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 10,
        max_jobs_in_flight: 2,
        ..sink_config(&emulator)
    };

    let run = run_sink(
        config,
        hmac_env(SECRET_KEY),
        hosts(80, "inflight"),
        80,
        None,
    )
    .await;

    run.result.unwrap();
    let jobs = emulator.jobs();
    assert_eq!(jobs.len(), 8);
    let mut events = Vec::new();
    for job in &jobs {
        events.push((job.queued_at_ms.unwrap(), 1i32));
        events.push((job.completed_at_ms.unwrap(), -1i32));
    }
    // Ends sort before starts at the same millisecond, so touching intervals do not overlap.
    events.sort();
    let mut running = 0;
    let mut peak = 0;
    for (_, change) in events {
        running += change;
        peak = peak.max(running);
    }
    assert_eq!(peak, 2, "jobs processed at once");
    emulator.shutdown().await;
}

#[tokio::test]
async fn critical_job_error_stops_run() {
    let emulator = start(EmulatorConfig {
        max_indicators_per_job: 10,
        ..EmulatorConfig::default()
    })
    .await;
    let config = ThreatConnectSinkConfig {
        max_indicators_per_job: 20,
        ..sink_config(&emulator)
    };

    let run = run_sink(
        config,
        hmac_env(SECRET_KEY),
        hosts(20, "critical"),
        20,
        None,
    )
    .await;

    let error = run.result.unwrap_err().to_string();
    assert!(
        error.contains("would exceed the number of allowed indicators"),
        "{error}"
    );
    let source = &run.summary.sources[0];
    assert!(source.balanced());
    assert_eq!(source.rejected_by_reason["job_failed"], 20);
    emulator.shutdown().await;
}

#[tokio::test]
async fn disabled_batch_api_not_retried() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![rule(
            Endpoint::Create,
            5,
            FaultAction::Respond {
                status: 503,
                retry_after: None,
                body: Some(
                    "Batch job api is not available.  Ensure that batchJobEnabled is true and \
                     document storage is enabled and configured;"
                        .to_owned(),
                ),
                content_type: Some("text/plain".to_owned()),
            },
        )],
        ..FaultPlan::default()
    });

    let run = run_sink(
        sink_config(&emulator),
        hmac_env(SECRET_KEY),
        hosts(5, "api"),
        5,
        None,
    )
    .await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("Enable the batch API"), "{error}");
    assert_eq!(emulator.faults().rules[0].times, 4, "the 503 was retried");
    emulator.shutdown().await;
}

#[tokio::test]
async fn synchronous_jobs_need_no_polls() {
    let emulator = start(EmulatorConfig {
        synchronous_batch_save_limit: 100,
        ..EmulatorConfig::default()
    })
    .await;
    let config = ThreatConnectSinkConfig {
        upload_mode: UploadMode::CreateAndUpload,
        max_indicators_per_job: 30,
        ..sink_config(&emulator)
    };
    let (deliveries, _) = invalid_mix("sync");

    let run = run_sink(config, hmac_env(SECRET_KEY), deliveries, 30, None).await;

    run.result.unwrap();
    let source = &run.summary.sources[0];
    assert!(source.balanced());
    assert_eq!(source.delivered, 27);
    assert_eq!(source.rejected_by_reason["threatconnect"], 3);
    let status_polls = emulator
        .requests()
        .iter()
        .filter(|request| request.endpoint == Some(Endpoint::Status))
        .count();
    assert_eq!(status_polls, 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn synchronous_errors_without_id_fail() {
    let emulator = start(EmulatorConfig {
        synchronous_batch_save_limit: 100,
        synchronous_status_has_id: false,
        ..EmulatorConfig::default()
    })
    .await;
    let config = ThreatConnectSinkConfig {
        upload_mode: UploadMode::CreateAndUpload,
        max_indicators_per_job: 30,
        ..sink_config(&emulator)
    };
    let (deliveries, _) = invalid_mix("sync-no-id");

    let run = run_sink(config, hmac_env(SECRET_KEY), deliveries, 30, None).await;

    let error = run.result.unwrap_err().to_string();
    assert!(error.contains("no ID to fetch them by"), "{error}");
    assert!(run.summary.sources[0].balanced());
    emulator.shutdown().await;
}

#[tokio::test]
async fn upload_timeout_checks_status() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![rule(
            Endpoint::Upload,
            1,
            FaultAction::Delay { millis: 1_500 },
        )],
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        attribute_write_type: AttributeWriteType::Append,
        request_timeout_secs: 0.5,
        ..sink_config(&emulator)
    };

    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(10, "timeout"), 10, None).await;

    run.result.unwrap();
    assert_eq!(run.summary.delivered, 10);
    assert_eq!(run.summary.sink["threatconnect_jobs_retried"], 0);
    assert_eq!(
        emulator.faults().rules[0].times,
        0,
        "the slow upload happened"
    );
    assert_eq!(emulator.jobs().len(), 1);
    assert_stored_once(&emulator, 10);
    emulator.shutdown().await;
}

#[tokio::test]
async fn retry_after_delays_retries() {
    let emulator = start(EmulatorConfig::default()).await;
    emulator.set_faults(FaultPlan {
        rules: vec![
            rule(
                Endpoint::Create,
                1,
                respond(429, Some(RetryAfter::Seconds(1))),
            ),
            rule(
                Endpoint::Status,
                1,
                respond(503, Some(RetryAfter::HttpDateIn(2))),
            ),
        ],
        ..FaultPlan::default()
    });
    let config = ThreatConnectSinkConfig {
        retry_max_backoff_secs: 5.0,
        ..sink_config(&emulator)
    };

    let started = std::time::Instant::now();
    let run = run_sink(config, hmac_env(SECRET_KEY), hosts(5, "after"), 5, None).await;
    let elapsed = started.elapsed();

    run.result.unwrap();
    assert_eq!(run.summary.sink["threatconnect_requests_retried"], 2);
    // One second for the 429, and more than one for the date two seconds ahead, which the
    // header states at whole-second precision.
    assert!(
        elapsed >= std::time::Duration::from_millis(2_000),
        "finished after {elapsed:?}"
    );
    emulator.shutdown().await;
}
