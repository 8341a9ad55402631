//! Tests for the input rules of the contract, one or more per rule.

use std::io::Write;

use super::*;

/// Writes `content` to a temporary file and returns it (kept alive by the caller).
fn file(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f
}

fn load_one(content: &[u8]) -> Result<Batch, InputError> {
    load_opts(content, None)
}

fn load_opts(content: &[u8], column: Option<&str>) -> Result<Batch, InputError> {
    let f = file(content);
    let opts = InputOptions {
        column: column.map(str::to_owned),
        ..InputOptions::default()
    };
    load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        None,
        &opts,
        &mut std::io::empty(),
    )
}

fn users(b: &Batch) -> Vec<&str> {
    b.users.iter().map(UserId::as_str).collect()
}

fn invalid(b: &Batch) -> Vec<(&str, u64, &str)> {
    b.invalid
        .iter()
        .map(|e| (e.raw.as_str(), e.origin.line, e.reason.as_str()))
        .collect()
}

#[test]
fn plain_list_every_line_is_a_user() {
    let b = load_one(b"a@x.com\nKdYKjnimT4KPd8FFgQt9FQ\nb@x.com\n").unwrap();
    assert_eq!(users(&b), ["a@x.com", "KdYKjnimT4KPd8FFgQt9FQ", "b@x.com"]);
    assert_eq!(b.lines, 3);
    assert_eq!(b.total_distinct(), 3);
}

#[test]
fn bom_crlf_blank_and_comment_lines() {
    let b = load_one(
        b"\xEF\xBB\xBF# exported 2026-11-28\r\n\r\na@x.com\r\n   \r\nb@x.com\r\n#c\r\nc@x.com",
    )
    .unwrap();
    assert_eq!(users(&b), ["a@x.com", "b@x.com", "c@x.com"]);
    assert_eq!(b.lines, 3);
    // A BOM before a header is not part of the header.
    let b = load_one(b"\xEF\xBB\xBFEmail,Name\r\na@x.com,A\r\n").unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
}

#[test]
fn line_numbers_are_physical() {
    let b = load_one(b"# header comment\n\nemail\na@x.com\n# c\n\na/b\n").unwrap();
    assert_eq!(invalid(&b), [("a/b", 7, "contains '/'")]);
    assert_eq!(b.lines, 2, "header not counted");
}

#[test]
fn every_known_header_in_any_case() {
    for h in KNOWN_HEADERS {
        let content = format!("  {}  \na@x.com\n", h.to_uppercase());
        let b = load_one(content.as_bytes()).unwrap();
        assert_eq!(users(&b), ["a@x.com"], "{h}");
        assert_eq!(b.lines, 1, "{h}");
    }
}

#[test]
fn header_picks_the_column() {
    let b = load_one(b"name,email,dept\nAnn,a@x.com,Ops\nBob,b@x.com,IT\n").unwrap();
    assert_eq!(users(&b), ["a@x.com", "b@x.com"]);
}

#[test]
fn several_known_headers_prefer_email() {
    // The shape `zoom-offboard users` prints.
    let b = load_one(b"id,email,first_name\nKdYKjnimT4KPd8FFgQt9FQ,a@x.com,Ann\n").unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
    let b = load_one(b"id,login\nK1,a@x.com\n").unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
    let b = load_one(b"ID,User_ID\nK1,K2\n").unwrap();
    assert_eq!(users(&b), ["K2"]);
}

#[test]
fn column_option_picks_another_column() {
    let content = b"id,email,Work Mail\nK1,a@x.com,w@x.com\n";
    let b = load_opts(content, Some(" work mail ")).unwrap();
    assert_eq!(users(&b), ["w@x.com"]);
    let b = load_opts(content, Some("ID")).unwrap();
    assert_eq!(users(&b), ["K1"]);
    let err = load_opts(content, Some("mail")).unwrap_err().to_string();
    assert!(err.contains("line 1: no column \"mail\""), "{err}");
    assert!(err.contains("\"id\", \"email\", \"Work Mail\""), "{err}");
}

