//! Reading one input file as a table: physical lines, CSV records, the header and the user column.
//!
//! Why not `csv::Reader`: errors and invalid rows must name the *physical* line (a comment or blank
//! line still counts), and `csv::Reader`'s positions lag by one depending on LF vs CRLF and count
//! skipped lines into the next record. So lines are read here (one reused buffer, nothing of the
//! file kept), blank and `#` lines are skipped here, and each remaining line is fed to `csv_core`
//! for the quoting; a quoted value may run over several lines and is then reported at its first.
//! Only `\n` ends a record: a `\r` before it is dropped, a bare `\r` stays in the value (and makes
//! it invalid).
//!
//! The delimiter (`,`, `;`, tab or `|`) is decided at the first line that is not blank or a
//! comment ([`super::dialect`]); that line may also be an Excel `sep=X` line, which is skipped.
//!
//! Rows are handed to a callback with borrowed cells, so the only per-row allocation is whatever
//! the caller keeps.
//!
//! With a transfer column (`--transfer-column`), each row also hands over that column's cell as a
//! [`Target`]; it needs a header row to be found, so a plain list is an error then.

use std::io::BufRead;

use super::InputError;
use super::dialect::{Delimiter, SepLine, sep_line};
use super::user::trim;

/// Header names that mark a first row as a header, in order of preference when several are present
/// (an export with `id,email,...` is read by email: emails are what an operator can check by eye,
/// and they survive account migrations where IDs do not). Compared trimmed and case-insensitively.
pub const KNOWN_HEADERS: [&str; 7] = [
    "email",
    "email address",
    "user",
    "userid",
    "user_id",
    "login",
    "id",
];

/// One row's contribution, borrowed from the reader's buffers.
pub(crate) enum Entry<'a> {
    /// A cell to validate as a user (not yet trimmed).
    Value(&'a str),
    /// A row with no usable cell: `row` is the row's text (cells joined by `,`) so the operator can
    /// find it, `reason` says what is missing.
    Unusable { row: String, reason: String },
}

/// A row's transfer-column cell, borrowed like [`Entry`].
pub(crate) enum Target<'a> {
    /// No transfer column, or the row's cell is blank or missing (a short row): no target here.
    Blank,
    /// A non-blank cell, not yet trimmed or validated.
    Value(&'a str),
    /// A cell that is not UTF-8, with invalid bytes replaced. Only this row's user suffers for
    /// it (unlike a non-UTF-8 user cell, which is a file error): the target is optional data.
    NotUtf8(String),
}

/// How a file holds its users, decided by its first row.
enum Layout {
    /// One column and no header: every row is a user.
    Plain,
    /// A header row named the user column, and the transfer column's index if one was asked for.
    Column {
        index: usize,
        name: String,
        transfer: Option<usize>,
    },
}

/// Reads every user entry of one file, calling `sink(line, entry)` in file order.
///
/// `file` is the display name used in errors; `column` is `--column` and `transfer` is
/// `--transfer-column`, if given.
pub(crate) fn read_table(
    file: &str,
    src: &mut dyn BufRead,
    delimiter: Option<Delimiter>,
    column: Option<&str>,
    transfer: Option<&str>,
    sink: &mut dyn FnMut(u64, Entry<'_>, Target<'_>) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let mut rec = Records::new(file, src, delimiter);
    let Some(first) = rec.next_record()? else {
        return Ok(());
    };
    let layout = detect_layout(&rec, first, column)?;
    let layout = with_transfer(&rec, first, layout, transfer)?;
    if let Layout::Plain = layout {
        emit(&rec, first, &layout, sink)?;
    }
    while let Some(line) = rec.next_record()? {
        emit(&rec, line, &layout, sink)?;
    }
    Ok(())
}

