//! The simulator's Server-to-Server OAuth: token endpoint, expiry, static token, scopes.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use zoom_offboard::sim::{Sim, SimConfig};

use crate::common::{self, header, json, revoke};

fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Asks for a token with the parameters in the query string.
async fn token_via_query(
    c: &reqwest::Client,
    sim: &Sim,
    auth: &str,
    query: &str,
) -> reqwest::Response {
    c.post(format!("{}?{query}", sim.oauth_url()))
        .header("Authorization", auth)
        .send()
        .await
        .unwrap()
}

async fn token(c: &reqwest::Client, sim: &Sim) -> String {
    let r = token_via_query(
        c,
        sim,
        &basic("sim-client", "sim-secret"),
        "grant_type=account_credentials&account_id=sim-account",
    )
    .await;
    assert_eq!(r.status(), 200);
    json(r).await["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn token_endpoint_accepts_query_or_form_parameters() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let r = token_via_query(
        &c,
        &sim,
        &basic("sim-client", "sim-secret"),
        "grant_type=account_credentials&account_id=sim-account",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert!(!header(&r, "x-zm-trackingid").is_empty());
    let v = json(r).await;
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["scope"], "user:write:admin user:read:admin");
    assert_eq!(v["api_url"], format!("http://{}", sim.addr()).as_str());
    let t1 = v["access_token"].as_str().unwrap().to_string();

    let r = c
        .post(sim.oauth_url())
        .header("Authorization", basic("sim-client", "sim-secret"))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", "sim-account"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t2 = json(r).await["access_token"].as_str().unwrap().to_string();
    assert_ne!(t1, t2);

    // Several tokens are valid at once.
    let ids = common::active_ids(&sim, 2);
    assert_eq!(
        revoke(&c, &sim, &ids[0], &format!("Bearer {t1}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        revoke(&c, &sim, &ids[1], &format!("Bearer {t2}"))
            .await
            .status(),
        204
    );
    let st = sim.state();
    assert_eq!(st.tokens_issued, 2);
    assert_eq!(
        st.count(
            "POST",
            "/oauth/token?grant_type=account_credentials&account_id=sim-account",
            Some(200)
        ),
        1
    );
    assert_eq!(
        st.count("POST", "/oauth/token", Some(200)),
        1,
        "form variant has no query"
    );
}

#[tokio::test]
async fn token_endpoint_errors_use_the_oauth_shape() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let good = "grant_type=account_credentials&account_id=sim-account";
    for auth in [
        basic("sim-client", "wrong"),
        basic("other", "sim-secret"),
        "Basic !!!".into(),
        "".into(),
    ] {
        let r = token_via_query(&c, &sim, &auth, good).await;
        assert_eq!(r.status(), 401, "{auth}");
        assert_eq!(
            json(r).await,
            json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
        );
    }
    let auth = basic("sim-client", "sim-secret");
    for query in [
        "grant_type=account_credentials&account_id=other",
        "grant_type=account_credentials",
        "account_id=sim-account",
        "grant_type=client_credentials&account_id=sim-account",
    ] {
        let r = token_via_query(&c, &sim, &auth, query).await;
        assert_eq!(r.status(), 400, "{query}");
        let v = json(r).await;
        assert_eq!(v["error"], "invalid_request", "{query}");
        assert!(v["reason"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert_eq!(sim.state().tokens_issued, 0);
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    let sim = common::start(SimConfig {
        token_ttl: Duration::from_secs(1),
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let ids = common::active_ids(&sim, 3);
    let t = format!("Bearer {}", token(&c, &sim).await);
    assert_eq!(revoke(&c, &sim, &ids[0], &t).await.status(), 204);
    // The simulator's clock, moved past the token's second of life: no sleep.
    sim.advance(Duration::from_millis(1200));
    let r = revoke(&c, &sim, &ids[1], &t).await;
    assert_eq!(r.status(), 401);
    assert!(!header(&r, "x-zm-trackingid").is_empty());
    assert_eq!(
        json(r).await,
        json!({"code": 124, "message": "Access token is expired."})
    );
    let fresh = format!("Bearer {}", token(&c, &sim).await);
    assert_eq!(revoke(&c, &sim, &ids[1], &fresh).await.status(), 204);
    assert!(!sim.state().revocations.contains_key(&ids[2]));
}

#[tokio::test]
async fn expire_all_tokens_spares_the_static_token() {
    let sim = common::start(SimConfig {
        static_token: Some("static-abc".into()),
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let ids = common::active_ids(&sim, 4);
    let a = format!("Bearer {}", sim.issue_token());
    let b = format!("Bearer {}", token(&c, &sim).await);
    sim.expire_all_tokens();
    for t in [&a, &b] {
        let r = revoke(&c, &sim, &ids[0], t).await;
        assert_eq!(r.status(), 401);
        assert_eq!(json(r).await["message"], "Access token is expired.");
    }
    assert_eq!(
        revoke(&c, &sim, &ids[1], "Bearer static-abc")
            .await
            .status(),
        204
    );
    let new = format!("Bearer {}", sim.issue_token());
    assert_eq!(revoke(&c, &sim, &ids[2], &new).await.status(), 204);
    assert_eq!(sim.state().tokens_issued, 3);
    // Ground truth marks exactly the calls made with an expired token.
    let st = sim.state();
    let marked: Vec<bool> = st
        .requests
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.expired_token)
        .collect();
    assert_eq!(marked, [true, true, false, false]);
    assert!(!sim.state().revocations.contains_key(&ids[0]));
}

#[tokio::test]
async fn unknown_or_missing_tokens_are_invalid() {
    let sim = common::start(common::roomy()).await;
    let c = common::client();
    let id = &common::active_ids(&sim, 1)[0];
    for auth in ["Bearer not-a-token", "Basic abc", ""] {
        let r = revoke(&c, &sim, id, auth).await;
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(header(&r, "content-type"), "application/json");
        assert_eq!(
            json(r).await,
            json!({"code": 124, "message": "Invalid access token."})
        );
    }
    let r = c
        .get(format!("{}/users", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(sim.state().revocations.is_empty());
    assert!(
        sim.state().requests.iter().all(|r| !r.expired_token),
        "invalid is not expired"
    );
}

async fn call(
    c: &reqwest::Client,
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    auth: &str,
) -> reqwest::Response {
    let mut req = c
        .request(method.clone(), format!("{}{path}", sim.base_url()))
        .header("Authorization", auth);
    if method == reqwest::Method::PUT {
        req = req.json(&json!({"action": "deactivate"}));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn missing_scopes_name_the_granular_scope_and_are_checked_at_call_time() {
    let sim = common::start(SimConfig {
        scopes: vec!["user:read:admin".into()],
        ..common::roomy()
    })
    .await;
    let c = common::client();
    let t = format!("Bearer {}", token(&c, &sim).await);
    let ids = common::active_ids(&sim, 3);
    let (get, del, put) = (
        reqwest::Method::GET,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    );

    let r = call(
        &c,
        &sim,
        del.clone(),
        &format!("/users/{}/token", ids[0]),
        &t,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(r).await,
        json!({"code": 4711, "message": "Invalid access token, does not contain scopes:[user:delete:token:admin]."})
    );
    let r = call(
        &c,
        &sim,
        put.clone(),
        &format!("/users/{}/status", ids[0]),
        &t,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("[user:update:status:admin]")
    );
    assert_eq!(
        call(&c, &sim, get.clone(), &format!("/users/{}", ids[0]), &t)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&c, &sim, get.clone(), "/users", &t).await.status(),
        200
    );

    // Granular scopes, changed mid-run: the same token now may revoke but not read.
    sim.set_scopes(vec!["user:delete:token:admin".into()]);
    assert_eq!(
        call(
            &c,
            &sim,
            del.clone(),
            &format!("/users/{}/token", ids[0]),
            &t
        )
        .await
        .status(),
        204
    );
    let r = call(&c, &sim, get.clone(), &format!("/users/{}", ids[0]), &t).await;
    assert_eq!(r.status(), 400);
    let v = json(r).await;
    assert_eq!(v["code"], 4711);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("[user:read:user:admin]")
    );
    let r = call(&c, &sim, get.clone(), "/users", &t).await;
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("[user:read:list_users:admin]")
    );

    sim.set_scopes(vec![
        "user:read:user:admin".into(),
        "user:read:list_users:admin".into(),
        "user:update:status:admin".into(),
    ]);
    assert_eq!(
        call(&c, &sim, get.clone(), &format!("/users/{}", ids[1]), &t)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&c, &sim, get.clone(), "/users", &t).await.status(),
        200
    );
    assert_eq!(
        call(&c, &sim, put, &format!("/users/{}/status", ids[1]), &t)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&c, &sim, del, &format!("/users/{}/token", ids[2]), &t)
            .await
            .status(),
        400
    );

    // A new token reports the scopes granted now.
    let r = token_via_query(
        &c,
        &sim,
        &basic("sim-client", "sim-secret"),
        "grant_type=account_credentials&account_id=sim-account",
    )
    .await;
    assert_eq!(
        json(r).await["scope"],
        "user:read:user:admin user:read:list_users:admin user:update:status:admin"
    );
    assert_eq!(sim.state().total_revocations(), 1);
}