#[test]
fn several_columns_without_known_header_is_an_error() {
    let err = load_one(b"# c\nname,mail\nAnn,a@x.com\n").unwrap_err();
    assert!(matches!(err, InputError::NoKnownHeader { line: 2, .. }));
    let msg = err.to_string();
    assert!(msg.contains("2 columns (\"name\", \"mail\")"), "{msg}");
    assert!(msg.contains("--column"), "{msg}");
    // ... but --column can name one of them.
    let b = load_opts(b"name,mail\nAnn,a@x.com\n", Some("mail")).unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
}

#[test]
fn invalid_values_become_entries_not_errors() {
    let long = "a".repeat(129);
    let content = format!("a/b\nx?y\n../..\n%2F\nme\n{long}\nok@x.com\n.\nMe\na b@x.com\n");
    let b = load_one(content.as_bytes()).unwrap();
    assert_eq!(users(&b), ["ok@x.com"]);
    let got = invalid(&b);
    assert_eq!(got[0], ("a/b", 1, "contains '/'"));
    assert_eq!(got[1], ("x?y", 2, "contains '?'"));
    assert_eq!(got[2], ("../..", 3, "contains '/'"));
    assert_eq!(got[3], ("%2F", 4, "contains '%'"));
    assert!(got[4].2.contains("\"me\""));
    assert_eq!(got[5].2, "longer than 128 characters (129)");
    assert!(got[6].2.contains("path segment"));
    assert!(got[7].2.contains("\"me\""), "me in any case");
    assert_eq!(got[8], ("a b@x.com", 10, "contains a space"));
    assert_eq!(b.invalid[0].origin.file, b.invalid[1].origin.file);
    let name = b.invalid[8].origin.file.clone();
    assert_eq!(
        b.invalid[8].to_string(),
        format!(
            "{name} line 10: \"a b@x.com\" is not an email address or Zoom user ID: contains a space"
        )
    );
}

#[test]
fn empty_cell_and_missing_column_are_invalid_rows() {
    let b = load_one(b"id,email,name\nK1,,Ann\nK2\nK3,c@x.com,Cy\n").unwrap();
    assert_eq!(users(&b), ["c@x.com"]);
    assert_eq!(
        invalid(&b),
        [
            ("K1,,Ann", 2, "empty \"email\" cell"),
            ("K2", 3, "missing column \"email\" (the row has 1 cells)"),
        ]
    );
    assert!(b.invalid[1].reason.contains("missing column"));
}

#[test]
fn plain_list_row_with_a_comma_is_invalid() {
    let b = load_one(b"a@x.com\nb@x.com,c@x.com\n").unwrap();
    assert_eq!(invalid(&b), [("b@x.com,c@x.com", 2, "contains ','")]);
}

#[test]
fn blank_cells_rows_and_repeated_headers_are_skipped() {
    let b = load_one(b"email,name\na@x.com,A\n,\n , \nemail,name\nb@x.com,B\n").unwrap();
    assert_eq!(users(&b), ["a@x.com", "b@x.com"]);
    assert!(b.invalid.is_empty());
    assert_eq!(b.lines, 2);
}

#[test]
fn whitespace_around_values_is_trimmed() {
    let b = load_one(b"email , name\n  a@x.com\t, Ann \n\" b@x.com \",Bob\n").unwrap();
    assert_eq!(users(&b), ["a@x.com", "b@x.com"]);
}

#[test]
fn quoted_csv() {
    let b = load_one(b"\"email\",\"name\"\n\"a@x.com\",\"Doe, Ann\"\n\"b@x.com\",\"Bob \"\"B\"\" \nSmith\"\nc@x.com,C\n").unwrap();
    assert_eq!(users(&b), ["a@x.com", "b@x.com", "c@x.com"]);
    // A quoted value with a comma in a plain list is one cell, and not an email.
    let b = load_one(b"\"a,b@x.com\"\n").unwrap();
    assert!(b.invalid[0].reason.contains("','"), "{:?}", b.invalid);
    // A multi-line record is reported at the line it starts on.
    let b = load_one(b"email,n\n\"a\nb@x.com\",x\nc@x.com,y\n").unwrap();
    assert_eq!(b.invalid[0].origin.line, 2);
    assert!(b.invalid[0].reason.contains("control character"));
    assert_eq!(users(&b), ["c@x.com"]);
}

