//! What a batch of rows becomes before it reaches the report: bytes, with a gap where each
//! row's chain goes.
//!
//! Encoding and chaining are separate steps so that they can run on separate threads: the
//! collector encodes a batch while the report's own thread hashes and writes the one before
//! ([`super::background`]). SHA-256 is a third of writing a million-row dry run and cannot be
//! split (each row's chain hashes the one before), so it gets a core of its own, and encoding
//! leaves a 64-byte gap in place for it instead of the two steps copying rows between buffers.

use chrono::{DateTime, Utc};

use super::cell::starts_formula;
use super::{Format, OFFBOARD_COLUMNS, Row, col, format_time};
use crate::evidence::attention::Attention;
use crate::evidence::chain::{JSONL_KEY, Link};

/// How the report's rows are encoded, fixed when it is opened.
pub enum Encoder {
    /// CSV in the file's own column order.
    Csv {
        /// For each column of the file's header but `chain`, which of [`OFFBOARD_COLUMNS`] goes
        /// there (None: a column this version does not know, left empty).
        layout: Vec<Option<usize>>,
        /// Whether the header ends with `chain` (an older report's may not: its rows get none).
        chained: bool,
        /// The last `finished_at` formatted.
        stamp: Stamp,
        /// The last row's cells but its user, encoded (boxed: it holds a whole row).
        reuse: Box<Reuse>,
    },
    /// Compact JSON, a line a row, the chain always last.
    Jsonl,
}

/// Encoded rows: their bytes, each chained row with a gap of [`Link::LEN`] bytes where its chain
/// goes, and where each row's hashed bytes are.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The rows' bytes, line ends included; the gaps hold placeholders until [`Self::chain`].
    buf: Vec<u8>,
    /// One per chained row, in order.
    gaps: Vec<Gap>,
    /// Complete rows in `buf`.
    rows: u64,
}

/// Where a row's chain goes: after the row's bytes `start..hashed`, at `at`.
#[derive(Debug, Clone, Copy)]
struct Gap {
    start: usize,
    hashed: usize,
    at: usize,
}

impl Encoded {
    /// Fills every gap with its row's chain, going on from `prev`, which ends as the last row's
    /// chain. The bytes hashed are exactly those then written.
    pub fn chain(&mut self, prev: &mut Link) {
        for g in &self.gaps {
            let next = prev.next(&self.buf[g.start..g.hashed]);
            self.buf[g.at..g.at + Link::LEN].copy_from_slice(next.as_bytes());
            *prev = next;
        }
    }

    /// The encoded bytes (chained once [`Self::chain`] ran).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Complete rows encoded.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Empties the batch, keeping its memory for the next one: a fresh buffer of a few hundred
    /// kilobytes per batch costs its page faults every time.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.gaps.clear();
        self.rows = 0;
    }

    /// Ends the row that starts at `start`: when `chained`, the bytes so far are its hashed bytes,
    /// and `key` and a gap for the chain follow them; then `close` and the line end.
    fn end_row(&mut self, start: usize, chained: bool, key: &[u8], close: &[u8]) {
        if chained {
            let hashed = self.buf.len();
            self.buf.extend_from_slice(key);
            let at = self.buf.len();
            self.buf.extend_from_slice(&[b'0'; Link::LEN]);
            self.gaps.push(Gap { start, hashed, at });
        }
        self.buf.extend_from_slice(close);
        self.buf.push(b'\n');
        self.rows += 1;
    }
}

impl Encoder {
    /// The encoder of a CSV report laid out as `layout`, with or without a chain column.
    pub fn csv(layout: Vec<Option<usize>>, chained: bool) -> Encoder {
        Encoder::Csv {
            layout,
            chained,
            stamp: Stamp::default(),
            reuse: Box::default(),
        }
    }

