//! Who needs attention: the last row of each user (and step) whose status is one of
//! [`ATTENTION`], grouped by reason, for the HTML page.
//!
//! One accumulator, [`Attention`], takes rows in report order from either side of the file: the
//! report's bytes as a reader finds them ([`FromBytes`], for `summary` and for rows earlier runs
//! wrote), or the rows the collector has just written ([`Attention::row`], for this run's own rows,
//! which the run-end page then never reads back). Both sides read a row the same way, so the
//! page says the same thing whichever side its rows came from (a test holds them to that).
//!
//! Reading a large report costs one pass over its bytes: a row's status is read from the bytes
//! (its second CSV cell, its JSONL `status` key) and only rows that need attention, or that may
//! settle one, are parsed whole. Memory grows with the rows that need attention, not with the
//! report.

use std::collections::{BTreeMap, HashSet};

use crate::input::{dedupe_key, key_of};
use crate::report::{Format, Row, Status, unescape_cell};

/// The statuses the page lists under "needs attention", in this order.
pub const ATTENTION: [Status; 6] = [
    Status::Failed,
    Status::Refused,
    Status::NotFound,
    Status::Skipped,
    Status::Pending,
    Status::Invalid,
];

/// One reason a group of users needs attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Their status.
    pub status: Status,
    /// The step (`offboard`), if the rows are about one.
    pub step: Option<String>,
    /// Why (the report's message; per row for `invalid`, whose messages name their line).
    pub reason: String,
    /// The users, in report order.
    pub users: Vec<Listed>,
}

/// One user under a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The user as the report has it.
    pub user: String,
    /// Zoom's display name, when the row has one.
    pub name: Option<String>,
    /// The row's own message, when the group's reason is not it (`invalid` rows).
    pub note: String,
}

/// What the page needs of a row: who, which step, status, message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    user: String,
    name: Option<String>,
    step: Option<String>,
    status: Status,
    message: String,
}

/// Rows taken so far, in report order: the last row of each (user key, step) that needs
/// attention, with its position.
#[derive(Debug)]
pub struct Attention {
    /// The report's format: a CSV row's cells are read back unescaped, as a reader of the file
    /// would (see [`Attention::row`]).
    format: Format,
    /// Whether the report's CSV header has a `step` and a `name` column: a row written into one
    /// without says nothing there (JSONL: both true).
    has_step_and_name: (bool, bool),
    /// Open cases by (user key, step): the row's position and what it says.
    open: BTreeMap<(String, Option<String>), (u64, Seen)>,
    /// The user key of every case ever opened: a row that needs no attention can only close a
    /// case of one of these, so any other is passed over without a copy of its cells (once one
    /// case was open, every later row was copied and looked up: a thousand instructions a row).
    opened: HashSet<String>,
    /// The position of the next row.
    next: u64,
}

impl Attention {
    /// Nothing taken yet, for a report in `format` read from its bytes.
    pub fn new(format: Format) -> Attention {
        Attention::of_columns(format, |_| true)
    }

    /// Nothing taken yet, for rows written into a report in `format` whose CSV header has the
    /// columns `has` says it has (the writer's layout; JSONL has every key).
    pub fn of_columns(format: Format, has: impl Fn(&str) -> bool) -> Attention {
        let csv = format == Format::Csv;
        Attention {
            format,
            has_step_and_name: (!csv || has("step"), !csv || has("name")),
            open: BTreeMap::new(),
            opened: HashSet::new(),
            next: 0,
        }
    }

    /// The report's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True when no row taken so far needs attention.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Takes a row the report writer has just written: what a reader of the file would find.
    /// Its values are the row's own (a CSV cell's formula quote is undone exactly on reading,
    /// `crate::report::cell`); an empty CSV name is none, and a column the report's header
    /// lacks says nothing.
    pub fn row(&mut self, row: &Row) {
        if !ATTENTION.contains(&row.status)
            && (self.opened.is_empty() || !self.opened.contains(key_of(&row.user).as_ref()))
        {
            self.next += 1;
            return;
        }
        let csv = self.format == Format::Csv;
        let (has_step, has_name) = self.has_step_and_name;
        self.take(Some(row.status), || {
            let name = row
                .name
                .as_deref()
                .filter(|n| has_name && !(csv && n.is_empty()));
            Some(Seen {
                user: row.user.clone(),
                name: name.map(str::to_owned),
                step: row.step.filter(|_| has_step).map(|s| s.as_str().to_owned()),
                status: row.status,
                message: row.message.clone().into_owned(),
            })
        });
    }

