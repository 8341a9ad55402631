//! The simulator's endpoints, routing, recorded state, user data and CLI flags.

use std::collections::HashSet;

use clap::Parser;
use serde_json::Value;
use zoom_offboard::plan::{Label, Plan};
use zoom_offboard::sim::{
    LimitModel, PageNumbers, RequestRecord, SimArgs, SimConfig, SimState, SimUsers, UserStatus,
    generate_users, load_users_csv,
};

use crate::common::{self, bearer, header, json, revoke};

#[tokio::test]
async fn revoke_by_id_email_any_case_and_percent_encoded_email() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let auth = bearer(&sim);
    let u = sim.users()[0].clone();
    assert_eq!(u.email, "user00001@example.com");

    let by_id = revoke(&c, &sim, &u.id, &auth).await;
    assert_eq!(by_id.status(), 204);
    assert!(header(&by_id, "x-zm-trackingid").starts_with("v=2.0;clid=aw1;rid="));
    assert_eq!(header(&by_id, "content-type"), "");
    assert_eq!(by_id.bytes().await.unwrap().len(), 0);

    assert_eq!(
        revoke(&c, &sim, "USER00001@Example.COM", &auth)
            .await
            .status(),
        204
    );
    assert_eq!(
        revoke(&c, &sim, "user00001%40example.com", &auth)
            .await
            .status(),
        204
    );

    let st = sim.state();
    assert_eq!(st.revocations.get(&u.id), Some(&3));
    assert_eq!(st.total_revocations(), 3);
    let last = st.requests.last().unwrap();
    assert_eq!(
        last.path, "/v2/users/user00001%40example.com/token",
        "raw path kept"
    );
    assert_eq!(last.user.as_deref(), Some(u.id.as_str()));
    assert_eq!(last.label, Some(Label::Light));
    assert_eq!(last.status, 204);
    assert!(st.unexpected.is_empty());
}

#[tokio::test]
async fn unknown_and_pending_users_are_not_revoked() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let auth = bearer(&sim);

    let r = revoke(&c, &sim, "nobody@example.com", &auth).await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(
        json(r).await,
        serde_json::json!({"code": 1001, "message": "User does not exist: nobody@example.com."})
    );

    // %2F stays inside the segment: one user "a/b", not a path /a/b.
    let r = revoke(&c, &sim, "a%2Fb", &auth).await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["message"], "User does not exist: a/b.");

    let pending = sim.users()[49].clone();
    assert_eq!(pending.status, UserStatus::Pending);
    let r = revoke(&c, &sim, &pending.email, &auth).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(r).await,
        serde_json::json!({"code": 1120, "message": "Invite does not exist or has expired."})
    );

    let st = sim.state();
    assert!(st.revocations.is_empty());
    assert!(st.unexpected.is_empty(), "{:?}", st.unexpected);
    assert_eq!(st.requests[1].path, "/v2/users/a%2Fb/token");
    assert_eq!(st.requests[2].user.as_deref(), Some(pending.id.as_str()));
}

#[tokio::test]
async fn get_user_resembles_the_spec() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let auth = bearer(&sim);
    let u = sim.users()[0].clone();

    let r = c
        .get(format!(
            "{}/users/{}",
            sim.base_url(),
            u.email.to_uppercase()
        ))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    let v = json(r).await;
    assert_eq!(v["id"], u.id.as_str());
    assert_eq!(v["email"], "user00001@example.com");
    assert_eq!(v["status"], "active");
    assert_eq!(v["role_id"], "0");
    assert_eq!(v["type"], 2);
    assert_eq!(
        v["display_name"],
        format!("{} {}", u.first_name, u.last_name).as_str()
    );
    for field in [
        "first_name",
        "last_name",
        "last_login_time",
        "created_at",
        "timezone",
        "pmi",
        "account_id",
    ] {
        assert!(!v[field].is_null(), "missing {field}: {v}");
    }
    assert_eq!(v["account_id"], "sim-account");

    let r = c
        .get(format!("{}/users/ghost", sim.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["code"], 1001);
}

