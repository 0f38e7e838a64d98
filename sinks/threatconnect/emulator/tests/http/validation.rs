//! Per-indicator validation, reported through `/errors` and counted in the job status.

use feedpipe_tc_emulator::EmulatorConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, batch, job_config, json_body};

const MD5: &str = "905ad8176a569a36421bf54c04ba7f95";
const SHA1: &str = "a52b6986d68cdfac53aa740566cbeade4452124e";
const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn with(mut indicator: Value, field: &str, value: Value) -> Value {
    indicator[field] = value;
    indicator
}

fn base_host() -> Value {
    json!({"type": "Host", "summary": "ok.example.com"})
}

/// Invalid indicators with a fragment their error reason must contain.
fn invalid_cases() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"summary": "x.example.com"}),
            "the required field 'type' is missing",
        ),
        (
            json!({"type": "Ship", "summary": "x"}),
            "unknown indicator type 'Ship'",
        ),
        (json!({"type": "Host"}), "neither 'summary' nor 'hostName'"),
        (
            json!({"type": "Address", "summary": "300.1.1.1"}),
            "not a valid IPv4 or IPv6",
        ),
        (
            json!({"type": "Host", "summary": "österreich.icom.museum"}),
            "punycode",
        ),
        (
            json!({"type": "Host", "summary": "bad_host"}),
            "at least two labels",
        ),
        (
            json!({"type": "URL", "summary": "example.com/path"}),
            "no protocol",
        ),
        (
            json!({"type": "URL", "summary": "http://EXAMPLE.com/a"}),
            "must be lower-case",
        ),
        (
            json!({"type": "File", "summary": "abcd"}),
            "not a 32, 40 or 64 digit hex hash",
        ),
        (json!({"type": "File", "md5": SHA1}), "md5"),
        (json!({"type": "ASN", "summary": "AS123"}), "ASN12345"),
        (
            with(base_host(), "rating", json!(5.5)),
            "rating 5.5 is outside 0 to 5",
        ),
        (with(base_host(), "rating", json!(-1)), "outside 0 to 5"),
        (
            with(base_host(), "confidence", json!(50.5)),
            "confidence 50.5 is not an integer",
        ),
        (
            with(base_host(), "confidence", json!(101)),
            "confidence 101 is outside 0 to 100",
        ),
        (
            with(base_host(), "tag", json!([{"name": "t".repeat(129)}])),
            "is 129 characters long; the maximum is 128",
        ),
        (
            with(
                base_host(),
                "attribute",
                json!([{"type": "Colour", "value": "red"}]),
            ),
            "attribute type 'Colour' does not exist",
        ),
        (
            with(
                base_host(),
                "attribute",
                json!([{"type": "Source", "value": "s".repeat(501)}]),
            ),
            "value is 501 characters long; the maximum for this type is 500",
        ),
        (
            with(
                base_host(),
                "securityLabel",
                json!([{"name": "TLP:PURPLE"}]),
            ),
            "security label 'TLP:PURPLE' does not exist",
        ),
        (
            with(base_host(), "firstSeen", json!("21.01.2015 00:00")),
            "firstSeen '21.01.2015 00:00'",
        ),
    ]
}

fn valid_cases() -> Vec<Value> {
    vec![
        json!({"type": "Address", "summary": "192.0.2.1", "rating": 5, "confidence": 100}),
        json!({"type": "Address", "ip": "2001:db8::1"}),
        json!({"type": "Host", "summary": "xn--sterreich-z7a.icom.museum"}),
        json!({"type": "Host", "hostName": "host.example.com"}),
        json!({"type": "URL", "summary": "http://example.com/Path?Q=1"}),
        json!({"type": "URL", "text": "https://example.org/x"}),
        json!({"type": "File", "summary": format!("{MD5} : {SHA1} : {SHA256}")}),
        json!({"type": "File", "summary": "ignored", "sha256": SHA256.to_uppercase()}),
        json!({"type": "File", "md5": MD5.to_uppercase(), "sha1": SHA1.to_uppercase()}),
        with(base_host(), "rating", json!(2.5)),
        with(base_host(), "confidence", json!(0)),
        with(base_host(), "tag", json!([{"name": "t".repeat(128)}])),
        with(
            base_host(),
            "attribute",
            json!([{"type": "Description", "value": "d".repeat(600), "displayed": true}]),
        ),
        with(base_host(), "firstSeen", json!("2015-01-21T00:00:00Z")),
        with(
            base_host(),
            "securityLabel",
            json!([{"name": "TLP:PURPLE", "color": "800080", "description": "custom"}]),
        ),
    ]
}

#[tokio::test]
async fn every_rule_reported_in_errors() {
    let client = Client::start_default().await;
    let invalid = invalid_cases();
    let valid = valid_cases();
    let mut items: Vec<Value> = invalid.iter().map(|(item, _)| item.clone()).collect();
    items.extend(valid.iter().cloned());

    let (id, status) = client
        .run_job(&job_config(false, "Replace"), batch(items))
        .await;
    assert_eq!(status["errorCount"], invalid.len());
    assert_eq!(status["errorIndicatorCount"], invalid.len());
    assert_eq!(status["successCount"], valid.len());
    assert_eq!(status["unprocessCount"], 0);

    let errors = client.errors(id).await;
    assert_eq!(errors.len(), invalid.len());
    for (error, (item, expected)) in errors.iter().zip(&invalid) {
        let reason = error["errorReason"].as_str().unwrap();
        assert!(reason.contains(expected), "{item}: {reason}");
        assert_eq!(&error["errorSource"], item);
    }
}

