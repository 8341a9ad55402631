//! Hostile input (SECURITY.md, "A crafted input file"): property tests over the input reader and
//! the path-segment encoding, and end-to-end checks that nothing invalid ever reaches the server.
//!
//! The properties are stated against an independent model of the contract's input rules
//! (blank and `#` lines skipped, an optional known header, first occurrence wins), not against the
//! reader's own code. Cases are kept modest (256, or 12 for the ones that run a simulator) so the
//! suite stays fast; a failure is shrunk to a minimal input by proptest.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use zoom_offboard::input::{
    Batch, Delimiter, InputError, InputOptions, InputSource, KNOWN_HEADERS, UserId, dedupe_key,
    load,
};
use zoom_offboard::report::Status;
use zoom_offboard::sim::Sim;
use zoom_offboard::zoom::encode_segment;

use crate::revoke_support::*;

/// Reads `bytes` as stdin with `--delimiter ','`: the models below are the contract's rules for
/// comma-separated input, and lines of junk often hold a `;` or a tab, which would make a file
/// whose first line has them `;`- or tab-separated (that detection has its own tests, in
/// `src/input/tests.rs`).
fn load_bytes(
    bytes: &[u8],
    column: Option<&str>,
    exclude: Option<&Path>,
) -> Result<Batch, InputError> {
    let opts = InputOptions {
        column: column.map(str::to_string),
        delimiter: Some(Delimiter::Comma),
        ..InputOptions::default()
    };
    let mut stdin = bytes;
    load(&[InputSource::Stdin], &[], exclude, &opts, &mut stdin)
}

/// Every entry the batch kept, as (dedupe key, which bucket).
fn batch_keys(b: &Batch) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    out.extend(b.users.iter().map(|u| (u.key(), "user")));
    out.extend(b.invalid.iter().map(|i| (dedupe_key(&i.raw), "invalid")));
    out.extend(b.excluded.iter().map(|u| (u.key(), "excluded")));
    out.sort();
    out
}

/// A fixed seed, so a run is reproducible (CI and every developer explore the same cases; a
/// new seed is a code change). No failure files: the seed is the persistence.
fn fixed(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_2026),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Plausible emails (ASCII and not), in mixed case so that case-folded duplicates happen.
fn email() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._+-]{1,12}@[a-zA-Zé0-9-]{1,8}\\.(com|CO\\.uk|org)"
}

/// Zoom-style user ids.
fn zoom_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,24}"
}

/// Values chosen to break things: path tricks, encodings, invisible and control characters,
/// `me`, over-long values, formula-looking cells.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("me".to_string()),
        Just(" Me ".to_string()),
        Just("../../accounts/me".to_string()),
        Just("a@x.com/../../users".to_string()),
        Just("%2e%2e".to_string()),
        Just("a%2Fb@x.com".to_string()),
        Just("a?page_size=300".to_string()),
        Just("a#frag".to_string()),
        Just("a\\b@x.com".to_string()),
        Just("a b@x.com".to_string()),
        Just("\u{200b}a@x.com".to_string()),
        Just("\u{202e}moc.x@a".to_string()),
        Just("a@x.com\u{7}".to_string()),
        Just("a@x.com\tX-Evil: 1".to_string()),
        Just("=HYPERLINK(1)".to_string()),
        Just("@SUM(A1)".to_string()),
        Just("a@@x.com".to_string()),
        Just("a@localhost".to_string()),
        "[a-z]{129,140}",
        // Anything at all without line breaks, quotes or commas (those are covered below).
        "[^\n\r\",]{0,40}",
    ]
}

/// One physical line of a plain list: users, duplicates, junk, blanks and comments.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => email(),
        3 => zoom_id(),
        3 => nasty(),
        1 => "[ \t]{0,3}",
        1 => "#[^\n\r]{0,20}",
    ]
}

