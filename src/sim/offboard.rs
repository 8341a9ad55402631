//! The rest of offboarding: `PUT /users/{userId}/status`, `PATCH /users/{userId}` and
//! `DELETE /users/{userId}`, with Zoom's refusals (operations `userStatus`, `userUpdate` and
//! `userDelete` of Zoom's Users API spec).
//!
//! All three run after every check in `routes` (scope, same-user concurrency, budget, faults), with
//! the directory locked, and answer in this order:
//!
//! Status (`{"action": "activate" | "deactivate" | "clock_in" | "clock_out"}`):
//! 1. a body without a valid `action` → 400 code 300 "Validation Failed." with `errors`;
//! 2. a pending user → 400 code 1120 (as the revoke: the invitation is not a user yet);
//! 3. the Owner or an Admin (role `0`/`1`) → 400 code 200, the spec's "Zoom Room and Admin
//!    users' status cannot be activated or deactivated." Custom roles are not "Admin users" and
//!    may be deactivated;
//! 4. deactivating a user with Zoom Events → 400 code 300 (the spec's text);
//! 5. otherwise 200 with an empty body: the spec lists 200, not 204, for this call. Deactivating
//!    an inactive user (or activating an active one) is also 200 and changes nothing: the spec
//!    documents no error for it ("Deactivate an active user or to reactivate a deactivated user"),
//!    and an idempotent answer is what a retry after a lost answer needs. It is counted in
//!    `repeated_status_calls`, not as a second deactivation. `clock_in`/`clock_out` are 200 no-ops.
//!
//! Delete (`?action=disassociate|delete&transfer_email=..&transfer_meeting=true..`); `action`
//! absent means `disassociate`, Zoom's default:
//! 1. a bad `action` or a `transfer_*` flag that is not `true`/`false` → 400 code 300 with `errors`;
//! 2. the Owner → 400 code 200 (the spec's code for users that cannot be deleted);
//! 3. a pending user: only `disassociate` addressed by email works (the spec: "To delete pending
//!    user in the account, use `disassociate`"; Zoom lists pending users without an id); `delete`,
//!    or an id, → 400 code 1120, the spec's "A valid invitation ... was not found for this user";
//! 4. `transfer_email` naming the user itself → 400 code 300;
//! 5. a user with Zoom Events and no `transfer_email` → 400 code 300 (the spec: the field "is
//!    required if the user has Zoom Events/Sessions feature");
//! 6. `disassociate` of a managed-domain user → 1107; of an Admin (role `1`) → 1117;
//! 7. the transfer target, matched by email only (Zoom's parameter is an email): unknown → 404
//!    code 1001 "User does not exist: TARGET." (the spec names no code for it; 1001 is Zoom's
//!    answer for any unknown user, and a client can tell it is about the target from the message
//!    and a lookup of the user); not active (inactive or pending) → 400 code 300 with the spec's
//!    "The destination user does not have a Licensed or higher license and cannot receive this
//!    data." (deactivating removes all licences, the `userStatus` description says);
//!    `transfer_recording=true` to a target without a paid licence (type 1 Basic or 4
//!    Unassigned) → the same 300 (Zoom support KB0067925: recordings need a licensed target);
//!    `transfer_webinar=true` from a user with a webinar licence to a target without one → 300
//!    "The destination user does not have a webinar license and cannot receive webinars.";
//! 8. otherwise 204: the user is off the account (later calls about it answer 404/1001), and the
//!    transfer is recorded with the kinds whose flag was `true`. Flags without a
//!    `transfer_email` move nothing (there is nobody to receive the data).
//!
//! Update (`{"type": 1|2|4, ...}`; the simulator applies `type` and accepts the other fields
//! without storing them):
//! 1. a body that is not a JSON object, or a `type` outside the spec's enum → 400 code 300 with
//!    `errors`;
//! 2. a pending user → 400 code 1120 (the spec lists it for this call too);
//! 3. to Basic (1): a Zoom Room's user → 400 code 200, the spec's "A Zoom Room user cannot be
//!    changed to a free user type: $userId"; a user with upcoming Zoom Events → 400 code 300, the
//!    spec's "You cannot change the user type to \"Basic\" because this user has an upcoming
//!    Zoom Events scheduled."; a non-Basic user when the account's Basic users have reached its
//!    cap ([`crate::sim::BasicCap`]) → 400 with the cap's code, 3412 or 2033 and the spec's text;
//! 4. otherwise 204 with no body. Making a Basic user Basic again is 204 and counted as a repeat
//!    (`repeated_type_calls`), as a retry after a lost answer needs.

