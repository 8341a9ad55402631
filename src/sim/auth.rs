//! Server-to-Server OAuth: the token endpoint, bearer checks and scopes.
//!
//! Tokens are random opaque strings; several may be valid at once (Zoom's behaviour since 2023).
//! Scopes are granted per account, not per token, and checked at call time, so
//! [`crate::sim::Sim::set_scopes`] changes what every token (existing or new) may do. The static
//! token never expires and is not touched by `expire_all_tokens`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Value, json};

use crate::sim::config::SimConfig;

/// Why a bearer token was refused (both are Zoom code 124).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// Missing, malformed or never issued.
    Invalid,
    /// Issued, but past its expiry (or expired by `expire_all_tokens`).
    Expired,
}

impl AuthError {
    /// Zoom's message for this refusal.
    pub(crate) fn message(self) -> &'static str {
        match self {
            AuthError::Invalid => "Invalid access token.",
            AuthError::Expired => "Access token is expired.",
        }
    }
}

/// Issued tokens, the static token and the account's granted scopes.
#[derive(Debug)]
pub(crate) struct Tokens {
    /// token → expiry instant.
    issued: HashMap<String, Instant>,
    /// The never-expiring token, if configured.
    static_token: Option<String>,
    /// Scopes every token has, checked at call time.
    pub(crate) scopes: Vec<String>,
    /// Lifetime of new tokens.
    ttl: Duration,
    /// Tokens minted so far.
    pub(crate) tokens_issued: u64,
}

impl Tokens {
    /// An empty store with the config's static token, scopes and lifetime.
    pub(crate) fn new(cfg: &SimConfig) -> Self {
        Tokens {
            issued: HashMap::new(),
            static_token: cfg.static_token.clone(),
            scopes: cfg.scopes.clone(),
            ttl: cfg.token_ttl,
            tokens_issued: 0,
        }
    }

    /// Mints a token valid for the configured lifetime from `now`.
    pub(crate) fn issue(&mut self, now: Instant) -> String {
        let bytes: [u8; 24] = rand::rng().random();
        let token = format!(
            "sim_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        self.issued.insert(token.clone(), now + self.ttl);
        self.tokens_issued += 1;
        token
    }

    /// Checks an `Authorization` header value.
    pub(crate) fn check(&self, authorization: Option<&str>, now: Instant) -> Result<(), AuthError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(AuthError::Invalid)?;
        if self.static_token.as_deref() == Some(token) {
            return Ok(());
        }
        match self.issued.get(token) {
            None => Err(AuthError::Invalid),
            Some(&expiry) if now >= expiry => Err(AuthError::Expired),
            Some(_) => Ok(()),
        }
    }

    /// Expires every OAuth token issued so far (not the static token).
    pub(crate) fn expire_all(&mut self, now: Instant) {
        for expiry in self.issued.values_mut() {
            *expiry = (*expiry).min(now);
        }
    }

    /// True if the account holds any of `accepted`.
    pub(crate) fn has_any(&self, accepted: &[&str]) -> bool {
        self.scopes.iter().any(|s| accepted.contains(&s.as_str()))
    }

    /// The token lifetime in whole seconds, as `expires_in` reports it.
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs().max(1)
    }
}

/// The parameters of a token request, merged from the query string and a form body.
#[derive(Debug, Default)]
pub(crate) struct TokenRequest<'a> {
    /// `Authorization` header value.
    pub(crate) authorization: Option<&'a str>,
    /// `grant_type` parameter.
    pub(crate) grant_type: Option<String>,
    /// `account_id` parameter.
    pub(crate) account_id: Option<String>,
}

/// Answers `POST /oauth/token`: credentials first (401 `invalid_client`), then parameters
/// (400 `invalid_request`), then a token. Returns the status and body.
pub(crate) fn token_endpoint(
    cfg: &SimConfig,
    tokens: &mut Tokens,
    req: &TokenRequest<'_>,
    now: Instant,
    api_url: &str,
) -> (u16, Value) {
    let creds = req
        .authorization
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let ok_creds = creds.as_deref().and_then(|c| c.split_once(':'))
        == Some((cfg.client_id.as_str(), cfg.client_secret.as_str()));
    if !ok_creds {
        return (
            401,
            json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
        );
    }
    match req.grant_type.as_deref() {
        Some("account_credentials") => {}
        None => return invalid_request("Missing grant_type"),
        Some(_) => return invalid_request("Unsupported grant_type"),
    }
    match req.account_id.as_deref() {
        Some(a) if a == cfg.account_id => {}
        None | Some("") => return invalid_request("Missing account_id"),
        Some(_) => return invalid_request("Invalid account_id"),
    }
    let token = tokens.issue(now);
    (
        200,
        json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": tokens.ttl_secs(),
            "scope": tokens.scopes.join(" "),
            "api_url": api_url,
        }),
    )
}

fn invalid_request(reason: &str) -> (u16, Value) {
    (400, json!({"reason": reason, "error": "invalid_request"}))
}