#[test]
fn unterminated_quote_is_an_error() {
    let err = load_one(b"email\na@x.com\n\"b@x.com\nc@x.com\n").unwrap_err();
    assert!(
        matches!(err, InputError::UnterminatedQuote { line: 3, .. }),
        "{err}"
    );
}

#[test]
fn duplicates_compare_emails_without_case() {
    let b = load_one(b"A@X.com\na@x.com\n a@x.COM \nKd1\nkd1\nKd1\nbad/1\nbad/1\n").unwrap();
    assert_eq!(users(&b), ["A@X.com", "Kd1", "kd1"]);
    assert_eq!(invalid(&b), [("bad/1", 7, "contains '/'")]);
    assert_eq!(b.duplicates, 4);
    assert_eq!(b.lines, 8);
    assert_eq!(b.total_distinct(), 4);
}

#[test]
fn multiple_files_cli_users_and_stdin() {
    let f1 = file(b"email\na@x.com\nb@x.com\n");
    let f2 = file(b"c@x.com\nA@x.com\n");
    let mut stdin = &b"d@x.com\nbad/x\n"[..];
    let b = load(
        &[
            InputSource::Path(f1.path().to_owned()),
            InputSource::from_arg(std::path::Path::new("-")),
            InputSource::Path(f2.path().to_owned()),
        ],
        &["e@x.com".to_owned(), "me".to_owned(), "b@x.com".to_owned()],
        None,
        &InputOptions::default(),
        &mut stdin,
    )
    .unwrap();
    assert_eq!(
        users(&b),
        ["a@x.com", "b@x.com", "d@x.com", "c@x.com", "e@x.com"]
    );
    assert_eq!(b.duplicates, 2);
    assert_eq!(b.invalid[0].origin.file, "<stdin>");
    assert_eq!(b.invalid[0].origin.line, 2);
    assert_eq!(
        b.invalid[1].origin,
        Origin {
            file: "--user".into(),
            line: 2
        }
    );
    assert_eq!(b.invalid[1].origin.to_string(), "--user #2");
    assert_eq!(b.lines, 9);
}

#[test]
fn no_inputs_reads_stdin() {
    let mut stdin = &b"a@x.com\n"[..];
    let b = load(&[], &[], None, &InputOptions::default(), &mut stdin).unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
    let mut stdin = &b"a@x.com\n"[..];
    let b = load(
        &[],
        &["b@x.com".into()],
        None,
        &InputOptions::default(),
        &mut stdin,
    )
    .unwrap();
    assert_eq!(users(&b), ["b@x.com"], "--user alone does not read stdin");
}

#[test]
fn exclude_list() {
    let ex = file(b"# break-glass admins\nEmail\nROOT@x.com\nKd9\n");
    let f = file(b"a@x.com\nroot@X.com\nKd9\nroot@x.com\nb@x.com\n");
    let b = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        Some(ex.path()),
        &InputOptions::default(),
        &mut std::io::empty(),
    )
    .unwrap();
    assert_eq!(users(&b), ["a@x.com", "b@x.com"]);
    let ex_users: Vec<_> = b.excluded.iter().map(UserId::as_str).collect();
    assert_eq!(ex_users, ["root@X.com", "Kd9"]);
    assert_eq!(b.duplicates, 1);
    assert_eq!(b.total_distinct(), 4);
    let keys = read_exclude(ex.path(), None).unwrap();
    assert!(keys.contains("root@x.com") && keys.contains("Kd9"));
}

#[test]
fn invalid_exclude_entry_is_an_error() {
    let ex = file(b"admin@x.com\nroot @x.com\n");
    let err = read_exclude(ex.path(), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, InputError::InvalidExclude { line: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("\"root @x.com\"") && msg.contains("contains a space"),
        "{msg}"
    );
    let f = file(b"a@x.com\n");
    let err = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        Some(ex.path()),
        &InputOptions::default(),
        &mut std::io::empty(),
    );
    assert!(err.is_err());
}