    /// Takes the next row: `quick` is its status when known without parsing it (`None`: parse
    /// it), `parse` reads it whole (`None`: not a row the page can read, passed over).
    fn take(&mut self, quick: Option<Status>, parse: impl FnOnce() -> Option<Seen>) {
        let n = self.next;
        self.next += 1;
        let needs = quick.is_none_or(|s| ATTENTION.contains(&s));
        if !needs && self.open.is_empty() {
            return;
        }
        let Some(seen) = parse() else {
            return;
        };
        let key = (dedupe_key(&seen.user), seen.step.clone());
        if ATTENTION.contains(&seen.status) {
            self.opened.insert(key.0.clone());
            self.open.insert(key, (n, seen));
        } else {
            self.open.remove(&key);
        }
    }

    /// The open cases grouped by (status, step, reason), statuses in [`ATTENTION`] order,
    /// reasons by size, users in report order.
    pub fn groups(self) -> Vec<Group> {
        let mut rows: Vec<(u64, Seen)> = self.open.into_values().collect();
        rows.sort_by_key(|(n, _)| *n);
        group(rows.into_iter().map(|(_, s)| s))
    }
}

/// Feeds a report's records, as a reader finds them, to an [`Attention`]: a CSV's first record is
/// its header, which says where each cell is.
#[derive(Debug)]
pub struct FromBytes {
    /// The rows so far.
    pub attention: Attention,
    /// A CSV's header cells, once read; `None` before (and always for JSONL).
    header: Option<Vec<String>>,
    /// Splits CSV records into cells.
    cells: Splitter,
}

impl FromBytes {
    /// Nothing read yet of a report in `format`.
    pub fn new(format: Format) -> FromBytes {
        FromBytes {
            attention: Attention::new(format),
            header: None,
            cells: Splitter::new(),
        }
    }

    /// Takes the next complete record (without its newline): a CSV's header first, then rows.
    pub fn record(&mut self, rec: &[u8]) {
        let cells = &mut self.cells;
        match (self.attention.format, &self.header) {
            (Format::Csv, None) => self.header = Some(cells.cells(rec)),
            (Format::Csv, Some(header)) => {
                let header = header.as_slice();
                self.attention
                    .take(csv_status(rec), || csv_row(&cells.cells(rec), header));
            }
            (Format::Jsonl, _) => self.attention.take(json_status(rec), || json_row(rec)),
        }
    }
}

/// Groups rows by (status, step, reason), statuses in [`ATTENTION`] order, reasons by size.
fn group(rows: impl Iterator<Item = Seen>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for s in rows {
        let per_row = s.status == Status::Invalid;
        // Zoom's messages often name the user ("User does not exist: a@x.com."): without
        // the name, one reason gathers everyone it happened to.
        let reason = if per_row {
            "not an email address or Zoom user ID: never sent".to_owned()
        } else if s.user.is_empty() {
            s.message.clone()
        } else {
            s.message.replace(&s.user, "(the user)")
        };
        let at = groups
            .iter()
            .position(|g| g.status == s.status && g.step == s.step && g.reason == reason);
        let user = Listed {
            user: s.user,
            name: s.name,
            note: if per_row { s.message } else { String::new() },
        };
        match at {
            Some(i) => groups[i].users.push(user),
            None => groups.push(Group {
                status: s.status,
                step: s.step,
                reason,
                users: vec![user],
            }),
        }
    }
    let rank = |st: Status| {
        ATTENTION
            .iter()
            .position(|a| *a == st)
            .unwrap_or(usize::MAX)
    };
    groups.sort_by(|a, b| {
        (rank(a.status), std::cmp::Reverse(a.users.len()))
            .cmp(&(rank(b.status), std::cmp::Reverse(b.users.len())))
    });
    groups
}

