//! A small ThreatConnect batch client for the tests: real HTTP, real HMAC signatures.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use feedpipe_tc_emulator::{Emulator, EmulatorConfig, EmulatorHandle, hmac_signature};
use flate2::read::GzDecoder;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

pub const OWNER: &str = "Emulator Org";

/// How a test request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    /// HMAC with the configured credentials and the current time.
    Hmac,
    /// HMAC with the configured credentials at this timestamp.
    HmacAt(i64),
    /// HMAC signed with another secret key.
    HmacWithKey(&'static str),
    /// HMAC with another access ID.
    HmacAsUser(&'static str),
    /// HMAC with no `Timestamp` header.
    HmacWithoutTimestamp,
    /// `Authorization: TC-Token <token>`.
    Token(&'static str),
    /// No `Authorization` header.
    None,
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub struct Client {
    pub http: reqwest::Client,
    pub origin: String,
    pub emulator: EmulatorHandle,
}

impl Client {
    pub async fn start(config: EmulatorConfig) -> Client {
        let emulator = Emulator::start(config).await.expect("emulator starts");
        let origin = format!("http://{}", emulator.local_addr());
        Client {
            http: reqwest::Client::new(),
            origin,
            emulator,
        }
    }

    pub async fn start_default() -> Client {
        Client::start(EmulatorConfig::default()).await
    }

    /// Builds a request for `target` (path and query, starting with `/api`), signed as `auth`.
    pub fn request(&self, method: Method, target: &str, auth: Auth) -> reqwest::RequestBuilder {
        let url = format!("{}{}", self.origin, target);
        let builder = self.http.request(method.clone(), url);
        let secret = "emulator-secret-key";
        let (access_id, key, timestamp) = match auth {
            Auth::None => return builder,
            Auth::Token(token) => {
                return builder.header("Authorization", format!("TC-Token {token}"));
            }
            Auth::Hmac => ("emulator", secret, Some(now_secs())),
            Auth::HmacAt(timestamp) => ("emulator", secret, Some(timestamp)),
            Auth::HmacWithKey(key) => ("emulator", key, Some(now_secs())),
            Auth::HmacAsUser(access_id) => (access_id, secret, Some(now_secs())),
            Auth::HmacWithoutTimestamp => ("emulator", secret, None),
        };
        let signed_at = timestamp.unwrap_or_else(now_secs);
        let signature = hmac_signature(key, target, method.as_str(), signed_at);
        let builder = builder.header("Authorization", format!("TC {access_id}:{signature}"));
        match timestamp {
            Some(timestamp) => builder.header("Timestamp", timestamp.to_string()),
            None => builder,
        }
    }

    pub async fn get(&self, target: &str) -> Response {
        self.request(Method::GET, target, Auth::Hmac)
            .send()
            .await
            .expect("GET is answered")
    }

    pub async fn create_job(&self, config: &Value) -> Response {
        self.request(Method::POST, "/api/v2/batch", Auth::Hmac)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(config.to_string())
            .send()
            .await
            .expect("job creation is answered")
    }

    /// Creates a job and returns its id, asserting the documented 201 response.
    pub async fn create_job_id(&self, config: &Value) -> u64 {
        let response = self.create_job(config).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "Success");
        body["data"]["batchId"]
            .as_u64()
            .expect("batchId is a number")
    }

    pub async fn upload(&self, id: u64, data: Vec<u8>) -> Response {
        self.try_upload(id, data).await.expect("upload is answered")
    }

    pub async fn try_upload(&self, id: u64, data: Vec<u8>) -> reqwest::Result<Response> {
        self.request(Method::POST, &format!("/api/v2/batch/{id}"), Auth::Hmac)
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
    }

    pub async fn try_create_and_upload(
        &self,
        config: &Value,
        content: Vec<u8>,
    ) -> reqwest::Result<Response> {
        let form = Form::new()
            .part("config", Part::text(config.to_string()).file_name("config"))
            .part("content", Part::bytes(content).file_name("content"));
        let target = "/api/v2/batch/createAndUpload?includeAdditional=true";
        self.request(Method::POST, target, Auth::Hmac)
            .multipart(form)
            .send()
            .await
    }

    pub async fn create_and_upload(&self, config: &Value, content: Vec<u8>) -> Response {
        self.try_create_and_upload(config, content)
            .await
            .expect("createAndUpload is answered")
    }

    /// Returns `data.batchStatus` of a status poll with `includeAdditional=true`.
    pub async fn status(&self, id: u64) -> Value {
        let response = self
            .get(&format!("/api/v2/batch/{id}?includeAdditional=true"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "Success");
        body["data"]["batchStatus"].clone()
    }

    /// Polls until the job is Completed and returns its final status.
    pub async fn wait_completed(&self, id: u64) -> Value {
        for _ in 0..500 {
            let status = self.status(id).await;
            if status["status"] == "Completed" {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {id} did not complete within 5 s");
    }

    /// Runs a two-step job to completion and returns its id and final status.
    pub async fn run_job(&self, config: &Value, data: Vec<u8>) -> (u64, Value) {
        let id = self.create_job_id(config).await;
        let response = self.upload(id, data).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let status = self.wait_completed(id).await;
        (id, status)
    }

    /// Fetches `/errors`, checks it is gzip JSON, and returns the decompressed array.
    pub async fn errors(&self, id: u64) -> Vec<Value> {
        let response = self.get(&format!("/api/v2/batch/{id}/errors")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["content-type"], "application/octet-stream");
        let packed = response.bytes().await.unwrap();
        let mut text = String::new();
        GzDecoder::new(&packed[..])
            .read_to_string(&mut text)
            .expect("errors body is gzip");
        serde_json::from_str::<Vec<Value>>(&text).expect("errors body is a JSON array")
    }

    /// Replaces the fault plan through the admin endpoint.
    pub async fn set_faults(&self, plan: Value) {
        let response = self
            .http
            .post(format!("{}/_emulator/faults", self.origin))
            .body(plan.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
    }

    pub async fn admin(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/_emulator{path}", self.origin))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

/// Builds a job configuration for the emulator's owner.
pub fn job_config(halt_on_error: bool, attribute_write_type: &str) -> Value {
    json!({
        "version": "V2",
        "owner": OWNER,
        "haltOnError": halt_on_error,
        "action": "Create",
        "attributeWriteType": attribute_write_type,
    })
}

/// Builds a batch file containing these indicators.
pub fn batch(indicators: Vec<Value>) -> Vec<u8> {
    json!({ "indicator": indicators }).to_string().into_bytes()
}

pub fn host(summary: &str) -> Value {
    json!({"type": "Host", "summary": summary, "rating": 3, "confidence": 80})
}

/// Returns the JSON body of a response with its status.
pub async fn json_body(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}