#[test]
fn not_utf8_names_file_and_line() {
    let f = file(b"email,name\na@x.com,Ann\nb\xE9@x.com,Bob\n");
    let name = f.path().display().to_string();
    let opts = InputOptions::default();
    let err = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        None,
        &opts,
        &mut std::io::empty(),
    )
    .unwrap_err();
    assert!(matches!(err, InputError::NotUtf8 { line: 3, .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{name} line 3: not UTF-8")),
        "{err}"
    );
    // Other columns are not read, so a Latin-1 name does not stop the run.
    let b = load_one(b"email,Pr\xE9nom\na@x.com,Jos\xE9\n").unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
}

#[test]
fn unreadable_file_names_the_path() {
    let err = load(
        &[InputSource::from_arg(std::path::Path::new(
            "/nonexistent/users.csv",
        ))],
        &[],
        None,
        &InputOptions::default(),
        &mut std::io::empty(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot read /nonexistent/users.csv: "),
        "{msg}"
    );
}

#[test]
fn empty_input_is_an_empty_batch() {
    let b = load_one(b"").unwrap();
    assert_eq!(b.total_distinct(), 0);
    assert_eq!(b.lines, 0);
    let b = load_one(b"email\n").unwrap();
    assert_eq!(b.total_distinct(), 0);
}

#[test]
fn each_source_is_digested_with_its_user_rows() {
    // Two header lines are not rows; a comment and a blank line neither; a duplicate is.
    let b = load_one(b"email\na@x.com\n# note\n\nb@x.com\na@x.com\n").unwrap();
    assert_eq!(b.sources.len(), 1);
    assert_eq!(b.sources[0].rows, 3);
    // printf 'email\na@x.com\n# note\n\nb@x.com\na@x.com\n' | sha256sum
    assert_eq!(
        b.sources[0].sha256,
        "59089ad21b8c1892a786edb715a5449111e8b67643e34bab96de529677d47c24"
    );
    let empty = load_one(b"").unwrap();
    assert_eq!(
        empty.sources[0].sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

/// Scale check: `cargo test --release --lib input::tests::million_rows -- --ignored --nocapture`.
#[test]
#[ignore]
fn million_rows() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    {
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        writeln!(w, "id,email,first_name,last_name").unwrap();
        for i in 0..1_000_000u32 {
            writeln!(w, "K{i:021},first.last{i}@example-company.com,First,Last").unwrap();
        }
    }
    let start = std::time::Instant::now();
    let b = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        None,
        &InputOptions::default(),
        &mut std::io::empty(),
    )
    .unwrap();
    eprintln!("1M rows in {:?}", start.elapsed());
    assert_eq!(b.users.len(), 1_000_000);
}

#[test]
fn a_bom_after_leading_blank_lines_is_not_a_user_and_does_not_hang_the_reader() {
    // Found by the property test: "\n\u{feff}\n" was reported as an unterminated quote.
    for text in [
        "\n\u{feff}\n",
        "# c\n\u{feff}\n",
        "\n\u{feff}a@example.com\n",
        "\u{feff}\u{feff}\n",
    ] {
        let mut stdin = text.as_bytes();
        let b = load(
            &[InputSource::Stdin],
            &[],
            None,
            &InputOptions::default(),
            &mut stdin,
        )
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(b.invalid.is_empty(), "{text:?}: {:?}", b.invalid.len());
        assert_eq!(b.users.len(), usize::from(text.contains('@')), "{text:?}");
    }
}

// --- --transfer-column ---

fn load_transfer(files: &[&[u8]], cli: &[&str]) -> (Result<Batch, InputError>, Vec<String>) {
    let kept: Vec<_> = files.iter().map(|c| file(c)).collect();
    let names = kept
        .iter()
        .map(|f| f.path().display().to_string())
        .collect();
    let opts = InputOptions {
        transfer_column: Some(" Manager ".to_owned()),
        ..InputOptions::default()
    };
    let sources: Vec<_> = kept
        .iter()
        .map(|f| InputSource::Path(f.path().to_owned()))
        .collect();
    let cli: Vec<String> = cli.iter().map(|s| s.to_string()).collect();
    let batch = load(&sources, &cli, None, &opts, &mut std::io::empty());
    (batch, names)
}

fn targets(b: &Batch) -> Vec<(&str, Option<&str>)> {
    b.users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            assert_eq!(b.transfer_at(i), b.transfer_for(u), "{u}");
            (u.as_str(), b.transfer_for(u).map(UserId::as_str))
        })
        .collect()
}

