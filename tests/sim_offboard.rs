//! The simulator's offboarding calls, as raw HTTP: `PUT /users/{id}/status`, `DELETE /users/{id}`
//! with `action` and the transfer flags, roles and login types in `GET /users/{id}`, every
//! refusal, scopes, the same-user 429, faults after the side effect, and the ground truth.
//!
//! Generated users (100, seed 1) follow the documented pattern: user 1 Owner, 10/35/60/85 Admins
//! (60 inactive), 13 and 53 custom roles, 5 managed-domain, 8 Zoom Events, 20 inactive,
//! 50 and 100 pending; 3 signs in with Zoom work email only.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use zoom_offboard::sim::{
    Faults, Removal, Sim, SimConfig, SimUser, SimUsers, TransferKind, UserStatus, generate_users,
    load_users_csv,
};

use crate::common::{self, bearer, json};

/// Generated user `i` (1-based, as the pattern counts).
pub(crate) fn user(sim: &Sim, i: usize) -> SimUser {
    sim.users()
        .into_iter()
        .find(|u| u.email == format!("user{i:05}@example.com"))
        .expect("generated user")
}

/// `method path` with `auth`, and a JSON body if given.
pub(crate) async fn call(
    sim: &Sim,
    method: Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> Response {
    let mut req = common::client()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("Authorization", auth);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

async fn set_status(sim: &Sim, who: &str, action: &str, auth: &str) -> Response {
    let body = json!({ "action": action });
    call(
        sim,
        Method::PUT,
        &format!("/users/{who}/status"),
        auth,
        Some(body),
    )
    .await
}

pub(crate) async fn delete(sim: &Sim, who: &str, query: &str, auth: &str) -> Response {
    call(
        sim,
        Method::DELETE,
        &format!("/users/{who}?{query}"),
        auth,
        None,
    )
    .await
}

async fn get(sim: &Sim, who: &str, auth: &str) -> Response {
    call(sim, Method::GET, &format!("/users/{who}"), auth, None).await
}

/// Asserts a 400 (or `status`) with Zoom's `code`, and returns the message.
pub(crate) async fn refused(r: Response, status: u16, code: i64) -> String {
    assert_eq!(r.status(), status);
    let v = json(r).await;
    assert_eq!(v["code"], code, "{v}");
    v["message"].as_str().unwrap_or_default().to_string()
}

const ALL_FOUR: &str =
    "transfer_meeting=true&transfer_webinar=true&transfer_recording=true&transfer_whiteboard=true";

#[test]
fn generated_users_have_one_owner_and_a_realistic_mix() {
    let users = generate_users(1000, 1);
    let n = |f: fn(&SimUser) -> bool| users.iter().filter(|u| f(u)).count();
    assert_eq!(n(SimUser::is_owner), 1);
    assert!(users[0].is_owner());
    assert_eq!(n(SimUser::is_admin), 40);
    assert_eq!(n(SimUser::has_custom_role), 25);
    assert!(n(SimUser::is_member) > 900);
    assert!(n(SimUser::uses_sso) > 800 && n(SimUser::uses_sso) < 1000);
    assert!((50..=100).contains(&n(|u| u.managed_domain)));
    assert!((20..=40).contains(&n(|u| u.zoom_events)));
    assert_eq!(n(|u| u.other_account), 0);
    let names: std::collections::BTreeSet<&str> = users
        .iter()
        .filter(|u| u.has_custom_role())
        .map(|u| u.role_name.as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(users.iter().all(|u| !u.login_types.is_empty()));
    assert!(
        users
            .iter()
            .filter(|u| u.status == UserStatus::Pending)
            .all(SimUser::is_member),
        "pending users can be unlinked"
    );
}

#[test]
fn users_csv_takes_the_offboarding_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("users.csv");
    std::fs::write(
        &p,
        "id,email,role_id,role_name,login_types,managed_domain,zoom_events,other_account\n\
         a,a@x.com,0,,,,,\n\
         b,b@x.com,r9,Auditor,100;101,yes,true,\n\
         c,c@x.com,,,1 24,0,no,1\n\
         d,d@x.com,r8,,,,,\n",
    )
    .unwrap();
    let u = load_users_csv(&p).unwrap();
    assert_eq!(
        (u[0].role_id.as_str(), u[0].role_name.as_str()),
        ("0", "Owner")
    );
    assert_eq!(u[0].login_types, [101]);
    assert_eq!(
        (u[1].role_id.as_str(), u[1].role_name.as_str()),
        ("r9", "Auditor")
    );
    assert_eq!(u[1].login_types, [100, 101]);
    assert!(u[1].managed_domain && u[1].zoom_events && !u[1].other_account);
    assert_eq!(
        (u[2].role_id.as_str(), u[2].role_name.as_str()),
        ("2", "Member")
    );
    assert_eq!(u[2].login_types, [1, 24]);
    assert!(u[2].other_account && !u[2].managed_domain);
    assert_eq!(u[3].role_name, "Custom role");
    for (body, want) in [
        ("id,email,login_types\na,a@x.com,102\n", "line 2"),
        ("id,email,zoom_events\na,a@x.com,maybe\n", "zoom_events"),
        ("id,email,manager\na,a@x.com,b@x.com\n", "unknown column"),
    ] {
        std::fs::write(&p, body).unwrap();
        let err = format!("{:#}", load_users_csv(&p).unwrap_err());
        assert!(err.contains(want), "{err}");
    }
}

#[tokio::test]
async fn get_user_shows_role_and_login_types_and_lists_show_role_id() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    for (i, role_id, role_name, logins) in [
        (1, "0".to_string(), "Owner", json!([101, 100])),
        (3, "2".to_string(), "Member", json!([100])),
        (10, "1".to_string(), "Admin", json!([101])),
        (13, user(&sim, 13).role_id, "Help Desk", json!([100])),
    ] {
        let v = json(get(&sim, &user(&sim, i).email, &auth).await).await;
        assert_eq!(v["role_id"], role_id.as_str(), "user {i}");
        assert_eq!(v["role_name"], role_name, "user {i}");
        assert_eq!(v["login_types"], logins, "user {i}");
    }
    let r = call(&sim, Method::GET, "/users?page_size=300", &auth, None).await;
    let v = json(r).await;
    let first = &v["users"][0];
    assert_eq!(first["role_id"], "0");
    assert!(first.get("role_name").is_none() && first.get("login_types").is_none());
}

#[tokio::test]
async fn status_answers_and_refusals() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let member = user(&sim, 2);

    let r = set_status(&sim, &member.id, "deactivate", &auth).await;
    assert_eq!(r.status(), 200, "the spec's success status");
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(user(&sim, 2).status, UserStatus::Inactive);
    // Again: 200 and no second deactivation (an idempotent retry after a lost answer).
    let r = set_status(&sim, &member.email, "deactivate", &auth).await;
    assert_eq!(r.status(), 200);
    let t = sim.state().offboarded[&member.id].clone();
    assert_eq!((t.deactivations, t.repeated_status_calls), (1, 1));
    assert_eq!((t.status, t.removed), (UserStatus::Inactive, None));

    // A custom role is not an Admin: it may be deactivated.
    let custom = user(&sim, 13);
    assert_eq!(
        set_status(&sim, &custom.id, "deactivate", &auth)
            .await
            .status(),
        200
    );

    for i in [1, 10] {
        let msg = refused(
            set_status(&sim, &user(&sim, i).id, "deactivate", &auth).await,
            400,
            200,
        )
        .await;
        assert_eq!(
            msg,
            "Zoom Room and Admin users' status cannot be activated or deactivated."
        );
    }
    let msg = refused(
        set_status(&sim, &user(&sim, 8).id, "deactivate", &auth).await,
        400,
        300,
    )
    .await;
    assert!(msg.contains("upcoming Zoom Events"), "{msg}");
    refused(
        set_status(&sim, &user(&sim, 50).email, "deactivate", &auth).await,
        400,
        1120,
    )
    .await;
    let msg = refused(
        set_status(&sim, "ghost@example.com", "deactivate", &auth).await,
        404,
        1001,
    )
    .await;
    assert_eq!(msg, "User does not exist: ghost@example.com.");
    for body in [json!({}), json!({"action": "sleep"}), json!("deactivate")] {
        let r = call(
            &sim,
            Method::PUT,
            &format!("/users/{}/status", member.id),
            &auth,
            Some(body),
        )
        .await;
        assert_eq!(r.status(), 400);
        let v = json(r).await;
        assert_eq!(v["code"], 300);
        assert_eq!(v["errors"][0]["field"], "action");
    }

    let st = sim.state();
    assert_eq!(st.total_deactivations(), 2);
    assert_eq!(
        st.offboarded.len(),
        2,
        "refusals change nobody: {:?}",
        st.offboarded
    );
    assert_eq!(user(&sim, 8).status, UserStatus::Active);
}

