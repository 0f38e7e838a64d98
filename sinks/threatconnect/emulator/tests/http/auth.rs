//! Authentication over HTTP: HMAC and token, with ThreatConnect's status codes and messages.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{Auth, Client, json_body, now_secs};

async fn owners_with(client: &Client, auth: Auth) -> (StatusCode, serde_json::Value) {
    let response = client
        .request(Method::GET, "/api/v2/owners", auth)
        .send()
        .await
        .unwrap();
    json_body(response).await
}

#[tokio::test]
async fn hmac_signed_request_succeeds() {
    let client = Client::start_default().await;
    let (status, body) = owners_with(&client, Auth::Hmac).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "Success");
    assert_eq!(body["data"]["owner"][0]["name"], "Emulator Org");
}

#[tokio::test]
async fn hmac_wrong_key_is_rejected() {
    let client = Client::start_default().await;
    let response = client
        .request(
            Method::GET,
            "/api/v2/owners",
            Auth::HmacWithKey("wrong-key"),
        )
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body,
        json!({"status": "Failure", "message": "Signature data did not match expected result"})
    );
    assert!(!text.contains("emulator-secret-key"));
    assert!(!text.contains("wrong-key"));
}

#[tokio::test]
async fn hmac_wrong_key_status_is_401() {
    let client = Client::start_default().await;
    let (status, _) = owners_with(&client, Auth::HmacWithKey("wrong-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hmac_skew_beyond_five_minutes() {
    let client = Client::start_default().await;
    for timestamp in [now_secs() - 301, now_secs() + 301] {
        let (status, body) = owners_with(&client, Auth::HmacAt(timestamp)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "Timestamp out of acceptable time range");
    }
    let (status, _) = owners_with(&client, Auth::HmacAt(now_secs() - 290)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hmac_missing_timestamp() {
    let client = Client::start_default().await;
    let (status, body) = owners_with(&client, Auth::HmacWithoutTimestamp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Invalid timestamp");
}

#[tokio::test]
async fn hmac_unknown_access_id() {
    let client = Client::start_default().await;
    let (status, body) = owners_with(&client, Auth::HmacAsUser("intruder")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Access Denied");
}

#[tokio::test]
async fn missing_authorization_is_forbidden() {
    let client = Client::start_default().await;
    let (status, body) = owners_with(&client, Auth::None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"status": "Failure", "message": "Access Denied"})
    );
}

#[tokio::test]
async fn signature_covers_query_string() {
    let client = Client::start_default().await;
    let signed_target = "/api/v2/owners";
    let signature = feedpipe_tc_emulator::hmac_signature(
        "emulator-secret-key",
        signed_target,
        "GET",
        now_secs(),
    );
    let response = client
        .http
        .get(format!("{}/api/v2/owners?resultLimit=5", client.origin))
        .header("Authorization", format!("TC emulator:{signature}"))
        .header("Timestamp", now_secs().to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["message"],
        "Signature data did not match expected result"
    );
}

#[tokio::test]
async fn signature_uses_encoding_as_sent() {
    let client = Client::start_default().await;
    let target = "/api/v2/types/indicatorTypes/Registry%20Key";
    let response = client.get(target).await;
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["indicatorType"]["name"], "Registry Key");
}

#[tokio::test]
async fn token_accepted_and_wrong_token_rejected() {
    let client = Client::start_default().await;
    let (status, _) = owners_with(&client, Auth::Token("emulator-token")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = owners_with(&client, Auth::Token("stolen-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"status": "Failure", "message": "Unauthorized"})
    );
}

#[tokio::test]
async fn token_expiry_from_config() {
    let mut config = feedpipe_tc_emulator::EmulatorConfig::default();
    config.credentials.token_expires_at = Some(now_secs() - 1);
    let client = Client::start(config).await;
    let (status, body) = owners_with(&client, Auth::Token("emulator-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Unauthorized");
}

#[tokio::test]
async fn token_expiry_at_run_time() {
    let client = Client::start_default().await;
    let (status, _) = owners_with(&client, Auth::Token("emulator-token")).await;
    assert_eq!(status, StatusCode::OK);

    client.set_faults(json!({"token_expired": true})).await;
    let (status, body) = owners_with(&client, Auth::Token("emulator-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Unauthorized");

    let (status, _) = owners_with(&client, Auth::Hmac).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn skewed_server_clock_rejects_current_time() {
    let client = Client::start_default().await;
    client.set_faults(json!({"clock_offset_secs": 600})).await;
    let (status, body) = owners_with(&client, Auth::Hmac).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Timestamp out of acceptable time range");

    let (status, _) = owners_with(&client, Auth::HmacAt(now_secs() + 600)).await;
    assert_eq!(status, StatusCode::OK);
}