use axum::body::Body;
use axum::http::Response;
use serde_json::{Value, json};

use crate::sim::handlers::not_found;
use crate::sim::respond::{empty_response, json_response};
use crate::sim::routes::parse_query;
use crate::sim::state::{Removal, TransferKind};
use crate::sim::users::{Directory, SimUser, USER_TYPES, UserStatus};

/// The revoke's and status call's answer body for a pending user.
pub(crate) fn pending_error() -> Value {
    json!({"code": 1120, "message": "Invite does not exist or has expired."})
}

/// A 400 answer with Zoom's `code` and `message`.
fn refuse(code: u16, message: &str) -> Response<Body> {
    json_response(400, &json!({"code": code, "message": message}))
}

/// A Zoom validation error: 400 code 300 with an `errors` list naming the field.
fn invalid(field: &str, message: &str) -> Response<Body> {
    json_response(
        400,
        &json!({
            "code": 300,
            "message": "Validation Failed.",
            "errors": [{"field": field, "message": message}],
        }),
    )
}

/// Whether Zoom refuses to change this role's status or to unlink it (Owner, Admin).
fn is_owner_or_admin(u: &SimUser) -> bool {
    matches!(u.role_id.as_str(), "0" | "1")
}

/// `PUT /users/{userId}/status` for the user at `i` (see the module doc for the rules).
pub(crate) fn set_status(
    dir: &mut Directory,
    i: usize,
    user: &SimUser,
    body: &[u8],
) -> Response<Body> {
    let action = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
    let new_status = match action.as_deref() {
        Some("activate") => Some(UserStatus::Active),
        Some("deactivate") => Some(UserStatus::Inactive),
        Some("clock_in" | "clock_out") => None,
        _ => {
            return invalid(
                "action",
                "must be one of activate, deactivate, clock_in, clock_out",
            );
        }
    };
    if user.status == UserStatus::Pending {
        return json_response(400, &pending_error());
    }
    let Some(status) = new_status else {
        return empty_response(200);
    };
    if is_owner_or_admin(user) {
        return refuse(
            200,
            "Zoom Room and Admin users' status cannot be activated or deactivated.",
        );
    }
    if status == UserStatus::Inactive && user.zoom_events {
        return refuse(
            300,
            "You cannot deactivate this user because the user has an upcoming Zoom Events \
             scheduled.",
        );
    }
    dir.set_status(i, status);
    empty_response(200)
}

/// `PATCH /users/{userId}` for the user at `i` (see the module doc for the rules).
pub(crate) fn update_user(
    dir: &mut Directory,
    i: usize,
    user: &SimUser,
    body: &[u8],
) -> Response<Body> {
    let Some(fields) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.as_object().cloned())
    else {
        return invalid("body", "must be a JSON object");
    };
    let new_type = match fields.get("type") {
        None => None,
        Some(t) => match t.as_u64().and_then(|t| u8::try_from(t).ok()) {
            Some(t) if USER_TYPES.contains(&t) => Some(t),
            _ => return invalid("type", "must be one of 1, 2, 4"),
        },
    };
    if user.status == UserStatus::Pending {
        return json_response(400, &pending_error());
    }
    let Some(new_type) = new_type else {
        return empty_response(204);
    };
    if new_type == 1
        && let Some(refusal) = basic_refusal(dir, user)
    {
        return refusal;
    }
    dir.set_type(i, new_type);
    empty_response(204)
}