#[test]
fn transfer_column_gives_each_user_its_target() {
    let (b, _) = load_transfer(
        &[b"email,MANAGER ,dept\na@x.com,boss@x.com,Ops\nb@x.com,,IT\nc@x.com\nd@x.com, KdYKjnimT4KPd8FFgQt9FQ ,IT\ne@x.com,Boss@X.com,Ops\n"],
        &["f@x.com"],
    );
    let b = b.unwrap();
    assert_eq!(
        targets(&b),
        [
            ("a@x.com", Some("boss@x.com")),
            ("b@x.com", None),
            ("c@x.com", None),
            ("d@x.com", Some("KdYKjnimT4KPd8FFgQt9FQ")),
            ("e@x.com", Some("boss@x.com")),
            ("f@x.com", None),
        ],
        "blank and short rows and --user have none; targets are trimmed and one per key"
    );
    assert_eq!(
        b.transfer_targets()
            .iter()
            .map(UserId::as_str)
            .collect::<Vec<_>>(),
        ["boss@x.com", "KdYKjnimT4KPd8FFgQt9FQ"]
    );
    // Looked up by dedupe key: emails without case, and only for users of the batch.
    let upper = UserId::parse("A@X.COM").unwrap();
    assert_eq!(
        b.transfer_for(&upper).map(UserId::as_str),
        Some("boss@x.com")
    );
    let boss = UserId::parse("boss@x.com").unwrap();
    assert_eq!(b.transfer_for(&boss), None);
    assert_eq!(b.transfer_at(99), None);
}

#[test]
fn without_a_transfer_column_there_are_no_targets() {
    let b = load_one(b"email,manager\na@x.com,boss@x.com\n").unwrap();
    assert_eq!(targets(&b), [("a@x.com", None)]);
    assert!(b.transfer_targets().is_empty());
}