#[tokio::test]
async fn put_status_changes_the_user() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let auth = bearer(&sim);
    let u = sim.users()[1].clone();
    let put = |body: Value, user: String| {
        let (c, auth, url) = (
            c.clone(),
            auth.clone(),
            format!("{}/users/{user}/status", sim.base_url()),
        );
        async move {
            c.put(url)
                .header("Authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    // 200, not 204: the spec's only success answer for this call.
    let r = put(serde_json::json!({"action": "deactivate"}), u.id.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sim.users()[1].status, UserStatus::Inactive);
    let r = put(serde_json::json!({"action": "activate"}), u.email.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sim.users()[1].status, UserStatus::Active);

    let r = put(serde_json::json!({"action": "explode"}), u.id.clone()).await;
    assert_eq!(r.status(), 400);
    let v = json(r).await;
    assert_eq!(v["code"], 300);
    assert_eq!(v["errors"][0]["field"], "action");

    let r = put(serde_json::json!({"action": "deactivate"}), "ghost".into()).await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["code"], 1001);
    assert!(sim.state().revocations.is_empty());
}

async fn list(
    c: &reqwest::Client,
    sim: &zoom_offboard::sim::Sim,
    query: &str,
) -> reqwest::Response {
    c.get(format!("{}/users?{query}", sim.base_url()))
        .header("Authorization", bearer(sim))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn list_users_pages_through_every_active_user() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = "status=active&page_size=30".to_string();
    loop {
        let r = list(&c, &sim, &query).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "application/json");
        let v = json(r).await;
        assert_eq!(v["page_size"], 30);
        assert_eq!(v["total_records"], 94, "100 users - 4 inactive - 2 pending");
        let users = v["users"].as_array().unwrap();
        sizes.push(users.len());
        for u in users {
            assert_eq!(u["status"], "active");
            seen.push(u["id"].as_str().unwrap().to_string());
        }
        let next = v["next_page_token"].as_str().unwrap();
        if next.is_empty() {
            break;
        }
        query = format!("page_size=30&next_page_token={next}");
    }
    assert_eq!(sizes, [30, 30, 30, 4]);
    let expected: Vec<String> = sim
        .users()
        .into_iter()
        .filter(|u| u.status == UserStatus::Active)
        .map(|u| u.id)
        .collect();
    assert_eq!(seen, expected);

    // Default page size 30; >300 is served as 300; pending users come without id.
    let v = json(list(&c, &sim, "").await).await;
    assert_eq!(v["page_size"], 30);
    assert_eq!(v["users"].as_array().unwrap().len(), 30);
    let v = json(list(&c, &sim, "page_size=1000").await).await;
    assert_eq!(v["page_size"], 300);
    assert_eq!(v["users"].as_array().unwrap().len(), 94);
    assert_eq!(v["next_page_token"], "");
    let v = json(list(&c, &sim, "status=pending").await).await;
    assert_eq!(v["total_records"], 2);
    for u in v["users"].as_array().unwrap() {
        assert!(u.get("id").is_none(), "pending users have no id: {u}");
        assert_eq!(u["status"], "pending");
    }
    let v = json(list(&c, &sim, "status=inactive").await).await;
    assert_eq!(v["total_records"], 4);

    for bad in ["page_size=0", "page_size=lots", "status=sleeping"] {
        let r = list(&c, &sim, bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        let v = json(r).await;
        assert_eq!(v["code"], 300, "{bad}");
        assert_eq!(v["message"], "Validation Failed.");
    }
    let st = sim.state();
    assert!(st.requests.iter().all(|r| r.label != Some(Label::Light)));
    assert_eq!(st.count("GET", "/users?status=pending", Some(200)), 1);
}

#[tokio::test]
async fn expired_or_unknown_page_token_is_code_300() {
    let sim = common::start(SimConfig {
        page_token_ttl: std::time::Duration::from_millis(300),
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let v = json(list(&c, &sim, "page_size=10").await).await;
    let token = v["next_page_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let r = list(&c, &sim, &format!("next_page_token={token}")).await;
    assert_eq!(r.status(), 200, "fresh token works");
    sim.advance(std::time::Duration::from_millis(400));
    for t in [token.as_str(), "bogus"] {
        let r = list(&c, &sim, &format!("next_page_token={t}")).await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            json(r).await,
            serde_json::json!({"code": 300, "message": "The next page token is invalid or expired."})
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_404_and_recorded() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let auth = bearer(&sim);
    let id = sim.users()[0].id.clone();
    let base = format!("http://{}", sim.addr());
    let reqs = [
        c.get(format!("{base}/v2/meetings")),
        c.post(format!("{base}/v2/users/{id}/token")),
        // DELETE and PATCH /v2/users/{id} are served (offboarding, downgrade); POST is not.
        c.post(format!("{base}/v2/users/{id}")),
        c.delete(format!("{base}/v2/users/a/b/token")),
        c.get(format!("{base}/v2/users/")),
        c.get(format!("{base}/oauth/token")),
    ];
    let mut tracking = HashSet::new();
    for req in reqs {
        let r = req.header("Authorization", &auth).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(tracking.insert(header(&r, "x-zm-trackingid")));
        let v = json(r).await;
        assert_eq!(v["code"], 300);
        assert!(v["message"].as_str().unwrap().starts_with("Invalid api"));
    }
    let st = sim.state();
    let paths: Vec<(&str, &str)> = st
        .unexpected
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(paths.len(), 6);
    assert_eq!(paths[0], ("GET", "/v2/meetings"));
    assert_eq!(paths[3], ("DELETE", "/v2/users/a/b/token"));
    assert!(st.unexpected.iter().all(|r| r.status == 404));
    assert!(st.revocations.is_empty());
}

#[tokio::test]
async fn state_endpoint_serves_ground_truth_as_json() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let id = sim.users()[2].id.clone();
    assert_eq!(revoke(&c, &sim, &id, &bearer(&sim)).await.status(), 204);
    let r = c
        .get(format!("http://{}/_sim/state", sim.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    let v = json(r).await;
    assert_eq!(v["revocations"][id.as_str()], 1);
    assert_eq!(v["tokens_issued"], 1);
    assert_eq!(v["requests"][0]["method"], "DELETE");
    assert_eq!(v["requests"][0]["status"], 204);
    assert_eq!(v["requests"][0]["label"], "Light");
    assert_eq!(v["requests"][0]["user"], id.as_str());
    assert_eq!(v["requests"][1]["path"], "/_sim/state");
    for k in [
        "rejected_qps",
        "rejected_daily",
        "rejected_concurrent",
        "peak_in_flight",
        "unexpected",
    ] {
        assert!(!v[k].is_null(), "{k}");
    }
}

#[test]
fn generated_users_are_deterministic_with_the_documented_pattern() {
    let a = generate_users(100, 7);
    assert_eq!(a, generate_users(100, 7));
    assert_ne!(a[0].id, generate_users(100, 8)[0].id);
    assert_eq!(a[0].email, "user00001@example.com");
    assert_eq!(a[99].email, "user00100@example.com");
    let ids: HashSet<&str> = a.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.len(), 100);
    for u in &a {
        assert_eq!(u.id.len(), 22);
        assert!(
            u.id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
    let status = |i: usize| a[i - 1].status;
    assert_eq!(status(1), UserStatus::Active);
    assert_eq!(status(20), UserStatus::Inactive);
    assert_eq!(status(40), UserStatus::Inactive);
    assert_eq!(status(50), UserStatus::Pending);
    assert_eq!(
        status(100),
        UserStatus::Pending,
        "every 50th wins over every 20th"
    );
    assert!(a[49].last_login_time.is_none());

    let big = generate_users(100_000, 1);
    assert_eq!(big[99_998].email, "user99999@example.com");
    assert_eq!(big[99_999].email, "user100000@example.com");
}

#[test]
fn users_csv_loads_and_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let ok = write(
        "ok.csv",
        "id,email,status\nabc,a@example.com,active\ndef,B@example.com,Pending\nghi,c@example.com,\n",
    );
    let users = load_users_csv(&ok).unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(users[1].status, UserStatus::Pending);
    assert_eq!(users[2].status, UserStatus::Active);
    let two_cols = write("two.csv", "email,id\nx@example.com,xid\n");
    assert_eq!(load_users_csv(&two_cols).unwrap()[0].id, "xid");

    let cases = [
        (
            "status.csv",
            "id,email,status\na,a@x.com,active\nb,b@x.com,asleep\n",
            "line 3",
        ),
        ("email.csv", "id,email\na,not-an-email\n", "line 2"),
        ("dup.csv", "id,email\na,a@x.com\nb,A@X.com\n", "line 3"),
        ("noid.csv", "id,email\n,a@x.com\n", "line 2"),
        ("header.csv", "user,mail\na,a@x.com\n", "line 1"),
        (
            "ragged.csv",
            "id,email\na,a@x.com\nb,b@x.com,extra\n",
            "line 3",
        ),
    ];
    for (name, body, line) in cases {
        let p = write(name, body);
        let err = format!("{:#}", load_users_csv(&p).unwrap_err());
        assert!(err.contains(name), "{err}");
        assert!(err.contains(line), "{name}: {err}");
    }
    let missing = load_users_csv(&dir.path().join("missing.csv")).unwrap_err();
    assert!(format!("{missing:#}").contains("missing.csv"));
}

fn rec(at_ms: u64, method: &str, path: &str, status: u16) -> RequestRecord {
    RequestRecord {
        at_ms,
        method: method.into(),
        path: path.into(),
        status,
        answered_ms: at_ms,
        label: None,
        user: None,
        expired_token: false,
    }
}

#[test]
fn state_helpers_count_and_find_the_peak_second() {
    let mut requests: Vec<RequestRecord> = [0, 10, 20, 990, 1005, 1500, 1995, 2100]
        .into_iter()
        .map(|t| rec(t, "DELETE", "/v2/users/x/token", 204))
        .collect();
    requests.push(rec(15, "GET", "/v2/users/x", 200));
    requests[2].status = 429;
    let st = SimState {
        revocations: [("a".to_string(), 2), ("b".to_string(), 1)].into(),
        requests,
        ..SimState::default()
    };
    // [0, 1000) holds 0, 10, 20, 990; [10, 1010) holds 10, 20, 990, 1005: both 4.
    assert_eq!(st.peak_starts_per_second("DELETE", "/token"), 4);
    assert_eq!(st.peak_starts_per_second("GET", "/x"), 1);
    assert_eq!(st.peak_starts_per_second("PUT", "/status"), 0);
    assert_eq!(st.count("DELETE", "/token", None), 8);
    assert_eq!(st.count("delete", "/token", Some(429)), 1);
    assert_eq!(st.count("GET", "", Some(200)), 1);
    assert_eq!(st.total_revocations(), 3);
}

#[test]
fn config_debug_redacts_secrets() {
    let cfg = SimConfig {
        client_secret: "hunter2".into(),
        static_token: Some("static-xyz".into()),
        users: SimUsers::Generated(5),
        ..SimConfig::default()
    };
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(!dbg.contains("static-xyz"), "{dbg}");
    assert!(dbg.contains("(redacted)"));
    assert!(dbg.contains("sim-client"));
}

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

fn parse(args: &[&str]) -> Result<SimArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("sim").chain(args.iter().copied())).map(|c| c.sim)
}

#[tokio::test]
async fn cli_flags_build_the_config_and_the_banner() {
    let args = parse(&[
        "--plan",
        "free",
        "--users",
        "50",
        "--rate",
        "7",
        "--medium-rate",
        "3",
        "--daily-limit",
        "99",
        "--limit-model",
        "bucket",
        "--latency-ms",
        "20..80",
        "--fault-5xx",
        "0.1",
        "--fault-5xx-after",
        "0.05",
        "--fault-drop",
        "0.01",
        "--fault-stall",
        "0.01",
        "--stall-secs",
        "5",
        "--neighbour",
        "2",
        "--token-ttl",
        "60",
        "--scopes",
        "user:delete:token:admin,user:read:admin",
        "--omit-rate-headers",
        "--seed",
        "9",
        "--static-token",
        "tok123",
        "--outage",
        "1..2.5",
    ])
    .unwrap();
    let cfg = args.to_config().unwrap();
    assert_eq!(cfg.plan, Plan::Free);
    assert_eq!(cfg.users, SimUsers::Generated(50));
    assert_eq!(cfg.light_per_second, Some(7));
    assert_eq!(cfg.medium_per_second, Some(3));
    assert_eq!(cfg.light_per_day, Some(99));
    assert_eq!(cfg.limit_model, LimitModel::TokenBucket);
    assert_eq!(cfg.latency_ms, (20, 80));
    assert_eq!(cfg.fault_5xx_before, 0.1);
    assert_eq!(cfg.stall, std::time::Duration::from_secs(5));
    assert_eq!(cfg.scopes, ["user:delete:token:admin", "user:read:admin"]);
    assert!(cfg.omit_rate_headers);
    assert_eq!(cfg.static_token.as_deref(), Some("tok123"));
    assert_eq!(cfg.outages[0].end, std::time::Duration::from_millis(2500));

    let dflt = parse(&["--latency-ms", "40"]).unwrap();
    assert_eq!(dflt.latency_ms, (40, 40));
    let cfg = dflt.to_config().unwrap();
    assert_eq!(cfg.users, SimUsers::Generated(100));
    assert_eq!(cfg.scopes, SimConfig::default().scopes);
    let token = cfg.static_token.clone().unwrap();
    assert!(token.len() > 20, "a generated static token");

    let sim = common::start(SimConfig {
        users: SimUsers::Generated(5),
        ..cfg
    })
    .await;
    let text = zoom_offboard::sim::cli::banner(&sim);
    let first = &sim.users()[0];
    for want in [
        sim.base_url(),
        sim.oauth_url(),
        "export ZOOM_ACCOUNT_ID=sim-account ZOOM_CLIENT_ID=sim-client ZOOM_CLIENT_SECRET=sim-secret"
            .to_string(),
        format!("export ZOOM_ACCESS_TOKEN={token}"),
        format!(
            "curl -X DELETE -H \"Authorization: Bearer {token}\" {}/users/{}/token",
            sim.base_url(),
            first.id
        ),
        "user00001@example.com".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    // The static token really works.
    let r = revoke(
        &common::client(),
        &sim,
        &first.id,
        &format!("Bearer {token}"),
    )
    .await;
    assert_eq!(r.status(), 204);

    for bad in [
        &["--fault-drop", "1.5"][..],
        &["--latency-ms", "80..20"],
        &["--latency-ms", "fast"],
        &["--plan", "gold"],
        &["--limit-model", "leaky"],
        &["--outage", "5..1"],
        &["--token-ttl", "0"],
        &["--users", "5", "--users-file", "x.csv"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should be refused");
    }
    let sum_over_one = parse(&["--fault-5xx", "0.6", "--fault-drop", "0.6"]).unwrap();
    let err = sum_over_one.to_config().unwrap_err().to_string();
    assert!(err.contains("more than 1"), "{err}");
    let missing = parse(&["--users-file", "/nonexistent/users.csv"]).unwrap();
    assert!(format!("{:#}", missing.to_config().unwrap_err()).contains("/nonexistent/users.csv"));
}

#[test]
fn cli_flags_make_a_workforce_a_changing_listing_and_page_number_modes() {
    let args = parse(&[
        "--workforce",
        "--users",
        "60",
        "--seed",
        "5",
        "--roster-out",
        "hr.csv",
        "--list-churn",
        "--page-numbers",
        "ignored",
    ])
    .unwrap();
    let cfg = args.to_config().unwrap();
    let w = zoom_offboard::sim::workforce(60, 5);
    assert_eq!(cfg.users, SimUsers::List(w.users.clone()));
    assert_eq!(
        args.workforce().unwrap().roster,
        w.roster,
        "the roster matches"
    );
    assert!(cfg.list_churn);
    assert_eq!(cfg.page_numbers, PageNumbers::Ignored);
    let dflt = parse(&[]).unwrap().to_config().unwrap();
    assert!(!dflt.list_churn);
    assert_eq!(dflt.page_numbers, PageNumbers::Served);
    assert_eq!(dflt.users, SimUsers::Generated(100));
    let rejected = parse(&["--page-numbers", "rejected"]).unwrap();
    assert_eq!(
        rejected.to_config().unwrap().page_numbers,
        PageNumbers::Rejected
    );
    for bad in [
        &["--roster-out", "hr.csv"][..],
        &["--workforce", "--users-file", "x.csv"],
        &["--page-numbers", "sometimes"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should be refused");
    }
}
