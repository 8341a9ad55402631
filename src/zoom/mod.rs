//! The Zoom API client: one HTTP connection pool, the calls we make, and what answers mean.
//!
//! A call is a [`ZoomCall`], a description; [`ZoomClient::attempt`] sends it once and returns
//! an [`Outcome`](classify::Outcome) instead of an error, because for a bulk run a 404, a 429
//! or a dropped connection are all ordinary answers. The client itself never retries: retries
//! belong to the one request policy (`request`), where they pass through the shared
//! rate limiter and count against `--max-retries`. Tokens come the same way: the client is
//! handed a [`oauth::Token`] per attempt by the token source (`request::tokens`), so
//! this module knows nothing of caching, renewal or the policy, and `request` builds on it alone.
//!
//! Safety of the path: the user goes into the URL as exactly one percent-encoded segment, so no
//! input can change the path (`/`, `?`, `#`, `%`, `.`/`..` are either encoded or refused earlier
//! by input validation). Redirects are never followed, so the `Authorization` header is never
//! sent anywhere but the configured base URL.

pub mod classify;
pub mod oauth;

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret;

use crate::input::UserId;
use crate::transfer::TransferKinds;
pub use classify::{Attempt, ErrorInfo, FatalKind, Outcome, RetryKind};

/// Characters left as they are in a path segment: RFC 3986 unreserved plus `@`, which Zoom's own
/// examples send raw in emails. Everything else (`/ ? # % +` space ...) is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@');

/// Error bodies are read up to this many bytes; a hostile endpoint cannot make us buffer more.
pub const MAX_BODY: usize = 64 * 1024;
/// Successful bodies are read up to this many bytes: a `GET /users` page of 300 users is about
/// 150 KB (up to 2,000 users with custom attributes under the 2026 spec), far above [`MAX_BODY`].
pub const MAX_SUCCESS_BODY: usize = 16 * 1024 * 1024;

/// The User-Agent sent with every request, so Zoom (and proxies) can tell who is calling.
pub fn user_agent() -> String {
    format!(
        "zoom-offboard/{} (+https://github.com/zoom-offboard)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Installs rustls' ring crypto provider for the process. Idempotent; call before building any
/// HTTP client (reqwest is built without a default provider to avoid aws-lc's C build).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the shared HTTP client: rustls with the platform's roots, TLS 1.2 at least, keep-alive
/// pool, no redirects, per-request timeout.
pub fn http_client(timeout: Duration, pool: usize) -> Result<reqwest::Client, reqwest::Error> {
    init_tls();
    reqwest::Client::builder()
        .user_agent(user_agent())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(pool.max(1))
        .pool_idle_timeout(Duration::from_secs(50))
        .tcp_nodelay(true)
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
}

/// Percent-encodes one user as one path segment.
pub fn encode_segment(user: &str) -> String {
    utf8_percent_encode(user, SEGMENT).to_string()
}

/// A user as Zoom describes it (`GET /users/{id}` and `GET /users`).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct ZoomUser {
    /// Zoom user id; pending users have none.
    #[serde(default)]
    pub id: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// User type (1 basic, 2 licensed, ...).
    #[serde(default, rename = "type")]
    pub user_type: Option<i64>,
    /// `active`, `inactive` or `pending`.
    #[serde(default)]
    pub status: Option<String>,
    /// Role id: `"0"` owner, `"1"` admin, `"2"` member, anything else a custom role.
    #[serde(default)]
    pub role_id: Option<String>,
    /// The role's name (`GET /users/{id}` only), e.g. for a custom role.
    #[serde(default)]
    pub role_name: Option<String>,
    /// How the user signs in (`GET /users/{id}` only): 101 is SSO, 100 a Zoom work email,
    /// 1 Google, 24 Apple... Revoking the SSO token logs out SSO sessions only.
    #[serde(default)]
    pub login_types: Option<Vec<i64>>,
    /// Last login, RFC 3339.
    #[serde(default)]
    pub last_login_time: Option<String>,
}

impl ZoomUser {
    /// "First Last", or `None` when Zoom has neither.
    pub fn display_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Copies what the report shows of a user found at Zoom onto `row`: the display name,
    /// Zoom's status and the last login. Every lookup (one by one, by listing, offboarding's)
    /// fills a row the same way.
    pub fn describe(&self, row: &mut crate::report::Row) {
        row.name = self.display_name();
        row.zoom_status = self.status.clone();
        row.last_login = self.last_login_time.clone();
    }
}

/// One page of `GET /users`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UsersPage {
    /// The users on this page.
    #[serde(default)]
    pub users: Vec<ZoomUser>,
    /// Token for the next page; empty or missing on the last one.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// Total users matching, as Zoom counts them.
    #[serde(default)]
    pub total_records: Option<u64>,
    /// Pages of this size the listing has, as Zoom counts them.
    #[serde(default)]
    pub page_count: Option<u64>,
    /// Which page this is (1-based): the echo a numbered listing checks.
    #[serde(default)]
    pub page_number: Option<u64>,
}