    /// Appends `rows` to `out`. A CSV row's hashed bytes run up to and including the comma before
    /// its chain; a JSONL row's up to `,"chain":` (the contract's chain).
    pub fn encode<'r>(
        &mut self,
        rows: impl IntoIterator<Item = &'r Row>,
        out: &mut Encoded,
    ) -> Result<(), std::io::Error> {
        match self {
            Encoder::Csv {
                layout,
                chained,
                stamp,
                reuse,
            } => {
                for row in rows {
                    let start = out.buf.len();
                    if !reuse.push(&mut out.buf, row) {
                        let user =
                            push_row(&mut out.buf, row, layout, stamp.format(row.finished_at));
                        reuse.keep(&out.buf[start..], user, row, layout.len());
                    }
                    // The comma before the chain cell is hashed with the row.
                    if *chained {
                        out.buf.push(b',');
                    }
                    out.end_row(start, *chained, b"", b"");
                }
            }
            Encoder::Jsonl => {
                for row in rows {
                    let start = out.buf.len();
                    serde_json::to_writer(&mut out.buf, row).map_err(std::io::Error::from)?;
                    // The object's closing brace goes after the chain.
                    if out.buf.pop() != Some(b'}') {
                        return Err(std::io::Error::other(
                            "a row did not encode as a JSON object",
                        ));
                    }
                    out.end_row(start, true, JSONL_KEY, b"\"}");
                }
            }
        }
        Ok(())
    }

    /// An empty attention list for the rows encoded here, read as a reader of the report's
    /// columns would read them.
    pub fn attention(&self, format: Format) -> Attention {
        match self {
            Encoder::Csv { layout, .. } => Attention::of_columns(format, |name| {
                layout
                    .iter()
                    .flatten()
                    .any(|&i| OFFBOARD_COLUMNS.get(i) == Some(&name))
            }),
            Encoder::Jsonl => Attention::new(format),
        }
    }
}

/// The CSV encoding of the report: `\n` line ends (as `csv::Writer` writes them everywhere),
/// quoting only where needed. It writes the header; rows go through [`push_row`], which
/// writes the same bytes (a property test holds it to that).
pub(super) fn csv_encoder(buf: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(buf)
}

/// Appends `row` as one record of the file's `layout` (for each of its columns, which of
/// [`OFFBOARD_COLUMNS`] goes there; `None` is left empty), each cell through [`push_cell`]:
/// exactly what [`csv_encoder`] writes for the row's cells quoted by `escape_cell` (a property
/// test holds it to that), straight into `buf`. `csv::Writer` spent about 2,000 instructions on a
/// row of a dozen short cells, and building then dropping a dozen `Cow` cells per row was a sixth
/// of a million-row dry run; the header still goes through `csv::Writer`.
///
/// Returns where the user cell is in the row's bytes, if the layout has one.
fn push_row(
    buf: &mut Vec<u8>,
    row: &Row,
    layout: &[Option<usize>],
    finished_at: &str,
) -> Option<(usize, usize)> {
    const USER: usize = col("user");
    const STATUS: usize = col("status");
    const HTTP_STATUS: usize = col("http_status");
    const ERROR_CODE: usize = col("error_code");
    const MESSAGE: usize = col("message");
    const ATTEMPTS: usize = col("attempts");
    const FINISHED_AT: usize = col("finished_at");
    const STEP: usize = col("step");
    const TRACKING_ID: usize = col("tracking_id");
    const NAME: usize = col("name");
    const ZOOM_STATUS: usize = col("zoom_status");
    const LAST_LOGIN: usize = col("last_login");
    const ZOOM_ID: usize = col("zoom_id");
    let start = buf.len();
    let mut user = None;
    let mut num = itoa::Buffer::new();
    fn opt(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    for (n, at) in layout.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        // Cells the tool spells itself (a status, a step, a count, a time) never hold a
        // character to quote nor start like a formula: written as they are.
        let plain = |buf: &mut Vec<u8>, text: &str| buf.extend_from_slice(text.as_bytes());
        match *at {
            Some(USER) => {
                let at = buf.len() - start;
                push_cell(buf, &row.user);
                user = Some((at, buf.len() - start));
            }
            Some(STATUS) => plain(buf, row.status.as_str()),
            Some(HTTP_STATUS) => plain(buf, row.http_status.map_or("", |s| num.format(s))),
            // Negative (Zoom's own codes are; -1 is ours): quoted as a formula would be.
            Some(ERROR_CODE) => push_cell(buf, row.error_code.map_or("", |c| num.format(c))),
            Some(MESSAGE) => push_cell(buf, &row.message),
            Some(ATTEMPTS) => plain(buf, num.format(row.attempts)),
            Some(FINISHED_AT) => plain(buf, finished_at),
            Some(STEP) => plain(buf, row.step.map_or("", |s| s.as_str())),
            Some(TRACKING_ID) => push_cell(buf, opt(&row.tracking_id)),
            Some(NAME) => push_cell(buf, opt(&row.name)),
            Some(ZOOM_STATUS) => push_cell(buf, opt(&row.zoom_status)),
            Some(LAST_LOGIN) => push_cell(buf, opt(&row.last_login)),
            Some(ZOOM_ID) => push_cell(buf, opt(&row.zoom_id)),
            Some(_) | None => {}
        }
    }
    if layout.len() == 1 && buf.len() == start {
        buf.extend_from_slice(b"\"\"");
    }
    user
}