#[tokio::test]
async fn delete_and_disassociate_remove_the_user_and_record_transfers() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let (leaver, unlinked, manager) = (user(&sim, 2), user(&sim, 4), user(&sim, 6));

    // delete with every transfer flag, to the manager given in another case.
    let q = format!(
        "action=delete&transfer_email={}&{ALL_FOUR}",
        manager.email.to_uppercase()
    );
    let r = delete(&sim, &leaver.id, &q, &auth).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    // No action: Zoom's default, disassociate; no transfer.
    assert_eq!(delete(&sim, &unlinked.email, "", &auth).await.status(), 204);

    // Gone: every later call about them answers 404/1001.
    for who in [&leaver.id, &leaver.email, &unlinked.id] {
        refused(get(&sim, who, &auth).await, 404, 1001).await;
        refused(delete(&sim, who, "action=delete", &auth).await, 404, 1001).await;
        refused(set_status(&sim, who, "deactivate", &auth).await, 404, 1001).await;
    }
    assert!(
        sim.users()
            .iter()
            .all(|u| u.id != leaver.id && u.id != unlinked.id)
    );

    let st = sim.state();
    let t = &st.offboarded[&leaver.id];
    assert_eq!(
        (t.deletions, t.disassociations, t.removed),
        (1, 0, Some(Removal::Deleted))
    );
    let t = &st.offboarded[&unlinked.id];
    assert_eq!((t.deletions, t.disassociations), (0, 1));
    assert_eq!(t.removed, Some(Removal::Disassociated));
    assert_eq!(st.total_removals(), 2);
    assert_eq!(st.transfers.len(), 1, "{:?}", st.transfers);
    let x = &st.transfers[0];
    assert_eq!(
        (x.from.as_str(), x.to.as_str()),
        (leaver.id.as_str(), manager.id.as_str())
    );
    assert_eq!(x.to_email, manager.email);
    assert_eq!(x.action, Removal::Deleted);
    assert_eq!(
        x.kinds,
        [
            TransferKind::Meeting,
            TransferKind::Webinar,
            TransferKind::Recording,
            TransferKind::Whiteboard
        ]
    );
    assert_eq!(st.transfers_to(&manager.email).len(), 1);
    assert_eq!(st.count("DELETE", "action=delete", Some(404)), 3);
}

