//! Secret hygiene (SECURITY.md, "Secrets"): with random client secrets and tokens, the real
//! binary is run at `-vv`, with JSON logs and against failing token endpoints, and neither the
//! secret, nor the Basic credential made from it, nor any access token may appear on stdout,
//! stderr, in the report or in an error message. `Debug` of every type holding a secret is
//! redacted, and a config or secret file readable by others is warned about.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::SecretString;
use zoom_offboard::cli::RevokeArgs;
use zoom_offboard::config::{FileConfig, Settings};
use zoom_offboard::request::Api;
use zoom_offboard::request::tokens::{S2sCredentials, Token, TokenSource};
use zoom_offboard::sim::{Sim, SimConfig};
use zoom_offboard::zoom::{ZoomClient, http_client};

use crate::common::bin::{Bin, BinRun};
use crate::revoke_support::fast_sim;
use crate::sec_support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Access tokens the simulator mints look like `sim_` + 32 base64url characters: finds any.
fn find_sim_token(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find("sim_") {
        let start = from + i + 4;
        let tail = &b[start..b.len().min(start + 32)];
        if tail.len() == 32
            && tail
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            return Some(text[start - 4..start + 32].to_string());
        }
        from = start;
    }
    None
}

struct Scenario {
    sim: Sim,
    dir: tempfile::TempDir,
    input: std::path::PathBuf,
}

