//! ThreatConnect request authentication: loading the credentials, signing requests and
//! explaining a 401.
//!
//! HMAC requests carry `Timestamp: <epoch seconds>` and `Authorization: TC <access ID>:<sig>`,
//! where `sig` is the standard Base64 (with padding) of HMAC-SHA256, keyed with the secret key,
//! over `<path>?<query>:<METHOD>:<timestamp>`. The path and query are the exact bytes of the
//! request target, `/api` prefix included. Token requests carry `Authorization: TC-Token <token>`.
//!
//! Credentials come from the files named in the config or from the environment variables
//! `FEEDPIPE_TC_ACCESS_ID`, `FEEDPIPE_TC_SECRET_KEY` and `FEEDPIPE_TC_API_TOKEN`, never from the
//! command line. They stay wrapped in [`Secret`], so no message built here contains them.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::{AuthMethod, ThreatConnectSinkConfig};
use crate::secret::Secret;

pub const ACCESS_ID_ENV: &str = "FEEDPIPE_TC_ACCESS_ID";
pub const SECRET_KEY_ENV: &str = "FEEDPIPE_TC_SECRET_KEY";
pub const API_TOKEN_ENV: &str = "FEEDPIPE_TC_API_TOKEN";

/// ThreatConnect accepts a `Timestamp` at most this far from its own clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Credentials for one ThreatConnect API user.
#[derive(Clone, Debug)]
pub enum Credentials {
    Hmac {
        access_id: Secret,
        secret_key: Secret,
    },
    Token(Secret),
}

/// Missing, ambiguous or unreadable credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "no ThreatConnect credentials: set {ACCESS_ID_ENV} and {SECRET_KEY_ENV} (or \
         access_id_file and secret_key_file), or {API_TOKEN_ENV} (or api_token_file)"
    )]
    Missing,
    #[error(
        "both HMAC and token credentials for ThreatConnect are set; choose one with \
         [sink.threatconnect] auth = \"hmac\" or \"token\""
    )]
    Ambiguous,
    #[error("ThreatConnect {what} is missing: set {env} or [sink.threatconnect] {key}")]
    Incomplete {
        what: &'static str,
        env: &'static str,
        key: &'static str,
    },
    #[error("cannot read ThreatConnect {what} from {path}: {source}")]
    Unreadable {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("ThreatConnect {what} in {origin} is empty")]
    Empty { what: &'static str, origin: String },
}

impl Credentials {
    /// Loads the credentials the config selects; `env` looks up an environment variable (the
    /// process environment in production, a table in tests).
    pub fn load(
        config: &ThreatConnectSinkConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialError> {
        let access_id = read_secret(
            "access ID",
            config.access_id_file.as_deref(),
            ACCESS_ID_ENV,
            &env,
        )?;
        let secret_key = read_secret(
            "secret key",
            config.secret_key_file.as_deref(),
            SECRET_KEY_ENV,
            &env,
        )?;
        let token = read_secret(
            "API token",
            config.api_token_file.as_deref(),
            API_TOKEN_ENV,
            &env,
        )?;

        let has_hmac = access_id.is_some() || secret_key.is_some();
        let method = match (config.auth, has_hmac, token.is_some()) {
            (Some(method), _, _) => method,
            (None, true, false) => AuthMethod::Hmac,
            (None, false, true) => AuthMethod::Token,
            (None, true, true) => return Err(CredentialError::Ambiguous),
            (None, false, false) => return Err(CredentialError::Missing),
        };

        match method {
            AuthMethod::Hmac => {
                let access_id = access_id.ok_or(CredentialError::Incomplete {
                    what: "access ID",
                    env: ACCESS_ID_ENV,
                    key: "access_id_file",
                })?;
                let secret_key = secret_key.ok_or(CredentialError::Incomplete {
                    what: "secret key",
                    env: SECRET_KEY_ENV,
                    key: "secret_key_file",
                })?;
                Ok(Credentials::Hmac {
                    access_id,
                    secret_key,
                })
            }
            AuthMethod::Token => token
                .map(Credentials::Token)
                .ok_or(CredentialError::Incomplete {
                    what: "API token",
                    env: API_TOKEN_ENV,
                    key: "api_token_file",
                }),
        }
    }

    /// Returns the authentication headers for one request; `target` is the request's path and
    /// query exactly as sent, `timestamp` the current Unix time in seconds.
    pub fn headers(
        &self,
        method: &str,
        target: &str,
        timestamp: u64,
    ) -> Vec<(&'static str, String)> {
        match self {
            Credentials::Hmac {
                access_id,
                secret_key,
            } => {
                let signature = sign(secret_key, target, method, timestamp);
                vec![
                    ("Timestamp", timestamp.to_string()),
                    (
                        "Authorization",
                        format!("TC {}:{signature}", access_id.expose()),
                    ),
                ]
            }
            Credentials::Token(token) => vec![
                ("Timestamp", timestamp.to_string()),
                ("Authorization", format!("TC-Token {}", token.expose())),
            ],
        }
    }

    /// Names the credentials kind for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::Hmac { .. } => "HMAC (access ID and secret key)",
            Credentials::Token(_) => "API token",
        }
    }
}