#[tokio::test]
async fn delete_refusals_follow_the_spec() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let manager = user(&sim, 6).email;
    let to = |email: &str| format!("transfer_email={email}&{ALL_FOUR}");

    // Owner, and (with a list user below) a user of another account: code 200.
    refused(
        delete(&sim, &user(&sim, 1).id, "action=delete", &auth).await,
        400,
        200,
    )
    .await;
    // The target is the user itself.
    let me = user(&sim, 2);
    let msg = refused(
        delete(
            &sim,
            &me.id,
            &format!("action=delete&{}", to(&me.email)),
            &auth,
        )
        .await,
        400,
        300,
    )
    .await;
    assert!(
        msg.starts_with("The transfer-to email address cannot be the same"),
        "{msg}"
    );
    // Zoom Events without a target; with one it goes.
    let events = user(&sim, 8);
    let msg = refused(
        delete(&sim, &events.id, "action=delete", &auth).await,
        400,
        300,
    )
    .await;
    assert!(msg.contains("Zoom Events"), "{msg}");
    // Managed domain: no disassociate, delete is fine.
    let managed = user(&sim, 5);
    let msg = refused(
        delete(&sim, &managed.id, "action=disassociate", &auth).await,
        400,
        1107,
    )
    .await;
    assert_eq!(msg, "You can not disassociate a user with managed domain.");
    // Admin: no disassociate (default action too); delete is not refused by the spec.
    let admin = user(&sim, 35);
    refused(delete(&sim, &admin.id, "", &auth).await, 400, 1117).await;
    // Pending: delete and by-id refused with 1120; disassociate by email works.
    let pending = user(&sim, 50);
    refused(
        delete(&sim, &pending.email, "action=delete", &auth).await,
        400,
        1120,
    )
    .await;
    refused(
        delete(&sim, &pending.id, "action=disassociate", &auth).await,
        400,
        1120,
    )
    .await;
    // Transfer targets: unknown (404/1001 naming the target), an id (matched as email only),
    // inactive, pending.
    let leaver = user(&sim, 4);
    let msg = refused(
        delete(&sim, &leaver.id, &to("nobody@example.com"), &auth).await,
        404,
        1001,
    )
    .await;
    assert_eq!(msg, "User does not exist: nobody@example.com.");
    refused(
        delete(&sim, &leaver.id, &to(&user(&sim, 6).id), &auth).await,
        404,
        1001,
    )
    .await;
    for target in [user(&sim, 20).email, user(&sim, 100).email] {
        let msg = refused(
            delete(&sim, &leaver.id, &to(&target), &auth).await,
            400,
            300,
        )
        .await;
        assert!(msg.contains("cannot receive this data"), "{msg}");
    }
    // Bad parameters: validation errors naming the field.
    for (q, field) in [
        ("action=purge", "action"),
        ("transfer_meeting=yes", "transfer_meeting"),
    ] {
        let r = delete(&sim, &leaver.id, q, &auth).await;
        assert_eq!(r.status(), 400);
        let v = json(r).await;
        assert_eq!(
            (v["code"].clone(), v["errors"][0]["field"].clone()),
            (json!(300), json!(field))
        );
    }
    refused(
        delete(&sim, "ghost", "action=delete", &auth).await,
        404,
        1001,
    )
    .await;
    let st = sim.state();
    assert!(
        st.offboarded.is_empty() && st.transfers.is_empty(),
        "refusals remove nobody: {st:?}"
    );

    // The ones that go.
    assert_eq!(
        delete(
            &sim,
            &events.id,
            &format!("action=delete&{}", to(&manager)),
            &auth
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        delete(&sim, &managed.id, "action=delete", &auth)
            .await
            .status(),
        204
    );
    assert_eq!(
        delete(&sim, &admin.id, "action=delete", &auth)
            .await
            .status(),
        204
    );
    assert_eq!(
        delete(&sim, &pending.email, "action=disassociate", &auth)
            .await
            .status(),
        204
    );
    let st = sim.state();
    assert_eq!(st.total_removals(), 4);
    assert_eq!(
        st.offboarded[&pending.id].removed,
        Some(Removal::Disassociated)
    );
    assert_eq!(st.transfers_to(&manager).len(), 1);
    assert_eq!(st.transfers[0].from, events.id);
}