/// The cells of the last row encoded but its user, as they were encoded: the next row that
/// differs from it only in its user (most rows of a dry run, which share a status, a message
/// and a time to the millisecond) copies them around its own user cell. Encoding cell by cell
/// was as long as hashing the row's chain: the collector's thread then took as long as the
/// report's, and both were the bottleneck of a million-row dry run.
#[derive(Default)]
pub struct Reuse {
    /// The row they were encoded from, without its user; `None` before the first row, and when
    /// the layout has no user column or only one column.
    from: Option<Row>,
    /// The bytes before the user cell and after it.
    before: Vec<u8>,
    after: Vec<u8>,
}

impl Reuse {
    /// Encodes `row` from the kept cells if it differs from their row only in its user; false
    /// (nothing written) otherwise.
    fn push(&self, buf: &mut Vec<u8>, row: &Row) -> bool {
        if !self
            .from
            .as_ref()
            .is_some_and(|from| same_but_user(from, row))
        {
            return false;
        }
        buf.extend_from_slice(&self.before);
        push_cell(buf, &row.user);
        buf.extend_from_slice(&self.after);
        true
    }

    /// Keeps `row`'s cells but its user, encoded as `bytes` with the user cell at `user`.
    fn keep(&mut self, bytes: &[u8], user: Option<(usize, usize)>, row: &Row, columns: usize) {
        self.from = None;
        // One column: an empty user is written `""`, which the kept cells cannot tell.
        let Some((at, end)) = user.filter(|_| columns > 1) else {
            return;
        };
        self.before.clear();
        self.before.extend_from_slice(&bytes[..at]);
        self.after.clear();
        self.after.extend_from_slice(&bytes[end..]);
        self.from = Some(Row {
            user: String::new(),
            status: row.status,
            http_status: row.http_status,
            error_code: row.error_code,
            message: row.message.clone(),
            attempts: row.attempts,
            finished_at: row.finished_at,
            step: row.step,
            tracking_id: row.tracking_id.clone(),
            name: row.name.clone(),
            zoom_status: row.zoom_status.clone(),
            last_login: row.last_login.clone(),
            zoom_id: row.zoom_id.clone(),
        });
    }
}

/// Whether `a` and `b` have every cell but the user the same (the time to the millisecond the
/// report keeps: rows are stamped so).
fn same_but_user(a: &Row, b: &Row) -> bool {
    // Every field named, so that a new one cannot be forgotten here.
    let Row {
        user: _,
        status,
        http_status,
        error_code,
        message,
        attempts,
        finished_at,
        step,
        tracking_id,
        name,
        zoom_status,
        last_login,
        zoom_id,
    } = a;
    *status == b.status
        && *http_status == b.http_status
        && *error_code == b.error_code
        && *attempts == b.attempts
        && *finished_at == b.finished_at
        && *step == b.step
        && *message == b.message
        && *tracking_id == b.tracking_id
        && *name == b.name
        && *zoom_status == b.zoom_status
        && *last_login == b.last_login
        && *zoom_id == b.zoom_id
}

