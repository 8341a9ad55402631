//! The product's own offboarding requests, and the simulator's answers to them, through Prism.
//!
//! The parent module's test sends the offboarding calls as raw requests written by hand, which
//! shows the simulator answers as the spec says; it cannot show that `offboard` asks as the spec
//! says. Here `offboard` runs in-process with its base URL on the recorder in front of Prism, so
//! every `GET /users/{userId}` lookup (role_name, login_types), `PUT /users/{userId}/status`
//! and `PATCH /users/{userId}` with their JSON bodies, and `DELETE /users/{userId}?action=...`
//! with all eight transfer flags that the product builds ([`ZoomCall::deactivate`],
//! [`ZoomCall::downgrade`], [`ZoomCall::remove`]) is checked both ways.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use zoom_offboard::exit::Exit;
use zoom_offboard::input::UserId;
use zoom_offboard::report::Status;
use zoom_offboard::request::tokens::Token;
use zoom_offboard::sim::{Removal, Sim};
use zoom_offboard::step::Step;
use zoom_offboard::transfer::TransferKinds;
use zoom_offboard::zoom::{Outcome, Transfer, ZoomCall, ZoomClient, http_client};

use super::{Exchange, assert_conforms, prism_in_front_of, snapshot, unexplained};
use crate::offboard::{account, by_step, ob_args, run_ob, sim_config};
use crate::revoke_support::write_input;

/// `offboard --steps STEPS` reading `lines`, through `base`; returns the exit and last rows.
async fn offboard_through(
    sim: &Sim,
    base: &str,
    dir: &std::path::Path,
    name: &str,
    lines: &[&str],
    steps: &str,
    tweak: impl FnOnce(&mut zoom_offboard::cli::OffboardArgs),
) -> (Exit, crate::offboard::LastRows) {
    let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let input = write_input(dir, &format!("{name}.csv"), &lines);
    let report = dir.join(format!("{name}-report.csv"));
    let mut a = ob_args(sim, &input, &report, steps);
    a.run.conn.base_url = Some(base.to_string());
    tweak(&mut a);
    let exit = run_ob(sim, &a).await;
    (exit, by_step(&report).0)
}

/// The status of `user`'s `step` row.
fn status(last: &crate::offboard::LastRows, user: &str, step: Step) -> (Status, Option<i64>) {
    let r = last
        .get(&(user.to_string(), Some(step)))
        .unwrap_or_else(|| panic!("no {step} row for {user}"));
    (r.status, r.error_code)
}