#[tokio::test]
async fn valid_indicators_are_normalized() {
    let client = Client::start_default().await;
    let items = vec![
        json!({"type": "Address", "summary": "2001:DB8:0:0:0:0:0:1"}),
        json!({"type": "Host", "summary": "Mixed.Example.COM"}),
        json!({"type": "File", "summary": format!("{MD5}:{SHA256}")}),
    ];
    let (_, status) = client
        .run_job(&job_config(false, "Replace"), batch(items))
        .await;
    assert_eq!(status["successCount"], 3);
    let summaries: Vec<String> = client
        .emulator
        .indicators()
        .into_iter()
        .map(|indicator| indicator.summary)
        .collect();
    assert_eq!(
        summaries,
        vec![
            "2001:db8::1".to_owned(),
            "mixed.example.com".to_owned(),
            format!("{} : {}", MD5.to_uppercase(), SHA256.to_uppercase()),
        ]
    );
}

#[tokio::test]
async fn any_attribute_type_mode() {
    let mut config = EmulatorConfig::default();
    config.attribute_types.accept_any = true;
    config.attribute_types.default_max_size = 10;
    let client = Client::start(config).await;
    let items = vec![
        with(
            base_host(),
            "attribute",
            json!([{"type": "Colour", "value": "red"}]),
        ),
        with(
            base_host(),
            "attribute",
            json!([{"type": "Colour", "value": "r".repeat(11)}]),
        ),
    ];
    let (id, status) = client
        .run_job(&job_config(false, "Append"), batch(items))
        .await;
    assert_eq!(status["successCount"], 1);
    assert_eq!(status["errorCount"], 1);
    let errors = client.errors(id).await;
    let reason = errors[0]["errorReason"].as_str().unwrap();
    assert!(
        reason.contains("the maximum for this type is 10"),
        "{reason}"
    );
}

#[tokio::test]
async fn configured_attribute_max_size() {
    let mut config = EmulatorConfig::default();
    config.attribute_types.types.insert("Source".to_owned(), 4);
    let client = Client::start(config).await;
    let item = with(
        base_host(),
        "attribute",
        json!([{"type": "Source", "value": "feeds"}]),
    );
    let (_, status) = client
        .run_job(&job_config(false, "Append"), batch(vec![item]))
        .await;
    assert_eq!(status["errorCount"], 1);
}

#[tokio::test]
async fn halt_on_error_stops_job() {
    let client = Client::start_default().await;
    let items = vec![
        json!({"type": "Host", "summary": "a.example.com"}),
        json!({"type": "Host", "summary": "b.example.com", "rating": 9}),
        json!({"type": "Host", "summary": "c.example.com"}),
        json!({"type": "Host", "summary": "d.example.com"}),
    ];
    let (id, status) = client
        .run_job(&job_config(true, "Replace"), batch(items))
        .await;
    assert_eq!(status["successCount"], 1);
    assert_eq!(status["errorCount"], 1);
    assert_eq!(status["unprocessCount"], 2);
    assert_eq!(client.errors(id).await.len(), 1);
    let stored: Vec<String> = client
        .emulator
        .indicators()
        .into_iter()
        .map(|indicator| indicator.summary)
        .collect();
    assert_eq!(stored, vec!["a.example.com".to_owned()]);
}

#[tokio::test]
async fn halt_off_continues_after_error() {
    let client = Client::start_default().await;
    let items = vec![
        json!({"type": "Host", "summary": "b.example.com", "rating": 9}),
        json!({"type": "Host", "summary": "c.example.com"}),
    ];
    let (_, status) = client
        .run_job(&job_config(false, "Replace"), batch(items))
        .await;
    assert_eq!(status["successCount"], 1);
    assert_eq!(status["errorCount"], 1);
    assert_eq!(status["unprocessCount"], 0);
}

#[tokio::test]
async fn invalid_json_is_critical_error() {
    let client = Client::start_default().await;
    let data = br#"{"indicator":[{"type":"Host","summary":"a.example.com"},{"type":"Host",]}"#;
    let (id, status) = client
        .run_job(&job_config(true, "Replace"), data.to_vec())
        .await;
    assert_eq!(status["errorCount"], 1);
    assert_eq!(status["successCount"], 0);
    assert_eq!(status["unprocessCount"], 0);
    let errors = client.errors(id).await;
    assert_eq!(
        errors[0]["errorReason"],
        "Encountered an unexpected Exception while processing batch job. \
         Last known JSON path: '$.indicator[1]'"
    );
}

#[tokio::test]
async fn results_filter_by_code() {
    let client = Client::start_default().await;
    let items = vec![
        json!({"type": "Host", "summary": "b.example.com", "rating": 9}),
        json!({"type": "Host", "summary": "c.example.com"}),
    ];
    let (id, _) = client
        .run_job(&job_config(false, "Replace"), batch(items))
        .await;
    let response = client
        .get(&format!(
            "/api/v2/batch/{id}/results?code=0x1005&severity=error"
        ))
        .await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::OK);
    let results = body.as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["code"], "0x1005");
    assert_eq!(results[0]["severity"], "Error");

    let response = client
        .get(&format!(
            "/api/v2/batch/{id}/results?contains=no%20such%20text"
        ))
        .await;
    let (_, body) = json_body(response).await;
    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn groups_are_reported_not_dropped() {
    let client = Client::start_default().await;
    let data = json!({"indicator": [], "group": [{"type": "Adversary", "name": "x", "xid": "g1"}]});
    let (id, status) = client
        .run_job(&job_config(false, "Replace"), data.to_string().into_bytes())
        .await;
    assert_eq!(status["errorGroupCount"], 1);
    let errors = client.errors(id).await;
    let reason = errors[0]["errorReason"].as_str().unwrap();
    assert!(reason.contains("groups are not supported"), "{reason}");
}