fn detect_layout(rec: &Records<'_>, line: u64, column: Option<&str>) -> Result<Layout, InputError> {
    // Lossy: only the user column has to be UTF-8, and a Latin-1 "Prénom" header must not stop
    // the run; the known names are ASCII.
    let cells: Vec<String> = rec
        .fields()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let norm: Vec<String> = cells.iter().map(|c| c.trim().to_lowercase()).collect();
    let found = |name: &str| norm.iter().position(|c| *c == name);
    if let Some(wanted) = column {
        return match found(&wanted.trim().to_lowercase()) {
            Some(index) => Ok(Layout::Column {
                index,
                name: cells[index].trim().to_owned(),
                transfer: None,
            }),
            None => Err(InputError::ColumnNotFound {
                file: rec.file.to_owned(),
                line,
                flag: "--column",
                column: wanted.to_owned(),
                available: cells,
            }),
        };
    }
    if let Some(index) = KNOWN_HEADERS.iter().find_map(|h| found(h)) {
        return Ok(Layout::Column {
            index,
            name: cells[index].trim().to_owned(),
            transfer: None,
        });
    }
    if cells.len() == 1 {
        return Ok(Layout::Plain);
    }
    Err(InputError::NoKnownHeader {
        file: rec.file.to_owned(),
        line,
        columns: cells,
    })
}

/// Reads the values of several columns of one file (the roster's `--roster-column`s), calling
/// `sink(line, value)` for each non-blank cell, trimmed, in file order.
///
/// With no `columns`, the user column is detected as for an input file (a known header, or a
/// plain one-column list, whose first row is a header when it holds no `@`). A named column missing from the header is an error naming `flag`; a
/// short row simply has no value there; a cell that is not UTF-8 is an error only in a column
/// read here. A row repeating the header is skipped.
pub(crate) fn read_columns(
    file: &str,
    src: &mut dyn BufRead,
    delimiter: Option<Delimiter>,
    columns: &[String],
    flag: &'static str,
    sink: &mut dyn FnMut(u64, &str),
) -> Result<(), InputError> {
    let mut rec = Records::new(file, src, delimiter);
    let Some(first) = rec.next_record()? else {
        return Ok(());
    };
    let wanted = if columns.is_empty() {
        match detect_layout(&rec, first, None)? {
            // A roster's values are emails: a one-column first row without an `@` names the
            // column (`work_email`), so that a header alone is an empty roster, not one value.
            Layout::Plain if !rec.field(0).contains(&b'@') => vec![(0, String::new())],
            Layout::Plain => {
                emit_columns(&rec, first, &[(0, String::new())], sink)?;
                vec![(0, String::new())]
            }
            Layout::Column { index, name, .. } => vec![(index, name)],
        }
    } else {
        named_columns(&rec, first, columns, flag)?
    };
    while let Some(line) = rec.next_record()? {
        emit_columns(&rec, line, &wanted, sink)?;
    }
    Ok(())
}

/// The index and header of each of `columns` in the header row at `line` (trimmed, any case).
fn named_columns(
    rec: &Records<'_>,
    line: u64,
    columns: &[String],
    flag: &'static str,
) -> Result<Vec<(usize, String)>, InputError> {
    let cells: Vec<String> = rec
        .fields()
        .map(|f| String::from_utf8_lossy(f).trim().to_owned())
        .collect();
    columns
        .iter()
        .map(|wanted| {
            let norm = wanted.trim().to_lowercase();
            match cells.iter().position(|c| c.to_lowercase() == norm) {
                Some(i) => Ok((i, cells[i].clone())),
                None => Err(InputError::ColumnNotFound {
                    file: rec.file.to_owned(),
                    line,
                    flag,
                    column: wanted.clone(),
                    available: cells.clone(),
                }),
            }
        })
        .collect()
}

/// Hands each non-blank cell of `wanted` in the current row to `sink` (see [`read_columns`]).
fn emit_columns(
    rec: &Records<'_>,
    line: u64,
    wanted: &[(usize, String)],
    sink: &mut dyn FnMut(u64, &str),
) -> Result<(), InputError> {
    let n = rec.fields().count();
    for (index, name) in wanted.iter().filter(|(i, _)| *i < n) {
        let value = trim(rec.utf8(rec.field(*index), line)?);
        if value.is_empty() || (!name.is_empty() && value.eq_ignore_ascii_case(name)) {
            continue;
        }
        sink(line, value);
    }
    Ok(())
}

