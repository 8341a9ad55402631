//! Server-to-Server OAuth at the HTTP level: the credentials, a token as callers hold it, and
//! one attempt at the token endpoint with its answer classified.
//!
//! Caching, single-flight renewal and retries are not here: they belong to the token source
//! (`request::tokens`), which sends this attempt through the one request policy. The
//! client only ever sees a [`Token`] it is handed, so `zoom` needs nothing from `request`.
//!
//! Secrets stay in [`SecretString`]; nothing here formats them.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::{Attempt, ErrorInfo, Outcome, RetryKind};

/// Server-to-Server OAuth client credentials.
pub struct S2sCredentials {
    /// The Zoom account id (not secret, but not logged either).
    pub account_id: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
}

impl std::fmt::Debug for S2sCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S2sCredentials")
            .field("account_id", &self.account_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"(redacted)")
            .finish()
    }
}

/// A token handed to a caller, with the generation to pass back when Zoom rejects it (code 124),
/// so that concurrent rejections of one token trigger one renewal.
#[derive(Clone)]
pub struct Token {
    /// The bearer token.
    pub secret: SecretString,
    /// Increments with every fetched token.
    pub generation: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(generation {}, (redacted))", self.generation)
    }
}

/// The token endpoint's answer to a grant: the token, its life and the scopes it carries.
#[derive(serde::Deserialize)]
pub struct Grant {
    /// The bearer token (moved into a [`SecretString`] by the token source at once).
    pub access_token: String,
    /// Seconds the token lives; Zoom says 3600.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Space-separated scopes granted, checked before the first call.
    #[serde(default)]
    pub scope: Option<String>,
}

/// The token endpoint's refusal, in OAuth's shape (`{"reason":..,"error":..}`), not Zoom's.
#[derive(serde::Deserialize, Default)]
pub struct Refusal {
    /// Why, in words.
    pub reason: Option<String>,
    /// OAuth's error code, e.g. `invalid_client`.
    pub error: Option<String>,
}

/// One attempt at the token endpoint: the POST, its answer classified, its body capped and
/// scrubbed (an error answer that echoes the credentials must not carry them further). Never
/// an error: a failed connection is an [`Outcome::Retry`] like any other.
pub async fn post_for_token(http: &reqwest::Client, url: &str, creds: &S2sCredentials) -> Attempt {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        creds.client_id,
        creds.client_secret.expose_secret()
    ));
    let sent = http
        .post(url)
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", creds.account_id.as_str()),
        ])
        .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return attempt(super::transport_outcome(&e), Vec::new()),
    };
    let status = resp.status();
    match super::read_capped(resp, 64 * 1024).await {
        Ok(b) => {
            let body = super::redact(
                &super::redact(&b, &basic),
                creds.client_secret.expose_secret(),
            );
            attempt(classify_token_answer(status), body)
        }
        Err(detail) => attempt(
            Outcome::Retry {
                kind: RetryKind::Connection,
                retry_after: None,
                info: ErrorInfo {
                    message: detail,
                    ..ErrorInfo::default()
                },
            },
            Vec::new(),
        ),
    }
}

/// What a token endpoint's status means: 2xx a token, 5xx and 429 worth another try, any
/// other answer a refusal of the credentials (its body says why, in OAuth's shape).
fn classify_token_answer(status: reqwest::StatusCode) -> Outcome {
    let info = ErrorInfo {
        http_status: Some(status.as_u16()),
        message: format!("HTTP {status}"),
        ..ErrorInfo::default()
    };
    if status.is_success() {
        Outcome::Done {
            http_status: status.as_u16(),
        }
    } else if status.is_server_error() || status.as_u16() == 429 {
        Outcome::Retry {
            kind: RetryKind::Server,
            retry_after: None,
            info,
        }
    } else {
        Outcome::Failed(info)
    }
}

fn attempt(outcome: Outcome, body: Vec<u8>) -> Attempt {
    Attempt {
        outcome,
        body,
        token_generation: None,
    }
}
