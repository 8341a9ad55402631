//! Building answers: JSON bodies with Zoom's headers, and the three kinds of 429.
//!
//! Rate-limit headers follow Zoom's documented example (`X-RateLimit-Category`, `-Type`,
//! `-Limit`, `-Remaining`, and for the daily limit a `Retry-After` RFC 3339 timestamp of the next
//! UTC midnight); `omit_rate_headers` drops all of them, as Zoom sometimes does, keeping the body;
//! `qps_retry_after` adds `Retry-After: 1` to per-second 429s, as a stricter server might.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::plan::Label;
use crate::sim::Shared;
use crate::sim::limits::Rejection;

/// 429 for a second concurrent mutation of the same user.
pub(crate) fn concurrent_429(shared: &Shared, label: Label) -> Response<Body> {
    let mut resp = json_response(
        429,
        &json!({"code": 429, "message": "Too many concurrent requests."}),
    );
    if !shared.cfg.omit_rate_headers {
        let h = resp.headers_mut();
        h.insert(
            "x-ratelimit-category",
            HeaderValue::from_static(label.as_str()),
        );
        h.insert("x-ratelimit-type", HeaderValue::from_static("QPS"));
    }
    resp
}

/// 429 for a spent per-second or daily budget, with Zoom's headers unless omitted.
pub(crate) fn rate_limited(shared: &Shared, label: Label, rejection: Rejection) -> Response<Body> {
    let (message, kind, limit, retry_after) = match rejection {
        Rejection::Qps { limit } => (
            "You have reached the maximum per-second rate limit for this API. Try again later.",
            "QPS",
            u64::from(limit),
            shared.cfg.qps_retry_after.then(|| "1".to_owned()),
        ),
        Rejection::Daily { limit } => (
            "You have reached the maximum daily rate limit for this API. Refer to the response \
             header for details on when you can make another request.",
            "Daily-limit",
            limit,
            Some(next_utc_midnight()),
        ),
    };
    let mut resp = json_response(429, &json!({"code": 429, "message": message}));
    if !shared.cfg.omit_rate_headers {
        let h = resp.headers_mut();
        h.insert(
            "x-ratelimit-category",
            HeaderValue::from_static(label.as_str()),
        );
        h.insert("x-ratelimit-type", HeaderValue::from_static(kind));
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s).ok()) {
            h.insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// The next UTC midnight as RFC 3339 (`2026-11-29T00:00:00Z`), as Zoom's daily `Retry-After`.
fn next_utc_midnight() -> String {
    let now = chrono::Utc::now();
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now);
    next.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn json_response(status: u16, v: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(v.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn empty_response(status: u16) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    resp
}
