//! Hostile and broken servers (SECURITY.md, "A misconfigured or hostile endpoint"): the real
//! binary against a raw HTTP server that scripts answers no real Zoom would give. Each run has a
//! well-behaved user beside the hostile one, and must end in a clear per-user status or a clean
//! stop: no panic, no hang (every run is bounded), and every user in the report exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use zoom_offboard::report::{Row, Status};

use crate::common::bin::{Bin, BinRun};
use crate::sec_support::*;

/// Hard bound for one run; the assertions below ask for much less.
const LIMIT: Duration = Duration::from_secs(30);

/// The users of every run: `good@example.com` is answered 204; the others get the script.
struct Run {
    out: BinRun,
    rows: Vec<Row>,
    dir: tempfile::TempDir,
}

impl Run {
    fn row(&self, user: &str) -> &Row {
        let found: Vec<&Row> = self.rows.iter().filter(|r| r.user == user).collect();
        assert_eq!(found.len(), 1, "{user}: {:?}", self.rows);
        found[0]
    }
}

/// Runs `revoke` of `good@example.com` and `users` against `api` (base URL), static token,
/// `--timeout 0.5 --max-retries 1`, plus `extra` flags.
async fn revoke_against(api: &str, users: &[&str], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("users.txt");
    let mut all = vec!["good@example.com"];
    all.extend_from_slice(users);
    std::fs::write(&input, all.join("\n") + "\n").unwrap();
    let report = dir.path().join("report.csv");
    let (report_s, input_s) = (report.display().to_string(), input.display().to_string());
    let mut args = vec![
        "revoke",
        "--yes",
        "--no-progress",
        "--config",
        "/dev/null",
        "--base-url",
        api,
        "--timeout",
        "0.5",
        "--max-retries",
        "1",
        "--rate",
        "50",
        "--concurrency",
        "4",
        "--report",
        &report_s,
    ];
    args.extend_from_slice(extra);
    args.push(&input_s);
    let out = Bin::new()
        .args(&args)
        .envs(&[("ZOOM_ACCESS_TOKEN", "hostile-test-token")])
        .limit(LIMIT)
        .run()
        .await;
    out.assert_clean();
    let text = read_text(&report);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<Row> = rdr.deserialize().map(|r| r.expect("report row")).collect();
    assert_eq!(
        rows.len(),
        all.len(),
        "every user exactly once: {rows:?}\n{}",
        out.stderr
    );
    Run { out, rows, dir }
}

/// A server: `good` is revoked (204), everything else gets `script(request)`.
async fn server(script: impl Fn(&RawRequest) -> Reply + Send + Sync + 'static) -> RawServer {
    RawServer::start(
        "127.0.0.1",
        Arc::new(move |req: &RawRequest| {
            if req.target.contains("/users/good@example.com/") {
                Reply::revoked()
            } else {
                script(req)
            }
        }),
    )
    .await
}

fn assert_good_revoked(run: &Run) {
    assert_eq!(run.row("good@example.com").status, Status::Revoked);
}

/// A 1 GiB error body (streamed lazily by the server) is read up to a small cap: the run
/// finishes in seconds and the server could push only a sliver of the gigabyte.
#[tokio::test]
async fn hostile_one_gib_error_body_is_capped() {
    const GIB: u64 = 1 << 30;
    for status in ["500 Internal Server Error", "400 Bad Request", "200 OK"] {
        let head = format!("HTTP/1.1 {status}\r\ncontent-length: {GIB}\r\n\r\n");
        let srv = server(move |_| Reply::Endless {
            head: head.clone(),
            total: GIB,
        })
        .await;
        let run = revoke_against(&format!("{}/v2", srv.url()), &["evil@example.com"], &[]).await;
        assert_good_revoked(&run);
        let evil = run.row("evil@example.com");
        // A 2xx to DELETE .../token means the token is gone, whatever the body; the body is
        // not even parsed. Error answers are per-user failures with a short message.
        let (want, code) = if status.starts_with("200") {
            (Status::Revoked, Some(0))
        } else {
            (Status::Failed, Some(1))
        };
        assert_eq!(evil.status, want, "{status}: {evil:?}");
        assert!(evil.message.chars().count() < 1000, "{}", evil.message);
        assert_eq!(run.out.code, code);
        assert!(
            run.out.elapsed < Duration::from_secs(10),
            "{:?}",
            run.out.elapsed
        );
        let streamed = srv.max_streamed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            streamed < 64 << 20,
            "{status}: the client took {streamed} bytes"
        );
    }
}

