//! Turning one HTTP answer from Zoom into an [`Outcome`].
//!
//! This is the one place that knows what Zoom's status codes, error codes, headers and messages
//! mean (see docs/zoom-api.md). It is pure — status, headers, body and the current time in,
//! an `Outcome` out — so every rule is unit-tested without a server.
//!
//! Rules, in order:
//! - 2xx: done.
//! - 404/1001, 400/1120, 400/1010: the user is not there (never retried).
//! - 429: daily limit when `X-RateLimit-Type: Daily-limit`, or a Retry-After hours away, or the
//!   message says "daily"; otherwise a per-second throttle (or "too many concurrent requests"),
//!   retried after the server's hint if it gave a usable one.
//! - code 124 (Zoom sends it as 401, its spec as 400): the token is invalid or expired; the caller
//!   renews once and retries.
//! - 4700/4711 or a message about missing scopes: fatal, naming the scopes.
//! - other 401/403: fatal (credentials rejected).
//! - 5xx (and 408): retried with backoff.
//! - any other 4xx: this user failed, with Zoom's code and message.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

/// How far away a Retry-After must be before a 429 is read as the daily limit rather than a
/// per-second throttle. Per-second windows reset within a second; anything past a few minutes
/// means "come back tomorrow".
pub const DAILY_THRESHOLD: Duration = Duration::from_secs(10 * 60);

/// The longest a per-second throttle hint is honoured for. A garbage or hostile Retry-After
/// cannot park the run for longer than this on a single 429.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// Zoom's own wording, read where it is all an answer says: a 429 without `X-RateLimit-Type`
/// is the daily limit or a concurrency limit only by its message, and some 401/403 name a
/// missing scope only in words. The one place where a message decides anything; our own
/// messages never do.
mod zoom_text {
    /// "You have reached the maximum daily rate limit for this API."
    pub fn daily(message: &str) -> bool {
        message.to_ascii_lowercase().contains("daily")
    }

    /// "Too many concurrent requests."
    pub fn concurrent(message: &str) -> bool {
        message.to_ascii_lowercase().contains("concurrent")
    }

    /// "Invalid access token, does not contain scopes: [user:write:admin]."
    pub fn missing_scopes(message: &str) -> bool {
        message.contains("does not contain scopes")
    }
}

/// What one attempt produced (the client's answer to the request policy's loop,
/// `request::drive`): the classified answer, the raw body (a 2xx's data, or an error
/// body a caller wants to read), and the token generation used, for renewal on a 124.
#[derive(Debug)]
pub struct Attempt {
    /// What the answer means.
    pub outcome: Outcome,
    /// The body as received (capped and scrubbed of credentials by the client).
    pub body: Vec<u8>,
    /// The generation of the access token the attempt used; `None` for calls without one.
    pub token_generation: Option<u64>,
}

/// Zoom's details of an error answer, kept for the report and for support.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorInfo {
    /// The HTTP status, if an answer arrived.
    pub http_status: Option<u16>,
    /// Zoom's numeric `code` from the JSON body.
    pub code: Option<i64>,
    /// Zoom's `message`, or a description of what went wrong locally.
    pub message: String,
    /// The `x-zm-trackingid` header: Zoom support asks for it.
    pub tracking_id: Option<String>,
}

/// Why a request is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// 429 per-second limit: the whole run must slow down.
    Throttled,
    /// 429 "Too many concurrent requests" for this one user.
    Concurrent,
    /// 5xx or 408.
    Server,
    /// No answer within `--timeout`.
    Timeout,
    /// The connection failed or was closed without an answer.
    Connection,
    /// No connection could be made at all (name resolution, connection refused, TLS
    /// handshake): on the very first call of a run this is a configuration problem.
    Connect,
}

/// Why the run as a whole must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FatalKind {
    /// The token lacks a scope this call needs (4700/4711): no retry can help.
    MissingScope(String),
    /// The credentials were rejected (401/403 other than an expired token).
    Unauthorized,
}

