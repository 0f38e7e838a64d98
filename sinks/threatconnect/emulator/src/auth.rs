//! ThreatConnect request authentication: HMAC-SHA256 signatures and API tokens.
//!
//! The HMAC message is `<path and query as received>:<METHOD>:<Timestamp>`, so a client that
//! re-encodes its URL after signing fails here as it would on a real instance. Failures carry
//! the message texts ThreatConnect documents and never include a credential.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use sha2::Sha256;

use crate::config::Credentials;

type HmacSha256 = Hmac<Sha256>;

/// Authentication method of an accepted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Hmac,
    Token,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Hmac => "hmac",
            AuthMethod::Token => "token",
        }
    }
}

/// Authentication failure, with ThreatConnect's message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header, or a scheme other than `TC` and `TC-Token`.
    #[error("Access Denied")]
    Missing,
    /// A `TC` header without `<access id>:<signature>`, or an unknown access ID.
    #[error("Access Denied")]
    UnknownAccessId,
    /// `Timestamp` missing or not whole epoch seconds.
    #[error("Invalid timestamp")]
    InvalidTimestamp,
    /// `Timestamp` further from the server clock than the allowed window.
    #[error("Timestamp out of acceptable time range")]
    TimestampOutOfRange,
    #[error("Signature data did not match expected result")]
    SignatureMismatch,
    /// A wrong, regenerated or expired token.
    #[error("Unauthorized")]
    TokenRejected,
}

impl AuthError {
    /// Returns the HTTP status: 403 without a supported authentication method, else 401.
    pub fn status(self) -> u16 {
        match self {
            AuthError::Missing => 403,
            _ => 401,
        }
    }
}

/// Computes the signature ThreatConnect expects in `Authorization: TC <access id>:<signature>`.
///
/// `path_and_query` is the request target exactly as sent, including the `/api` prefix.
pub fn hmac_signature(
    secret_key: &str,
    path_and_query: &str,
    method: &str,
    timestamp: i64,
) -> String {
    let mut mac = new_mac(secret_key);
    mac.update(signed_message(path_and_query, method, timestamp).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn signed_message(path_and_query: &str, method: &str, timestamp: i64) -> String {
    format!("{path_and_query}:{method}:{timestamp}")
}

fn new_mac(secret_key: &str) -> HmacSha256 {
    // RFC 2104 HMAC is defined for keys of any length, and the hmac crate accepts them all.
    HmacSha256::new_from_slice(secret_key.as_bytes()).expect("HMAC accepts any key length")
}

/// The facts a request is authenticated against.
pub struct AuthContext<'a> {
    pub credentials: &'a Credentials,
    /// Server clock, Unix seconds.
    pub now: i64,
    pub timestamp_window_secs: u64,
    /// Whether the token is currently treated as expired by fault injection.
    pub token_expired: bool,
}

/// Checks a request's `Authorization` and `Timestamp` headers.
pub fn authenticate(
    context: &AuthContext<'_>,
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
) -> Result<AuthMethod, AuthError> {
    let authorization = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(AuthError::Missing)?;

    if let Some(token) = authorization.strip_prefix("TC-Token ") {
        check_token(context, token)?;
        return Ok(AuthMethod::Token);
    }
    if let Some(credential) = authorization.strip_prefix("TC ") {
        check_hmac(context, headers, credential, method, path_and_query)?;
        return Ok(AuthMethod::Hmac);
    }
    Err(AuthError::Missing)
}

fn check_token(context: &AuthContext<'_>, token: &str) -> Result<(), AuthError> {
    let credentials = context.credentials;
    let expected = credentials.token.as_ref().ok_or(AuthError::TokenRejected)?;
    if !constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) {
        return Err(AuthError::TokenRejected);
    }

    let expired_by_clock = credentials
        .token_expires_at
        .is_some_and(|expires_at| context.now >= expires_at);
    if context.token_expired || expired_by_clock {
        return Err(AuthError::TokenRejected);
    }
    Ok(())
}

