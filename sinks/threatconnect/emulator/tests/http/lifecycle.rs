//! Job lifecycle through both create paths, job configuration checks and status shapes.

use feedpipe_tc_emulator::{EmulatorConfig, JobState, UploadResponse};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{Auth, Client, batch, host, job_config, json_body};

#[tokio::test]
async fn two_step_job_completes() {
    let client = Client::start_default().await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    assert_eq!(
        client.status(id).await,
        json!({"id": id, "status": "Created"})
    );

    let response = client.upload(id, batch(vec![host("a.example.com")])).await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, json!({"status": "Queued"}));

    let status = client.wait_completed(id).await;
    assert_eq!(
        status,
        json!({
            "id": id, "status": "Completed",
            "errorCount": 0, "successCount": 1, "unprocessCount": 0,
            "successIndicatorCount": 1, "errorIndicatorCount": 0,
            "successGroupCount": 0, "errorGroupCount": 0,
        })
    );
    let stored = client.emulator.indicators();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].summary, "a.example.com");
}

#[tokio::test]
async fn completed_without_additional_counts() {
    let client = Client::start_default().await;
    let (id, _) = client
        .run_job(
            &job_config(false, "Replace"),
            batch(vec![host("a.example.com")]),
        )
        .await;
    let response = client.get(&format!("/api/v2/batch/{id}")).await;
    let (_, body) = json_body(response).await;
    assert_eq!(
        body,
        json!({"status": "Success", "data": {"batchStatus": {
            "id": id, "status": "Completed",
            "errorCount": 0, "successCount": 1, "unprocessCount": 0}}})
    );
}

#[tokio::test]
async fn errors_without_errors_is_404() {
    let client = Client::start_default().await;
    let (id, _) = client
        .run_job(
            &job_config(false, "Replace"),
            batch(vec![host("a.example.com")]),
        )
        .await;
    let response = client.get(&format!("/api/v2/batch/{id}/errors")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn create_and_upload_completes() {
    let client = Client::start_default().await;
    let content = batch(vec![host("a.example.com"), host("b.example.com")]);
    let response = client
        .create_and_upload(&job_config(false, "Replace"), content)
        .await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "Success");
    assert_eq!(body["data"]["batchStatus"]["status"], "Queued");
    let id = body["data"]["batchStatus"]["id"].as_u64().unwrap();

    let status = client.wait_completed(id).await;
    assert_eq!(status["successCount"], 2);
    assert_eq!(client.emulator.indicators().len(), 2);
}

#[tokio::test]
async fn create_and_upload_without_filenames() {
    let client = Client::start_default().await;
    let form = reqwest::multipart::Form::new()
        .text("config", job_config(false, "Replace").to_string())
        .text(
            "content",
            String::from_utf8(batch(vec![host("a.example.com")])).unwrap(),
        );
    let response = client
        .request(Method::POST, "/api/v2/batch/createAndUpload", Auth::Hmac)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["data"]["batchStatus"]["id"].as_u64().unwrap();
    assert_eq!(client.wait_completed(id).await["successCount"], 1);
}

#[tokio::test]
async fn create_and_upload_needs_both_parts() {
    let client = Client::start_default().await;
    let form =
        reqwest::multipart::Form::new().text("config", job_config(false, "Replace").to_string());
    let response = client
        .request(Method::POST, "/api/v2/batch/createAndUpload", Auth::Hmac)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "Invalid");
    assert_eq!(
        body["description"],
        "createAndUpload needs the multipart parts 'config' and 'content'"
    );
}

#[tokio::test]
async fn synchronous_small_job() {
    let config = EmulatorConfig {
        synchronous_batch_save_limit: 5,
        ..EmulatorConfig::default()
    };
    let client = Client::start(config).await;
    let response = client
        .create_and_upload(
            &job_config(false, "Replace"),
            batch(vec![host("a.example.com")]),
        )
        .await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::CREATED);
    let batch_status = &body["data"]["batchStatus"];
    assert_eq!(batch_status["status"], "Completed");
    assert_eq!(batch_status["successCount"], 1);
    assert_eq!(batch_status["id"], 1);
}

#[tokio::test]
async fn synchronous_status_without_id() {
    let config = EmulatorConfig {
        synchronous_batch_save_limit: 5,
        synchronous_status_has_id: false,
        ..EmulatorConfig::default()
    };
    let client = Client::start(config).await;
    let response = client
        .create_and_upload(
            &job_config(false, "Replace"),
            batch(vec![host("a.example.com")]),
        )
        .await;
    let (_, body) = json_body(response).await;
    let batch_status = &body["data"]["batchStatus"];
    assert_eq!(batch_status["status"], "Completed");
    assert!(batch_status.get("id").is_none(), "{batch_status}");
}

#[tokio::test]
async fn upload_answer_as_batch_status() {
    let config = EmulatorConfig {
        upload_response: UploadResponse::BatchStatus,
        ..EmulatorConfig::default()
    };
    let client = Client::start(config).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let (status, body) = json_body(client.upload(id, batch(vec![])).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"status": "Success", "data": {"batchStatus": {"id": id, "status": "Queued"}}})
    );
}

#[tokio::test]
async fn gzip_upload_is_accepted() {
    use std::io::Write;
    let client = Client::start_default().await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&batch(vec![host("a.example.com")]))
        .unwrap();
    let (_, status) = client
        .run_job(&job_config(false, "Replace"), encoder.finish().unwrap())
        .await;
    assert_eq!(status["successCount"], 1);
}