/// What one answer (or the lack of one) means for the user and for the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 2xx: the call did what was asked.
    Done {
        /// The HTTP status (204 for a revoke).
        http_status: u16,
    },
    /// The user does not exist on this account (404/1001, 400/1120, 400/1010).
    NotFound(ErrorInfo),
    /// Try again, after `retry_after` if the server said so.
    Retry {
        /// What kind of transient failure this was.
        kind: RetryKind,
        /// The server's usable hint, capped at [`MAX_THROTTLE_WAIT`].
        retry_after: Option<Duration>,
        /// What happened, for the report if retries run out.
        info: ErrorInfo,
    },
    /// The daily limit is used up: stop sending and resume after `retry_at`.
    DailyLimit {
        /// When Zoom says calls may resume, if it said.
        retry_at: Option<DateTime<Utc>>,
        /// What happened.
        info: ErrorInfo,
    },
    /// Code 124: the access token is invalid or expired.
    TokenRejected(ErrorInfo),
    /// The run cannot go on.
    Fatal {
        /// Why.
        kind: FatalKind,
        /// What Zoom said.
        info: ErrorInfo,
    },
    /// This user failed for a reason no retry will fix (another 4xx).
    Failed(ErrorInfo),
}

#[derive(serde::Deserialize, Default)]
struct ZoomErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

/// Classifies one HTTP answer. `body` may be truncated: only its start is looked at.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Done {
            http_status: status,
        };
    }
    let parsed: ZoomErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed
        .message
        .map(|m| truncate(&m, 500))
        .unwrap_or_else(|| fallback_message(status, body));
    let info = ErrorInfo {
        http_status: Some(status),
        code: parsed.code,
        message,
        tracking_id: header_str(headers, "x-zm-trackingid").map(|s| truncate(s, 200)),
    };
    let code = info.code;

    if status == 429 {
        return classify_429(headers, info, now);
    }
    match (status, code) {
        (404, Some(1001)) | (400, Some(1120)) | (400, Some(1010)) => Outcome::NotFound(info),
        (400 | 401, Some(124)) => Outcome::TokenRejected(info),
        (_, Some(4700 | 4711)) => Outcome::Fatal {
            kind: FatalKind::MissingScope(missing_scopes(&info.message)),
            info,
        },
        (401 | 403, _) if zoom_text::missing_scopes(&info.message) => Outcome::Fatal {
            kind: FatalKind::MissingScope(missing_scopes(&info.message)),
            info,
        },
        (401 | 403, _) => Outcome::Fatal {
            kind: FatalKind::Unauthorized,
            info,
        },
        (408, _) | (500..=599, _) => Outcome::Retry {
            kind: if status == 408 {
                RetryKind::Timeout
            } else {
                RetryKind::Server
            },
            retry_after: retry_after(headers, now).and_then(|r| r.delay(now)),
            info,
        },
        _ => Outcome::Failed(info),
    }
}

fn classify_429(headers: &HeaderMap, info: ErrorInfo, now: DateTime<Utc>) -> Outcome {
    let rate_type = header_str(headers, "x-ratelimit-type").map(str::to_ascii_lowercase);
    let hint = retry_after(headers, now);
    let daily = match rate_type.as_deref() {
        Some(t) if t.contains("daily") => true,
        Some(t) if t.contains("qps") => false,
        _ => {
            hint.as_ref()
                .and_then(|h| h.delay(now))
                .is_some_and(|d| d >= DAILY_THRESHOLD)
                || zoom_text::daily(&info.message)
        }
    };
    if daily {
        let retry_at = hint.map(|h| h.at(now)).filter(|t| *t > now);
        return Outcome::DailyLimit { retry_at, info };
    }
    let kind = if zoom_text::concurrent(&info.message) {
        RetryKind::Concurrent
    } else {
        RetryKind::Throttled
    };
    let retry_after = hint
        .and_then(|h| h.delay(now))
        .map(|d| d.min(MAX_THROTTLE_WAIT));
    Outcome::Retry {
        kind,
        retry_after,
        info,
    }
}

