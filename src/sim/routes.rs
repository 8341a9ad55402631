//! Request dispatch: which endpoint a request is, and the Zoom-like order of checks.
//!
//! Routing works on the RAW path, so a `%2F` inside `{userId}` never splits the segment; the
//! segment is percent-decoded only after the route is known. A `/v2` API call then goes through:
//!
//! 1. outage window → 503;
//! 2. bearer token → 401 code 124; scope → 400 code 4711 naming the granular scope;
//! 3. same-user concurrency (mutating calls) → 429 "Too many concurrent requests.";
//! 4. the transit delay (`transit_ms`), then the daily and per-second budgets, counted at that
//!    later moment → 429 with `X-RateLimit-*` headers;
//! 5. latency, then the drawn fault (drop, stall, 5xx before the side effect);
//! 6. the handler (side effect), then a 5xx-after fault if drawn.
//!
//! Requests the simulator does not serve get 404 code 300 and land in `SimState::unexpected`.
//! `POST /oauth/token` and `GET /_sim/state` bypass limits, latency and faults.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use percent_encoding::percent_decode_str;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::plan::Label;
use crate::sim::auth::{self, TokenRequest};
use crate::sim::faults::{self, Fault};
use crate::sim::limits::BusyGuard;
use crate::sim::respond::{concurrent_429, json_response, rate_limited};
use crate::sim::{Shared, handlers, lock};

/// Largest request body read; Zoom's bodies for these calls are tiny.
const BODY_LIMIT: usize = 64 * 1024;

/// A `/v2` endpoint the simulator serves, with its decoded `{userId}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `DELETE /v2/users/{userId}/token`
    RevokeToken(String),
    /// `GET /v2/users/{userId}`
    GetUser(String),
    /// `PUT /v2/users/{userId}/status`
    SetStatus(String),
    /// `DELETE /v2/users/{userId}?action=disassociate|delete&transfer_...`
    DeleteUser(String),
    /// `PATCH /v2/users/{userId}` (the simulator applies its `type`)
    UpdateUser(String),
    /// `GET /v2/users`
    ListUsers,
}

impl Endpoint {
    /// Routes on the raw (still percent-encoded) path; decodes `{userId}` afterwards.
    fn parse(method: &Method, raw_path: &str) -> Option<Self> {
        let rest = raw_path.strip_prefix("/v2/users")?;
        if rest.is_empty() {
            return (method == Method::GET).then_some(Endpoint::ListUsers);
        }
        let segs: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
        let user = |seg: &str| {
            (!seg.is_empty()).then(|| percent_decode_str(seg).decode_utf8_lossy().into_owned())
        };
        match (method, segs.as_slice()) {
            (&Method::GET, [seg]) => user(seg).map(Endpoint::GetUser),
            (&Method::DELETE, [seg]) => user(seg).map(Endpoint::DeleteUser),
            (&Method::PATCH, [seg]) => user(seg).map(Endpoint::UpdateUser),
            (&Method::DELETE, [seg, "token"]) => user(seg).map(Endpoint::RevokeToken),
            (&Method::PUT, [seg, "status"]) => user(seg).map(Endpoint::SetStatus),
            _ => None,
        }
    }

    fn label(&self) -> Label {
        match self {
            Endpoint::ListUsers => Label::Medium,
            _ => Label::Light,
        }
    }

    /// Scopes any of which allows the call, and the granular one named when none is held.
    fn scopes(&self) -> (&'static [&'static str], &'static str) {
        match self {
            Endpoint::RevokeToken(_) => (
                &["user:write:admin", "user:delete:token:admin"],
                "user:delete:token:admin",
            ),
            Endpoint::SetStatus(_) => (
                &["user:write:admin", "user:update:status:admin"],
                "user:update:status:admin",
            ),
            Endpoint::DeleteUser(_) => (
                &["user:write:admin", "user:delete:user:admin"],
                "user:delete:user:admin",
            ),
            Endpoint::UpdateUser(_) => (
                &["user:write:admin", "user:update:user:admin"],
                "user:update:user:admin",
            ),
            Endpoint::GetUser(_) => (
                &[
                    "user:read:admin",
                    "user:write:admin",
                    "user:read:user:admin",
                ],
                "user:read:user:admin",
            ),
            Endpoint::ListUsers => (
                &[
                    "user:read:admin",
                    "user:write:admin",
                    "user:read:list_users:admin",
                ],
                "user:read:list_users:admin",
            ),
        }
    }

    pub(crate) fn user(&self) -> Option<&str> {
        match self {
            Endpoint::RevokeToken(u)
            | Endpoint::GetUser(u)
            | Endpoint::SetStatus(u)
            | Endpoint::DeleteUser(u)
            | Endpoint::UpdateUser(u) => Some(u),
            Endpoint::ListUsers => None,
        }
    }

    fn mutating(&self) -> bool {
        matches!(
            self,
            Endpoint::RevokeToken(_)
                | Endpoint::SetStatus(_)
                | Endpoint::DeleteUser(_)
                | Endpoint::UpdateUser(_)
        )
    }
}

