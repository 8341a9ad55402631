//! The HR roster (`reconcile --roster`): the people who still work here, by email.
//!
//! A roster is read with every input rule (comments, header detection, dialects, UTF-16); what
//! differs is what a row gives: the values of one or more columns (`--roster-column work_email
//! --roster-column alias`), each compared with Zoom's emails trimmed and without case. A value is
//! not validated as a user: it is never sent anywhere, and one that matches no Zoom user is listed
//! by `--missing`, where an operator sees it.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufReader, Read};

use super::dialect::{self, Delimiter};
use super::table::read_columns;
use super::{BUF_SIZE, InputError, InputSource, STDIN_NAME, open};

/// The flag named when a roster column is not found.
const FLAG: &str = "--roster-column";

/// Every distinct value of the roster files, in order of first appearance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Each distinct value (by [`Roster::key`]) as first written, trimmed.
    values: Vec<String>,
    /// Key → index in `values`.
    index: HashMap<String, usize>,
}

impl Roster {
    /// The key a roster value and a Zoom email are compared by: trimmed, lower-case.
    pub fn key(value: &str) -> String {
        value.trim().to_lowercase()
    }

    /// A roster of `values` (for tests and callers that have them in memory).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Roster {
        let mut r = Roster::default();
        values.into_iter().for_each(|v| r.add(v));
        r
    }

    fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let next = self.values.len();
        let key = Roster::key(value);
        if let std::collections::hash_map::Entry::Vacant(e) = self.index.entry(key) {
            e.insert(next);
            self.values.push(value.to_owned());
        }
    }

    /// The index of the value whose key `email` has, if any.
    pub fn position(&self, email: &str) -> Option<usize> {
        self.index.get(&Roster::key(email)).copied()
    }

    /// Distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No value at all: an empty file, a header alone, or only blank and comment lines. The
    /// reconciliation refuses such a roster whatever `--max-share` says.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The distinct values, as first written.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The email domains of the roster's values (lower-case, the part after the last `@`):
    /// without `--domain`, the domains a reconciliation considers.
    pub fn domains(&self) -> BTreeSet<String> {
        self.index
            .keys()
            .filter_map(|k| k.rsplit_once('@'))
            .map(|(_, d)| d.to_owned())
            .filter(|d| !d.is_empty())
            .collect()
    }
}

/// Reads every roster source in order into one [`Roster`]. `columns` are the `--roster-column`
/// names (empty: the detected user column of each file).
pub fn read_roster(
    sources: &[InputSource],
    columns: &[String],
    delimiter: Option<Delimiter>,
    stdin: &mut dyn Read,
) -> Result<Roster, InputError> {
    let mut roster = Roster::default();
    let mut add = |_: u64, value: &str| roster.add(value);
    for source in sources {
        match source {
            InputSource::Path(path) => {
                let name = path.display().to_string();
                let file = BufReader::with_capacity(BUF_SIZE, open(path, &name)?);
                let mut src = dialect::decoded(file);
                read_columns(&name, &mut src, delimiter, columns, FLAG, &mut add)?;
            }
            InputSource::Stdin => {
                let mut src = dialect::decoded(BufReader::with_capacity(BUF_SIZE, &mut *stdin));
                read_columns(STDIN_NAME, &mut src, delimiter, columns, FLAG, &mut add)?;
            }
        }
    }
    Ok(roster)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use super::*;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn read(content: &[u8], columns: &[&str]) -> Result<Roster, InputError> {
        let f = file(content);
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        read_roster(
            &[InputSource::Path(f.path().to_owned())],
            &columns,
            None,
            &mut std::io::empty(),
        )
    }

    #[test]
    fn several_columns_and_files_make_one_roster_without_case_or_space() {
        let r = read(
            b"name,work_email,alias\nA,Ann@X.com , ann.a@x.com\nB, bob@y.org,\nC,ann@x.com,\n",
            &["Work_Email", "ALIAS"],
        )
        .unwrap();
        assert_eq!(r.values(), ["Ann@X.com", "ann.a@x.com", "bob@y.org"]);
        assert_eq!(r.position(" ANN@x.COM"), Some(0));
        assert_eq!(
            r.domains().into_iter().collect::<Vec<_>>(),
            ["x.com", "y.org"]
        );
        let (a, b) = (file(b"a@x.com\n"), file(b"email\nb@x.com\na@x.com\n"));
        let r = read_roster(
            &[
                InputSource::Path(a.path().to_owned()),
                InputSource::Path(b.path().to_owned()),
            ],
            &[],
            None,
            &mut std::io::empty(),
        )
        .unwrap();
        assert_eq!(r.values(), ["a@x.com", "b@x.com"]);
    }

    #[test]
    fn empty_rosters_have_no_value() {
        for content in [
            &b""[..],
            b"email\n",
            b"# nothing\n\n  \n",
            b"email,alias\n,\n",
            b"Work Email\n",
        ] {
            assert!(read(content, &[]).unwrap().is_empty(), "{content:?}");
        }
    }

    #[test]
    fn a_plain_list_keeps_its_first_email_and_drops_a_header_name() {
        let r = read(b"a@x.com\nb@x.com\n", &[]).unwrap();
        assert_eq!(r.values(), ["a@x.com", "b@x.com"]);
        let r = read(b"work_email\nb@x.com\n", &[]).unwrap();
        assert_eq!(r.values(), ["b@x.com"]);
    }

    #[test]
    fn a_missing_roster_column_names_the_flag_and_unused_latin1_is_no_error() {
        let err = read(b"email;name\na@x.com;A\n", &["mail"]).unwrap_err();
        assert!(err.to_string().contains("(--roster-column)"), "{err}");
        let r = read(b"email;name\na@x.com;M\xFCller\n", &[]).unwrap();
        assert_eq!(r.values(), ["a@x.com"]);
        let err = read(b"email;alias\na@x.com;m\xFC@x.com\n", &["email", "alias"]).unwrap_err();
        assert!(err.to_string().contains("line 2: not UTF-8"), "{err}");
    }

    #[test]
    fn the_workday_fixture_with_its_aliases() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dialects/workday-workers.csv");
        let r = read_roster(
            &[InputSource::Path(path)],
            &["Work_Email".into(), "Alias_Email".into()],
            None,
            &mut std::io::empty(),
        )
        .unwrap();
        assert_eq!(r.len(), 8);
        assert!(r.position("amazing.grace@example.com").is_some());
    }
}
