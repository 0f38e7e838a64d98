//! Every fault mode, set at start or through `POST /_emulator/faults`, counted and repeatable.

use std::time::{Duration, SystemTime};

use feedpipe_tc_emulator::{EmulatorConfig, Endpoint, FaultAction, FaultPlan, FaultRule};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, batch, host, job_config, json_body};

fn respond(endpoint: &str, times: u32, status: u16, retry_after: Value) -> Value {
    json!({"rules": [{"endpoint": endpoint, "times": times,
        "action": {"kind": "respond", "status": status, "retry_after": retry_after}}]})
}

#[tokio::test]
async fn server_errors_then_success() {
    let client = Client::start_default().await;
    client
        .set_faults(respond("upload", 2, 503, Value::Null))
        .await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;

    for _ in 0..2 {
        let (status, body) =
            json_body(client.upload(id, batch(vec![host("a.example.com")])).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({"status": "Failure", "message": "Service Unavailable"})
        );
        assert_eq!(client.status(id).await["status"], "Created");
    }
    let response = client.upload(id, batch(vec![host("a.example.com")])).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(client.wait_completed(id).await["successCount"], 1);
}

#[tokio::test]
async fn fault_on_any_endpoint() {
    let client = Client::start_default().await;
    client.set_faults(respond("any", 1, 500, Value::Null)).await;
    assert_eq!(
        client.get("/api/v2/owners").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(client.get("/api/v2/owners").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_with_retry_after_seconds() {
    let client = Client::start_default().await;
    client
        .set_faults(respond("status", 2, 429, json!({"seconds": 7})))
        .await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    for _ in 0..2 {
        let response = client.get(&format!("/api/v2/batch/{id}")).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(
        client.get(&format!("/api/v2/batch/{id}")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn retry_after_as_http_date() {
    let client = Client::start_default().await;
    client
        .set_faults(respond("create", 1, 503, json!({"http_date_in": 120})))
        .await;
    let response = client.create_job(&job_config(false, "Replace")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let header = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_owned();
    let at = httpdate::parse_http_date(&header).expect("Retry-After is an HTTP date");
    let ahead = at.duration_since(SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(110) && ahead <= Duration::from_secs(120),
        "{ahead:?}"
    );
    assert!(client.emulator.jobs().is_empty());
}

#[tokio::test]
async fn plain_text_body_and_content_type() {
    let client = Client::start_default().await;
    let plan = json!({"rules": [{"endpoint": "owners", "times": 1, "action": {
        "kind": "respond", "status": 200, "body": "<html>maintenance</html>",
        "content_type": "text/html"}}]});
    client.set_faults(plan).await;
    let response = client.get("/api/v2/owners").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.text().await.unwrap(), "<html>maintenance</html>");
}

#[tokio::test]
async fn drop_after_accept_keeps_job() {
    let client = Client::start_default().await;
    let plan = json!({"rules": [{"endpoint": "create_and_upload", "times": 1,
        "action": {"kind": "drop_after_accept"}}]});
    client.set_faults(plan).await;
    let result = client
        .try_create_and_upload(
            &job_config(false, "Append"),
            batch(vec![host("a.example.com")]),
        )
        .await;
    assert!(result.is_err(), "the client got a response: {result:?}");

    let jobs = client.emulator.jobs();
    assert_eq!(jobs.len(), 1);
    let status = client.wait_completed(jobs[0].id).await;
    assert_eq!(status["successCount"], 1);
    assert_eq!(client.emulator.indicators().len(), 1);

    let requests = client.emulator.requests();
    let dropped = requests
        .iter()
        .find(|request| request.fault.is_some())
        .unwrap();
    assert_eq!(dropped.status, None);
    assert_eq!(dropped.endpoint, Some(Endpoint::CreateAndUpload));
}

#[tokio::test]
async fn drop_after_accept_on_upload() {
    let client = Client::start_default().await;
    let plan = json!({"rules": [{"endpoint": "upload", "times": 1,
        "action": {"kind": "drop_after_accept"}}]});
    client.set_faults(plan).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let result = client
        .try_upload(id, batch(vec![host("a.example.com")]))
        .await;
    assert!(result.is_err(), "the client got a response: {result:?}");
    assert_eq!(client.wait_completed(id).await["successCount"], 1);
}

#[tokio::test]
async fn drop_before_processing() {
    let client = Client::start_default().await;
    let plan = json!({"rules": [{"endpoint": "create", "times": 1, "action": {"kind": "drop"}}]});
    client.set_faults(plan).await;
    let result = client
        .request(
            reqwest::Method::POST,
            "/api/v2/batch",
            crate::client::Auth::Hmac,
        )
        .body(job_config(false, "Replace").to_string())
        .send()
        .await;
    assert!(result.is_err(), "the client got a response: {result:?}");
    assert!(client.emulator.jobs().is_empty());
}

#[tokio::test]
async fn slow_job_reports_running() {
    let client = Client::start_default().await;
    client.set_faults(json!({"job_delay_millis": 400})).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    client.upload(id, batch(vec![host("a.example.com")])).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(client.status(id).await["status"], "Running");
    assert!(client.emulator.indicators().is_empty());
    assert_eq!(client.wait_completed(id).await["successCount"], 1);
}

#[tokio::test]
async fn stalled_job_never_completes() {
    let client = Client::start_default().await;
    client.set_faults(json!({"stalled_jobs": 1})).await;
    let (stalled, _) = {
        let id = client.create_job_id(&job_config(false, "Replace")).await;
        (
            id,
            client.upload(id, batch(vec![host("a.example.com")])).await,
        )
    };
    let (_, status) = client
        .run_job(
            &job_config(false, "Replace"),
            batch(vec![host("b.example.com")]),
        )
        .await;
    assert_eq!(status["successCount"], 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.status(stalled).await["status"], "Running");
    let response = client.get(&format!("/api/v2/batch/{stalled}/errors")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn errors_not_found_then_found() {
    let client = Client::start_default().await;
    let item = json!({"type": "Host", "summary": "a.example.com", "rating": 9});
    let (id, _) = client
        .run_job(&job_config(false, "Replace"), batch(vec![item]))
        .await;
    client
        .set_faults(respond("errors", 2, 404, Value::Null))
        .await;
    for _ in 0..2 {
        let response = client.get(&format!("/api/v2/batch/{id}/errors")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(client.errors(id).await.len(), 1);
}

#[tokio::test]
async fn delayed_response_times_out_client() {
    let client = Client::start_default().await;
    let plan = json!({"rules": [{"endpoint": "upload", "times": 1,
        "action": {"kind": "delay", "millis": 600}}]});
    client.set_faults(plan).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let result = client
        .request(
            reqwest::Method::POST,
            &format!("/api/v2/batch/{id}"),
            crate::client::Auth::Hmac,
        )
        .header("Content-Type", "application/octet-stream")
        .body(batch(vec![host("a.example.com")]))
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    let error = result.expect_err("the response came before the client timeout");
    assert!(error.is_timeout(), "{error}");
    assert_eq!(client.wait_completed(id).await["successCount"], 1);
}

#[tokio::test]
async fn faults_from_config_and_counts_left() {
    let config = EmulatorConfig {
        faults: FaultPlan {
            rules: vec![FaultRule {
                endpoint: Endpoint::Owners,
                times: 3,
                action: FaultAction::Respond {
                    status: 502,
                    retry_after: None,
                    body: None,
                    content_type: None,
                },
            }],
            ..FaultPlan::default()
        },
        ..EmulatorConfig::default()
    };
    let client = Client::start(config).await;
    assert_eq!(
        client.get("/api/v2/owners").await.status(),
        StatusCode::BAD_GATEWAY
    );
    let plan = client.admin("/faults").await;
    assert_eq!(plan["rules"][0]["times"], 2);
    assert_eq!(client.emulator.faults().rules[0].times, 2);

    let response = client
        .http
        .delete(format!("{}/_emulator/faults", client.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(client.get("/api/v2/owners").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_fault_plan_is_rejected() {
    let client = Client::start_default().await;
    let response = client
        .http
        .post(format!("{}/_emulator/faults", client.origin))
        .body(r#"{"rules":[{"endpoint":"nowhere","times":1,"action":{"kind":"drop"}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("nowhere"), "{message}");
}

#[tokio::test]
async fn request_log_records_statuses() {
    let client = Client::start_default().await;
    client
        .set_faults(respond("owners", 1, 503, Value::Null))
        .await;
    client.get("/api/v2/owners").await;
    client.get("/api/v2/owners").await;
    let log = client.admin("/requests").await;
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["status"], 503);
    assert_eq!(entries[0]["fault"], "respond 503");
    assert_eq!(entries[1]["status"], 200);
    assert_eq!(entries[1]["auth"], "hmac");
    assert_eq!(entries[1]["target"], "/api/v2/owners");
}