#[tokio::test]
async fn a_user_of_another_account_is_invisible_but_for_the_delete() {
    let stranger = SimUser {
        other_account: true,
        id: "strangerid".into(),
        email: "stranger@elsewhere.example".into(),
        ..generate_users(1, 1).remove(0)
    };
    let mut users = generate_users(3, 1);
    users.push(stranger.clone());
    let sim = common::start(SimConfig {
        users: SimUsers::List(users),
        ..common::roomy()
    })
    .await;
    let auth = bearer(&sim);
    let msg = refused(
        delete(&sim, &stranger.email, "action=delete", &auth).await,
        400,
        200,
    )
    .await;
    assert_eq!(msg, "Cannot delete a user out of your account.");
    refused(get(&sim, &stranger.id, &auth).await, 404, 1001).await;
    refused(
        set_status(&sim, &stranger.id, "deactivate", &auth).await,
        404,
        1001,
    )
    .await;
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/users/{}/token", stranger.id),
        &auth,
        None,
    )
    .await;
    refused(r, 400, 1010).await;
    let v = json(call(&sim, Method::GET, "/users", &auth, None).await).await;
    assert_eq!(
        v["total_records"], 3,
        "the account's three users, not the stranger: {v}"
    );
}

#[tokio::test]
async fn offboarding_calls_need_their_scopes() {
    let sim = common::start(SimConfig {
        scopes: vec!["user:read:admin".into()],
        ..common::roomy()
    })
    .await;
    let auth = bearer(&sim);
    let (a, b) = (user(&sim, 2).id, user(&sim, 4).id);
    let msg = refused(set_status(&sim, &a, "deactivate", &auth).await, 400, 4711).await;
    assert!(msg.contains("[user:update:status:admin]"), "{msg}");
    let msg = refused(delete(&sim, &a, "action=delete", &auth).await, 400, 4711).await;
    assert!(msg.contains("[user:delete:user:admin]"), "{msg}");
    assert_eq!(get(&sim, &a, &auth).await.status(), 200);

    sim.set_scopes(vec![
        "user:update:status:admin".into(),
        "user:delete:user:admin".into(),
    ]);
    let msg = refused(get(&sim, &a, &auth).await, 400, 4711).await;
    assert!(msg.contains("[user:read:user:admin]"), "{msg}");
    assert_eq!(
        set_status(&sim, &a, "deactivate", &auth).await.status(),
        200
    );
    assert_eq!(delete(&sim, &a, "action=delete", &auth).await.status(), 204);

    sim.set_scopes(vec![
        "user:read:user:admin".into(),
        "user:write:admin".into(),
    ]);
    assert_eq!(get(&sim, &b, &auth).await.status(), 200);
    assert_eq!(
        set_status(&sim, &b, "deactivate", &auth).await.status(),
        200
    );
    assert_eq!(
        delete(&sim, &b, "action=disassociate", &auth)
            .await
            .status(),
        204
    );
    assert_eq!(sim.state().total_removals(), 2);
}