/// Appends one cell: `escape_cell`'s formula quote, then CSV quoting as [`csv_encoder`] does it:
/// quoted (its `"` doubled) only if it holds `,`, `"`, `\r` or `\n` (the `'` the formula quote
/// adds is not special to CSV, so the two commute).
///
/// The cell is searched by folds without an early exit, which the compiler turns into vector
/// compares: the byte-at-a-time loops that looked for those characters and then for `"` were two
/// fifths of encoding a row (perf annotate of a million-row dry run).
fn push_cell(buf: &mut Vec<u8>, text: &str) {
    // Half the cells of most rows: nothing to quote, nothing to write.
    if text.is_empty() {
        return;
    }
    let formula = starts_formula(text);
    let bytes = text.as_bytes();
    if holds_special(bytes) {
        buf.push(b'"');
        if formula {
            buf.push(b'\'');
        }
        if holds_quote(bytes) {
            for (i, part) in bytes.split(|b| *b == b'"').enumerate() {
                if i > 0 {
                    buf.extend_from_slice(b"\"\"");
                }
                buf.extend_from_slice(part);
            }
        } else {
            buf.extend_from_slice(bytes);
        }
        buf.push(b'"');
    } else {
        if formula {
            buf.push(b'\'');
        }
        buf.extend_from_slice(bytes);
    }
}

/// Whether `bytes` hold a character that makes CSV quote a cell. A fold of byte compares
/// without an early exit, which the compiler turns into vector compares; through a function
/// pointer, as it was, it compared a byte at a time (callgrind: about 4 instructions a byte).
fn holds_special(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |seen, &b| {
        seen | u8::from(b == b',')
            | u8::from(b == b'"')
            | u8::from(b == b'\r')
            | u8::from(b == b'\n')
    }) != 0
}

/// Whether `bytes` hold a `"` (doubled when the cell is quoted), as [`holds_special`] does it.
fn holds_quote(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0u8, |seen, &b| seen | u8::from(b == b'"'))
        != 0
}

/// The last `finished_at` formatted: rows that finished in the same millisecond (most of a
/// batch in a large dry run) share one formatting, which was a tenth of writing a row.
#[derive(Default)]
pub struct Stamp {
    at: Option<DateTime<Utc>>,
    text: String,
}