/// Splits CSV records into cells as `csv::Reader` reads a record, with one parser for all of
/// them: a `csv::Reader` builds its parser's state machine anew, which took about 40 µs a row
/// (`perf` of an offboard run's page, whose write-ahead rows keep the list open, so that most
/// rows are read whole).
#[derive(Debug)]
struct Splitter {
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Splitter {
    fn new() -> Splitter {
        Splitter {
            core: csv_core::Reader::new(),
            out: vec![0; 256],
            ends: vec![0; 16],
        }
    }

    /// The cells of the first record in `record` (a leading byte-order mark dropped, as
    /// `csv::Reader` does); none if there is no record or a cell is not UTF-8.
    fn cells(&mut self, record: &[u8]) -> Vec<String> {
        use csv_core::ReadRecordResult as R;
        self.core.reset();
        let mut input = record.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(record);
        let (mut olen, mut elen) = (0, 0);
        loop {
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[olen..], &mut self.ends[elen..]);
            input = &input[nin..];
            olen += nout;
            elen += nend;
            match res {
                R::InputEmpty => {}
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::End => return Vec::new(),
                R::Record => break,
            }
        }
        let mut start = 0;
        let mut cells = Vec::with_capacity(elen);
        for &end in &self.ends[..elen] {
            match std::str::from_utf8(&self.out[start..end]) {
                Ok(cell) => cells.push(cell.to_owned()),
                Err(_) => return Vec::new(),
            }
            start = end;
        }
        cells
    }
}

/// A CSV row's status from its bytes, when its first cell is not quoted (`None`: parse it).
fn csv_status(record: &[u8]) -> Option<Status> {
    if record.first() == Some(&b'"') {
        return None;
    }
    let mut cells = record.splitn(3, |b| *b == b',');
    cells.next();
    std::str::from_utf8(cells.next()?).ok()?.parse().ok()
}

/// A JSONL row's status from its bytes: the first `,"status":"` is the key (a quote inside a
/// string value is escaped, so the pattern cannot start inside one).
fn json_status(line: &[u8]) -> Option<Status> {
    const KEY: &[u8] = b",\"status\":\"";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = line[at..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&line[at..at + len]).ok()?.parse().ok()
}

fn csv_row(cells: &[String], header: &[String]) -> Option<Seen> {
    let cell = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| cells.get(i))
            .map(|c| unescape_cell(c).to_owned())
    };
    Some(Seen {
        user: cell("user")?,
        name: cell("name").filter(|n| !n.is_empty()),
        step: cell("step").filter(|s| !s.is_empty()),
        status: cell("status")?.parse().ok()?,
        message: cell("message").unwrap_or_default(),
    })
}

fn json_row(line: &[u8]) -> Option<Seen> {
    let row: Row = serde_json::from_slice(line).ok()?;
    Some(Seen {
        user: row.user,
        name: row.name,
        step: row.step.map(|s| s.as_str().to_owned()),
        status: row.status,
        message: row.message.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `csv::Reader` makes of a record: the reference the splitter is held to.
    fn by_csv_reader(record: &[u8]) -> Vec<String> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(record)
            .records()
            .next()
            .and_then(Result::ok)
            .map(|r| r.iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn listed(a: Attention) -> Vec<(Status, String)> {
        a.groups()
            .into_iter()
            .flat_map(|g| g.users.into_iter().map(move |u| (g.status, u.user)))
            .collect()
    }

    /// A later row that needs no attention closes its user's open case, whatever the case of
    /// its user's address; rows of other users pass by without closing or opening anything.
    #[test]
    fn only_a_later_row_of_the_same_user_closes_a_case() {
        let mut a = Attention::new(Format::Csv);
        a.row(&Row::new("Ann@X.com", Status::Failed));
        a.row(&Row::new("bob@x.com", Status::Failed));
        for i in 0..100 {
            a.row(&Row::new(format!("u{i}@x.com"), Status::Revoked));
        }
        a.row(&Row::new("ann@x.com", Status::Revoked));
        assert_eq!(listed(a), vec![(Status::Failed, "bob@x.com".to_owned())]);
    }

    #[test]
    fn the_splitter_reads_records_as_csv_reader_does() {
        let mut s = Splitter::new();
        for rec in [
            &b"a,b,c"[..],
            b"",
            b"\"x,\"\"y\"\"\nz\",,'=1",
            b"\xEF\xBB\xBFuser,status",
            b"a\rb,c",
            b"\"open",
            b"\xff,a",
            b"a,\"b\"c,d",
        ] {
            assert_eq!(s.cells(rec), by_csv_reader(rec), "{rec:?}");
        }
        let long = "x".repeat(1000) + &",y".repeat(40);
        assert_eq!(s.cells(long.as_bytes()), by_csv_reader(long.as_bytes()));
    }

    proptest! {
        #[test]
        fn the_splitter_agrees_with_csv_reader_on_any_bytes(
            recs in prop::collection::vec(
                prop::collection::vec(
                    prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', b'\'', 0xff, b' ']),
                    0..24,
                ),
                1..6,
            )
        ) {
            let mut s = Splitter::new();
            for rec in &recs {
                prop_assert_eq!(s.cells(rec), by_csv_reader(rec));
            }
        }
    }
}