/// Computes the request signature: Base64 of HMAC-SHA256 over `target:METHOD:timestamp`.
pub fn sign(secret_key: &Secret, target: &str, method: &str, timestamp: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{target}:{method}:{timestamp}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Returns the current Unix time in whole seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Builds the message for a 401 response: ThreatConnect's message and the likely cause. A
/// `Date` header from the server tells clock skew apart from wrong credentials.
pub fn explain_unauthorized(
    credentials: &Credentials,
    body: &str,
    server_date: Option<SystemTime>,
    local_now: SystemTime,
) -> String {
    let body = body.trim();
    let returned = if body.is_empty() {
        "ThreatConnect returned 401 Unauthorized".to_owned()
    } else {
        format!(
            "ThreatConnect returned 401 Unauthorized: {}",
            shorten(body, 300)
        )
    };

    if body.contains("do not have permission") {
        return format!(
            "{returned}. The API user lacks a permission: it needs the Organization role Standard \
             User or higher (or the Community role Editor or higher) in the owner"
        );
    }

    let skew = server_date.map(|server| match local_now.duration_since(server) {
        Ok(ahead) => (ahead, "ahead of"),
        Err(behind) => (behind.duration(), "behind"),
    });
    if let Some((offset, direction)) = skew
        && offset > MAX_CLOCK_SKEW
    {
        return format!(
            "{returned}. The local clock is {}s {direction} the server's clock, beyond the 300s \
             ThreatConnect allows: synchronize the clock (for example with NTP)",
            offset.as_secs()
        );
    }
    if body.contains("Timestamp out of acceptable time range") {
        return format!(
            "{returned}. The local clock differs from the server's by more than 300s: synchronize \
             the clock (for example with NTP)"
        );
    }

    let within_limit = skew.map(|(offset, direction)| {
        format!(
            " (the local clock is {}s {direction} the server's, within the limit)",
            offset.as_secs()
        )
    });
    let cause = match (credentials, &within_limit) {
        (Credentials::Hmac { .. }, Some(_)) => "the access ID or secret key is wrong",
        (Credentials::Hmac { .. }, None) => {
            "the access ID or secret key is wrong, or the clock differs from the server's by more \
             than 300s"
        }
        (Credentials::Token(_), _) => "the API token is wrong, expired or was regenerated",
    };
    format!(
        "{returned}. With {} authentication the likely cause is that {cause}{}",
        credentials.kind(),
        within_limit.unwrap_or_default()
    )
}

/// Cuts `text` to at most `max` characters, on a character boundary.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn read_secret(
    what: &'static str,
    file: Option<&Path>,
    env_name: &'static str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, CredentialError> {
    let (text, origin) = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| CredentialError::Unreadable {
                    what,
                    path: path.display().to_string(),
                    source,
                })?;
            (text, path.display().to_string())
        }
        None => match env(env_name) {
            Some(text) => (text, env_name.to_owned()),
            None => return Ok(None),
        },
    };
    let secret = Secret::new(text);
    if secret.is_empty() {
        return Err(CredentialError::Empty { what, origin });
    }
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn signature_matches_known_vector() {
        // Known vector, computed independently with
        // printf '%s' '/api/v2/indicators/hosts/example.com?Owner=Common%20Community:GET:1513703787' \
        //   | openssl dgst -sha256 -hmac 'secret-key-123' -binary | base64
        let secret = Secret::new("secret-key-123");
        let signature = sign(
            &secret,
            "/api/v2/indicators/hosts/example.com?Owner=Common%20Community",
            "GET",
            1_513_703_787,
        );
        assert_eq!(signature, KNOWN_SIGNATURE);
    }

    const KNOWN_SIGNATURE: &str = "tZGaWti3iW7CPQYYjf6VtKNuAbWKKnYS5m1grv0thjs=";

    #[test]
    fn hmac_headers_carry_timestamp_and_signature() {
        let credentials = Credentials::Hmac {
            access_id: Secret::new("12345678901234567890"),
            secret_key: Secret::new("secret-key-123"),
        };
        let headers = credentials.headers("POST", "/api/v2/batch", 1_700_000_000);
        assert_eq!(headers[0], ("Timestamp", "1700000000".to_owned()));
        let expected_signature = sign(
            &Secret::new("secret-key-123"),
            "/api/v2/batch",
            "POST",
            1_700_000_000,
        );
        assert_eq!(
            headers[1],
            (
                "Authorization",
                format!("TC 12345678901234567890:{expected_signature}")
            )
        );
    }

    #[test]
    fn token_header_has_no_signature() {
        let credentials = Credentials::Token(Secret::new("APIV2:430:c8mTcH:1234567890123:abc="));
        let headers = credentials.headers("GET", "/api/v2/batch/1", 1_700_000_000);
        assert_eq!(
            headers[1],
            (
                "Authorization",
                "TC-Token APIV2:430:c8mTcH:1234567890123:abc=".to_owned()
            )
        );
    }

    #[test]
    fn credentials_from_env() {
        let config = ThreatConnectSinkConfig::default();
        let credentials = Credentials::load(
            &config,
            env_of(&[(ACCESS_ID_ENV, "id"), (SECRET_KEY_ENV, "key\n")]),
        )
        .unwrap();
        match credentials {
            Credentials::Hmac {
                access_id,
                secret_key,
            } => {
                assert_eq!(access_id.expose(), "id");
                assert_eq!(secret_key.expose(), "key");
            }
            Credentials::Token(_) => panic!("expected HMAC credentials"),
        }
        let token = Credentials::load(&config, env_of(&[(API_TOKEN_ENV, "tok")])).unwrap();
        assert!(matches!(token, Credentials::Token(_)));
    }

    #[test]
    fn credentials_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"file-token\n")
            .unwrap();
        let config = ThreatConnectSinkConfig {
            api_token_file: Some(path),
            ..ThreatConnectSinkConfig::default()
        };
        let credentials =
            Credentials::load(&config, env_of(&[(API_TOKEN_ENV, "env-token")])).unwrap();
        match credentials {
            Credentials::Token(token) => assert_eq!(token.expose(), "file-token"),
            Credentials::Hmac { .. } => panic!("expected a token"),
        }
    }

    #[test]
    fn credential_problems_reported() {
        let config = ThreatConnectSinkConfig::default();
        assert!(matches!(
            Credentials::load(&config, env_of(&[])),
            Err(CredentialError::Missing)
        ));
        assert!(matches!(
            Credentials::load(
                &config,
                env_of(&[
                    (ACCESS_ID_ENV, "id"),
                    (SECRET_KEY_ENV, "k"),
                    (API_TOKEN_ENV, "t")
                ])
            ),
            Err(CredentialError::Ambiguous)
        ));
        let error = Credentials::load(&config, env_of(&[(ACCESS_ID_ENV, "id")])).unwrap_err();
        assert!(error.to_string().contains(SECRET_KEY_ENV));
        let error = Credentials::load(&config, env_of(&[(API_TOKEN_ENV, "  ")])).unwrap_err();
        assert!(matches!(error, CredentialError::Empty { .. }));
        let explicit = ThreatConnectSinkConfig {
            auth: Some(AuthMethod::Token),
            ..ThreatConnectSinkConfig::default()
        };
        let token = Credentials::load(
            &explicit,
            env_of(&[
                (ACCESS_ID_ENV, "id"),
                (SECRET_KEY_ENV, "k"),
                (API_TOKEN_ENV, "t"),
            ]),
        )
        .unwrap();
        assert!(matches!(token, Credentials::Token(_)));
    }

    #[test]
    fn debug_output_hides_credentials() {
        let credentials = Credentials::Hmac {
            access_id: Secret::new("visible-id-42"),
            secret_key: Secret::new("very-secret-key"),
        };
        let text = format!("{credentials:?}");
        assert!(!text.contains("visible-id-42"));
        assert!(!text.contains("very-secret-key"));
    }

    #[test]
    fn unauthorized_explains_clock_skew() {
        let credentials = Credentials::Token(Secret::new("tok-secret"));
        let now = SystemTime::now();
        let server = now - Duration::from_secs(1_000);
        let message = explain_unauthorized(&credentials, "Unauthorized", Some(server), now);
        assert!(message.contains("1000s ahead of"), "{message}");
        assert!(message.contains("synchronize"));
        assert!(!message.contains("tok-secret"));
    }

    #[test]
    fn unauthorized_explains_credentials() {
        let credentials = Credentials::Hmac {
            access_id: Secret::new("id-777"),
            secret_key: Secret::new("key-888"),
        };
        let now = SystemTime::now();
        let message = explain_unauthorized(
            &credentials,
            "Signature data did not match expected result",
            Some(now),
            now,
        );
        assert!(
            message.contains("access ID or secret key is wrong"),
            "{message}"
        );
        assert!(message.contains("within the limit"));
        assert!(!message.contains("id-777"));
        assert!(!message.contains("key-888"));
    }

    #[test]
    fn unauthorized_explains_permission() {
        let credentials = Credentials::Token(Secret::new("t"));
        let message = explain_unauthorized(
            &credentials,
            "Unable to perform the requested operation due to the following error(s): You do \
             not have permission to create Indicators;",
            None,
            SystemTime::now(),
        );
        assert!(message.contains("lacks a permission"), "{message}");
    }
}