impl Stamp {
    fn format(&mut self, t: DateTime<Utc>) -> &str {
        if self.at != Some(t) {
            self.text = format_time(t);
            self.at = Some(t);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::report::{COLUMNS, Status, escape_cell};
    use crate::step::Step;

    /// Rows encoded in a batch, each reusing what it can of the row before, are the bytes of each
    /// row encoded on its own: whichever cell differs, in any layout.
    #[test]
    fn reused_cells_are_the_bytes_of_a_fresh_encoding() {
        let base = {
            let mut r = Row::new("a@x.com", Status::WouldRevoke);
            r.message = "validated only: no credentials, so not looked up".into();
            r
        };
        let mut rows = vec![base.clone()];
        for (i, user) in ["b@x.com", "=c@x.com", "d,\"x\"@x.com", ""]
            .into_iter()
            .enumerate()
        {
            let mut r = base.clone();
            r.user = user.into();
            rows.push(r);
            let mut other = rows[rows.len() - 1].clone();
            match i {
                0 => other.message = "another".into(),
                1 => other.name = Some("Ann".into()),
                2 => other.finished_at += chrono::Duration::milliseconds(1),
                _ => other.error_code = Some(-1),
            }
            rows.push(other.clone());
            other.user = "z@x.com".into();
            rows.push(other);
        }
        let layouts: Vec<Vec<Option<usize>>> = vec![
            (0..COLUMNS.len())
                .map(|i| OFFBOARD_COLUMNS.iter().position(|c| *c == COLUMNS[i]))
                .collect(),
            vec![
                Some(col("message")),
                Some(col("user")),
                None,
                Some(col("name")),
            ],
            vec![Some(col("status")), Some(col("message"))],
            vec![Some(col("user"))],
        ];
        for layout in layouts {
            let mut fresh = Vec::new();
            let mut stamp = Stamp::default();
            for r in &rows {
                push_row(&mut fresh, r, &layout, stamp.format(r.finished_at));
                fresh.push(b'\n');
            }
            let mut batch = Encoded::default();
            Encoder::csv(layout.clone(), false)
                .encode(&rows, &mut batch)
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(batch.bytes()),
                String::from_utf8_lossy(&fresh),
                "{layout:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn push_row_writes_what_the_csv_encoder_writes_of_the_quoted_cells(
            texts in proptest::collection::vec(
                // Up to 40 characters: past the blocks a vector compare takes at once.
                proptest::string::string_regex("[a,\"\r\n' =+@\t-é]{0,40}").unwrap(),
                8,
            ),
            numbers in (proptest::option::of(0u16..1000), proptest::option::of(-2000i64..200_000), 0u32..20),
            layout in proptest::sample::select(vec![0usize, 1, 2, 3]),
            step in proptest::option::of(proptest::sample::select(Step::ALL.to_vec())),
        ) {
            let mut row = Row::new(texts[0].clone(), Status::Failed);
            row.message = texts[1].clone().into();
            row.tracking_id = Some(texts[2].clone()).filter(|t| !t.is_empty());
            row.name = Some(texts[3].clone());
            row.zoom_status = Some(texts[4].clone()).filter(|t| t.len() > 2);
            row.last_login = Some(texts[5].clone());
            (row.http_status, row.error_code, row.attempts) = numbers;
            row.step = step;
            row.zoom_id = Some(texts[5].clone()).filter(|t| t.len() > 3);
            // Always `format_time` output, which the encoder writes as it is.
            let finished_at = "2026-11-28T12:00:00.123Z";
            let layout: Vec<Option<usize>> = match layout {
                // Each kind's own layout, an older file's with an unknown column, one column.
                0 => (0..COLUMNS.len()).map(|i| OFFBOARD_COLUMNS.iter().position(|c| *c == COLUMNS[i])).collect(),
                1 => (0..OFFBOARD_COLUMNS.len()).map(Some).collect(),
                2 => vec![Some(4), None, Some(0), Some(7), Some(2), Some(3), Some(5)],
                _ => vec![Some(col("message"))],
            };
            let mut ours = Vec::new();
            push_row(&mut ours, &row, &layout, finished_at);
            ours.push(b'\n');
            let cells = csv_cells(&row, finished_at);
            let record: Vec<&str> = layout.iter().map(|at| at.map_or("", |i| cells[i].as_ref())).collect();
            let mut theirs = Vec::new();
            let mut w = csv_encoder(&mut theirs);
            w.write_record(&record).unwrap();
            w.flush().unwrap();
            drop(w);
            proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs).unwrap());
        }
    }

    /// The oracle for [`push_row`]: a row's cells, in [`OFFBOARD_COLUMNS`] order, each quoted by
    /// [`escape_cell`] (the encoder before `push_row`, kept to hold it to the same bytes).
    fn csv_cells<'r>(row: &'r Row, finished_at: &'r str) -> [Cow<'r, str>; OFFBOARD_COLUMNS.len()] {
        let mut cells: [Cow<'r, str>; OFFBOARD_COLUMNS.len()] = Default::default();
        let mut set = |i: usize, v: &'r str| cells[i] = escape_cell(v);
        let opt = |v: &'r Option<String>| v.as_deref().unwrap_or_default();
        set(const { col("user") }, &row.user);
        set(const { col("status") }, row.status.as_str());
        set(const { col("message") }, &row.message);
        set(const { col("step") }, row.step.map_or("", |s| s.as_str()));
        set(const { col("finished_at") }, finished_at);
        set(const { col("tracking_id") }, opt(&row.tracking_id));
        set(const { col("name") }, opt(&row.name));
        set(const { col("zoom_status") }, opt(&row.zoom_status));
        set(const { col("last_login") }, opt(&row.last_login));
        set(const { col("zoom_id") }, opt(&row.zoom_id));
        let mut own = |i: usize, v: String| {
            let quoted = match escape_cell(&v) {
                Cow::Owned(quoted) => Some(quoted),
                Cow::Borrowed(_) => None,
            };
            cells[i] = Cow::Owned(quoted.unwrap_or(v));
        };
        let http = row.http_status.map(|s| s.to_string()).unwrap_or_default();
        own(const { col("http_status") }, http);
        let code = row.error_code.map(|c| c.to_string()).unwrap_or_default();
        own(const { col("error_code") }, code);
        own(const { col("attempts") }, row.attempts.to_string());
        cells
    }
}