/// A simulator with a random client secret and static token, some 5xx so that errors and
/// retries are logged, and an input with found, missing and invalid users.
async fn scenario(secret: &str, static_token: &str) -> Scenario {
    let sim = Sim::start(SimConfig {
        client_secret: secret.to_string(),
        static_token: Some(static_token.to_string()),
        fault_5xx_before: 0.3,
        seed: 11,
        ..fast_sim()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec!["email".to_string()];
    lines.extend((1..=12).map(|i| format!("user{i:05}@example.com")));
    lines.push("nobody@example.com".into());
    lines.push("not a user".into());
    let input = dir.path().join("users.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    Scenario { sim, dir, input }
}

impl Scenario {
    fn args<'a>(&'a self, report: &'a str, extra: &[&'a str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "revoke".into(),
            "--yes".into(),
            "--no-progress".into(),
            "--config".into(),
            "/dev/null".into(),
            "--base-url".into(),
            self.sim.base_url(),
            "--oauth-url".into(),
            self.sim.oauth_url(),
            "--plan".into(),
            "business".into(),
            "--rate".into(),
            "500".into(),
            "--max-retries".into(),
            "10".into(),
            "--timeout".into(),
            "5".into(),
            "--report".into(),
            self.dir.path().join(report).display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(self.input.display().to_string());
        a
    }

    fn report(&self, name: &str) -> String {
        read_text(&self.dir.path().join(name))
    }
}

async fn bin(args: &[String], env: &[(&str, &str)]) -> BinRun {
    let out = Bin::new().args(args).envs(env).limit(LIMIT).run().await;
    out.assert_clean();
    out
}

/// Checks a run's stdout, stderr and report for the secret, its Basic form and any token.
fn assert_no_leak(out: &BinRun, report: &str, secrets: &[&str]) {
    for (what, text) in [
        ("stdout", out.stdout.as_str()),
        ("stderr", out.stderr.as_str()),
        ("report", report),
    ] {
        assert_absent(what, text, secrets);
        assert_eq!(find_sim_token(text), None, "{what} holds an access token");
    }
}

/// S2S credentials at `-vv` (text) and `-vv --log-format json`, and with `RUST_LOG=trace`,
/// which also turns on the HTTP stack's own logging: nothing secret is ever printed.
#[tokio::test]
async fn secrets_never_printed_with_s2s_at_any_verbosity() {
    let secret = random_secret("cs-");
    let token = random_secret("st-");
    let s = scenario(&secret, &token).await;
    let cfg = s.sim.config().clone();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", cfg.client_id, secret));
    let env = [
        ("ZOOM_ACCOUNT_ID", cfg.account_id.as_str()),
        ("ZOOM_CLIENT_ID", cfg.client_id.as_str()),
        ("ZOOM_CLIENT_SECRET", secret.as_str()),
    ];
    let mut trace_env = env.to_vec();
    trace_env.push(("RUST_LOG", "trace"));
    for (report, extra, env) in [
        ("text.csv", vec!["-vv"], env.to_vec()),
        (
            "json.jsonl",
            vec!["-vv", "--log-format", "json"],
            env.to_vec(),
        ),
        ("trace.csv", vec![], trace_env),
    ] {
        let out = bin(&s.args(report, &extra), &env).await;
        assert_eq!(out.code, Some(1), "{report}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "the run logged something");
        assert_no_leak(&out, &s.report(report), &[&secret, &basic]);
    }
    assert_eq!(
        s.sim.state().tokens_issued,
        3,
        "each run fetched one token (and only one)"
    );
    assert!(
        s.sim.state().requests.iter().any(|r| r.status >= 500),
        "errors happened and were logged"
    );
}

/// A static `ZOOM_ACCESS_TOKEN`, at `-vv` in text and JSON: never printed.
#[tokio::test]
async fn static_token_never_printed_at_any_verbosity() {
    let secret = random_secret("cs-");
    let token = random_secret("st-");
    let s = scenario(&secret, &token).await;
    let env = [("ZOOM_ACCESS_TOKEN", token.as_str())];
    for (report, extra) in [
        ("text.csv", vec!["-vv"]),
        ("json.jsonl", vec!["-vv", "--log-format", "json"]),
    ] {
        let out = bin(&s.args(report, &extra), &env).await;
        assert_eq!(out.code, Some(1), "{report}: {}", out.stderr);
        assert_no_leak(&out, &s.report(report), &[&token]);
    }
}

/// A rejected static token (code 124) stops the run; the message names the variable, not
/// the token.
#[tokio::test]
async fn rejected_static_token_is_not_echoed() {
    let s = scenario(&random_secret("cs-"), &random_secret("st-")).await;
    let wrong = random_secret("wrong-");
    let out = bin(
        &s.args("r.csv", &["-vv"]),
        &[("ZOOM_ACCESS_TOKEN", wrong.as_str())],
    )
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("ZOOM_ACCESS_TOKEN"), "{}", out.stderr);
    assert_no_leak(&out, &s.report("r.csv"), &[&wrong]);
}

/// A wrong client secret: the token endpoint answers 401 invalid_client; exit 2 with Zoom's
/// reason, and neither the wrong secret nor its Basic form is printed.
#[tokio::test]
async fn wrong_client_secret_error_does_not_echo_it() {
    let s = scenario(&random_secret("cs-"), &random_secret("st-")).await;
    let cfg = s.sim.config().clone();
    let wrong = random_secret("wrong-");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", cfg.client_id, wrong));
    for (report, extra) in [
        ("a.csv", vec!["-vv"]),
        ("b.csv", vec!["-vv", "--log-format", "json"]),
    ] {
        let out = bin(
            &s.args(report, &extra),
            &[
                ("ZOOM_ACCOUNT_ID", cfg.account_id.as_str()),
                ("ZOOM_CLIENT_ID", cfg.client_id.as_str()),
                ("ZOOM_CLIENT_SECRET", wrong.as_str()),
            ],
        )
        .await;
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(out.stderr.contains("invalid_client"), "{}", out.stderr);
        assert_no_leak(&out, &s.report(report), &[&wrong, &basic]);
    }
    assert_eq!(s.sim.state().count("DELETE", "/token", None), 0);
}

/// A token endpoint that fails (500, then a 400 that echoes the request's Authorization header
/// back in its reason, as a debugging proxy might): exit 2, and the secret stays out of every
/// message even though the endpoint tried to put it there.
#[tokio::test]
async fn failing_token_endpoint_errors_do_not_leak_the_secret() {
    let secret = random_secret("cs-");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client:{secret}"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("u.txt");
    std::fs::write(&input, "a@example.com\n").unwrap();
    for echo in [false, true] {
        let server = RawServer::start(
            "127.0.0.1",
            Arc::new(move |req: &RawRequest| {
                let auth = req.header("authorization").unwrap_or("").to_string();
                if echo {
                    let body = serde_json::json!({
                        "reason": format!("bad header {auth} for {}", req.target),
                        "error": auth,
                    })
                    .to_string();
                    Reply::status(400, "Bad Request", &[], &body)
                } else {
                    Reply::status(500, "Internal Server Error", &[], &format!("echo: {auth}"))
                }
            }),
        )
        .await;
        let report = dir.path().join(format!("r-{echo}.csv"));
        let out = bin(
            &[
                "revoke".into(),
                "--yes".into(),
                "-vv".into(),
                "--config".into(),
                "/dev/null".into(),
                "--base-url".into(),
                format!("{}/v2", server.url()),
                "--oauth-url".into(),
                format!("{}/oauth/token", server.url()),
                "--report".into(),
                report.display().to_string(),
                input.display().to_string(),
            ],
            &[
                ("ZOOM_ACCOUNT_ID", "acct"),
                ("ZOOM_CLIENT_ID", "client"),
                ("ZOOM_CLIENT_SECRET", secret.as_str()),
            ],
        )
        .await;
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(out.stderr.contains("token"), "{}", out.stderr);
        assert_no_leak(&out, &read_text(&report), &[&secret, &basic]);
        let reqs = server.requests();
        assert!(reqs.iter().all(|r| r.method == "POST"), "{reqs:?}");
        assert_eq!(
            reqs.len(),
            if echo { 1 } else { 4 },
            "500s are retried 3 times"
        );
    }
}

/// An API endpoint that echoes the bearer token back in its error messages (a debugging proxy)
/// must not get it into the report or the logs.
#[tokio::test]
async fn api_error_echoing_the_token_is_scrubbed() {
    let token = random_secret("st-");
    let server = RawServer::start(
        "127.0.0.1",
        Arc::new(move |req: &RawRequest| {
            let auth = req.header("authorization").unwrap_or("").to_string();
            if req.target.contains("json") {
                let body = serde_json::json!({"code": 300, "message": format!("got {auth}")});
                Reply::status(
                    400,
                    "Bad Request",
                    &[("x-zm-trackingid", &auth)],
                    &body.to_string(),
                )
            } else {
                Reply::status(
                    503,
                    "Service Unavailable",
                    &[],
                    &format!("<html>{auth}</html>"),
                )
            }
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("u.txt");
    std::fs::write(&input, "json@example.com\nhtml@example.com\n").unwrap();
    for (report, fmt) in [("r.csv", "text"), ("r.jsonl", "json")] {
        let report = dir.path().join(report);
        let out = bin(
            &[
                "revoke".into(),
                "--yes".into(),
                "-vv".into(),
                "--log-format".into(),
                fmt.into(),
                "--config".into(),
                "/dev/null".into(),
                "--max-retries".into(),
                "1".into(),
                "--base-url".into(),
                format!("{}/v2", server.url()),
                "--report".into(),
                report.display().to_string(),
                input.display().to_string(),
            ],
            &[("ZOOM_ACCESS_TOKEN", token.as_str())],
        )
        .await;
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        let text = read_text(&report);
        assert!(text.contains("(redacted)"), "{text}");
        assert_no_leak(&out, &text, &[&token]);
    }
}

/// `--help` never shows a secret from the environment (clap can print env values).
#[tokio::test]
async fn help_does_not_show_secret_env_values() {
    let secret = random_secret("cs-");
    let token = random_secret("st-");
    for args in [
        vec!["revoke", "--help"],
        vec!["users", "--help"],
        vec!["--help"],
    ] {
        let out = Bin::new()
            .args(&args)
            .envs(&[
                ("ZOOM_CLIENT_SECRET", secret.as_str()),
                ("ZOOM_ACCESS_TOKEN", token.as_str()),
            ])
            .limit(LIMIT)
            .run()
            .await;
        out.assert_clean();
        assert_eq!(out.code, Some(0));
        assert_absent(
            "help",
            &(out.stdout.clone() + &out.stderr),
            &[&secret, &token],
        );
    }
}

/// `Debug` of every type that holds a secret prints it redacted.
#[tokio::test]
async fn debug_of_every_config_type_is_redacted() {
    let secret = random_secret("cs-");
    let token = random_secret("st-");
    let env_s2s = {
        let secret = secret.clone();
        move |k: &str| match k {
            "ZOOM_ACCOUNT_ID" => Some("acct".to_string()),
            "ZOOM_CLIENT_ID" => Some("client".to_string()),
            "ZOOM_CLIENT_SECRET" => Some(secret.clone()),
            _ => None,
        }
    };
    let env_static = {
        let token = token.clone();
        move |k: &str| (k == "ZOOM_ACCESS_TOKEN").then(|| token.clone())
    };
    let mut args = RevokeArgs::default();
    args.conn.config = Some("/dev/null".into());
    let s2s = Settings::resolve(&args, &env_s2s, chrono::Utc::now()).unwrap();
    let stat = Settings::resolve(&args, &env_static, chrono::Utc::now()).unwrap();
    let file: FileConfig = toml::from_str(&format!(
        "[auth]\naccount_id = \"a\"\nclient_id = \"c\"\nclient_secret = \"{secret}\"\n"
    ))
    .unwrap();
    let creds = S2sCredentials {
        account_id: "a".into(),
        client_id: "c".into(),
        client_secret: SecretString::from(secret.clone()),
    };
    let http = http_client(Duration::from_secs(1), 1).unwrap();
    let from_static = Arc::new(TokenSource::from_static(SecretString::from(token.clone())));
    let s2s_source = TokenSource::s2s(
        S2sCredentials {
            account_id: "a".into(),
            client_id: "c".into(),
            client_secret: SecretString::from(secret.clone()),
        },
        "https://zoom.us/oauth/token".into(),
        http.clone(),
    );
    let tok = Token {
        secret: SecretString::from(token.clone()),
        generation: 1,
    };
    let api = Api {
        client: ZoomClient::new(http, "https://api.zoom.us/v2"),
        tokens: from_static.clone(),
    };
    let sim_cfg = SimConfig {
        client_secret: secret.clone(),
        static_token: Some(token.clone()),
        ..SimConfig::default()
    };
    let sim = Sim::start(sim_cfg.clone()).await.unwrap();
    let dumps = [
        format!("{s2s:?}"),
        format!("{s2s:#?}"),
        format!("{stat:?}"),
        format!("{:?}", s2s.conn.credentials),
        format!("{:?}", stat.conn.credentials),
        format!("{file:?}"),
        format!("{:?}", file.auth),
        format!("{creds:?}"),
        format!("{from_static:?}"),
        format!("{s2s_source:?}"),
        format!("{tok:?}"),
        format!("{api:?}"),
        format!("{sim_cfg:?}"),
        format!("{sim:?}"),
    ];
    for d in &dumps {
        assert_absent("Debug output", d, &[&secret, &token]);
    }
    assert!(dumps[0].contains("redacted"), "{}", dumps[0]);
    assert!(
        dumps[2].contains("redacted") || dumps[2].contains("REDACTED"),
        "{}",
        dumps[2]
    );
    sim.shutdown().await;
}

/// A config file holding a client secret, or a `--client-secret-file`, that group or others can
/// read is warned about (with the chmod to run); a 0600 file is not.
#[cfg(unix)]
#[tokio::test]
async fn group_readable_secret_files_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = random_secret("cs-");
    let config = dir.path().join("zoom-offboard.toml");
    std::fs::write(
        &config,
        format!("[auth]\naccount_id = \"a\"\nclient_id = \"c\"\nclient_secret = \"{secret}\"\n"),
    )
    .unwrap();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, &secret).unwrap();
    let input = dir.path().join("u.txt");
    std::fs::write(&input, "a@example.com\n").unwrap();
    let config_s = config.display().to_string();
    let secret_s = secret_file.display().to_string();
    let input_s = input.display().to_string();
    // A local simulator holding these credentials: the dry run's lookups stay on loopback (the
    // default URLs would wait on a DNS lookup of zoom.us), and succeed only if the secret was
    // read from the file.
    let sim = Sim::start(SimConfig {
        account_id: "a".into(),
        client_id: "c".into(),
        client_secret: secret.clone(),
        ..fast_sim()
    })
    .await
    .unwrap();
    let (base_url, oauth_url) = (sim.base_url(), sim.oauth_url());
    for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false)] {
        for path in [&config, &secret_file] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        for args in [
            vec!["revoke", "--dry-run", "--config", &config_s, &input_s],
            vec![
                "revoke",
                "--dry-run",
                "--config",
                "/dev/null",
                "--client-secret-file",
                &secret_s,
                &input_s,
            ],
        ] {
            let report = dir.path().join(format!("r-{mode:o}-{}.csv", args.len()));
            let report_s = report.display().to_string();
            let mut a = args.clone();
            a.extend(["--report", &report_s]);
            a.extend(["--base-url", &base_url, "--oauth-url", &oauth_url]);
            let out = Bin::new()
                .args(&a)
                .envs(&[("ZOOM_ACCOUNT_ID", "a"), ("ZOOM_CLIENT_ID", "c")])
                .limit(LIMIT)
                .run()
                .await;
            out.assert_clean();
            assert_eq!(
                out.code,
                Some(1),
                "the secret was read and used (a@example.com is not found): {}",
                out.stderr
            );
            assert_eq!(
                out.stderr.contains("chmod 600"),
                warned,
                "mode {mode:o} {args:?}: {}",
                out.stderr
            );
            assert_absent("stderr", &out.stderr, &[&secret]);
        }
    }
}

/// The report (a list of people) is created readable by its owner only.
#[cfg(unix)]
#[tokio::test]
async fn report_is_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("u.txt");
    std::fs::write(&input, "a@example.com\nnot valid\n").unwrap();
    for name in ["r.csv", "r.jsonl"] {
        let report = dir.path().join(name);
        let out = Bin::new()
            .args([
                "revoke",
                "--dry-run",
                "--config",
                "/dev/null",
                "--report",
                &report.display().to_string(),
                &input.display().to_string(),
            ])
            .limit(LIMIT)
            .run()
            .await;
        out.assert_clean();
        let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
}