/// The Zoom API client shared by all workers (cheap to clone).
#[derive(Clone)]
pub struct ZoomClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `https://api.zoom.us/v2`.
    base: Arc<str>,
}

impl std::fmt::Debug for ZoomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoomClient")
            .field("base", &self.base)
            .finish()
    }
}

/// A Zoom call described as data: a method, a path under the base URL, a query and an
/// optional JSON body. The request policy (`request::drive`) sends it as many times
/// as it must; adding a call to the tool is adding a constructor here.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoomCall {
    /// The HTTP method.
    pub method: reqwest::Method,
    /// The path under the base URL, every user segment already percent-encoded.
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(&'static str, String)>,
    /// A JSON body, for `PUT` and `PATCH`.
    pub json: Option<serde_json::Value>,
}

/// What a `delete`/`disassociate` call sends along: where the leaver's data goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// These kinds of data go to this email (`transfer_email`), the others are not moved.
    To {
        /// The target's email, as its lookup returned it.
        email: String,
        /// The kinds sent as `true`; every other `transfer_*` flag is sent as `false`.
        kinds: TransferKinds,
    },
    /// Nothing moves: the data goes with the user (`--no-transfer`); no flag is sent.
    Nothing,
}

impl ZoomCall {
    fn new(method: reqwest::Method, path: String) -> ZoomCall {
        ZoomCall {
            method,
            path,
            query: Vec::new(),
            json: None,
        }
    }

    /// `DELETE /users/{user}/token`: revoke the user's SSO token (Light label). Whatever body a
    /// 2xx carries, the token is gone.
    pub fn revoke(user: &UserId) -> ZoomCall {
        let path = format!("/users/{}/token", encode_segment(user.as_str()));
        ZoomCall::new(reqwest::Method::DELETE, path)
    }

    /// `GET /users/{user}` (Light label): who the user is, their role, status and sign-in types.
    pub fn get_user(user: &UserId) -> ZoomCall {
        let path = format!("/users/{}", encode_segment(user.as_str()));
        ZoomCall::new(reqwest::Method::GET, path)
    }

    /// `GET /users?status=..&page_size=..&next_page_token=..` (Medium label).
    pub fn list_users(status: &str, page_size: u32, page_token: Option<&str>) -> ZoomCall {
        let mut call = ZoomCall::new(reqwest::Method::GET, "/users".into());
        call.query.push(("status", status.to_string()));
        call.query.push(("page_size", page_size.to_string()));
        if let Some(t) = page_token.filter(|t| !t.is_empty()) {
            call.query.push(("next_page_token", t.to_string()));
        }
        call
    }

    /// `GET /users?status=..&page_size=..&page_number=..` (Medium label): page `page_number`
    /// (1-based) of a listing. Zoom marks `page_number` deprecated; the listing checks every
    /// answer and falls back to [`ZoomCall::list_users`]'s token chain (`src/users.rs`).
    pub fn list_users_page(status: &str, page_size: u32, page_number: u64) -> ZoomCall {
        let mut call = ZoomCall::list_users(status, page_size, None);
        call.query.push(("page_number", page_number.to_string()));
        call
    }