#[tokio::test]
async fn second_upload_is_rejected() {
    let client = Client::start_default().await;
    let (id, _) = client
        .run_job(
            &job_config(false, "Replace"),
            batch(vec![host("a.example.com")]),
        )
        .await;
    let (status, body) = json_body(client.upload(id, batch(vec![])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "Invalid");
    assert_eq!(
        body["description"],
        format!("Batch job {id} already has data; each job takes one upload")
    );
}

#[tokio::test]
async fn upload_needs_octet_stream() {
    let client = Client::start_default().await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let response = client
        .request(Method::POST, &format!("/api/v2/batch/{id}"), Auth::Hmac)
        .header("Content-Type", "application/json")
        .body(batch(vec![]))
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["status"], "Invalid");
    assert_eq!(client.status(id).await["status"], "Created");
}

#[tokio::test]
async fn unknown_job_is_404() {
    let client = Client::start_default().await;
    let response = client.get("/api/v2/batch/999").await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"status": "Failure", "message": "The requested resource was not found"})
    );
    let response = client.upload(999, batch(vec![])).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn config_missing_field_is_invalid() {
    let client = Client::start_default().await;
    let config = json!({"owner": "Emulator Org", "haltOnError": false, "action": "Create"});
    let (status, body) = json_body(client.create_job(&config).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"status": "Invalid",
               "description": "Batch job configuration is missing the required field 'attributeWriteType'"})
    );
}

#[tokio::test]
async fn config_bad_values_are_invalid() {
    let client = Client::start_default().await;
    let bad_fields = [
        ("action", json!("Update")),
        ("attributeWriteType", json!("Merge")),
        ("haltOnError", json!("yes")),
        ("tagWriteType", json!("Singleton")),
        ("version", json!("V3")),
    ];
    for (field, value) in bad_fields {
        let mut config = job_config(false, "Replace");
        config[field] = value.clone();
        let (status, body) = json_body(client.create_job(&config).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        let description = body["description"].as_str().unwrap();
        assert!(description.contains(&format!("'{field}'")), "{description}");
        assert!(description.contains(&value.to_string()), "{description}");
    }
}

#[tokio::test]
async fn config_unknown_owner_is_forbidden() {
    let client = Client::start_default().await;
    let mut config = job_config(false, "Replace");
    config["owner"] = json!("Someone Else");
    let (status, body) = json_body(client.create_job(&config).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["status"], "Failure");
    assert_eq!(
        body["message"],
        "Owner 'Someone Else' does not exist or you do not have access to it"
    );
}

#[tokio::test]
async fn config_string_booleans_accepted() {
    let client = Client::start_default().await;
    let mut config = job_config(false, "Append");
    config["haltOnError"] = json!("true");
    config["playbookTriggersEnabled"] = json!("false");
    config["tagWriteType"] = json!("Append");
    let id = client.create_job_id(&config).await;
    let job = client
        .emulator
        .jobs()
        .into_iter()
        .find(|job| job.id == id)
        .unwrap();
    assert!(job.config.halt_on_error);
    assert_eq!(job.status, JobState::Created);
}

#[tokio::test]
async fn running_polls_before_completion() {
    let client = Client::start_default().await;
    client.set_faults(json!({"running_polls": 2})).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    client.upload(id, batch(vec![host("a.example.com")])).await;
    // Wait until processing has finished, then count the polls that still report Running.
    for _ in 0..500 {
        if client.emulator.indicators().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let response = client.get(&format!("/api/v2/batch/{id}/errors")).await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"status": "Invalid", "description": "Batch still in Running state"})
    );
    assert_eq!(client.status(id).await["status"], "Running");
    assert_eq!(client.status(id).await["status"], "Running");
    assert_eq!(client.status(id).await["status"], "Completed");
}

#[tokio::test]
async fn owners_and_attribute_types() {
    let client = Client::start_default().await;
    let (_, body) = json_body(client.get("/api/v2/owners").await).await;
    assert_eq!(body["data"]["resultCount"], 1);
    let (status, body) = json_body(client.get("/api/v3/attributeTypes").await).await;
    assert_eq!(status, StatusCode::OK);
    let types = body["data"].as_array().unwrap();
    let description = types.iter().find(|t| t["name"] == "Description").unwrap();
    assert_eq!(description["maxSize"], 65_500);
    let source = types.iter().find(|t| t["name"] == "Source").unwrap();
    assert_eq!(source["maxSize"], 500);
}

#[tokio::test]
async fn indicator_types_with_regexes() {
    let client = Client::start_default().await;
    let target = "/api/v2/types/indicatorTypes/host?includeAdditional=true";
    let (status, body) = json_body(client.get(target).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["indicatorType"]["name"], "Host");
    assert!(body["data"]["indicatorType"]["regexes"].is_array());
    let (_, body) = json_body(client.get("/api/v2/types/indicatorTypes").await).await;
    assert_eq!(body["data"]["resultCount"], 10);
}

#[tokio::test]
async fn api_needs_api_prefix() {
    let client = Client::start_default().await;
    let response = client
        .request(Method::GET, "/v2/owners", Auth::Hmac)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shutdown_closes_port() {
    let client = Client::start_default().await;
    let addr = client.emulator.local_addr();
    client.emulator.shutdown().await;
    let result = tokio::net::TcpStream::connect(addr).await;
    assert!(result.is_err(), "port {addr} still accepts connections");
}
