//! revoke end to end against the simulator: happy path, not found, invalid, duplicates, odd input.

use crate::revoke_support::*;
use zoom_offboard::exit::Exit;
use zoom_offboard::report::Status;
use zoom_offboard::sim::Sim;

#[tokio::test]
async fn happy_path_revokes_everyone_once() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = active_emails(&sim, 40);
    let mut lines = vec!["email".to_string()];
    lines.extend(users.iter().cloned());
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("out.csv");
    let exit = run(&sim, &args(&sim, &input, &report)).await;
    assert_eq!(exit, Exit::Success);

    let rows = rows(&report);
    assert_eq!(rows.len(), 40, "one row per user in a fresh report");
    assert!(
        rows.iter()
            .all(|r| r.status == Status::Revoked && r.http_status == Some(204))
    );
    let state = sim.state();
    assert_eq!(state.total_revocations(), 40);
    assert!(state.revocations.values().all(|&n| n == 1));
    assert_eq!(state.count("DELETE", "/token", None), 40);
    assert_eq!(state.tokens_issued, 1, "one token for the whole run");
    assert!(state.unexpected.is_empty());
}

#[tokio::test]
async fn not_found_invalid_and_duplicates_are_never_retried_or_repeated() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = active_emails(&sim, 5);
    let mut lines = vec!["email".to_string()];
    lines.extend(good.iter().cloned());
    lines.push(good[0].to_uppercase()); // duplicate by case
    lines.push(format!("  {}  ", good[1])); // duplicate with spaces
    lines.push("ghost1@example.com".into());
    lines.push("ghost2@example.com".into());
    lines.push("\"a b@example.com\"".into());
    lines.push("me".into());
    let input = write_input(dir.path(), "users.csv", &lines);
    let report = dir.path().join("out.csv");
    let exit = run(&sim, &args(&sim, &input, &report)).await;
    assert_eq!(
        exit,
        Exit::SomeFailed,
        "not found and invalid users make exit 1"
    );

    let rows = rows(&report);
    assert_eq!(rows.len(), 5 + 2 + 2, "duplicates reported once");
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    assert_eq!(count(Status::Revoked), 5);
    assert_eq!(count(Status::NotFound), 2);
    assert_eq!(count(Status::Invalid), 2);
    for r in rows.iter().filter(|r| r.status == Status::NotFound) {
        assert_eq!(r.attempts, 1, "not found is not retried");
        assert_eq!(r.http_status, Some(404));
        assert_eq!(r.error_code, Some(1001));
    }
    for r in rows.iter().filter(|r| r.status == Status::Invalid) {
        assert!(r.message.contains("users.csv line"), "{}", r.message);
    }
    let state = sim.state();
    assert_eq!(
        state.count("DELETE", "/token", None),
        7,
        "5 found + 2 ghosts, nothing else"
    );
    assert!(state.revocations.values().all(|&n| n == 1));
}

#[tokio::test]
async fn odd_input_never_reaches_the_server_as_another_path() {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = active_emails(&sim, 2);
    // BOM + CRLF, plain list (one column, no header).
    let body = format!(
        "\u{feff}{}\r\na/b\r\nx?y\r\n../..\r\n%2F\r\nq#r\r\n{}\r\nplus+tag@example.com\r\n",
        good[0], good[1]
    );
    let input = dir.path().join("odd.txt");
    std::fs::write(&input, body).unwrap();
    let report = dir.path().join("out.csv");
    let exit = run(&sim, &args(&sim, &input, &report)).await;
    assert_eq!(exit, Exit::SomeFailed);
    let rows = rows(&report);
    let invalid: Vec<_> = rows
        .iter()
        .filter(|r| r.status == Status::Invalid)
        .map(|r| r.user.as_str())
        .collect();
    for odd in ["a/b", "x?y", "../..", "%2F", "q#r"] {
        assert!(invalid.contains(&odd), "{odd} must be invalid: {invalid:?}");
    }
    let state = sim.state();
    assert!(state.unexpected.is_empty(), "{:?}", state.unexpected);
    let deletes: Vec<_> = state
        .requests
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert!(
        deletes
            .iter()
            .any(|p| p == "/v2/users/plus%2Btag@example.com/token"),
        "{deletes:?}"
    );
    assert_eq!(
        rows.iter()
            .find(|r| r.user == "plus+tag@example.com")
            .map(|r| r.status),
        Some(Status::NotFound)
    );
}
