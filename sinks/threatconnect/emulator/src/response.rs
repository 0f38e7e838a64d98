//! Response builders for ThreatConnect's JSON envelopes.
//!
//! Success is `{"status":"Success","data":…}`, batch failures are
//! `{"status":"Invalid","description":…}`, other failures `{"status":"Failure","message":…}`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub type Body = Full<Bytes>;

/// Builds a response with a body and content type.
pub fn with_body(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

pub fn json_value(status: u16, value: &Value) -> Response<Body> {
    with_body(status, "application/json", value.to_string())
}

pub fn success(status: u16, data: Value) -> Response<Body> {
    json_value(status, &json!({"status": "Success", "data": data}))
}

pub fn invalid(status: u16, description: &str) -> Response<Body> {
    json_value(
        status,
        &json!({"status": "Invalid", "description": description}),
    )
}

pub fn failure(status: u16, message: &str) -> Response<Body> {
    json_value(status, &json!({"status": "Failure", "message": message}))
}

pub fn not_found() -> Response<Body> {
    failure(404, "The requested resource was not found")
}