/// Every `offboard` shape that sends a different request through Prism: revoke, deactivate and
/// delete with one transfer target (a Zoom Events refusal and a user not found among them),
/// disassociate with per-row targets, disassociate with `--no-transfer --include-admins` (an
/// admin's 1117 refusal), and a dry run with lookups. No violation may go unexplained, and the
/// recorded requests must carry exactly the parameters and body the product means to send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboard_requests_and_answers_meet_zooms_spec() {
    let sim = Sim::start(sim_config(account()))
        .await
        .expect("start simulator");
    let (prism, base, log) = prism_in_front_of(sim.base_url()).await;
    let dir = tempfile::tempdir().expect("tempdir");

    // 1. revoke, deactivate, delete with one transfer target. The Zoom Events user's deactivate
    //    is Zoom's refusal (400 code 300); the ghost is not found by the revoke or the lookup.
    let (exit, last) = offboard_through(
        &sim,
        &base,
        dir.path(),
        "delete",
        &[
            "email",
            "leaver00@example.com",
            "leaver01@example.com",
            "OffUser000000000000012",
            "events@example.com",
            "ghost@example.com",
        ],
        "revoke,deactivate,delete",
        |a| a.transfer_to = Some("mgr.a@example.com".into()),
    )
    .await;
    assert_conforms(
        &log,
        "offboard --steps revoke,deactivate,delete --transfer-to",
    );
    assert_eq!(exit, Exit::SomeFailed, "{last:?}");
    for u in [
        "leaver00@example.com",
        "leaver01@example.com",
        "offuser000000000000012",
    ] {
        assert_eq!(
            status(&last, u, Step::Deactivate).0,
            Status::Deactivated,
            "{u}"
        );
        assert_eq!(status(&last, u, Step::Delete).0, Status::Deleted, "{u}");
    }
    assert_eq!(
        status(&last, "events@example.com", Step::Deactivate),
        (Status::Refused, Some(300))
    );
    assert_eq!(
        status(&last, "ghost@example.com", Step::Revoke).0,
        Status::NotFound
    );

    // 2. disassociate with each row's own target (by email, by Zoom id, a blank: the fallback).
    let (exit, last) = offboard_through(
        &sim,
        &base,
        dir.path(),
        "disassociate",
        &[
            "email,manager",
            "leaver04@example.com,mgr.a@example.com",
            "leaver05@example.com,OffUser000000000000041",
            "leaver06@example.com,",
        ],
        "disassociate",
        |a| {
            a.transfer_column = Some("manager".into());
            a.transfer_to = Some("mgr.b@example.com".into());
        },
    )
    .await;
    assert_conforms(
        &log,
        "offboard --steps disassociate --transfer-column manager",
    );
    assert_eq!(exit, Exit::Success, "{last:?}");
    let to = |from: &str| {
        sim.state()
            .transfers
            .iter()
            .find(|t| t.from_email == from)
            .map(|t| (t.to_email.clone(), t.action))
    };
    assert_eq!(
        to("leaver04@example.com"),
        Some(("mgr.a@example.com".into(), Removal::Disassociated))
    );
    assert_eq!(
        to("leaver05@example.com"),
        Some(("mgr.b@example.com".into(), Removal::Disassociated))
    );
    assert_eq!(
        to("leaver06@example.com"),
        Some(("mgr.b@example.com".into(), Removal::Disassociated))
    );

    // 3. disassociate, nothing moved, admins allowed: an admin is Zoom's refusal (1117), a
    //    managed-domain user too (1107), a custom role goes.
    let (exit, last) = offboard_through(
        &sim,
        &base,
        dir.path(),
        "admins",
        &[
            "email",
            "admin@example.com",
            "managed@example.com",
            "helpdesk@example.com",
        ],
        "disassociate",
        |a| {
            a.no_transfer = true;
            a.include_admins = true;
        },
    )
    .await;
    assert_conforms(
        &log,
        "offboard --steps disassociate --no-transfer --include-admins",
    );
    assert_eq!(exit, Exit::SomeFailed, "{last:?}");
    assert_eq!(
        status(&last, "admin@example.com", Step::Disassociate),
        (Status::Refused, Some(1117))
    );
    assert_eq!(
        status(&last, "managed@example.com", Step::Disassociate),
        (Status::Refused, Some(1107))
    );
    assert_eq!(
        status(&last, "helpdesk@example.com", Step::Disassociate).0,
        Status::Disassociated
    );

    // 4. A dry run with lookups: GETs only, a password user and the owner among them.
    let writes_before = sim.state().requests.len();
    let (exit, last) = offboard_through(
        &sim,
        &base,
        dir.path(),
        "dry",
        &[
            "email,manager",
            "leaver07@example.com,mgr.a@example.com",
            "password@example.com,mgr.b@example.com",
            "owner@example.com,mgr.a@example.com",
            "nobody@example.com,mgr.a@example.com",
        ],
        "revoke,deactivate,delete",
        |a| {
            a.transfer_column = Some("manager".into());
            a.run.dry_run = true;
        },
    )
    .await;
    assert_conforms(&log, "offboard --dry-run");
    assert_eq!(exit, Exit::SomeFailed, "{last:?}");
    assert_eq!(
        status(&last, "leaver07@example.com", Step::Delete).0,
        Status::WouldDelete
    );
    assert_eq!(
        status(&last, "nobody@example.com", Step::Revoke).0,
        Status::NotFound
    );
    assert!(
        sim.state().requests[writes_before..]
            .iter()
            .filter(|r| r.path.starts_with("/v2/"))
            .all(|r| r.method == "GET"),
        "the dry run wrote nothing"
    );

    // 5. downgrade, then disassociate handing over two kinds only: PATCH with its body, the
    //    Zoom Events user's downgrade refused (400 code 300), every flag sent true or false.
    let (exit, last) = offboard_through(
        &sim,
        &base,
        dir.path(),
        "downgrade",
        &[
            "email",
            "leaver08@example.com",
            "leaver09@example.com",
            "events@example.com",
        ],
        "downgrade,disassociate",
        |a| {
            a.transfer_to = Some("mgr.a@example.com".into());
            a.transfer_kinds = Some("meeting,recording".into());
        },
    )
    .await;
    assert_conforms(
        &log,
        "offboard --steps downgrade,disassociate --transfer-kinds meeting,recording",
    );
    assert_eq!(exit, Exit::SomeFailed, "{last:?}");
    for u in ["leaver08@example.com", "leaver09@example.com"] {
        assert_eq!(status(&last, u, Step::Downgrade).0, Status::Downgraded);
        assert_eq!(
            status(&last, u, Step::Disassociate).0,
            Status::Disassociated
        );
    }
    assert_eq!(
        status(&last, "events@example.com", Step::Downgrade),
        (Status::Refused, Some(300))
    );

    // What the product sent, exchange by exchange: every request was validated, and each kind
    // carried exactly what the product means to send.
    let exchanges = snapshot(&log);
    prism.check_log_against(&exchanges);
    // Stricter than assert_conforms: not even a RELAXED case (no 401 in these runs).
    let flagged: Vec<&Exchange> = exchanges
        .iter()
        .filter(|x| x.prism_error || !x.violations.is_empty())
        .collect();
    assert!(flagged.is_empty(), "flagged by Prism: {flagged:#?}");
    let puts: Vec<&Exchange> = exchanges.iter().filter(|x| x.method == "PUT").collect();
    assert_eq!(puts.len(), 4, "leaver00, leaver01, the id, the events user");
    for x in &puts {
        assert!(x.path.ends_with("/status"), "{}", x.path);
        assert_eq!(x.request, json!({"action": "deactivate"}), "{}", x.path);
    }
    let patches: Vec<&Exchange> = exchanges.iter().filter(|x| x.method == "PATCH").collect();
    assert_eq!(patches.len(), 3, "leaver08, leaver09, the events user");
    for x in &patches {
        assert_eq!(x.request, json!({"type": 1}), "{}", x.path);
    }
    let removals: Vec<&Exchange> = exchanges
        .iter()
        .filter(|x| x.method == "DELETE" && !x.path.contains("/token"))
        .collect();
    assert_eq!(
        removals.len(),
        11,
        "3 deletes, 3 transfers to managers, 3 without, 2 with two kinds"
    );
    // All eight flags of the spec, each true, unless --transfer-kinds chose two.
    let all = "transfer_meeting=true&transfer_webinar=true&transfer_recording=true\
               &transfer_whiteboard=true&transfer_clipfiles=true&transfer_notes=true\
               &transfer_visitors=true&transfer_docs=true";
    let two = "transfer_meeting=true&transfer_webinar=false&transfer_recording=true\
               &transfer_whiteboard=false&transfer_clipfiles=false&transfer_notes=false\
               &transfer_visitors=false&transfer_docs=false";
    let mut with_two = 0;
    for x in &removals {
        let (_, query) = x.path.split_once('?').expect("a removal has a query");
        let ok = query.starts_with("action=delete&transfer_email=mgr.a%40example.com&")
            || query.starts_with("action=disassociate&transfer_email=mgr.")
            || query == "action=disassociate";
        assert!(ok, "unexpected removal {}", x.path);
        if query.contains("transfer_email=") {
            assert!(query.ends_with(all) || query.ends_with(two), "{}", x.path);
            with_two += usize::from(query.ends_with(two));
        }
        assert_eq!(x.request, Value::Null, "no body on a DELETE: {}", x.path);
    }
    assert_eq!(
        with_two, 2,
        "the two kinds went with the downgrade run only"
    );
    let has = |m: &str, path_has: &str, status: u16, code: Option<i64>| {
        exchanges.iter().any(|x| {
            x.method == m && x.path.contains(path_has) && x.status == status && x.code == code
        })
    };
    assert!(has("PUT", "/status", 200, None));
    assert!(has("PUT", "/status", 400, Some(300)));
    assert!(has("PATCH", "/users/leaver08", 204, None));
    assert!(has("PATCH", "/users/events", 400, Some(300)));
    assert!(has("DELETE", "?action=delete&transfer_email=", 204, None));
    assert!(has(
        "DELETE",
        "?action=disassociate&transfer_email=",
        204,
        None
    ));
    assert!(has("DELETE", "?action=disassociate", 400, Some(1117)));
    assert!(has("DELETE", "?action=disassociate", 400, Some(1107)));
    assert!(has("GET", "/users/nobody@example.com", 404, Some(1001)));
    for (role, login) in [
        ("Member", 101),
        ("Admin", 101),
        ("Owner", 101),
        ("Member", 100),
    ] {
        assert!(
            exchanges.iter().any(|x| x.method == "GET"
                && x.status == 200
                && x.body["role_name"] == role
                && x.body["login_types"] == json!([login])),
            "a lookup answer with role {role} and login type {login} was validated"
        );
    }
    sim.shutdown().await;
}