/// A redirect to another host is not followed: the other host gets no connection at all (so
/// the Authorization header never reaches it), and the user is `failed` with the 3xx.
#[tokio::test]
async fn hostile_redirect_to_another_host_is_not_followed() {
    let elsewhere =
        RawServer::start("127.0.0.2", Arc::new(|_: &RawRequest| Reply::revoked())).await;
    for code in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let target = format!("{}/v2/users/evil@example.com/token", elsewhere.url());
        let srv = server(move |_| {
            Reply::Raw(
                format!("HTTP/1.1 {code}\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n")
                    .into_bytes(),
            )
        })
        .await;
        let run = revoke_against(&format!("{}/v2", srv.url()), &["evil@example.com"], &[]).await;
        assert_good_revoked(&run);
        let evil = run.row("evil@example.com");
        assert_eq!(evil.status, Status::Failed, "{evil:?}");
        assert_eq!(evil.http_status, Some(code[..3].parse().unwrap()));
        assert_eq!(run.out.code, Some(1));
        // The hostile server itself did see the token: it is the configured endpoint.
        assert!(
            srv.requests()
                .iter()
                .all(|r| r.header("authorization").is_some())
        );
    }
    assert_eq!(
        elsewhere
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "a redirect was followed"
    );
}

/// A token endpoint that redirects elsewhere: not followed, the client secret never reaches the
/// other host, and the run stops before any API call (exit 2).
#[tokio::test]
async fn hostile_token_endpoint_redirect_is_not_followed() {
    let elsewhere =
        RawServer::start("127.0.0.2", Arc::new(|_: &RawRequest| Reply::revoked())).await;
    let target = format!("{}/oauth/token", elsewhere.url());
    let srv = RawServer::start(
        "127.0.0.1",
        Arc::new(move |_: &RawRequest| {
            Reply::Raw(
                format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n")
                    .into_bytes(),
            )
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("u.txt");
    std::fs::write(&input, "a@example.com\n").unwrap();
    let report = dir.path().join("r.csv");
    let out = Bin::new()
        .args([
            "revoke",
            "--yes",
            "--config",
            "/dev/null",
            "--base-url",
            &format!("{}/v2", srv.url()),
            "--oauth-url",
            &format!("{}/oauth/token", srv.url()),
            "--report",
            &report.display().to_string(),
            &input.display().to_string(),
        ])
        .envs(&[
            ("ZOOM_ACCOUNT_ID", "a"),
            ("ZOOM_CLIENT_ID", "c"),
            ("ZOOM_CLIENT_SECRET", "a-client-secret-value"),
        ])
        .limit(LIMIT)
        .run()
        .await;
    out.assert_clean();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(
        elsewhere
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(
        srv.requests()
            .iter()
            .all(|r| r.target.starts_with("/oauth/token"))
    );
}

/// Invalid JSON in error and success answers: a per-user `failed` with the start of the body,
/// never a crash. Also a token endpoint answering 200 with garbage: a clean exit 2.
#[tokio::test]
async fn hostile_invalid_json_is_a_clear_failure() {
    let srv = server(|req| {
        if req.target.contains("trunc") {
            Reply::status(
                400,
                "Bad Request",
                &[("content-type", "application/json")],
                "{\"code\": 1001, \"mess",
            )
        } else if req.target.contains("notfound") {
            Reply::status(404, "Not Found", &[], "\u{0}\u{1}not json at all\u{7f}")
        } else if req.target.contains("nested") {
            let deep = "[".repeat(100_000);
            Reply::status(400, "Bad Request", &[], &deep)
        } else {
            Reply::status(
                200,
                "OK",
                &[("content-type", "application/json")],
                "{\"id\": ",
            )
        }
    })
    .await;
    let users = [
        "trunc@example.com",
        "notfound@example.com",
        "nested@example.com",
        "ok-garbage@example.com",
    ];
    let run = revoke_against(&format!("{}/v2", srv.url()), &users, &[]).await;
    assert_good_revoked(&run);
    for u in users {
        let r = run.row(u);
        // A 200 to DELETE .../token is a revocation whatever its body (Zoom sends 204 and no
        // body); the body is only parsed for lookups (the dry run below).
        let want = if u.starts_with("ok-") {
            Status::Revoked
        } else {
            Status::Failed
        };
        assert_eq!(r.status, want, "{r:?}");
        assert!(!r.message.is_empty());
    }
    assert!(run.row("trunc@example.com").message.contains("HTTP 400"));
    assert_eq!(run.out.code, Some(1));

    // Dry run with credentials: GET /users/{id} answered 200 with garbage.
    let run = revoke_against(
        &format!("{}/v2", srv.url()),
        &["ok-garbage@example.com"],
        &["--dry-run"],
    )
    .await;
    let r = run.row("ok-garbage@example.com");
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert!(r.message.contains("unreadable answer"), "{}", r.message);

    // The token endpoint answering 200 with garbage.
    let tok = RawServer::start(
        "127.0.0.1",
        Arc::new(|_: &RawRequest| Reply::status(200, "OK", &[], "<html>login</html>")),
    )
    .await;
    let report = run.dir.path().join("t.csv");
    let out = Bin::new()
        .args([
            "revoke",
            "--yes",
            "--config",
            "/dev/null",
            "--base-url",
            &format!("{}/v2", srv.url()),
            "--oauth-url",
            &format!("{}/oauth/token", tok.url()),
            "--report",
            &report.display().to_string(),
            "--user",
            "a@example.com",
        ])
        .envs(&[
            ("ZOOM_ACCOUNT_ID", "a"),
            ("ZOOM_CLIENT_ID", "c"),
            ("ZOOM_CLIENT_SECRET", "s3cr3t-s3cr3t"),
        ])
        .limit(LIMIT)
        .run()
        .await;
    out.assert_clean();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("not a Zoom token response"),
        "{}",
        out.stderr
    );
}

/// 429s with absurd Retry-After values (negative, year 9999 in both date forms, garbage, a
/// number too big for any integer) are not honoured: the run neither parks nor crashes, and the
/// users end `failed` once retries run out.
#[tokio::test]
async fn hostile_absurd_retry_after_is_ignored() {
    let values: HashMap<&str, &str> = [
        ("neg@example.com", "-5"),
        ("httpdate@example.com", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("rfc3339@example.com", "9999-12-31T23:59:59Z"),
        ("garbage@example.com", "soon, maybe"),
        ("huge@example.com", "99999999999999999999999999"),
        ("nan@example.com", "NaN"),
    ]
    .into_iter()
    .collect();
    let v2 = values.clone();
    let srv = server(move |req| {
        let user = req.target.split('/').nth(3).unwrap_or("");
        let ra = v2.get(user).copied().unwrap_or("x");
        Reply::status(
            429,
            "Too Many Requests",
            &[("retry-after", ra)],
            "{\"code\": 429, \"message\": \"You have reached the maximum per-second rate limit for this API. Try again later.\"}",
        )
    })
    .await;
    let users: Vec<&str> = values.keys().copied().collect();
    let run = revoke_against(&format!("{}/v2", srv.url()), &users, &[]).await;
    assert_good_revoked(&run);
    for u in &users {
        let r = run.row(u);
        assert_eq!(r.status, Status::Failed, "{r:?}");
        assert_eq!(r.http_status, Some(429));
        assert_eq!(r.attempts, 2);
    }
    assert_eq!(run.out.code, Some(1));
    assert!(
        run.out.elapsed < Duration::from_secs(15),
        "{:?}",
        run.out.elapsed
    );
}

/// A daily-limit 429 whose Retry-After is in the year 9999: a clean stop (exit 3), every user
/// still in the report (`pending` where not done), and no year-9999 resume time promised.
#[tokio::test]
async fn hostile_daily_limit_with_absurd_retry_after_stops_cleanly() {
    let srv = server(|_| {
        Reply::status(
            429,
            "Too Many Requests",
            &[("x-ratelimit-type", "Daily-limit"), ("retry-after", "9999-12-31T23:59:59Z")],
            "{\"code\": 429, \"message\": \"You have reached the maximum daily rate limit for this API.\"}",
        )
    })
    .await;
    let run = revoke_against(
        &format!("{}/v2", srv.url()),
        &["a@example.com", "b@example.com", "c@example.com"],
        &[],
    )
    .await;
    assert_eq!(run.out.code, Some(3), "{}", run.out.stderr);
    assert!(!run.out.stderr.contains("9999"), "{}", run.out.stderr);
    assert!(run.rows.iter().any(|r| r.status == Status::Pending));
}

/// Answers that never end: no answer at all, headers and then silence, and a chunked body that
/// trickles forever. `--timeout` ends each; the user is `failed` with "timed out".
#[tokio::test]
async fn hostile_never_ending_response_times_out() {
    let srv = server(|req| {
        if req.target.contains("silent") {
            Reply::Stall { head: Vec::new() }
        } else if req.target.contains("headers") {
            Reply::Stall {
                head:
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 100\r\n\r\n0123456789"
                        .to_vec(),
            }
        } else {
            Reply::Trickle
        }
    })
    .await;
    let users = [
        "silent@example.com",
        "headers@example.com",
        "trickle@example.com",
    ];
    let run = revoke_against(&format!("{}/v2", srv.url()), &users, &[]).await;
    assert_good_revoked(&run);
    for u in users {
        let r = run.row(u);
        assert_eq!(r.status, Status::Failed, "{r:?}");
        assert_eq!(r.attempts, 2);
        assert!(
            r.message.contains("timed out") || r.message.contains("cut off"),
            "{u}: {}",
            r.message
        );
    }
    assert_eq!(run.out.code, Some(1));
    assert!(
        run.out.elapsed < Duration::from_secs(10),
        "{:?}",
        run.out.elapsed
    );
}

/// A server that closes mid-body, closes without answering, or answers with something that is
/// not HTTP: retried, then `failed` with what went wrong.
#[tokio::test]
async fn hostile_connection_closed_mid_body_is_retried_then_failed() {
    let srv = server(|req| {
        if req.target.contains("midbody") {
            Reply::Raw(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"id\": \"abc".to_vec())
        } else if req.target.contains("close") {
            Reply::Close
        } else {
            Reply::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec())
        }
    })
    .await;
    let users = [
        "midbody@example.com",
        "close@example.com",
        "nothttp@example.com",
    ];
    let run = revoke_against(&format!("{}/v2", srv.url()), &users, &[]).await;
    assert_good_revoked(&run);
    for u in users {
        let r = run.row(u);
        assert_eq!(r.status, Status::Failed, "{r:?}");
        assert_eq!(r.attempts, 2, "{r:?}");
    }
    assert!(
        run.row("midbody@example.com").message.contains("cut off"),
        "{:?}",
        run.row("midbody@example.com")
    );
    assert_eq!(run.out.code, Some(1));
    assert!(run.out.elapsed < Duration::from_secs(10));
}