/// Why Zoom will not make `user` Basic, if it will not (rule 3 of the update).
fn basic_refusal(dir: &Directory, user: &SimUser) -> Option<Response<Body>> {
    if user.zoom_room {
        let message = format!(
            "A Zoom Room user cannot be changed to a free user type: {}",
            user.id
        );
        return Some(refuse(200, &message));
    }
    if user.zoom_events {
        return Some(refuse(
            300,
            "You cannot change the user type to \"Basic\" because this user has an upcoming \
             Zoom Events scheduled.",
        ));
    }
    let cap = dir.basic_cap?;
    if user.user_type == 1 || dir.basic_users() < cap.max {
        return None;
    }
    let message = match cap.code {
        2033 => "Your request to convert the user type to \"Basic\" was not approved because you \
                 have already reached the maximum basic user limit allowed in your account. For \
                 additional help regarding this issue, contact the Zoom Customer Support team."
            .to_owned(),
        _ => format!(
            "Your request to convert the user type of this \"Licensed\" user to a \"Basic\" user \
             was not approved at this time because your account has reached the permitted \
             maximum number of \"{}\" Basic users. Remove existing basic user(s) from your \
             \"Users\" list or the \"Pending Users\" list before attempting to convert a user to \
             a Basic user.",
            cap.max
        ),
    };
    Some(refuse(cap.code, &message))
}

/// Why the target cannot receive what is asked of it, if it cannot (rule 7 of the delete).
fn receive_refusal(
    leaver: &SimUser,
    target: &SimUser,
    kinds: &[TransferKind],
) -> Option<&'static str> {
    if target.status != UserStatus::Active
        || (kinds.contains(&TransferKind::Recording) && target.user_type != 2)
    {
        return Some(
            "The destination user does not have a Licensed or higher license and cannot receive \
             this data.",
        );
    }
    if kinds.contains(&TransferKind::Webinar) && leaver.webinar_licence && !target.webinar_licence {
        return Some(
            "The destination user does not have a webinar license and cannot receive webinars.",
        );
    }
    None
}

/// `DELETE /users/{userId}` for the user at `i`, addressed as `key` (see the module doc).
pub(crate) fn delete_user(
    dir: &mut Directory,
    i: usize,
    user: &SimUser,
    key: &str,
    query: Option<&str>,
) -> Response<Body> {
    let params = parse_query(query);
    let action = match params.get("action").map(String::as_str) {
        None | Some("" | "disassociate") => Removal::Disassociated,
        Some("delete") => Removal::Deleted,
        Some(_) => return invalid("action", "must be one of disassociate, delete"),
    };
    let mut kinds = Vec::new();
    for kind in TransferKind::ALL {
        match params.get(kind.param()).map(String::as_str) {
            None | Some("false") => {}
            Some("true") => kinds.push(kind),
            Some(_) => return invalid(kind.param(), "must be true or false"),
        }
    }
    let transfer_email = params
        .get("transfer_email")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());

    if user.role_id == "0" {
        return refuse(200, "Cannot delete or unlink the account owner.");
    }
    let by_email = key.eq_ignore_ascii_case(&user.email);
    if user.status == UserStatus::Pending && (action == Removal::Deleted || !by_email) {
        return refuse(
            1120,
            "A valid invitation to join the Zoom account was not found for this user.",
        );
    }
    if transfer_email.is_some_and(|t| t.eq_ignore_ascii_case(&user.email)) {
        return refuse(
            300,
            "The transfer-to email address cannot be the same as the unlinked or deleted user's \
             email address.",
        );
    }
    if user.zoom_events && transfer_email.is_none() {
        return refuse(
            300,
            "This user has published events on Zoom Events and you do not specify a target user \
             to transfer data.",
        );
    }
    if action == Removal::Disassociated && user.managed_domain {
        return refuse(1107, "You can not disassociate a user with managed domain.");
    }
    if action == Removal::Disassociated && user.role_id == "1" {
        return refuse(1117, "You can not disassociate an Admin user.");
    }
    let target = match transfer_email {
        None => None,
        Some(t) => {
            let found = dir
                .find_email(t)
                .and_then(|j| dir.get(j).map(|u| (j, u)))
                .filter(|(_, u)| !u.other_account);
            let Some((j, target)) = found else {
                return not_found(t);
            };
            if let Some(why) = receive_refusal(user, target, &kinds) {
                return refuse(300, why);
            }
            Some((j, kinds))
        }
    };
    dir.remove(i, action, target);
    empty_response(204)
}