/// A parsed `Retry-After`: Zoom sends an RFC 3339 timestamp for the daily limit, HTTP says delta
/// seconds or an HTTP-date. All three are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// A number of seconds from now.
    Delay(Duration),
    /// A moment in time.
    At(DateTime<Utc>),
}

impl RetryAfter {
    /// The wait from `now`, or `None` when the moment has passed.
    pub fn delay(&self, now: DateTime<Utc>) -> Option<Duration> {
        match self {
            RetryAfter::Delay(d) => Some(*d),
            RetryAfter::At(t) => (*t - now).to_std().ok().filter(|d| !d.is_zero()),
        }
    }

    /// The moment, counting a delay from `now`.
    pub fn at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            RetryAfter::At(t) => *t,
            RetryAfter::Delay(d) => chrono::Duration::from_std(*d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// Parses a `Retry-After` value as delta seconds, RFC 3339 or HTTP-date. Garbage, negative
/// numbers and absurd delays (over a year) give `None`, so the caller falls back to backoff.
pub fn parse_retry_after(value: &str) -> Option<RetryAfter> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return (secs <= 366 * 24 * 3600).then(|| RetryAfter::Delay(Duration::from_secs(secs)));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && (0.0..=366.0 * 24.0 * 3600.0).contains(&secs))
            .then(|| RetryAfter::Delay(Duration::from_secs_f64(secs)));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(RetryAfter::At(t.with_timezone(&Utc)));
    }
    if let Ok(t) = httpdate::parse_http_date(v) {
        return Some(RetryAfter::At(DateTime::<Utc>::from(t)));
    }
    None
}

fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<RetryAfter> {
    let parsed = parse_retry_after(header_str(headers, "retry-after")?)?;
    // A moment more than a year and a day away is not a real limit: ignore it.
    match parsed {
        RetryAfter::At(t) if t > now + chrono::Duration::days(367) => None,
        other => Some(other),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Extracts the scope list from "Invalid access token, does not contain scopes:[a, b]."
fn missing_scopes(message: &str) -> String {
    match (message.find('['), message.rfind(']')) {
        (Some(a), Some(b)) if a < b => message[a + 1..b].trim().to_string(),
        _ => "user:write:admin or user:delete:token:admin".to_string(),
    }
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unexpected status");
    if text.is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status} {reason}: {}", truncate(text, 200))
    }
}