/// Serves one request: records it, dispatches it, stamps `x-zm-trackingid`. `kill` closes the
/// connection without an answer (the drop fault); this future is then dropped mid-way.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
    kill: CancellationToken,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let raw = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let idx = {
        let mut rec = lock(&shared.recorder);
        rec.arrive(shared.elapsed_ms(), parts.method.as_str(), &raw)
    };
    let body = axum::body::to_bytes(Body::new(body), BODY_LIMIT)
        .await
        .unwrap_or_default();
    let path = parts.uri.path();
    let mut resp = if parts.method == Method::POST && path == "/oauth/token" {
        oauth(&shared, &parts.headers, parts.uri.query(), &body)
    } else if parts.method == Method::GET && path == "/_sim/state" {
        match serde_json::to_value(shared.snapshot()) {
            Ok(v) => json_response(200, &v),
            Err(e) => json_response(500, &json!({"code": 500, "message": e.to_string()})),
        }
    } else if let Some(ep) = Endpoint::parse(&parts.method, path) {
        let _in_flight = InFlight::enter(&shared);
        api(
            &shared,
            idx,
            ep,
            &parts.headers,
            parts.uri.query(),
            &body,
            &kill,
        )
        .await
    } else {
        lock(&shared.recorder).mark_unexpected(idx);
        let message = format!("Invalid api {} {path}", parts.method);
        json_response(404, &json!({"code": 300, "message": message}))
    };
    let rid = shared.tracking.fetch_add(1, Ordering::Relaxed) + 1;
    if let Ok(v) = HeaderValue::from_str(&format!("v=2.0;clid=aw1;rid={rid}")) {
        resp.headers_mut().insert("x-zm-trackingid", v);
    }
    let answered = shared.elapsed_ms();
    lock(&shared.recorder).complete(idx, resp.status().as_u16(), answered);
    resp
}

/// Counts a `/v2` request as in flight while alive, tracking the peak.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `POST /oauth/token`: parameters from the query string and/or a form body.
fn oauth(shared: &Shared, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Response<Body> {
    let mut params = parse_query(query);
    params.extend(url::form_urlencoded::parse(body).into_owned());
    let req = TokenRequest {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok()),
        grant_type: params.remove("grant_type"),
        account_id: params.remove("account_id"),
    };
    let api_url = format!("http://{}", shared.addr);
    let (status, v) = {
        let mut tokens = lock(&shared.tokens);
        auth::token_endpoint(&shared.cfg, &mut tokens, &req, shared.now(), &api_url)
    };
    json_response(status, &v)
}

