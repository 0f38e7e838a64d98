//! The indicator limit per job and the upload byte limit.

use std::io::Write;

use feedpipe_tc_emulator::EmulatorConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, batch, job_config, json_body};

fn addresses(count: usize) -> Vec<Value> {
    (0..count)
        .map(|index| {
            let ip = format!("10.{}.{}.{}", index >> 16, (index >> 8) & 255, index & 255);
            json!({"type": "Address", "summary": ip})
        })
        .collect()
}

#[tokio::test]
async fn job_over_indicator_limit_fails() {
    let client = Client::start_default().await;
    let (id, status) = client
        .run_job(&job_config(false, "Replace"), batch(addresses(25_001)))
        .await;
    assert_eq!(status["errorCount"], 1);
    assert_eq!(status["successCount"], 0);
    assert_eq!(status["unprocessCount"], 25_001);
    let errors = client.errors(id).await;
    let reason = errors[0]["errorReason"].as_str().unwrap();
    assert!(
        reason.contains("would exceed the number of allowed indicators"),
        "{reason}"
    );
    assert!(client.emulator.indicators().is_empty());
}

#[tokio::test]
async fn job_at_indicator_limit_passes() {
    let client = Client::start_default().await;
    let (_, status) = client
        .run_job(&job_config(false, "Replace"), batch(addresses(25_000)))
        .await;
    assert_eq!(status["successCount"], 25_000);
    assert_eq!(status["errorCount"], 0);
    assert_eq!(client.emulator.indicators().len(), 25_000);
}

fn limited(bytes: usize) -> EmulatorConfig {
    EmulatorConfig {
        max_upload_bytes: bytes,
        ..EmulatorConfig::default()
    }
}

/// Builds a batch file of exactly `size` bytes: one indicator padded with spaces.
fn file_of_size(size: usize) -> Vec<u8> {
    let mut data = batch(addresses(1));
    assert!(data.len() <= size);
    let closing = data.pop().unwrap();
    data.resize(size - 1, b' ');
    data.push(closing);
    data
}

#[tokio::test]
async fn upload_over_byte_limit() {
    let client = Client::start(limited(1000)).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let (status, body) = json_body(client.upload(id, file_of_size(1001)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"status": "Invalid", "description": "File size greater than allowable limit of 1000"})
    );
    assert_eq!(client.status(id).await["status"], "Created");

    let response = client.upload(id, file_of_size(1000)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(client.wait_completed(id).await["successCount"], 1);
}

#[tokio::test]
async fn large_upload_gets_response() {
    let client = Client::start(limited(1000)).await;
    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let (status, body) = json_body(client.upload(id, file_of_size(5_000_000)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["description"],
        "File size greater than allowable limit of 1000"
    );
}

#[tokio::test]
async fn gzip_upload_limit_counts_decompressed() {
    let client = Client::start(limited(1000)).await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&file_of_size(5000)).unwrap();
    let packed = encoder.finish().unwrap();
    assert!(packed.len() < 1000);

    let id = client.create_job_id(&job_config(false, "Replace")).await;
    let (status, body) = json_body(client.upload(id, packed).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["description"],
        "File size greater than allowable limit of 1000"
    );
}

#[tokio::test]
async fn create_and_upload_byte_limit() {
    let client = Client::start(limited(1000)).await;
    let response = client
        .create_and_upload(&job_config(false, "Replace"), file_of_size(1001))
        .await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["description"],
        "File size greater than allowable limit of 1000"
    );
    assert!(client.emulator.jobs().is_empty());
}