/// Finds `--transfer-column` in the header row the user column came from. Matched like
/// `--column` (trimmed, any case). It cannot be the user column itself: every user would be
/// their own target, which the offboard safety rules would refuse one by one.
fn with_transfer(
    rec: &Records<'_>,
    line: u64,
    layout: Layout,
    transfer: Option<&str>,
) -> Result<Layout, InputError> {
    let Some(wanted) = transfer else {
        return Ok(layout);
    };
    let Layout::Column { index, name, .. } = layout else {
        return Err(InputError::TransferWithoutHeader {
            file: rec.file.to_owned(),
            line,
            column: wanted.to_owned(),
        });
    };
    let cells: Vec<String> = rec
        .fields()
        .map(|f| String::from_utf8_lossy(f).trim().to_owned())
        .collect();
    let norm = wanted.trim().to_lowercase();
    match cells.iter().position(|c| c.to_lowercase() == norm) {
        Some(t) if t == index => Err(InputError::TransferIsUserColumn {
            file: rec.file.to_owned(),
            line,
            column: name,
        }),
        Some(t) => Ok(Layout::Column {
            index,
            name,
            transfer: Some(t),
        }),
        None => Err(InputError::TransferColumnNotFound {
            file: rec.file.to_owned(),
            line,
            column: wanted.to_owned(),
            available: cells,
        }),
    }
}

/// Hands one data row to the sink. Rows whose cells are all blank (`,,,` from spreadsheets) are
/// skipped like blank lines; a row repeating the header (files concatenated with `cat`) too.
fn emit(
    rec: &Records<'_>,
    line: u64,
    layout: &Layout,
    sink: &mut dyn FnMut(u64, Entry<'_>, Target<'_>) -> Result<(), InputError>,
) -> Result<(), InputError> {
    if rec.fields().all(|f| f.trim_ascii().is_empty()) {
        return Ok(());
    }
    let n = rec.fields().count();
    match layout {
        Layout::Plain if n == 1 => sink(
            line,
            Entry::Value(rec.utf8(rec.field(0), line)?),
            Target::Blank,
        ),
        Layout::Plain => sink(
            line,
            Entry::Unusable {
                row: rec.row_text(),
                reason: format!("contains {}", rec.split.delimiter),
            },
            Target::Blank,
        ),
        Layout::Column { index, name, .. } if *index >= n => sink(
            line,
            Entry::Unusable {
                row: rec.row_text(),
                reason: format!("missing column \"{name}\" (the row has {n} cells)"),
            },
            Target::Blank,
        ),
        Layout::Column {
            index,
            name,
            transfer,
        } => {
            let cell = rec.utf8(rec.field(*index), line)?;
            let trimmed = trim(cell);
            if trimmed.is_empty() {
                sink(
                    line,
                    Entry::Unusable {
                        row: rec.row_text(),
                        reason: format!("empty \"{name}\" cell"),
                    },
                    Target::Blank,
                )
            } else if trimmed.eq_ignore_ascii_case(name) {
                Ok(())
            } else {
                let target = match transfer.filter(|t| *t < n).map(|t| rec.field(t)) {
                    None => Target::Blank,
                    Some(bytes) => match std::str::from_utf8(bytes) {
                        Ok(s) if s.trim().is_empty() => Target::Blank,
                        Ok(s) => Target::Value(s),
                        Err(_) => Target::NotUtf8(String::from_utf8_lossy(bytes).into_owned()),
                    },
                };
                sink(line, Entry::Value(cell), target)
            }
        }
    }
}

/// A CSV record reader that knows physical line numbers.
pub(crate) struct Records<'r> {
    /// Display name of the file, for errors.
    pub(crate) file: &'r str,
    src: &'r mut dyn BufRead,
    /// How records are split into fields.
    pub(crate) split: Split,
    /// The current physical line, reused.
    buf: Vec<u8>,
    /// The current record's field bytes, contiguous, and their end offsets.
    out: Vec<u8>,
    ends: Vec<usize>,
    /// How many entries of `ends` belong to the current record.
    nfields: usize,
    /// Physical lines read so far (the current line's number once read).
    lineno: u64,
    /// Whether anything was fed to the parser yet. Until then, leading UTF-8 BOMs are stripped
    /// here: the file's own BOM, and any csv_core would drop at the start of its first input
    /// (a BOM-only line after leading blank or comment lines would otherwise reach it as an
    /// empty line, never end a record, and read as an unterminated quote).
    fed: bool,
    /// Whether `core` has been given any input: until then it would drop a BOM at the start of
    /// the next line it is given, so the first record always goes through it.
    core_fed: bool,
}

