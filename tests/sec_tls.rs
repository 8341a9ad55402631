//! Transport (SECURITY.md, "Transport"): certificates are verified against the platform's roots,
//! only TLS 1.2 and 1.3 are offered, plain http is refused except to loopback. Plus the build
//! rule that keeps panics out of library code.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use zoom_offboard::zoom::http_client;

use crate::common::bin::Bin;

const LIMIT: Duration = Duration::from_secs(30);

/// A TLS server on 127.0.0.1 with a freshly generated self-signed certificate for `localhost`
/// and `127.0.0.1`, on a plain thread. Records whether any application data (an HTTP request,
/// and with it the Authorization header) ever arrived.
struct SelfSigned {
    port: u16,
    handshakes_failed: Arc<AtomicU64>,
    got_data: Arc<AtomicBool>,
}

fn self_signed_server() -> SelfSigned {
    zoom_offboard::zoom::init_tls();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let cfg = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let failed = Arc::new(AtomicU64::new(0));
    let got = Arc::new(AtomicBool::new(false));
    let (f, g) = (failed.clone(), got.clone());
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
            let mut conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            let mut buf = [0u8; 1024];
            match tls.read(&mut buf) {
                Ok(n) if n > 0 => {
                    g.store(true, Ordering::SeqCst);
                    let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
                }
                _ => {
                    f.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    SelfSigned {
        port,
        handshakes_failed: failed,
        got_data: got,
    }
}

/// An https endpoint whose certificate no trusted root signed is refused during the handshake:
/// the request (and its token) is never sent, and the error says why.
#[tokio::test]
async fn tls_untrusted_certificate_is_rejected() {
    let srv = self_signed_server();
    let client = http_client(Duration::from_secs(5), 1).unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let err = client
            .get(format!("https://{host}:{}/v2/users/me", srv.port))
            .bearer_auth("tls-test-token")
            .send()
            .await
            .expect_err("a self-signed certificate must be refused");
        let chain = format!("{err:?}");
        assert!(
            chain.contains("UnknownIssuer") || chain.contains("certificate"),
            "{chain}"
        );
    }

    // The same through the binary: a TLS failure on the very first call is configuration
    // (the contract's "cannot reach the API at all"): exit 2 naming the URL and the cause,
    // nothing sent, no report left behind.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.csv");
    let out = Bin::new()
        .args([
            "revoke",
            "--yes",
            "--config",
            "/dev/null",
            "--max-retries",
            "0",
            "--base-url",
            &format!("https://localhost:{}/v2", srv.port),
            "--report",
            &report.display().to_string(),
            "--user",
            "a@example.com",
        ])
        .envs(&[("ZOOM_ACCESS_TOKEN", "tls-test-token")])
        .limit(LIMIT)
        .run()
        .await;
    out.assert_clean();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("https://localhost:{}/v2", srv.port)),
        "{}",
        out.stderr
    );
    assert!(!report.exists(), "nothing was done: no report left behind");
    assert!(
        !srv.got_data.load(Ordering::SeqCst),
        "a request was sent over untrusted TLS"
    );
    assert!(srv.handshakes_failed.load(Ordering::SeqCst) >= 1);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "stopped at once: {:?}",
        out.elapsed
    );
}

/// Reads a TLS ClientHello and returns the versions offered in `supported_versions`, or the
/// legacy version when the extension is absent.
fn offered_versions(hello: &[u8]) -> Vec<u16> {
    assert_eq!(hello[0], 0x16, "a TLS handshake record");
    let hs = &hello[5..];
    assert_eq!(hs[0], 0x01, "a ClientHello");
    let body = &hs[4..];
    let legacy = u16::from_be_bytes([body[0], body[1]]);
    let mut i = 2 + 32;
    i += 1 + body[i] as usize; // session id
    i += 2 + u16::from_be_bytes([body[i], body[i + 1]]) as usize; // cipher suites
    i += 1 + body[i] as usize; // compression methods
    let ext_len = u16::from_be_bytes([body[i], body[i + 1]]) as usize;
    i += 2;
    let end = i + ext_len;
    while i + 4 <= end {
        let ty = u16::from_be_bytes([body[i], body[i + 1]]);
        let len = u16::from_be_bytes([body[i + 2], body[i + 3]]) as usize;
        let data = &body[i + 4..i + 4 + len];
        if ty == 0x002b {
            return data[1..]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
        }
        i += 4 + len;
    }
    vec![legacy]
}