fn check_hmac(
    context: &AuthContext<'_>,
    headers: &HeaderMap,
    credential: &str,
    method: &str,
    path_and_query: &str,
) -> Result<(), AuthError> {
    let (access_id, signature) = credential
        .rsplit_once(':')
        .ok_or(AuthError::UnknownAccessId)?;
    if access_id != context.credentials.access_id {
        return Err(AuthError::UnknownAccessId);
    }

    let timestamp: i64 = headers
        .get("timestamp")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
        .ok_or(AuthError::InvalidTimestamp)?;
    if context.now.abs_diff(timestamp) > context.timestamp_window_secs {
        return Err(AuthError::TimestampOutOfRange);
    }

    let signature = STANDARD
        .decode(signature.trim())
        .map_err(|_| AuthError::SignatureMismatch)?;
    let mut mac = new_mac(context.credentials.secret_key.expose());
    mac.update(signed_message(path_and_query, method, timestamp).as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| AuthError::SignatureMismatch)
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use hyper::header::HeaderValue;

    const NOW: i64 = 1_513_703_787;

    fn context(credentials: &Credentials) -> AuthContext<'_> {
        AuthContext {
            credentials,
            now: NOW,
            timestamp_window_secs: 300,
            token_expired: false,
        }
    }

    fn hmac_headers(credentials: &Credentials, target: &str, timestamp: i64) -> HeaderMap {
        let signature = hmac_signature(credentials.secret_key.expose(), target, "GET", timestamp);
        let mut headers = HeaderMap::new();
        let value = format!("TC {}:{signature}", credentials.access_id);
        headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
        headers.insert("timestamp", HeaderValue::from(timestamp));
        headers
    }

    #[test]
    fn signature_matches_known_value() {
        // Computed independently with Python's hmac and base64 modules.
        let signature = hmac_signature(
            "secret",
            "/api/v2/indicators/hosts/example.com?Owner=Common%20Community",
            "GET",
            NOW,
        );
        assert_eq!(signature, "qcQ78w1LcTYOSn2A4hYtkwvNsBnti4Ed+ZpIzM7oSjE=");
    }

    #[test]
    fn hmac_accepts_exact_target() {
        let credentials = Credentials::default();
        let target = "/api/v2/batch/7?includeAdditional=true";
        let headers = hmac_headers(&credentials, target, NOW - 299);
        let result = authenticate(&context(&credentials), &headers, "GET", target);
        assert_eq!(result, Ok(AuthMethod::Hmac));
    }

    #[test]
    fn hmac_rejects_reencoded_target() {
        let credentials = Credentials::default();
        let headers = hmac_headers(&credentials, "/api/v2/x?a=b%20c", NOW);
        let result = authenticate(&context(&credentials), &headers, "GET", "/api/v2/x?a=b+c");
        assert_eq!(result, Err(AuthError::SignatureMismatch));
    }

    #[test]
    fn hmac_rejects_skew() {
        let credentials = Credentials::default();
        let headers = hmac_headers(&credentials, "/api/v2/owners", NOW + 301);
        let result = authenticate(&context(&credentials), &headers, "GET", "/api/v2/owners");
        assert_eq!(result, Err(AuthError::TimestampOutOfRange));
        assert_eq!(AuthError::TimestampOutOfRange.status(), 401);
    }

    #[test]
    fn token_expiry_rejects() {
        let credentials = Credentials {
            token: Some(Secret::new("t0k")),
            token_expires_at: Some(NOW),
            ..Credentials::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("TC-Token t0k"));
        let result = authenticate(&context(&credentials), &headers, "GET", "/api/v2/owners");
        assert_eq!(result, Err(AuthError::TokenRejected));
    }

    #[test]
    fn missing_header_is_forbidden() {
        let credentials = Credentials::default();
        let result = authenticate(&context(&credentials), &HeaderMap::new(), "GET", "/");
        assert_eq!(result, Err(AuthError::Missing));
        assert_eq!(AuthError::Missing.status(), 403);
    }
}