/// A CSV parser splitting at `delimiter`, with only `\n` ending a record (see the module doc).
fn parser(delimiter: Delimiter) -> csv_core::Reader {
    csv_core::ReaderBuilder::new()
        .delimiter(delimiter.byte())
        .terminator(csv_core::Terminator::Any(b'\n'))
        .build()
}

/// How a file's records are split: its delimiter (and how it was decided) and the parser.
pub(crate) struct Split {
    /// The parser, built for `delimiter`.
    core: csv_core::Reader,
    /// `--delimiter`, if given: wins over a `sep=` line and detection.
    forced: Option<Delimiter>,
    /// What an Excel `sep=X` first line said, once one was read.
    sep: Option<Delimiter>,
    /// The file's delimiter: decided at its first non-comment line (see [`super::dialect`]).
    pub(crate) delimiter: Delimiter,
}

impl Split {
    /// Takes the file's first line that is not blank or a comment (`line`, at `lineno`): an
    /// Excel `sep=X` line (true: skip it, it is not a row), or the line the delimiter is
    /// detected from (false), unless `--delimiter` or a `sep=` line decided it.
    fn first_line(&mut self, line: &[u8], file: &str, lineno: u64) -> Result<bool, InputError> {
        match sep_line(line) {
            SepLine::Yes(d) if self.sep.is_none() => {
                self.sep = Some(d);
                return Ok(true);
            }
            SepLine::Unsupported(byte) => {
                return Err(InputError::UnsupportedSep {
                    file: file.to_owned(),
                    line: lineno,
                    value: char::from(byte),
                });
            }
            _ => {}
        }
        let d = self
            .forced
            .or(self.sep)
            .unwrap_or_else(|| Delimiter::detect(line));
        if d != self.delimiter {
            self.delimiter = d;
            self.core = parser(d);
        }
        Ok(false)
    }
}

impl<'r> Records<'r> {
    pub(crate) fn new(
        file: &'r str,
        src: &'r mut dyn BufRead,
        forced: Option<Delimiter>,
    ) -> Records<'r> {
        let delimiter = forced.unwrap_or_default();
        Records {
            file,
            src,
            split: Split {
                core: parser(delimiter),
                forced,
                sep: None,
                delimiter,
            },
            buf: Vec::with_capacity(256),
            out: vec![0; 256],
            ends: vec![0; 16],
            nfields: 0,
            lineno: 0,
            fed: false,
            core_fed: false,
        }
    }

    /// Reads the next record that is not a blank or comment line; returns the line it starts on.
    pub(crate) fn next_record(&mut self) -> Result<Option<u64>, InputError> {
        let mut start = None;
        let (mut olen, mut elen) = (0, 0);
        loop {
            self.buf.clear();
            let n = self
                .src
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| InputError::Unreadable {
                    file: self.file.to_owned(),
                    line: Some(self.lineno + 1),
                    source,
                })?;
            if n == 0 {
                return match start {
                    Some(line) => Err(InputError::UnterminatedQuote {
                        file: self.file.to_owned(),
                        line,
                    }),
                    None => Ok(None),
                };
            }
            self.lineno += 1;
            let mut content = &self.buf[..];
            if !self.fed {
                while let Some(rest) = content.strip_prefix(b"\xEF\xBB\xBF") {
                    content = rest;
                }
            }
            content = content.strip_suffix(b"\n").unwrap_or(content);
            content = content.strip_suffix(b"\r").unwrap_or(content);
            if start.is_none() {
                if content.trim_ascii().is_empty() || content.first() == Some(&b'#') {
                    continue;
                }
                if !self.fed && self.split.first_line(content, self.file, self.lineno)? {
                    continue;
                }
                start = Some(self.lineno);
                self.fed = true;
                // A record on one line with no quote is its bytes split at the delimiter, which
                // is what csv_core makes of it (only `"`, the delimiter and `\n` are special to
                // it here), at a fraction of the cost: most lines of a large file.
                if self.core_fed && !content.contains(&b'"') {
                    let d = self.split.delimiter.byte();
                    self.nfields = split_plain(content, d, &mut self.out, &mut self.ends);
                    return Ok(start);
                }
            }
            self.core_fed = true;
            // csv_core takes an empty input as end of file, so an empty line inside a quoted value
            // only contributes its newline.
            if !content.is_empty() {
                feed(
                    &mut self.split.core,
                    &mut self.out,
                    &mut self.ends,
                    &mut olen,
                    &mut elen,
                    content,
                );
            }
            if feed(
                &mut self.split.core,
                &mut self.out,
                &mut self.ends,
                &mut olen,
                &mut elen,
                b"\n",
            ) {
                self.nfields = elen;
                return Ok(start);
            }
        }
    }

    pub(crate) fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.nfields).map(|i| self.field(i))
    }

    pub(crate) fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.out[start..self.ends[i]]
    }

    pub(crate) fn utf8<'a>(&self, bytes: &'a [u8], line: u64) -> Result<&'a str, InputError> {
        std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8 {
            file: self.file.to_owned(),
            line,
            value: String::from_utf8_lossy(bytes).into_owned(),
        })
    }

    /// The record as text, for rows that have no usable cell.
    fn row_text(&self) -> String {
        let cells: Vec<_> = self.fields().map(String::from_utf8_lossy).collect();
        cells.join(",")
    }
}