/// One `/v2` call through the checks listed in the module doc, in their order: outage, token
/// and scopes, one mutating call per user at a time, the rate limiter (after the request's
/// transit), a failing user, then a drawn fault around the endpoint's own answer.
async fn api(
    shared: &Shared,
    idx: usize,
    ep: Endpoint,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    kill: &CancellationToken,
) -> Response<Body> {
    let user_id = annotate(shared, idx, &ep);
    if shared.in_outage() {
        return json_response(503, &faults::server_error_body(503));
    }
    if let Err(refused) = authorize(shared, idx, &ep, headers) {
        return *refused;
    }
    let _busy = match mark_busy(shared, &ep, user_id.as_deref()) {
        Ok(guard) => guard,
        Err(refused) => return *refused,
    };
    if let Err(refused) = admit(shared, ep.label()).await {
        return *refused;
    }
    if is_failing(shared, &ep, user_id.as_deref()) {
        return json_response(500, &faults::server_error_body(500));
    }
    let draw = lock(&shared.faults).draw();
    if !draw.latency.is_zero() {
        tokio::time::sleep(draw.latency).await;
    }
    match draw.fault {
        Fault::Drop => {
            kill.cancel();
            std::future::pending::<()>().await;
        }
        Fault::Stall => tokio::time::sleep(shared.cfg.stall).await,
        Fault::Before(status) => return json_response(status, &faults::server_error_body(status)),
        Fault::None | Fault::After(_) => {}
    }
    let resp = handlers::endpoint(shared, &ep, query, body);
    match draw.fault {
        Fault::After(status) => json_response(status, &faults::server_error_body(status)),
        _ => resp,
    }
}

/// A check's answer when it turns the call away (boxed: a response is large).
type Refused = Box<Response<Body>>;

/// Records the call's label and the id of the user it names (when that user exists), so the
/// ground truth can say which calls touched whom; returns that id.
fn annotate(shared: &Shared, idx: usize, ep: &Endpoint) -> Option<String> {
    let user_id = ep.user().and_then(|key| {
        let dir = lock(&shared.dir);
        dir.find(key).and_then(|i| dir.get(i)).map(|u| u.id.clone())
    });
    lock(&shared.recorder).annotate(idx, Some(ep.label()), user_id.clone());
    user_id
}

/// The bearer token (401 code 124 when unknown or expired) and the endpoint's scopes (400 code
/// 4711, naming the granular scope, as Zoom words it).
fn authorize(
    shared: &Shared,
    idx: usize,
    ep: &Endpoint,
    headers: &HeaderMap,
) -> Result<(), Refused> {
    let tokens = lock(&shared.tokens);
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    if let Err(e) = tokens.check(authz, shared.now()) {
        drop(tokens);
        if e == auth::AuthError::Expired {
            lock(&shared.recorder).expired_token(idx);
        }
        return Err(Box::new(json_response(
            401,
            &json!({"code": 124, "message": e.message()}),
        )));
    }
    let (accepted, granular) = ep.scopes();
    if !tokens.has_any(accepted) {
        let message = format!("Invalid access token, does not contain scopes:[{granular}].");
        return Err(Box::new(json_response(
            400,
            &json!({"code": 4711, "message": message}),
        )));
    }
    Ok(())
}

/// A mutating call on a user another mutating call is still working on is a concurrent-request
/// 429; otherwise the user is marked busy until the returned guard drops.
fn mark_busy(
    shared: &Shared,
    ep: &Endpoint,
    user_id: Option<&str>,
) -> Result<Option<BusyGuard>, Refused> {
    let (true, Some(key)) = (ep.mutating(), ep.user()) else {
        return Ok(None);
    };
    let key = user_id.map_or_else(|| format!("?{}", key.to_lowercase()), str::to_string);
    match shared.busy.try_mark(key) {
        Some(guard) => Ok(Some(guard)),
        None => Err(Box::new(concurrent_429(shared, ep.label()))),
    }
}

/// The request's transit (it is counted that long after it arrives, not when it was sent),
/// then the label's limiter: a per-second or daily 429 with Zoom's headers when over. The
/// moment counted is the arrival plus the transit drawn, on the simulator's clock.
async fn admit(shared: &Shared, label: Label) -> Result<(), Refused> {
    let arrived = shared.elapsed();
    let transit = lock(&shared.limiter).transit();
    if !transit.is_zero() {
        tokio::time::sleep(transit).await;
    }
    let admitted = lock(&shared.limiter).admit(label, arrived + transit);
    admitted.map_err(|rejection| Box::new(rate_limited(shared, label, rejection)))
}

/// Whether the call names a user the configuration makes fail with 500 (by email or id).
fn is_failing(shared: &Shared, ep: &Endpoint, user_id: Option<&str>) -> bool {
    ep.user().is_some_and(|key| {
        shared
            .cfg
            .failing_users
            .iter()
            .any(|f| f.eq_ignore_ascii_case(key) || user_id.is_some_and(|id| f == id))
    })
}

pub(crate) fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}