/// A test of the test: the product's own deactivate and removal calls, each spoilt in one
/// place, sent by the product's client through Prism in front of the simulator, are flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_offboarding_request_is_flagged() {
    let sim = Sim::start(sim_config(account()))
        .await
        .expect("start simulator");
    let (prism, base, log) = prism_in_front_of(sim.base_url()).await;
    let http = http_client(Duration::from_secs(10), 2).expect("http client");
    let token = Token {
        secret: SecretString::from(sim.issue_token()),
        generation: 0,
    };
    let client = ZoomClient::new(http, &base);
    let user = UserId::parse("leaver00@example.com").expect("an email");

    let mut bad_body = ZoomCall::deactivate(&user);
    bad_body.json = Some(json!({"action": "suspend"}));
    let to = Transfer::To {
        email: "mgr.a@example.com".into(),
        kinds: TransferKinds::all(),
    };
    let mut bad_flag = ZoomCall::remove(&user, true, &to);
    for (name, value) in &mut bad_flag.query {
        if *name == "transfer_meeting" {
            *value = "yes".into();
        }
    }
    // The well-formed calls first, so a flag below is the spoilt part's, not the call's.
    for (call, spoilt) in [
        (ZoomCall::deactivate(&user), None),
        (bad_body, Some("a status action the spec lacks")),
        (bad_flag, Some("a transfer flag that is not a boolean")),
    ] {
        let before = snapshot(&log).len();
        let attempt = client.attempt(&call, &token).await;
        let after = snapshot(&log);
        assert_eq!(after.len(), before + 1, "one exchange recorded");
        let bad = unexplained(&after[before..]);
        match spoilt {
            None => {
                assert!(bad.is_empty(), "the product's own call: {bad:?}");
                assert!(matches!(attempt.outcome, Outcome::Done { .. }));
            }
            Some(what) => {
                assert!(!bad.is_empty(), "{what}: {call:?} went through unflagged");
                assert!(
                    !matches!(attempt.outcome, Outcome::Done { .. }),
                    "{what}: the tool saw success"
                );
                eprintln!("caught {what}: {}", bad.join(" | "));
            }
        }
    }
    // Prism answered the spoilt calls itself: the simulator saw the deactivate only.
    let state = sim.state();
    assert_eq!(state.count("PUT", "/status", None), 1);
    assert_eq!(state.count("DELETE", "", None), 0);
    prism.check_log_against(&snapshot(&log));
    sim.shutdown().await;
}