    /// `PUT /users/{user}/status` with `{"action":"deactivate"}` (Light label).
    pub fn deactivate(user: &UserId) -> ZoomCall {
        let path = format!("/users/{}/status", encode_segment(user.as_str()));
        let mut call = ZoomCall::new(reqwest::Method::PUT, path);
        call.json = Some(serde_json::json!({"action": "deactivate"}));
        call
    }

    /// `DELETE /users/{user}?action=delete|disassociate` with the transfer flags (Light
    /// label). `action` is always sent: Zoom's default when it is absent is `disassociate`.
    /// With a target, all eight `transfer_*` flags of the spec are sent, each `true` or
    /// `false`, so that what moves is what the run chose and never Zoom's default.
    pub fn remove(user: &UserId, delete: bool, transfer: &Transfer) -> ZoomCall {
        let path = format!("/users/{}", encode_segment(user.as_str()));
        let mut call = ZoomCall::new(reqwest::Method::DELETE, path);
        let action = if delete { "delete" } else { "disassociate" };
        call.query.push(("action", action.to_string()));
        if let Transfer::To { email, kinds } = transfer {
            call.query.push(("transfer_email", email.clone()));
            for (flag, on) in kinds.flags() {
                call.query.push((flag, on.to_string()));
            }
        }
        call
    }

    /// `PATCH /users/{user}` with `{"type":1}` (Light label): makes the user Basic, which frees
    /// the paid licence while the user stays on the account and can still sign in.
    pub fn downgrade(user: &UserId) -> ZoomCall {
        let path = format!("/users/{}", encode_segment(user.as_str()));
        let mut call = ZoomCall::new(reqwest::Method::PATCH, path);
        call.json = Some(serde_json::json!({"type": 1}));
        call
    }
}

impl ZoomClient {
    /// A client for `base` (e.g. `https://api.zoom.us/v2`).
    pub fn new(http: reqwest::Client, base: &str) -> ZoomClient {
        ZoomClient {
            http,
            base: base.trim_end_matches('/').into(),
        }
    }

    /// The API base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `call` once with `token` and classifies the answer. Never retries: that is the
    /// request policy's job. Never an error: a dropped connection is an outcome like a 429.
    pub async fn attempt(&self, call: &ZoomCall, token: &oauth::Token) -> Attempt {
        let url = format!("{}{}", self.base, call.path);
        let mut req = self
            .http
            .request(call.method.clone(), url)
            .bearer_auth(token.secret.expose_secret());
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(json) = &call.json {
            req = req.json(json);
        }
        let generation = Some(token.generation);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt {
                    outcome: transport_outcome(&e),
                    body: Vec::new(),
                    token_generation: generation,
                };
            }
        };
        let status = resp.status().as_u16();
        let secret = token.secret.expose_secret();
        let mut headers = resp.headers().clone();
        for v in headers.values_mut() {
            if secret.len() >= 8 && contains(v.as_bytes(), secret.as_bytes()) {
                *v = reqwest::header::HeaderValue::from_static(REDACTED);
            }
        }
        let cap = if (200..300).contains(&status) {
            MAX_SUCCESS_BODY
        } else {
            MAX_BODY
        };
        let body = match read_capped(resp, cap).await {
            Ok(b) => redact(&b, secret),
            Err(detail) => {
                return Attempt {
                    outcome: Outcome::Retry {
                        kind: RetryKind::Connection,
                        retry_after: None,
                        info: ErrorInfo {
                            http_status: Some(status),
                            message: detail,
                            ..ErrorInfo::default()
                        },
                    },
                    body: Vec::new(),
                    token_generation: generation,
                };
            }
        };
        let outcome = classify::classify(status, &headers, &body, chrono::Utc::now());
        Attempt {
            outcome,
            body,
            token_generation: generation,
        }
    }
}