/// Cuts `s` to at most `max` characters, so a hostile body cannot flood the report.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn body(code: i64, msg: &str) -> Vec<u8> {
        serde_json::json!({"code": code, "message": msg})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn success_and_not_found() {
        let h = HeaderMap::new();
        assert_eq!(
            classify(204, &h, b"", now()),
            Outcome::Done { http_status: 204 }
        );
        for (s, c) in [(404, 1001), (400, 1120), (400, 1010)] {
            assert!(matches!(
                classify(s, &h, &body(c, "x"), now()),
                Outcome::NotFound(_)
            ));
        }
        // A 404 without Zoom's code is not "user not found": it is a failure.
        assert!(matches!(
            classify(404, &h, b"nope", now()),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn token_errors_under_both_statuses() {
        let h = HeaderMap::new();
        for s in [400, 401] {
            assert!(matches!(
                classify(s, &h, &body(124, "Access token is expired."), now()),
                Outcome::TokenRejected(_)
            ));
        }
        assert!(matches!(
            classify(401, &h, &body(200, "Unauthorized"), now()),
            Outcome::Fatal {
                kind: FatalKind::Unauthorized,
                ..
            }
        ));
    }

    #[test]
    fn scope_errors_name_the_scope() {
        let h = headers(&[("x-zm-trackingid", "v=2.0;rid=7")]);
        let o = classify(
            400,
            &h,
            &body(
                4711,
                "Invalid access token, does not contain scopes:[user:delete:token:admin].",
            ),
            now(),
        );
        match o {
            Outcome::Fatal {
                kind: FatalKind::MissingScope(s),
                info,
            } => {
                assert_eq!(s, "user:delete:token:admin");
                assert_eq!(info.tracking_id.as_deref(), Some("v=2.0;rid=7"));
                assert_eq!(info.code, Some(4711));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn qps_and_daily_429s() {
        let qps = headers(&[
            ("x-ratelimit-type", "QPS"),
            ("x-ratelimit-category", "Light"),
        ]);
        let msg =
            "You have reached the maximum per-second rate limit for this API. Try again later.";
        assert!(matches!(
            classify(429, &qps, &body(429, msg), now()),
            Outcome::Retry {
                kind: RetryKind::Throttled,
                retry_after: None,
                ..
            }
        ));
        let daily = headers(&[
            ("x-ratelimit-type", "Daily-limit"),
            ("retry-after", "2026-11-29T00:00:00Z"),
        ]);
        match classify(429, &daily, &body(429, "maximum daily rate limit"), now()) {
            Outcome::DailyLimit { retry_at, .. } => {
                assert_eq!(retry_at.unwrap().to_rfc3339(), "2026-11-29T00:00:00+00:00")
            }
            other => panic!("{other:?}"),
        }
        // No headers at all (Zoom sometimes omits them): the message decides.
        let none = HeaderMap::new();
        assert!(matches!(
            classify(
                429,
                &none,
                &body(
                    429,
                    "You have reached the maximum daily rate limit for this API."
                ),
                now()
            ),
            Outcome::DailyLimit { retry_at: None, .. }
        ));
        assert!(matches!(
            classify(429, &none, &body(429, msg), now()),
            Outcome::Retry {
                kind: RetryKind::Throttled,
                ..
            }
        ));
        // A Retry-After hours away without a type header means the daily limit.
        let far = headers(&[("retry-after", "7200")]);
        assert!(matches!(
            classify(429, &far, b"{}", now()),
            Outcome::DailyLimit { .. }
        ));
        let conc = headers(&[("x-ratelimit-type", "QPS")]);
        assert!(matches!(
            classify(
                429,
                &conc,
                &body(429, "Too many concurrent requests."),
                now()
            ),
            Outcome::Retry {
                kind: RetryKind::Concurrent,
                ..
            }
        ));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after("3"),
            Some(RetryAfter::Delay(Duration::from_secs(3)))
        );
        assert_eq!(
            parse_retry_after("1.5"),
            Some(RetryAfter::Delay(Duration::from_millis(1500)))
        );
        assert!(matches!(
            parse_retry_after("Sun, 29 Nov 2026 00:00:00 GMT"),
            Some(RetryAfter::At(_))
        ));
        assert!(matches!(
            parse_retry_after("2026-11-29T00:00:00Z"),
            Some(RetryAfter::At(_))
        ));
        assert_eq!(parse_retry_after("-5"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("99999999999"), None);
        // Year 9999 is ignored as a hint, not obeyed.
        let h = headers(&[
            ("retry-after", "9999-12-31T00:00:00Z"),
            ("x-ratelimit-type", "QPS"),
        ]);
        assert!(matches!(
            classify(429, &h, b"{}", now()),
            Outcome::Retry {
                retry_after: None,
                ..
            }
        ));
        // A throttle hint is capped.
        let h = headers(&[("retry-after", "300"), ("x-ratelimit-type", "QPS")]);
        assert!(matches!(
            classify(429, &h, b"{}", now()),
            Outcome::Retry { retry_after: Some(d), .. } if d == MAX_THROTTLE_WAIT
        ));
    }

    #[test]
    fn server_errors_and_odd_bodies() {
        let h = HeaderMap::new();
        assert!(matches!(
            classify(503, &h, b"<html>oops</html>", now()),
            Outcome::Retry {
                kind: RetryKind::Server,
                ..
            }
        ));
        match classify(418, &h, &[0xff, 0xfe], now()) {
            Outcome::Failed(info) => assert!(info.message.starts_with("HTTP 418")),
            other => panic!("{other:?}"),
        }
        let long = "x".repeat(10_000);
        match classify(400, &h, &body(300, &long), now()) {
            Outcome::Failed(info) => assert!(info.message.chars().count() <= 501),
            other => panic!("{other:?}"),
        }
    }
}