/// Splits a record with no quote at `delimiter` into `out` and `ends`, as [`feed`] would, and
/// returns the number of fields.
fn split_plain(content: &[u8], delimiter: u8, out: &mut Vec<u8>, ends: &mut Vec<usize>) -> usize {
    if out.len() < content.len() {
        out.resize(content.len(), 0);
    }
    let mut olen = 0;
    let mut n = 0;
    for field in content.split(|b| *b == delimiter) {
        let end = olen + field.len();
        out[olen..end].copy_from_slice(field);
        olen = end;
        if n == ends.len() {
            ends.push(0);
        }
        ends[n] = end;
        n += 1;
    }
    n
}

/// Feeds `input` to the CSV parser; true when a record ended.
fn feed(
    core: &mut csv_core::Reader,
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    olen: &mut usize,
    elen: &mut usize,
    mut input: &[u8],
) -> bool {
    use csv_core::ReadRecordResult as R;
    loop {
        let (res, nin, nout, nend) = core.read_record(input, &mut out[*olen..], &mut ends[*elen..]);
        input = &input[nin..];
        *olen += nout;
        *elen += nend;
        match res {
            R::InputEmpty | R::End => return false,
            R::OutputFull => out.resize(out.len() * 2, 0),
            R::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            R::Record => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{feed, split_plain};

    /// What csv_core makes of one line, as [`super::Records`] feeds it.
    fn by_core(line: &[u8], delimiter: u8) -> Vec<Vec<u8>> {
        let mut core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .terminator(csv_core::Terminator::Any(b'\n'))
            .build();
        // Fed once before, as the fast path requires: no BOM is dropped any more.
        let (mut out, mut ends) = (vec![0; 4], vec![0; 2]);
        let (mut olen, mut elen) = (0, 0);
        assert!(feed(
            &mut core, &mut out, &mut ends, &mut olen, &mut elen, b"h\n"
        ));
        let (mut olen, mut elen) = (0, 0);
        if !line.is_empty() {
            feed(&mut core, &mut out, &mut ends, &mut olen, &mut elen, line);
        }
        assert!(feed(
            &mut core, &mut out, &mut ends, &mut olen, &mut elen, b"\n"
        ));
        fields(&out, &ends[..elen])
    }

    fn fields(out: &[u8], ends: &[usize]) -> Vec<Vec<u8>> {
        let mut start = 0;
        ends.iter()
            .map(|&e| {
                let f = out[start..e].to_vec();
                start = e;
                f
            })
            .collect()
    }

    proptest! {
        #[test]
        fn split_plain_is_what_csv_core_makes_of_a_line_without_quotes(
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
            line in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'\r'), Just(0xEF), Just(0xBB), Just(0xBF), any::<u8>()]
                    .prop_filter("no quote or newline", |b| *b != b'"' && *b != b'\n'),
                0..40,
            )
        ) {
            // Blank lines never get this far (skipped like comments).
            prop_assume!(!line.trim_ascii().is_empty());
            let (mut out, mut ends) = (vec![0; 2], vec![0; 1]);
            let n = split_plain(&line, delimiter, &mut out, &mut ends);
            prop_assert_eq!(fields(&out, &ends[..n]), by_core(&line, delimiter));
        }
    }
}
