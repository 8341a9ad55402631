//! The endpoints' side effects and answers, for calls that passed every check in `routes`.
//!
//! Each handler locks the directory once, so a side effect and its count are atomic with respect
//! to concurrent calls. `{userId}` resolves to an exact id or, failing that, an email in any
//! case; deleted and disassociated users no longer resolve (404/1001). The status and delete
//! rules live in `offboard`.

use axum::body::Body;
use axum::http::Response;
use serde_json::json;

use crate::sim::respond::{empty_response, json_response};
use crate::sim::routes::{Endpoint, parse_query};
use crate::sim::users::UserStatus;
use crate::sim::{Shared, lock, offboard, paging, render};

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
        if shared.cfg.list_churn && paging::continues(&params) {
            dir.reactivate_first_inactive();
        }
        let listed = lock(&shared.pages).list(&dir, &params, shared.now());
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
        return not_found(key);
    };
    if user.other_account {
        return other_account(ep, key);
    }
    match ep {
        Endpoint::GetUser(_) => json_response(200, &render::user(&user, i, &shared.cfg.account_id)),
        Endpoint::RevokeToken(_) if user.status == UserStatus::Pending => {
            json_response(400, &offboard::pending_error())
        }
        Endpoint::RevokeToken(_) => {
            dir.revoke(i);
            empty_response(204)
        }
        Endpoint::SetStatus(_) => offboard::set_status(&mut dir, i, &user, body),
        Endpoint::DeleteUser(_) => offboard::delete_user(&mut dir, i, &user, key, query),
        Endpoint::UpdateUser(_) => offboard::update_user(&mut dir, i, &user, body),
        Endpoint::ListUsers => empty_response(204),
    }
}

/// A user Zoom knows on another account: only a delete says so (400 code 200, the spec's
/// "Cannot delete a user out of your account."); a revoke answers 1010 ("User not found on this
/// account", docs/zoom-api.md); every other call does not see the user at all (404/1001).
fn other_account(ep: &Endpoint, key: &str) -> Response<Body> {
    match ep {
        Endpoint::DeleteUser(_) => json_response(
            400,
            &json!({"code": 200, "message": "Cannot delete a user out of your account."}),
        ),
        Endpoint::RevokeToken(_) => json_response(
            400,
            &json!({"code": 1010, "message": "User not found on this account."}),
        ),
        _ => not_found(key),
    }
}

/// 404 code 1001, as Zoom answers for an unknown (or removed) user.
pub(crate) fn not_found(key: &str) -> Response<Body> {
    let message = format!("User does not exist: {key}.");
    json_response(404, &json!({"code": 1001, "message": message}))
}
