//! Sink runs that need no ThreatConnect server: the dry run, and a server that cannot be
//! reached. Both check that every delivery ends counted exactly once.

use std::sync::Arc;

use bytes::Bytes;
use feedpipe_pipeline::catalog::FEEDS;
use feedpipe_pipeline::record::Origin;
use feedpipe_pipeline::{Delivery, Indicator, IndicatorType, Ledger, Sink};
use feedpipe_sink_threatconnect::{ThreatConnectSink, ThreatConnectSinkConfig};

fn deliveries(source: &Arc<str>, count: u64) -> Vec<Delivery> {
    (0..count)
        .map(|index| {
            let summary = format!("host{index}.example");
            let mut indicator = Indicator::new(IndicatorType::Host, summary.clone());
            indicator.rating = 4;
            indicator.confidence = 90;
            indicator.add_tag("Kaspersky");
            indicator.add_attribute("Description", "offline test");
            Delivery {
                origin: Origin {
                    feed: &FEEDS[0],
                    source: source.clone(),
                    offset: index * 100,
                    raw: Bytes::from(format!("{{\"mask\":\"{summary}\"}}")),
                },
                indicator,
                encoded: None,
            }
        })
        .collect()
}

#[tokio::test]
async fn dry_run_writes_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let jobs_dir = dir.path().join("jobs");
    let ledger = Ledger::new(Some(&dir.path().join("rejects.jsonl"))).unwrap();
    let source: Arc<str> = Arc::from("feed.json");
    ledger.add_read(&FEEDS[0], &source, 7);

    let config = ThreatConnectSinkConfig {
        owner: "Example Org".to_owned(),
        dry_run: true,
        dry_run_dir: jobs_dir.clone(),
        max_indicators_per_job: 3,
        ..ThreatConnectSinkConfig::default()
    };
    let mut sink = ThreatConnectSink::with_env(config, |_| None).unwrap();
    let batch = deliveries(&source, 7);
    let expected: Vec<serde_json::Value> = batch
        .iter()
        .map(|delivery| serde_json::to_value(&delivery.indicator).unwrap())
        .collect();
    sink.send(&mut batch[..5].to_vec(), &ledger).await.unwrap();
    sink.send(&mut batch[5..].to_vec(), &ledger).await.unwrap();
    sink.finish(&ledger).await.unwrap();

    let summary = ledger.summary();
    assert_eq!(summary.delivered, 7);
    assert_eq!(summary.rejected, 0);
    assert!(summary.sources[0].balanced());
    assert_eq!(summary.sink["threatconnect_dry_run"], true);
    assert_eq!(summary.sink["threatconnect_jobs_submitted"], 3);
    assert_eq!(
        summary.sink["threatconnect_dry_run_dir"],
        jobs_dir.display().to_string()
    );

    let mut written = Vec::new();
    for job in 1..=3 {
        let data = std::fs::read(jobs_dir.join(format!("job-{job:06}.json"))).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&data).unwrap();
        written.extend(value["indicator"].as_array().unwrap().iter().cloned());
        let config = std::fs::read(jobs_dir.join(format!("job-{job:06}.config.json"))).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["owner"], "Example Org");
        assert_eq!(config["attributeWriteType"], "Replace");
    }
    assert_eq!(written, expected);
    assert!(!jobs_dir.join("job-000004.json").exists());
}

#[tokio::test]
async fn unreachable_server_stops_run() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);

    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let ledger = Ledger::new(Some(&rejects)).unwrap();
    let source: Arc<str> = Arc::from("feed.json");
    ledger.add_read(&FEEDS[0], &source, 5);

    let config = ThreatConnectSinkConfig {
        api_url: format!("http://127.0.0.1:{port}/api"),
        owner: "Example Org".to_owned(),
        retry_max_attempts: 2,
        retry_initial_backoff_secs: 0.01,
        ..ThreatConnectSinkConfig::default()
    };
    let secret = "token-that-must-not-leak";
    let env = move |name: &str| (name == "FEEDPIPE_TC_API_TOKEN").then(|| secret.to_owned());
    let mut sink = ThreatConnectSink::with_env(config, env).unwrap();
    sink.send(&mut deliveries(&source, 5), &ledger)
        .await
        .unwrap();
    let error = sink.finish(&ledger).await.unwrap_err().to_string();

    assert!(error.contains("POST /api/v2/batch"), "{error}");
    assert!(error.contains("after 2 attempts"), "{error}");
    assert!(!error.contains(secret));
    let summary = ledger.summary();
    assert_eq!(summary.rejected, 5);
    assert_eq!(summary.sources[0].rejected_by_reason["job_failed"], 5);
    assert!(summary.sources[0].balanced());
    assert_eq!(summary.sink["threatconnect_jobs_failed"], 1);
    assert_eq!(summary.sink["threatconnect_requests_retried"], 1);
    ledger.flush().unwrap();
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert!(!text.contains(secret));
}

#[tokio::test]
async fn send_after_failure_rejects_batch() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);

    let ledger = Ledger::new(None).unwrap();
    let source: Arc<str> = Arc::from("feed.json");
    ledger.add_read(&FEEDS[0], &source, 8);
    let config = ThreatConnectSinkConfig {
        api_url: format!("http://127.0.0.1:{port}/api"),
        owner: "Example Org".to_owned(),
        retry_max_attempts: 1,
        max_indicators_per_job: 2,
        max_jobs_in_flight: 1,
        ..ThreatConnectSinkConfig::default()
    };
    let env = |name: &str| (name == "FEEDPIPE_TC_API_TOKEN").then(|| "t".to_owned());
    let mut sink = ThreatConnectSink::with_env(config, env).unwrap();
    let batch = deliveries(&source, 8);

    // With one slot, the second job waits for the first, which fails, so `send` stops.
    let first = sink.send(&mut batch[..6].to_vec(), &ledger).await;
    assert!(first.is_err());
    let second = sink.send(&mut batch[6..].to_vec(), &ledger).await;
    assert!(second.is_err());
    assert!(sink.finish(&ledger).await.is_err());

    let summary = ledger.summary();
    assert_eq!(summary.rejected, 8);
    assert!(summary.sources[0].balanced());
    assert_eq!(summary.sources[0].rejected_by_reason["job_failed"], 2);
    assert_eq!(summary.sources[0].rejected_by_reason["not_sent"], 6);
}
