//! The simulator's licence rules, as raw HTTP: `PATCH /users/{id}` (type changes, Zoom Room
//! users, Zoom Events, the account's Basic cap, pending and unknown users, its scope) and the
//! transfer target's licences on `DELETE /users/{id}` (recordings need a paid target, webinars
//! a webinar licence), with every kind of data in the ground truth.
//!
//! Generated users (100, seed 1): user 7 (and every seventh) is Basic, user 8 has Zoom Events,
//! user 50 is pending; everyone else used here is a Licensed member.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use zoom_offboard::sim::{BasicCap, Sim, SimConfig, TransferKind};

use crate::common::{self, bearer, json};
use crate::sim_offboard::{call, delete, refused, user};

async fn patch(sim: &Sim, who: &str, body: Value, auth: &str) -> Response {
    call(
        sim,
        Method::PATCH,
        &format!("/users/{who}"),
        auth,
        Some(body),
    )
    .await
}

/// Every transfer flag of the spec set to `value`, as a query string.
fn all_kinds(value: bool) -> String {
    TransferKind::ALL
        .iter()
        .map(|k| format!("{}={value}", k.param()))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn a_downgrade_changes_the_type_once_and_a_repeat_changes_nothing() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let member = user(&sim, 2);
    assert_eq!(member.user_type, 2);
    let r = patch(&sim, &member.email, json!({"type": 1}), &auth).await;
    assert_eq!(r.status(), 204);
    assert_eq!(user(&sim, 2).user_type, 1);
    let shown = json(
        call(
            &sim,
            Method::GET,
            &format!("/users/{}", member.id),
            &auth,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(shown["type"], 1);
    assert_eq!(
        patch(&sim, &member.id, json!({"type": 1}), &auth)
            .await
            .status(),
        204
    );
    let t = &sim.state().offboarded[&member.id];
    assert_eq!(
        (
            t.user_type,
            t.downgrades,
            t.repeated_type_calls,
            t.type_changes
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(sim.state().total_downgrades(), 1);
    // Back to Licensed is a type change, not a downgrade; a body without `type` changes nothing.
    assert_eq!(
        patch(&sim, &member.id, json!({"type": 2}), &auth)
            .await
            .status(),
        204
    );
    assert_eq!(
        patch(&sim, &member.id, json!({"job_title": "x"}), &auth)
            .await
            .status(),
        204
    );
    let t = &sim.state().offboarded[&member.id];
    assert_eq!((t.user_type, t.downgrades, t.type_changes), (2, 1, 1));
}

#[tokio::test]
async fn zoom_refuses_downgrades_as_its_spec_says() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let room = user(&sim, 3);
    assert!(sim.set_zoom_room(&room.email, true));
    let msg = refused(
        patch(&sim, &room.id, json!({"type": 1}), &auth).await,
        400,
        200,
    )
    .await;
    assert!(
        msg.starts_with("A Zoom Room user cannot be changed"),
        "{msg}"
    );
    let events = user(&sim, 8);
    let msg = refused(
        patch(&sim, &events.id, json!({"type": 1}), &auth).await,
        400,
        300,
    )
    .await;
    assert!(msg.contains("upcoming Zoom Events"), "{msg}");
    refused(
        patch(&sim, &user(&sim, 50).email, json!({"type": 1}), &auth).await,
        400,
        1120,
    )
    .await;
    refused(
        patch(&sim, "nobody@example.com", json!({"type": 1}), &auth).await,
        404,
        1001,
    )
    .await;
    for bad in [json!({"type": 3}), json!({"type": "basic"}), json!([1])] {
        let msg = refused(patch(&sim, &user(&sim, 4).id, bad, &auth).await, 400, 300).await;
        assert_eq!(msg, "Validation Failed.");
    }
    // A Zoom Room's user can still be made Licensed; none of the refusals changed anything.
    assert_eq!(
        patch(&sim, &room.id, json!({"type": 2}), &auth)
            .await
            .status(),
        204
    );
    let st = sim.state();
    assert_eq!(st.total_downgrades(), 0);
    assert_eq!(st.offboarded[&room.id].repeated_type_calls, 1);
    assert!(!st.offboarded.contains_key(&events.id));
    assert!(sim.set_zoom_events(&events.email, false));
    assert_eq!(
        patch(&sim, &events.id, json!({"type": 1}), &auth)
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn the_basic_cap_refuses_new_basic_users_but_not_repeats() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let basic_now = sim.users().iter().filter(|u| u.user_type == 1).count();
    assert!(basic_now > 5, "every seventh generated user is Basic");
    sim.set_basic_cap(Some(BasicCap {
        max: basic_now + 1,
        code: 3412,
    }));
    let (a, b, basic) = (user(&sim, 2), user(&sim, 4), user(&sim, 7));
    assert_eq!(
        patch(&sim, &a.id, json!({"type": 1}), &auth).await.status(),
        204
    );
    let msg = refused(
        patch(&sim, &b.id, json!({"type": 1}), &auth).await,
        400,
        3412,
    )
    .await;
    assert!(
        msg.contains(&format!("\"{}\" Basic users", basic_now + 1)),
        "{msg}"
    );
    assert_eq!(
        patch(&sim, &basic.id, json!({"type": 1}), &auth)
            .await
            .status(),
        204,
        "already Basic: the cap is not passed"
    );
    sim.set_basic_cap(Some(BasicCap {
        max: basic_now + 1,
        code: 2033,
    }));
    let msg = refused(
        patch(&sim, &b.id, json!({"type": 1}), &auth).await,
        400,
        2033,
    )
    .await;
    assert!(msg.contains("maximum basic user limit"), "{msg}");
    sim.set_basic_cap(None);
    assert_eq!(
        patch(&sim, &b.id, json!({"type": 1}), &auth).await.status(),
        204
    );
    assert_eq!(sim.state().total_downgrades(), 2);
    let bad = SimConfig {
        basic_cap: Some(BasicCap { max: 1, code: 300 }),
        ..common::roomy()
    };
    assert!(
        Sim::start(bad).await.is_err(),
        "only 2033 and 3412 are cap codes"
    );
}

#[tokio::test]
async fn the_update_needs_its_scope() {
    let sim = common::start(SimConfig {
        scopes: vec!["user:update:status:admin".into()],
        ..common::roomy()
    })
    .await;
    let auth = bearer(&sim);
    let msg = refused(
        patch(&sim, &user(&sim, 2).id, json!({"type": 1}), &auth).await,
        400,
        4711,
    )
    .await;
    assert!(msg.contains("user:update:user:admin"), "{msg}");
    sim.set_scopes(vec!["user:update:user:admin".into()]);
    assert_eq!(
        patch(&sim, &user(&sim, 2).id, json!({"type": 1}), &auth)
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn every_kind_arrives_and_targets_must_hold_the_licences_for_it() {
    let sim = common::start(common::roomy()).await;
    let auth = bearer(&sim);
    let (leaver, manager, basic) = (user(&sim, 2), user(&sim, 6), user(&sim, 7));
    assert_eq!(basic.user_type, 1);

    // Recordings to a Basic target: 300, nothing applied.
    let q = |to: &str, kinds: &str| format!("action=delete&transfer_email={to}&{kinds}");
    let msg = refused(
        delete(&sim, &leaver.id, &q(&basic.email, &all_kinds(true)), &auth).await,
        400,
        300,
    )
    .await;
    assert!(msg.contains("Licensed or higher license"), "{msg}");
    assert!(sim.state().transfers.is_empty());

    // Webinars from a webinar host to a target without a webinar licence: 300.
    assert!(sim.set_webinar_licence(&leaver.email, true));
    let msg = refused(
        delete(
            &sim,
            &leaver.id,
            &q(&manager.email, &all_kinds(true)),
            &auth,
        )
        .await,
        400,
        300,
    )
    .await;
    assert!(msg.contains("webinar license"), "{msg}");
    assert!(sim.set_webinar_licence(&manager.email, true));

    // All eight kinds, recorded as such.
    let r = delete(
        &sim,
        &leaver.id,
        &q(&manager.email, &all_kinds(true)),
        &auth,
    )
    .await;
    assert_eq!(r.status(), 204);
    let st = sim.state();
    assert_eq!(
        st.kinds_received(&manager.email, &leaver.email),
        TransferKind::ALL.to_vec()
    );

    // A Basic target receives what needs no licence; `false` flags move nothing.
    let other = user(&sim, 4);
    let kinds = format!(
        "{}&transfer_recording=false",
        TransferKind::ALL
            .iter()
            .filter(|k| **k != TransferKind::Recording)
            .map(|k| format!("{}=true", k.param()))
            .collect::<Vec<_>>()
            .join("&")
    );
    let r = delete(&sim, &other.id, &q(&basic.email, &kinds), &auth).await;
    assert_eq!(r.status(), 204);
    let got = sim.state().kinds_received(&basic.email, &other.email);
    assert_eq!(got.len(), 7);
    assert!(!got.contains(&TransferKind::Recording));
}

#[test]
fn users_csv_takes_type_zoom_room_and_webinar_licence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.csv");
    std::fs::write(
        &path,
        "id,email,type,zoom_room,webinar_licence\n\
         a,a@x.com,1,yes,\n\
         b,b@x.com,,,true\n",
    )
    .unwrap();
    let u = zoom_offboard::sim::load_users_csv(&path).unwrap();
    assert_eq!(
        (u[0].user_type, u[0].zoom_room, u[0].webinar_licence),
        (1, true, false)
    );
    assert_eq!(
        (u[1].user_type, u[1].zoom_room, u[1].webinar_licence),
        (2, false, true)
    );
    std::fs::write(&path, "id,email,type\na,a@x.com,3\n").unwrap();
    let err = zoom_offboard::sim::load_users_csv(&path).unwrap_err();
    assert!(format!("{err:#}").contains("line 2"), "{err:#}");
}
