//! Evidence (issue 18): the chained report, the run log, `verify`, and the HTML summary, from
//! real runs of the binary against the simulator.
//!
//! The chain is checked here by its rule written again in a few lines with `sha2` alone
//! ([`recompute`]), never by the crate's own code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest;

use crate::common::bin::Bin;
use crate::common::wait_until;
use crate::offboard_kill::{MANAGER, leavers_account, leavers_input, offboard_cmd};
use crate::revoke_support::{active_emails, fast_sim, revoke_cmd, rows, write_input};
use zoom_offboard::sim::{Sim, SimConfig, SimUsers};

fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The contract's chain over the report's bytes: every row's chain, in order. Panics at the
/// first row that does not hold.
fn recompute(report: &Path) -> Vec<String> {
    let bytes = std::fs::read(report).unwrap();
    let csv = report.extension().unwrap() == "csv";
    // Records end at a newline outside quotes (CSV cells may hold newlines).
    let (mut records, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, b) in bytes.iter().enumerate() {
        quoted ^= csv && *b == b'"';
        if *b == b'\n' && !quoted {
            records.push(&bytes[start..=i]);
            start = i + 1;
        }
    }
    let mut prev = "0".repeat(64);
    if csv {
        prev = sha_hex(&[records.remove(0)]);
    }
    let mut chains = Vec::new();
    for rec in records {
        let rec = &rec[..rec.len() - 1];
        let (hashed, chain) = if csv {
            rec.split_at(rec.len() - 64)
        } else {
            let at = rec.len() - 76;
            assert_eq!(
                &rec[at..at + 10],
                b",\"chain\":\"",
                "{}",
                String::from_utf8_lossy(rec)
            );
            assert!(rec.ends_with(b"\"}"));
            (&rec[..at], &rec[at + 10..at + 74])
        };
        let chain = std::str::from_utf8(chain).unwrap().to_owned();
        assert_eq!(
            sha_hex(&[prev.as_bytes(), hashed]),
            chain,
            "{}",
            String::from_utf8_lossy(rec)
        );
        prev = chain.clone();
        chains.push(chain);
    }
    chains
}