fn transport_outcome(e: &reqwest::Error) -> Outcome {
    let kind = if e.is_timeout() {
        RetryKind::Timeout
    } else if e.is_connect() {
        RetryKind::Connect
    } else {
        RetryKind::Connection
    };
    Outcome::Retry {
        kind,
        retry_after: None,
        info: ErrorInfo {
            http_status: None,
            code: None,
            message: describe_transport_error(e),
            tracking_id: None,
        },
    }
}

/// Describes a transport error without the URL (which is fine) or any header (which is not).
pub(crate) fn describe_transport_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "the connection failed"
    };
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", classify::truncate(&detail, 200))
    }
}

/// What a credential echoed back by an endpoint is replaced with.
const REDACTED: &str = "(redacted)";

/// True when `needle` (non-empty) occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Replaces every occurrence of `secret` in `bytes` with `(redacted)`. An endpoint that echoes
/// the request's credentials back (a debugging proxy, a hostile server) must not get them into
/// the report, the logs or an error message: answers are scrubbed before anything reads them.
/// Values shorter than 8 bytes are not real credentials (test stand-ins) and are left alone, so
/// that scrubbing cannot mangle ordinary JSON.
pub(crate) fn redact(bytes: &[u8], secret: &str) -> Vec<u8> {
    let s = secret.as_bytes();
    if s.len() < 8 || !contains(bytes, s) {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(s) {
            out.extend_from_slice(REDACTED.as_bytes());
            i += s.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Reads at most `cap` bytes of a body; the rest is dropped with the connection.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if buf.len() >= cap {
                    return Ok(buf);
                }
            }
            Ok(None) => return Ok(buf),
            Err(e) => return Err(describe_transport_error(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_sends_every_transfer_flag_and_a_downgrade_its_type() {
        let user = UserId::parse("leaver@example.com").unwrap();
        let kinds: TransferKinds = "meeting,recording".parse().unwrap();
        let to = Transfer::To {
            email: "mgr@example.com".into(),
            kinds,
        };
        let call = ZoomCall::remove(&user, true, &to);
        let query: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            query,
            [
                ("action", "delete"),
                ("transfer_email", "mgr@example.com"),
                ("transfer_meeting", "true"),
                ("transfer_webinar", "false"),
                ("transfer_recording", "true"),
                ("transfer_whiteboard", "false"),
                ("transfer_clipfiles", "false"),
                ("transfer_notes", "false"),
                ("transfer_visitors", "false"),
                ("transfer_docs", "false"),
            ]
        );
        let bare = ZoomCall::remove(&user, false, &Transfer::Nothing);
        assert_eq!(bare.query, [("action", "disassociate".to_string())]);
        let down = ZoomCall::downgrade(&user);
        assert_eq!(down.method, reqwest::Method::PATCH);
        assert_eq!(down.path, "/users/leaver@example.com");
        assert_eq!(down.json, Some(serde_json::json!({"type": 1})));
    }

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(encode_segment("a.b+c@example.com"), "a.b%2Bc@example.com");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(encode_segment("x?y#z%"), "x%3Fy%23z%25");
        assert_eq!(encode_segment("KDcu-GIm_1Qg"), "KDcu-GIm_1Qg");
        assert_eq!(encode_segment("a b"), "a%20b");
    }

    #[test]
    fn echoed_secrets_are_redacted() {
        assert_eq!(
            redact(b"got Bearer tok12345!", "tok12345"),
            b"got Bearer (redacted)!"
        );
        assert_eq!(
            redact(b"tok1tok1tok1tok1", "tok1tok1"),
            b"(redacted)(redacted)"
        );
        assert_eq!(redact(b"nothing here", "tok1tok1"), b"nothing here");
        assert_eq!(redact(b"short a", "a"), b"short a");
        assert_eq!(redact(b"abc", ""), b"abc");
        assert!(!contains(b"abc", b""));
    }
}