#[test]
fn transfer_column_missing_from_a_file_names_the_file_and_its_columns() {
    let (err, names) = load_transfer(
        &[
            b"email,manager\na@x.com,b@x.com\n",
            b"# second\nEmail,Boss\nc@x.com,d@x.com\n",
        ],
        &[],
    );
    let err = err.unwrap_err();
    assert!(
        matches!(err, InputError::TransferColumnNotFound { line: 2, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{} line 2: ", names[1])), "{msg}");
    assert!(
        msg.contains("no column \" Manager \" (--transfer-column)")
            && msg.contains("\"Email\", \"Boss\""),
        "{msg}"
    );
}

#[test]
fn transfer_column_with_a_plain_list_is_an_error_naming_the_file() {
    let (err, names) = load_transfer(&[b"a@x.com\nb@x.com\n"], &[]);
    let err = err.unwrap_err();
    assert!(
        matches!(err, InputError::TransferWithoutHeader { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{} line 1: ", names[0])), "{msg}");
    assert!(msg.contains("plain list"), "{msg}");
    // The user column itself cannot be the transfer column.
    let (err, _) = load_transfer(&[b"Manager,dept\na@x.com,IT\n"], &[]);
    let opts = InputOptions {
        column: Some("manager".into()),
        transfer_column: Some("MANAGER".into()),
        ..InputOptions::default()
    };
    let f = file(b"Manager,dept\na@x.com,IT\n");
    let err2 = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        None,
        &opts,
        &mut std::io::empty(),
    )
    .unwrap_err();
    assert!(
        matches!(err2, InputError::TransferIsUserColumn { .. }),
        "{err2}"
    );
    // (Without --column, "Manager,dept" has no user column at all.)
    assert!(matches!(err.unwrap_err(), InputError::NoKnownHeader { .. }));
}

#[test]
fn a_bad_transfer_cell_makes_that_user_invalid() {
    let (b, names) = load_transfer(
        &[b"email,manager\na@x.com,boss@x.com\nb@x.com,not a user\nc@x.com,me\nd@x.com,Jos\xE9\n"],
        &[],
    );
    let b = b.unwrap();
    assert_eq!(targets(&b), [("a@x.com", Some("boss@x.com"))]);
    let got: Vec<_> = b
        .invalid
        .iter()
        .map(|e| (e.raw.as_str(), e.origin.line, e.part))
        .collect();
    assert_eq!(
        got,
        [
            ("b@x.com", 3, InvalidPart::Transfer),
            ("c@x.com", 4, InvalidPart::Transfer),
            ("d@x.com", 5, InvalidPart::Transfer),
        ]
    );
    assert_eq!(
        b.invalid[0].to_string(),
        format!(
            "{} line 3: user \"b@x.com\": transfer target \"not a user\" (column \"Manager\") is not an email address or Zoom user ID: contains a space",
            names[0]
        )
    );
    assert!(b.invalid[1].reason.contains("\"me\""), "{:?}", b.invalid[1]);
    assert!(
        b.invalid[2].reason.contains("\"Jos\u{FFFD}\"") && b.invalid[2].reason.contains("UTF-8"),
        "{:?}",
        b.invalid[2]
    );
    assert_eq!(b.transfer_targets().len(), 1);
    assert_eq!(b.total_distinct(), 4);
}

#[test]
fn one_user_with_two_targets_is_invalid_naming_both_lines() {
    let (b, names) = load_transfer(
        &[
            b"email,manager\na@x.com,boss@x.com\nb@x.com,\nc@x.com,c.boss@x.com\n",
            b"email,manager\nA@x.com,other@x.com\nb@x.com,late@x.com\nC@X.com,C.Boss@x.com\na@x.com,third@x.com\n",
        ],
        &[],
    );
    let b = b.unwrap();
    assert_eq!(
        targets(&b),
        [
            ("b@x.com", Some("late@x.com")),
            ("c@x.com", Some("c.boss@x.com")),
        ],
        "a blank cell takes a later target; the same target twice (any case) is no conflict"
    );
    assert_eq!(b.invalid.len(), 1);
    let e = &b.invalid[0];
    assert_eq!((e.raw.as_str(), e.part), ("a@x.com", InvalidPart::Transfer));
    assert_eq!(
        e.reason,
        format!(
            "two different transfer targets (column \"Manager\"): \"boss@x.com\" at {} line 2 and \"other@x.com\" at {} line 2",
            names[0], names[1]
        )
    );
    assert_eq!(e.origin.file, names[1]);
    assert_eq!(
        b.transfer_targets()
            .iter()
            .map(UserId::as_str)
            .collect::<Vec<_>>(),
        ["late@x.com", "c.boss@x.com"],
        "the invalid user's targets are not looked up"
    );
    // Every line is accounted for once.
    assert_eq!(b.lines, 7);
    assert_eq!(b.total_distinct() as u64 + b.duplicates, b.lines);
}

#[test]
fn a_bad_transfer_cell_on_a_repeat_makes_the_user_invalid_too() {
    let (b, _) = load_transfer(
        &[b"email,manager\na@x.com,boss@x.com\nb@x.com,ok@x.com\na@x.com,bad/boss\n"],
        &[],
    );
    let b = b.unwrap();
    assert_eq!(targets(&b), [("b@x.com", Some("ok@x.com"))]);
    assert_eq!(b.invalid.len(), 1);
    assert_eq!(
        (b.invalid[0].raw.as_str(), b.invalid[0].origin.line),
        ("a@x.com", 4)
    );
    assert!(b.invalid[0].reason.contains("\"bad/boss\""));
    // And later lines of that user change nothing.
    assert_eq!(b.duplicates, 1);
}

#[test]
fn excluded_users_targets_are_not_checked() {
    let ex = file(b"root@x.com\n");
    let f = file(b"email,manager\nroot@x.com,bad boss\na@x.com,boss@x.com\n");
    let opts = InputOptions {
        transfer_column: Some("manager".into()),
        ..InputOptions::default()
    };
    let b = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        Some(ex.path()),
        &opts,
        &mut std::io::empty(),
    )
    .unwrap();
    assert_eq!(b.excluded.len(), 1);
    assert!(b.invalid.is_empty());
    assert_eq!(targets(&b), [("a@x.com", Some("boss@x.com"))]);
}

/// Scale check with a transfer column (a few hundred managers, as in a real export), for peak
/// memory: `cargo test --release --lib input::tests::million_rows_with_transfers -- --ignored`.
#[test]
#[ignore]
fn million_rows_with_transfers() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    {
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        writeln!(w, "id,email,manager,first_name,last_name").unwrap();
        for i in 0..1_000_000u32 {
            let boss = i % 500;
            writeln!(
                w,
                "K{i:021},first.last{i}@example-company.com,boss{boss}@example-company.com,First,Last"
            )
            .unwrap();
        }
    }
    let opts = InputOptions {
        transfer_column: Some("manager".into()),
        ..InputOptions::default()
    };
    let start = std::time::Instant::now();
    let b = load(
        &[InputSource::Path(f.path().to_owned())],
        &[],
        None,
        &opts,
        &mut std::io::empty(),
    )
    .unwrap();
    eprintln!("1M rows with transfers in {:?}", start.elapsed());
    assert_eq!(b.users.len(), 1_000_000);
    assert_eq!(b.transfer_targets().len(), 500);
    let last = &b.users[999_999];
    assert_eq!(
        b.transfer_for(last).map(UserId::as_str),
        Some("boss499@example-company.com")
    );
}

#[test]
fn kept_packs_kind_and_index_and_refuses_what_does_not_fit() {
    let top = (1 << KEPT_INDEX_BITS) - 1;
    for k in [
        Kept::User(0),
        Kept::Invalid(7),
        Kept::Excluded(top),
        Kept::User(top),
    ] {
        let p = k.pack().unwrap();
        assert_eq!(Kept::unpack(p), k);
    }
    assert_eq!(Kept::User(top + 1).pack(), None);
    assert_eq!(Kept::Excluded(usize::MAX).pack(), None);
}

/// The five work emails every file of `fixtures/dialects` holds (see its README).
const DIALECT_PEOPLE: [&str; 5] = [
    "zoe.muller@example.com",
    "jose.alvarez@example.com",
    "asa.lindstrom@example.com",
    "francois.dupre@example.com",
    "grace.hopper@example.com",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dialects")
        .join(name)
}

fn load_with(path: PathBuf, opts: &InputOptions) -> Result<Batch, InputError> {
    load(
        &[InputSource::Path(path)],
        &[],
        None,
        opts,
        &mut std::io::empty(),
    )
}

#[test]
fn every_dialect_fixture_reads_the_same_people() {
    let column = |c: &str| InputOptions {
        column: Some(c.to_owned()),
        ..InputOptions::default()
    };
    let cases = [
        ("excel-csv-utf8.csv", InputOptions::default()),
        ("excel-semicolon-cp1252.csv", InputOptions::default()),
        ("excel-sep-line.csv", InputOptions::default()),
        ("excel-unicode-text.txt", InputOptions::default()),
        ("hr-utf16be.csv", InputOptions::default()),
        ("workday-workers.csv", column("Work_Email")),
        ("bamboohr-employees.csv", column("work email")),
    ];
    for (name, opts) in cases {
        let b = load_with(fixture(name), &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(users(&b), DIALECT_PEOPLE, "{name}");
        assert!(b.invalid.is_empty(), "{name}: {:?}", b.invalid);
        assert_eq!(b.lines, 5, "{name}: header and sep= lines are not rows");
    }
}

#[test]
fn semicolon_and_tab_are_detected_from_the_first_non_comment_line() {
    let b = load_one(b"# HR export\n\nEmail;Name\na@x.com;Doe, Jane\n").unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
    let b = load_one(b"id\temail\n1\tb@x.com\n").unwrap();
    assert_eq!(users(&b), ["b@x.com"]);
    // A comma anywhere on the first line keeps ',': the ';' is then part of a value.
    let b = load_one(b"email,note\nc@x.com,a;b\n").unwrap();
    assert_eq!(users(&b), ["c@x.com"]);
}

#[test]
fn a_sep_line_sets_the_delimiter_and_is_not_a_row() {
    let b = load_one(b"\xEF\xBB\xBFsep=|\r\nemail|name\r\na@x.com|A, B\r\n").unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
    assert_eq!(b.lines, 1);
    // In a plain list too: `sep=,` is never taken for a user.
    let b = load_one(b"sep=,\na@x.com\n").unwrap();
    assert_eq!((users(&b), b.invalid.len()), (vec!["a@x.com"], 0));
    let err = load_one(b"sep=#\nemail\n").unwrap_err();
    assert!(
        matches!(
            err,
            InputError::UnsupportedSep {
                line: 1,
                value: '#',
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_delimiter_flag_wins_over_detection_and_sep() {
    let forced = |d| InputOptions {
        delimiter: Some(d),
        ..InputOptions::default()
    };
    // Detection would say ';'; forced ',' reads the line as one cell holding a ';'.
    let f = file(b"email;name\n");
    let b = load_with(f.path().to_owned(), &forced(Delimiter::Comma)).unwrap();
    assert_eq!(b.invalid.len(), 1);
    assert_eq!(b.invalid[0].raw, "email;name");
    let f = file(b"sep=;\nemail\ta\nx@y.com\t1\n");
    let b = load_with(f.path().to_owned(), &forced(Delimiter::Tab)).unwrap();
    assert_eq!(users(&b), ["x@y.com"]);
    // A plain list read with ';' names the delimiter for a row with two cells.
    let f = file(b"a@x.com\nb@x.com;c@x.com\n");
    let b = load_with(f.path().to_owned(), &forced(Delimiter::Semicolon)).unwrap();
    assert_eq!(invalid(&b), [("b@x.com,c@x.com", 2, "contains ';'")]);
}

#[test]
fn latin1_is_tolerated_in_unused_columns_and_an_error_in_the_users() {
    let b = load_one(b"email;Nachname\nzoe@x.com;M\xFCller\n").unwrap();
    assert_eq!(users(&b), ["zoe@x.com"]);
    let err = load_one(b"email;Nachname\nzo\xEB@x.com;M\xFCller\n").unwrap_err();
    assert!(matches!(err, InputError::NotUtf8 { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("line 2: not UTF-8"), "{err}");
}

#[test]
fn utf16_text_that_is_not_text_is_an_error_in_the_users_column_only() {
    let utf16 = |units: &[u16]| -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        units.iter().for_each(|u| out.extend(u.to_le_bytes()));
        out
    };
    let text = |s: &str| s.encode_utf16().collect::<Vec<_>>();
    // A lone surrogate in the name column: no error.
    let mut units = text("email\tname\r\na@x.com\tA");
    units.push(0xDC00);
    units.extend(text("\r\n"));
    let b = load_one(&utf16(&units)).unwrap();
    assert_eq!(users(&b), ["a@x.com"]);
    // In the email column: the file and line, not UTF-8.
    let mut units = text("email\tname\r\na");
    units.push(0xDC00);
    units.extend(text("@x.com\tA\r\n"));
    let err = load_one(&utf16(&units)).unwrap_err();
    assert!(matches!(err, InputError::NotUtf8 { line: 2, .. }), "{err}");
}

#[test]
fn the_exclude_list_reads_dialects_too() {
    let ex = file(b"\xFF\xFEe\0m\0a\0i\0l\0;\0n\0\n\0b\0@\0x\0.\0c\0o\0m\0;\0B\0\n\0");
    let keys = read_exclude(ex.path(), None).unwrap();
    assert!(keys.contains("b@x.com") && keys.len() == 1, "{keys:?}");
}