/// Whether `l` is an Excel `sep=X` line naming a delimiter the reader supports.
fn is_sep_line(l: &str) -> bool {
    let b = l.trim_end_matches('\r').as_bytes();
    b.len() == 5 && b[..4].eq_ignore_ascii_case(b"sep=") && b",;\t|".contains(&b[4])
}

/// The contract's input rules for a plain list (no commas or quotes), written independently of
/// the reader: which lines are user lines.
fn model_user_lines(lines: &[String]) -> Vec<String> {
    let mut header: Option<String> = None;
    let mut first = true;
    let mut out = Vec::new();
    let mut fed = false;
    for l in lines {
        // Byte-order marks before the first user line are encoding marks, not data.
        let l = if fed {
            l.as_str()
        } else {
            l.trim_start_matches('\u{feff}')
        };
        if l.trim_ascii().is_empty() || l.starts_with('#') {
            continue;
        }
        fed = true;
        if first && is_sep_line(l) {
            // An Excel `sep=X` first line is not a row, whatever the delimiter.
            continue;
        }
        if first {
            first = false;
            let norm = l.trim().to_lowercase();
            if KNOWN_HEADERS.contains(&norm.as_str()) {
                header = Some(l.trim().to_string());
                continue;
            }
        }
        if header
            .as_deref()
            .is_some_and(|h| l.trim().eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push(l.to_string());
    }
    out
}

proptest! {
    #![proptest_config(fixed(256))]

    /// Arbitrary bytes (any encoding, quotes, commas, NULs, lone CRs) never panic the reader,
    /// with or without `--column`, as input or as an exclude list; and whatever is read is
    /// accounted for: every user line is a user, an invalid row, an excluded user or a duplicate.
    #[test]
    fn input_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        column in proptest::option::of(prop_oneof![Just("email"), Just("id"), Just("x")]),
    ) {
        if let Ok(b) = load_bytes(&bytes, column, None) {
            prop_assert_eq!(
                b.lines,
                (b.users.len() + b.invalid.len() + b.excluded.len()) as u64 + b.duplicates
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("exclude.csv");
        std::fs::write(&x, &bytes).unwrap();
        let _ = zoom_offboard::input::read_exclude(&x, None);
        let _ = load_bytes(b"a@x.com\n", None, Some(&x));
    }

    /// Text made of CSV-ish pieces (quotes, commas, headers, CRLF) never panics either; this
    /// reaches the quoting and header paths that random bytes rarely do.
    #[test]
    fn input_csv_shaped_text_never_panics(
        parts in proptest::collection::vec(prop_oneof![
            Just("\"".to_string()), Just(",".to_string()), Just("\r\n".to_string()),
            Just("\n".to_string()), Just("\r".to_string()), Just("email".to_string()),
            Just("id".to_string()), Just("#".to_string()), Just("\u{feff}".to_string()),
            email(), nasty(),
        ], 0..40),
    ) {
        let text = parts.concat();
        if let Ok(b) = load_bytes(text.as_bytes(), None, None) {
            prop_assert_eq!(
                b.lines,
                (b.users.len() + b.invalid.len() + b.excluded.len()) as u64 + b.duplicates
            );
        }
    }

    /// Every non-blank, non-comment line is accounted for as exactly one user row (a user to
    /// request, an invalid row or an excluded user) or as a duplicate of an earlier line; the
    /// first occurrence of a key decides which; nothing that fails validation is a user.
    #[test]
    fn input_every_user_line_is_one_row_or_a_duplicate(
        lines in proptest::collection::vec(line(), 0..60),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        exclude_every in 0usize..5,
    ) {
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        let eol = if crlf { "\r\n" } else { "\n" };
        for l in &lines {
            text.push_str(l);
            text.push_str(eol);
        }
        let user_lines = model_user_lines(&lines);

        // Exclude every n-th valid value (0: none), to exercise the third bucket.
        let dir = tempfile::tempdir().unwrap();
        let mut excluded_keys = HashSet::new();
        let exclude = if exclude_every > 0 {
            let chosen: Vec<String> = user_lines
                .iter()
                .filter_map(|l| UserId::parse(l).ok())
                // "email" would read as the exclude file's header repeated.
                .filter(|u| !u.as_str().eq_ignore_ascii_case("email"))
                .step_by(exclude_every)
                .map(|u| u.as_str().to_string())
                .collect();
            excluded_keys = chosen.iter().map(|u| dedupe_key(u)).collect();
            let p = dir.path().join("exclude.txt");
            // A bare list must not start with a header-like value; "email" makes it explicit.
            std::fs::write(&p, format!("email\n{}\n", chosen.join("\n"))).unwrap();
            Some(p)
        } else {
            None
        };

        let b = load_bytes(text.as_bytes(), None, exclude.as_deref()).unwrap();

        // The model: first occurrence per key decides the bucket.
        let mut seen = HashMap::new();
        let mut expected = Vec::new();
        for l in &user_lines {
            let key = dedupe_key(l);
            if seen.insert(key.clone(), ()).is_some() {
                continue;
            }
            let bucket = match UserId::parse(l) {
                Ok(_) if excluded_keys.contains(&key) => "excluded",
                Ok(_) => "user",
                Err(_) => "invalid",
            };
            expected.push((key, bucket));
        }
        expected.sort();

        prop_assert_eq!(b.lines, user_lines.len() as u64);
        prop_assert_eq!(b.duplicates, (user_lines.len() - seen.len()) as u64);
        prop_assert_eq!(batch_keys(&b), expected);
        // Users keep input order and every one of them re-validates.
        for u in &b.users {
            prop_assert_eq!(&UserId::parse(u.as_str()).unwrap(), u);
        }
        for i in &b.invalid {
            prop_assert!(UserId::parse(&i.raw).is_err(), "invalid entry parses: {:?}", i.raw);
            prop_assert!(!i.reason.is_empty());
        }
    }

    /// Any value that passes validation becomes exactly one URL path segment, which decodes back
    /// to the value: no input can change the path, the query, the fragment or the host.
    #[test]
    fn valid_user_is_exactly_one_path_segment(
        raw in prop_oneof![email(), zoom_id(), nasty(), any::<String>()],
    ) {
        let Ok(user) = UserId::parse(&raw) else { return Ok(()); };
        prop_assert_eq!(user.as_str(), raw.trim());
        let seg = encode_segment(user.as_str());
        prop_assert!(seg.bytes().all(|b| b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@' | b'%')), "{}", seg);
        prop_assert!(seg != "." && seg != "..");
        let decoded = percent_decode_str(&seg).decode_utf8().unwrap();
        prop_assert_eq!(decoded.as_ref(), user.as_str());

        let url = url::Url::parse(&format!("https://api.zoom.us/v2/users/{seg}/token")).unwrap();
        prop_assert_eq!(url.host_str(), Some("api.zoom.us"));
        prop_assert_eq!(url.query(), None);
        prop_assert_eq!(url.fragment(), None);
        let segments: Vec<&str> = url.path_segments().unwrap().collect();
        prop_assert_eq!(segments, vec!["v2", "users", seg.as_str(), "token"]);
    }
}

/// The request paths a run sent, decoded; panics on anything but `DELETE /v2/users/{seg}/token`.
fn sent_users(sim: &Sim) -> Vec<String> {
    let state = sim.state();
    assert!(
        state.unexpected.is_empty(),
        "unexpected requests: {:?}",
        state.unexpected
    );
    let mut out = Vec::new();
    for r in &state.requests {
        if r.path.starts_with("/oauth/token") {
            assert_eq!(r.method, "POST");
            continue;
        }
        assert_eq!(r.method, "DELETE", "{r:?}");
        let seg = r
            .path
            .strip_prefix("/v2/users/")
            .and_then(|p| p.strip_suffix("/token"))
            .unwrap_or_else(|| panic!("unexpected path {}", r.path));
        assert!(!seg.contains(['/', '?', '#']), "{}", r.path);
        out.push(percent_decode_str(seg).decode_utf8().unwrap().into_owned());
    }
    out
}

/// Runs a real revoke of `lines` against a fresh simulator and checks the whole contract for
/// hostile input: only `DELETE /v2/users/{one user}/token`, each valid distinct user requested
/// exactly once, no invalid value ever sent, and one report row per distinct input value.
async fn check_run(lines: &[String]) {
    let sim = Sim::start(fast_sim()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "users.txt", lines);
    let report = dir.path().join("report.csv");
    let a = args(&sim, &input, &report);
    run(&sim, &a).await;

    let user_lines = model_user_lines(lines);
    let mut valid = HashSet::new();
    let mut all_keys = HashSet::new();
    for l in &user_lines {
        all_keys.insert(dedupe_key(l));
        if let Ok(u) = UserId::parse(l) {
            valid.insert(u.key());
        }
    }
    let sent = sent_users(&sim);
    let sent_keys: Vec<String> = sent.iter().map(|u| dedupe_key(u)).collect();
    let distinct: HashSet<&String> = sent_keys.iter().collect();
    assert_eq!(
        distinct.len(),
        sent_keys.len(),
        "a user was requested twice: {sent:?}"
    );
    assert_eq!(
        distinct.into_iter().cloned().collect::<HashSet<_>>(),
        valid,
        "requests must be exactly the valid distinct users"
    );
    for s in &sent {
        assert!(UserId::parse(s).is_ok(), "an invalid value was sent: {s:?}");
    }

    let rows = rows(&report);
    assert_eq!(rows.len(), all_keys.len(), "one row per distinct user line");
    let row_keys: HashSet<String> = rows.iter().map(|r| dedupe_key(&r.user)).collect();
    assert_eq!(row_keys.len(), rows.len(), "no user has two rows");
    for r in &rows {
        if valid.contains(&dedupe_key(&r.user)) {
            assert!(
                matches!(r.status, Status::Revoked | Status::NotFound),
                "{r:?}"
            );
        } else {
            assert_eq!(r.status, Status::Invalid, "{r:?}");
            assert_eq!(r.attempts, 0);
        }
    }
    sim.shutdown().await;
}

/// A curated list of hostile lines never reaches the server as anything but the valid users.
#[tokio::test]
async fn hostile_input_lines_never_reach_the_server() {
    let sim_emails: Vec<String> = (1..=5).map(|i| format!("user{i:05}@example.com")).collect();
    let mut lines: Vec<String> = vec![
        "..",
        ".",
        "me",
        "ME",
        "../../accounts/me",
        "a@x.com/../../users",
        "%2e%2e",
        "a%2Fb@x.com",
        "a?page_size=300",
        "a#frag",
        "a\\b@x.com",
        "a b@x.com",
        "\u{200b}a@x.com",
        "\u{202e}moc.x@a",
        "a@x.com\u{7}",
        "a@x.com\tX-Evil: 1",
        "=HYPERLINK(1)",
        "@SUM(A1)",
        "a@@x.com",
        "a@localhost",
        "user00001@example.com\u{0}",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    lines.push("x".repeat(200));
    lines.extend(sim_emails.iter().cloned());
    lines.push("USER00002@EXAMPLE.COM".into());
    lines.push("Unknown-Id_123".into());
    check_run(&lines).await;
}

proptest! {
    #![proptest_config(fixed(12))]

    /// Nothing that fails validation is ever sent, for random mixes of valid, duplicate and
    /// hostile lines, through the real pipeline and the simulator's record of every request.
    #[test]
    fn invalid_values_are_never_sent(
        lines in proptest::collection::vec(prop_oneof![
            2 => (1u32..60).prop_map(|i| format!("user{i:05}@example.com")),
            2 => line(),
        ], 0..30),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(check_run(&lines));
    }
}