/// The run log's entries.
fn runs_log(report: &Path) -> Vec<serde_json::Value> {
    let mut path = report.as_os_str().to_owned();
    path.push(".runs.jsonl");
    std::fs::read_to_string(PathBuf::from(path))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn page_of(report: &Path) -> String {
    let mut path = report.as_os_str().to_owned();
    path.push(".html");
    std::fs::read_to_string(PathBuf::from(path)).unwrap()
}

/// Status → rows, counting each user's (and step's) last row, as the summary does.
fn report_counts(report: &Path) -> BTreeMap<String, u64> {
    let mut last = BTreeMap::new();
    for r in rows(report) {
        if r.status == zoom_offboard::report::Status::Pending
            && r.message.starts_with("write-ahead")
        {
            continue;
        }
        last.insert((r.user.to_lowercase(), r.step), r.status);
    }
    let mut counts = BTreeMap::new();
    for s in last.values() {
        *counts.entry(s.to_string()).or_insert(0) += 1;
    }
    counts
}

async fn verify(report: &Path, head: Option<&str>) -> (i32, String) {
    let mut bin = Bin::new().arg("verify").arg(report);
    if let Some(h) = head {
        bin = bin.args(["--head", h]);
    }
    let run = bin.run().await;
    run.assert_clean();
    (run.code.unwrap_or(-1), run.stdout + &run.stderr)
}

/// A revoke of `n` active users, one unknown and one invalid value, into `dir/name`.
async fn revoke_report(sim: &Sim, dir: &Path, name: &str, n: usize) -> (PathBuf, PathBuf, String) {
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(sim, n));
    lines.push("nobody@example.com".into());
    lines.push("<script>alert(1)</script>".into());
    let input = write_input(dir, &format!("{name}.in.csv"), &lines);
    let report = dir.join(name);
    let run = revoke_cmd(sim, &input, &report).run().await;
    run.assert_clean();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    (report, input, run.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_is_the_documented_rule_for_revoke_and_offboard() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["r.csv", "r.jsonl"] {
        let (report, input, stderr) = revoke_report(&sim, dir.path(), name, 20).await;
        let chains = recompute(&report);
        assert_eq!(chains.len(), 22, "{name}");
        let head = chains.last().unwrap();
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("chain head") && l.ends_with(head.as_str())),
            "{stderr}"
        );
        let log = runs_log(&report);
        assert_eq!(log.len(), 2, "{log:?}");
        let (start, end) = (&log[0], &log[1]);
        assert_eq!(start["event"], "start");
        assert_eq!(start["run_id"], end["run_id"]);
        assert_eq!(start["account_id"], sim.config().account_id.as_str());
        assert_eq!(start["report_rows_before"], 0);
        assert!(start["chain_before"].is_null());
        assert!(!start["operator"].as_str().unwrap().is_empty());
        assert!(!start["host"].as_str().unwrap().is_empty());
        assert!(
            start["command"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "revoke")
        );
        assert_eq!(start["inputs"][0]["rows"], 22);
        let input_bytes = std::fs::read(&input).unwrap();
        assert_eq!(start["inputs"][0]["sha256"], sha_hex(&[&input_bytes]));
        assert_eq!(end["event"], "end");
        assert_eq!(end["exit_code"], 1);
        assert_eq!(end["report_rows"], 22);
        assert_eq!(end["chain_head"], head.as_str());
        let counts: BTreeMap<String, u64> = serde_json::from_value(end["counts"].clone()).unwrap();
        assert_eq!(counts, report_counts(&report));
        let timeline = end["timeline"].as_array().unwrap();
        let sent: u64 = timeline.iter().map(|t| t[1].as_u64().unwrap()).sum();
        assert_eq!(sent, 21, "one DELETE per valid user");
        for (i, t) in timeline.iter().enumerate() {
            assert_eq!(t[0], i as u64, "one entry per second");
        }
        assert!(page_of(&report).contains(head.as_str()));
    }

    let (users, emails) = leavers_account(8);
    let sim = Sim::start(SimConfig {
        users: SimUsers::List(users),
        light_per_second: Some(2000),
        medium_per_second: Some(2000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let input = leavers_input(dir.path(), &emails);
    for name in ["o.csv", "o.jsonl"] {
        let report = dir.path().join(name);
        let run = offboard_cmd(&sim, &input, &report).run().await;
        run.assert_clean();
        let chains = recompute(&report);
        assert!(chains.len() >= 8 * 3, "{name}: {}", chains.len());
        let log = runs_log(&report);
        assert_eq!(log[1]["chain_head"], chains.last().unwrap().as_str());
        assert_eq!(log[1]["report_rows"], chains.len() as u64);
        assert_eq!(
            log[0]["steps"],
            serde_json::json!(["revoke", "deactivate", "delete"])
        );
        let (code, out) = verify(&report, Some(chains.last().unwrap())).await;
        assert_eq!(code, 0, "{out}");
        let _ = MANAGER;
    }
}

/// A change made to a report's lines.
type Tamper = Box<dyn FnOnce(&mut Vec<Vec<u8>>)>;

/// Applies `tamper` to a fresh copy of the report and run log, then runs `verify`.
async fn tampered(
    report: &Path,
    tamper: impl FnOnce(&mut Vec<Vec<u8>>),
    head: Option<&str>,
) -> (i32, String) {
    let dir = report.parent().unwrap();
    let name = report.file_name().unwrap().to_string_lossy();
    let copy = dir.join(format!("t-{name}"));
    let mut log_from = report.as_os_str().to_owned();
    log_from.push(".runs.jsonl");
    let mut log_to = copy.as_os_str().to_owned();
    log_to.push(".runs.jsonl");
    std::fs::copy(PathBuf::from(log_from), PathBuf::from(log_to)).unwrap();
    let text = std::fs::read(report).unwrap();
    let mut lines: Vec<Vec<u8>> = text
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    tamper(&mut lines);
    std::fs::write(&copy, lines.concat()).unwrap();
    verify(&copy, head).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_kind_of_break() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["v.csv", "v.jsonl"] {
        let (report, _, _) = revoke_report(&sim, dir.path(), name, 10).await;
        let chains = recompute(&report);
        let head = chains.last().unwrap().clone();
        // Data rows start on line 2 of a CSV (its header is line 1), on line 1 of a JSONL file.
        let first = usize::from(name.ends_with("csv"));
        let line = |row: usize| row + first + 1;
        let (code, out) = verify(&report, Some(&head)).await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("intact") && out.contains(&head) && out.contains("12"),
            "{out}"
        );

        let cases: Vec<(&str, Tamper, usize, &str)> = vec![
            (
                "a cell edited",
                Box::new(move |l: &mut Vec<Vec<u8>>| {
                    let row = String::from_utf8(l[first + 4].clone()).unwrap();
                    l[first + 4] = row.replacen("revoked", "failed", 1).into_bytes();
                }),
                line(4),
                "edited",
            ),
            (
                "a row removed",
                Box::new(move |l: &mut Vec<Vec<u8>>| {
                    l.remove(first + 3);
                }),
                line(3),
                "removed",
            ),
            (
                "two rows swapped",
                Box::new(move |l: &mut Vec<Vec<u8>>| l.swap(first + 5, first + 6)),
                line(5),
                "moved",
            ),
            (
                "the last rows cut",
                Box::new(|l: &mut Vec<Vec<u8>>| l.truncate(l.len() - 3)),
                line(9),
                "removed from the end",
            ),
        ];
        for (what, tamper, at, word) in cases {
            let (code, out) = tampered(&report, tamper, None).await;
            assert_eq!(code, 1, "{name}: {what}: {out}");
            assert!(
                out.contains(&format!("line {at}:")),
                "{name}: {what}: {out}"
            );
            assert!(out.contains(word), "{name}: {what}: {out}");
        }

        // A forged row appended with a valid chain: the run log's head, and --head, catch it.
        let forged = if first == 1 {
            "evil@example.com,revoked,204,,,1,2026-12-04T12:00:00.000Z,,,,,".to_owned()
        } else {
            "{\"user\":\"evil@example.com\",\"status\":\"revoked\"".to_owned()
        };
        let chain = sha_hex(&[head.as_bytes(), forged.as_bytes()]);
        let row = if first == 1 {
            format!("{forged}{chain}\n")
        } else {
            format!("{forged},\"chain\":\"{chain}\"}}\n")
        };
        let append = |l: &mut Vec<Vec<u8>>| l.push(row.clone().into_bytes());
        let (code, out) = tampered(&report, append, None).await;
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(&format!("line {}:", line(12))) && out.contains("after the head"),
            "{out}"
        );
        let (code, out) = tampered(&report, append, Some(&head)).await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("after the head"), "{out}");

        // A wrong --head.
        let (code, out) = verify(&report, Some(&"ab".repeat(32))).await;
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("wrong head") && out.contains(&format!("line {}:", line(11))),
            "{out}"
        );
    }
    // No such report, and a report without a chain column: exit 2.
    let (code, _) = verify(&dir.path().join("none.csv"), None).await;
    assert_eq!(code, 2);
    let old = dir.path().join("old.csv");
    std::fs::write(
        &old,
        "user,status,http_status,error_code,message,attempts,finished_at\n",
    )
    .unwrap();
    let (code, out) = verify(&old, None).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("chain"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_resumed_run_verifies() {
    let sim = Sim::start(SimConfig {
        light_per_second: Some(2000),
        users: SimUsers::Generated(400),
        latency_ms: (5, 15),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec!["email".to_string()];
    lines.extend(active_emails(&sim, 150));
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("k.csv");
    let run = revoke_cmd(&sim, &input, &report)
        .args(["-q", "--rate", "100", "--concurrency", "2"])
        .spawn();
    wait_until("30 revocations", Duration::from_secs(30), || {
        sim.state().total_revocations() >= 30
    })
    .await;
    let killed = run.kill().await;
    assert_eq!(killed.code, None, "killed mid-run");
    // A row torn by the kill (appended here, so there surely is one).
    let mut bytes = std::fs::read(&report).unwrap();
    let complete = bytes.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    bytes.truncate(complete);
    let good = bytes.clone();
    bytes.extend_from_slice(b"someone@example.com,revok");
    std::fs::write(&report, &bytes).unwrap();
    let before = recompute_prefix(&good);

    let resumed = revoke_cmd(&sim, &input, &report)
        .args(["--resume"])
        .run()
        .await;
    resumed.assert_clean();
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let chains = recompute(&report);
    assert_eq!(
        chains[..before.len()],
        before[..],
        "the earlier rows are untouched"
    );
    let log = runs_log(&report);
    let starts: Vec<&serde_json::Value> = log.iter().filter(|e| e["event"] == "start").collect();
    assert_eq!(starts.len(), 2, "{log:?}");
    assert_eq!(
        log.iter().filter(|e| e["event"] == "end").count(),
        1,
        "the killed run has none"
    );
    assert_eq!(starts[1]["torn_bytes_cut"], 25);
    assert_eq!(starts[1]["report_rows_before"], before.len() as u64);
    assert_eq!(starts[1]["chain_before"], before.last().unwrap().as_str());
    let (code, out) = verify(&report, Some(chains.last().unwrap())).await;
    assert_eq!(code, 0, "{out}");
    let page = page_of(&report);
    assert!(
        page.contains("killed (no end entry)"),
        "the page shows the killed run"
    );
    assert!(page.contains("2 runs (1 killed)"));
}

/// The chains of a CSV report's bytes (no newline inside cells), for a prefix of it.
fn recompute_prefix(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    std::fs::write(&path, bytes).unwrap();
    recompute(&path)
}

/// The page's visible text: tags dropped, entities decoded, whitespace collapsed.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let body = html.split("<body").nth(1).unwrap_or(html);
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_escapes_names_and_loads_nothing() {
    let mut users = zoom_offboard::sim::generate_users(20, 7);
    users[0].first_name = "<script>alert('zoom')</script>".into();
    users[0].role_id = "1".into();
    users[0].role_name = "Admin".into();
    let admin = users[0].email.clone();
    let sim = Sim::start(SimConfig {
        users: SimUsers::List(users),
        light_per_second: Some(2000),
        medium_per_second: Some(2000),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(
        dir.path(),
        "in.csv",
        &[
            "email".into(),
            admin.clone(),
            "<img src=x onerror=alert(1)>".into(),
        ],
    );
    let report = dir.path().join("p.csv");
    let run = Bin::new()
        .args(["offboard", "--steps", "revoke,deactivate"])
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .args([
            "--base-url",
            &sim.base_url(),
            "--oauth-url",
            &sim.oauth_url(),
        ])
        .args(["--yes", "--no-progress", "-q", "--config", "/dev/null"])
        .env("ZOOM_ACCOUNT_ID", &sim.config().account_id)
        .env("ZOOM_CLIENT_ID", &sim.config().client_id)
        .env("ZOOM_CLIENT_SECRET", &sim.config().client_secret)
        .run()
        .await;
    run.assert_clean();
    let page = page_of(&report);
    assert!(!page.contains("<script"), "no script, and the name is text");
    assert!(!page.contains("<img"), "the input value is text");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.contains("://"), "no URL, not even as text");
    // Every tag of the page (escaped text holds no `<`): none refers to anything.
    for tag in page
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
    {
        for attr in [
            " src=", " href=", " srcset=", " action=", " data=", "url(", "@import",
        ] {
            assert!(!tag.contains(attr), "<{tag}>");
        }
        let name = tag.split_whitespace().next().unwrap_or("");
        assert!(
            !["script", "link", "iframe", "img", "object", "embed", "base"].contains(&name),
            "<{tag}>"
        );
    }
    assert!(page.contains("Content-Security-Policy") && page.contains("default-src 'none'"));
    let text = visible_text(&page);
    assert!(
        text.contains(&format!("{admin} (<script>alert('zoom')</script>")),
        "{text}"
    );
    // The page's counts are the report's.
    for (status, n) in report_counts(&report) {
        assert!(
            text.contains(&format!("{status} {n}")),
            "{status} {n}: {text}"
        );
    }
    // `summary` rebuilds the same page.
    let first = page.clone();
    let rebuilt = Bin::new().arg("summary").arg(&report).run().await;
    assert_eq!(rebuilt.code, Some(0), "{}", rebuilt.stderr);
    assert_eq!(page_of(&report), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renders_in_chromium_with_the_counts() {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!(
            "SKIPPED the_page_renders_in_chromium_with_the_counts: no chromium installed (apt-get install chromium)"
        );
        return;
    };
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (report, _, _) = revoke_report(&sim, dir.path(), "c.csv", 12).await;
    let mut page = report.as_os_str().to_owned();
    page.push(".html");
    let out = tokio::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", PathBuf::from(page).display()))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("chromium answered within a minute")
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let text = visible_text(&dom);
    assert!(text.contains("Zoom offboarding report"), "{dom}");
    for (status, n) in report_counts(&report) {
        assert!(
            text.contains(&format!("{status} {n}")),
            "{status} {n}: {text}"
        );
    }
    assert!(text.contains("2 need attention"), "{text}");
    assert!(text.contains("The report verifies"), "{text}");
}
