//! The endpoints' side effects and answers, for calls that passed every check in `routes`.
//!
//! Each handler locks the directory once, so a revoke and its count are atomic with respect to
//! concurrent calls. `{userId}` resolves to an exact id or, failing that, an email in any case.

use axum::body::Body;
use axum::http::Response;
use serde_json::{Value, json};

use crate::sim::respond::{empty_response, json_response};
use crate::sim::routes::{Endpoint, parse_query};
use crate::sim::users::UserStatus;
use crate::sim::{Shared, lock, render};

/// The side effect and answer of an admitted call.
pub(crate) fn endpoint(
    shared: &Shared,
    ep: &Endpoint,
    query: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let mut dir = lock(&shared.dir);
    if let Endpoint::ListUsers = ep {
        let params = parse_query(query);
        let listed = lock(&shared.pages).list(&dir, &params, std::time::Instant::now());
        return match listed {
            Ok(v) => json_response(200, &v),
            Err((status, v)) => json_response(status, &v),
        };
    }
    let key = ep.user().unwrap_or_default();
    let Some((i, user)) = dir
        .find(key)
        .and_then(|i| dir.get(i).map(|u| (i, u.clone())))
    else {
        let message = format!("User does not exist: {key}.");
        return json_response(404, &json!({"code": 1001, "message": message}));
    };
    let pending_error = || {
        json_response(
            400,
            &json!({"code": 1120, "message": "Invite does not exist or has expired."}),
        )
    };
    match ep {
        Endpoint::GetUser(_) => json_response(200, &render::user(&user, i, &shared.cfg.account_id)),
        Endpoint::RevokeToken(_) if user.status == UserStatus::Pending => pending_error(),
        Endpoint::RevokeToken(_) => {
            dir.revoke(i);
            empty_response(204)
        }
        Endpoint::SetStatus(_) => {
            let action = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
            let new_status = match action.as_deref() {
                Some("activate") => Some(UserStatus::Active),
                Some("deactivate") => Some(UserStatus::Inactive),
                Some("clock_in" | "clock_out") => None,
                _ => {
                    return json_response(
                        400,
                        &json!({
                            "code": 300,
                            "message": "Validation Failed.",
                            "errors": [{"field": "action",
                                "message": "must be one of activate, deactivate, clock_in, clock_out"}],
                        }),
                    );
                }
            };
            if user.status == UserStatus::Pending {
                return pending_error();
            }
            if let Some(s) = new_status {
                dir.set_status(i, s);
            }
            empty_response(204)
        }
        Endpoint::ListUsers => empty_response(204),
    }
}