#[tokio::test]
async fn two_calls_for_one_user_at_once_get_429() {
    let sim = common::start(SimConfig {
        latency_ms: (400, 400),
        ..common::roomy()
    })
    .await;
    let auth = bearer(&sim);
    let id = user(&sim, 2).id;
    let (a, b) = tokio::join!(
        set_status(&sim, &id, "deactivate", &auth),
        delete(&sim, &id, "action=delete", &auth)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    let busy = if a.status() == 429 { a } else { b };
    assert_eq!(
        json(busy).await,
        json!({"code": 429, "message": "Too many concurrent requests."})
    );
    let st = sim.state();
    assert_eq!(st.rejected_concurrent, 1);
    // Exactly one of the two happened.
    let t = &st.offboarded[&id];
    assert_eq!(t.deactivations + t.deletions, 1, "{t:?} after {statuses:?}");
    assert!(
        statuses == [200, 429] || statuses == [204, 429],
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_5xx_after_the_delete_leaves_the_user_gone_and_the_retry_gets_404() {
    let sim = common::start(SimConfig {
        fault_5xx_after: 1.0,
        ..common::roomy()
    })
    .await;
    let auth = bearer(&sim);
    let (leaver, quitter, manager) = (user(&sim, 2), user(&sim, 4), user(&sim, 6));
    let q = format!("action=delete&transfer_email={}&{ALL_FOUR}", manager.email);
    assert!(
        delete(&sim, &leaver.id, &q, &auth)
            .await
            .status()
            .is_server_error()
    );
    assert!(
        set_status(&sim, &quitter.id, "deactivate", &auth)
            .await
            .status()
            .is_server_error()
    );
    let st = sim.state();
    assert_eq!(
        st.offboarded[&leaver.id].deletions, 1,
        "applied before the 5xx"
    );
    assert_eq!(st.offboarded[&quitter.id].deactivations, 1);
    assert_eq!(st.transfers.len(), 1);

    sim.set_faults(Faults::default());
    let msg = refused(delete(&sim, &leaver.id, &q, &auth).await, 404, 1001).await;
    assert!(msg.contains(&leaver.id), "the 404 is about the user: {msg}");
    refused(get(&sim, &leaver.id, &auth).await, 404, 1001).await;
    assert_eq!(
        set_status(&sim, &quitter.id, "deactivate", &auth)
            .await
            .status(),
        200
    );
    let st = sim.state();
    assert_eq!(st.offboarded[&leaver.id].deletions, 1, "nothing done twice");
    assert_eq!(st.transfers.len(), 1);
    let t = &st.offboarded[&quitter.id];
    assert_eq!((t.deactivations, t.repeated_status_calls), (1, 1));

    // A dropped connection (drawn before the side effect) loses the answer and applies nothing.
    sim.set_faults(Faults {
        fault_drop: 1.0,
        ..Faults::default()
    });
    let other = user(&sim, 7);
    let r = common::client()
        .delete(format!(
            "{}/users/{}?action=delete",
            sim.base_url(),
            other.id
        ))
        .header("Authorization", &auth)
        .send()
        .await;
    assert!(r.is_err(), "no answer");
    assert!(!sim.state().offboarded.contains_key(&other.id));
    assert_eq!(sim.state().requests.last().map(|r| r.status), Some(0));
}

#[tokio::test]
async fn state_endpoint_and_banner_show_the_offboarding() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let (leaver, manager) = (user(&sim, 2), user(&sim, 6));
    let q = format!(
        "action=delete&transfer_email={}&transfer_recording=true",
        manager.email
    );
    assert_eq!(delete(&sim, &leaver.email, &q, &auth).await.status(), 204);
    let v: Value = common::client()
        .get(format!("http://{}/_sim/state", sim.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = &v["offboarded"][leaver.id.as_str()];
    assert_eq!(t["removed"], "deleted");
    assert_eq!(t["deletions"], 1);
    assert_eq!(t["status"], "active");
    assert_eq!(
        v["transfers"][0],
        json!({
            "from": leaver.id, "from_email": leaver.email, "to": manager.id,
            "to_email": manager.email, "action": "deleted", "kinds": ["recording"],
        })
    );

    let text = zoom_offboard::sim::cli::banner(&sim);
    for want in [
        "roles: 1 owner, 4 admins, 3 custom, 91 members",
        "admin: 4 (e.g. user00010@example.com)",
        "Zoom Events: 3 (e.g. user00008@example.com)",
        "managed domain: 8 (e.g. user00005@example.com)",
        "pending: 2 (e.g. user00050@example.com)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