/// The client offers TLS 1.3 and 1.2 and nothing older (`min_tls_version(TLS_1_2)`), read
/// from the ClientHello it actually sends.
#[tokio::test]
async fn tls_client_offers_only_tls12_and_tls13() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut hello = vec![0u8; 5];
        sock.read_exact(&mut hello).unwrap();
        let len = u16::from_be_bytes([hello[3], hello[4]]) as usize;
        let mut rest = vec![0u8; len];
        sock.read_exact(&mut rest).unwrap();
        hello.extend_from_slice(&rest);
        hello
    });
    let client = http_client(Duration::from_secs(2), 1).unwrap();
    let _ = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await;
    let hello = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let versions = offered_versions(&hello);
    assert!(versions.contains(&0x0303), "TLS 1.2 offered: {versions:x?}");
    assert!(versions.contains(&0x0304), "TLS 1.3 offered: {versions:x?}");
    let grease = |v: u16| v & 0x0f0f == 0x0a0a;
    assert!(
        versions.iter().all(|&v| v >= 0x0303 || grease(v)),
        "nothing below TLS 1.2: {versions:x?}"
    );
}

/// Plain http is refused for the API and the token endpoint, from a flag, the environment or
/// the config file, unless the host is loopback; nothing is sent (exit 2 before any call).
#[tokio::test]
async fn plain_http_refused_except_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "base_url = \"http://api.zoom.us/v2\"\n").unwrap();
    let config_s = config.display().to_string();
    /// Flags, and environment variables, of one case.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (vec!["--base-url", "http://api.zoom.us/v2"], vec![]),
        (vec!["--oauth-url", "http://zoom.us/oauth/token"], vec![]),
        (vec!["--base-url", "http://10.1.2.3/v2"], vec![]),
        (
            vec!["--base-url", "http://127.0.0.1.example.com/v2"],
            vec![],
        ),
        (
            vec![],
            vec![("ZOOM_OFFBOARD_BASE_URL", "http://api.zoom.us/v2")],
        ),
        (
            vec![],
            vec![("ZOOM_OFFBOARD_OAUTH_URL", "http://zoom.us/oauth/token")],
        ),
        (vec!["--config", &config_s], vec![]),
    ];
    for (flags, env) in cases {
        let mut args = vec!["revoke", "--yes", "--user", "a@example.com"];
        if !flags.contains(&"--config") {
            args.extend(["--config", "/dev/null"]);
        }
        args.extend(flags.iter().copied());
        let mut env = env.clone();
        env.push(("ZOOM_ACCESS_TOKEN", "t0k3n-t0k3n"));
        let out = Bin::new().args(&args).envs(&env).limit(LIMIT).run().await;
        out.assert_clean();
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("plain http"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // Loopback is allowed (every simulator test relies on it): check the resolver directly.
    for ok in [
        "http://127.0.0.1:1/v2",
        "http://[::1]:1/v2",
        "http://localhost:1/v2",
        "https://api.zoom.us/v2",
    ] {
        assert!(
            zoom_offboard::config::check_url("--base-url", ok).is_ok(),
            "{ok}"
        );
    }
    assert!(zoom_offboard::config::DEFAULT_BASE_URL.starts_with("https://"));
    assert!(zoom_offboard::config::DEFAULT_OAUTH_URL.starts_with("https://"));
}

/// Library and binary code may not `unwrap`/`expect` (a panic there would lose users mid-run):
/// every line of `src/` outside test modules is read, and none may call either. clippy denies
/// them too (`#![cfg_attr(not(test), deny(...))]` in lib.rs, `.ci/run` with warnings as
/// errors); this checks the code itself, so it fails on the first `unwrap` whatever the lints.
#[test]
fn unwrap_and_expect_are_denied_outside_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut files = 0;
    for path in rust_files(&root.join("src")) {
        let text = std::fs::read_to_string(&path).unwrap();
        if is_test_module(&path) {
            continue;
        }
        files += 1;
        for (n, line) in text.lines().enumerate() {
            // Test modules are the last item of a file here (checked below).
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(".unwrap()") || code.contains(".expect(") {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        files > 40,
        "the scan read {files} files: is src/ where it was?"
    );
    assert!(
        found.is_empty(),
        "unwrap/expect outside tests:\n{}",
        found.join("\n")
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(ci.contains("cargo clippy --all-targets --locked -- -D warnings"));
    assert!(
        ci.contains("cargo deny"),
        ".ci/run checks licenses, bans and sources"
    );
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// A file that its parent declares as `#[cfg(test)] mod name;` (a test module in a file).
fn is_test_module(path: &std::path::Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_stem()) else {
        return false;
    };
    let name = name.to_string_lossy();
    ["mod.rs", "lib.rs"].iter().any(|parent| {
        std::fs::read_to_string(dir.join(parent))
            .is_ok_and(|text| text.contains(&format!("#[cfg(test)]\nmod {name};")))
    })
}
