//! Reading a report record by record without holding it: for `verify`'s first pass and the
//! page's attention list, whose memory must not grow with the report (the page is written at the
//! end of a million-row dry run, whose peak memory has a budget).
//!
//! A record is a line, or for CSV several lines while a quoted cell is open (an odd number of
//! `"` so far: a doubled `""` inside a cell counts twice, so it never changes the parity).

use std::io::BufRead;

/// Where a record read by [`RecordReader::next`] starts, and whether it ended with a newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordAt {
    /// The file's line the record starts on (1 is the first).
    pub line: u64,
    /// False for a last record without a newline: a torn line.
    pub complete: bool,
}

/// Reads records from a buffered source, counting lines.
pub struct RecordReader<R> {
    src: R,
    csv: bool,
    line: u64,
}

impl<R: BufRead> RecordReader<R> {
    /// A reader of `src`; `csv` makes it quote-aware.
    pub fn new(src: R, csv: bool) -> RecordReader<R> {
        RecordReader { src, csv, line: 1 }
    }

    /// Reads the next record into `buf` (cleared first), without its newline; `None` at the end.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<RecordAt>> {
        buf.clear();
        let line = self.line;
        let mut open = false;
        loop {
            let before = buf.len();
            if self.src.read_until(b'\n', buf)? == 0 {
                return Ok((!buf.is_empty()).then_some(RecordAt {
                    line,
                    complete: false,
                }));
            }
            if self.csv {
                let quotes = buf[before..].iter().filter(|b| **b == b'"').count();
                open ^= quotes % 2 == 1;
            }
            if buf.last() != Some(&b'\n') {
                return Ok(Some(RecordAt {
                    line,
                    complete: false,
                }));
            }
            self.line += 1;
            if !open {
                buf.pop();
                return Ok(Some(RecordAt {
                    line,
                    complete: true,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, csv: bool) -> Vec<(String, RecordAt)> {
        let mut r = RecordReader::new(text.as_bytes(), csv);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(at) = r.next(&mut buf).unwrap() {
            out.push((String::from_utf8(buf.clone()).unwrap(), at));
        }
        out
    }

    #[test]
    fn records_span_quoted_newlines_and_a_torn_tail_is_incomplete() {
        let got = all("h\na,\"x\ny\"\"z\",1\nb,2\nc,\"to", true);
        let at = |line, complete| RecordAt { line, complete };
        assert_eq!(
            got,
            vec![
                ("h".into(), at(1, true)),
                ("a,\"x\ny\"\"z\",1".into(), at(2, true)),
                ("b,2".into(), at(4, true)),
                ("c,\"to".into(), at(5, false)),
            ]
        );
        let json = all("{\"a\":\"\\\"\"}\n{\"b\":1}", false);
        assert_eq!(json[0].1, at(1, true));
        assert_eq!(json[1], ("{\"b\":1}".into(), at(2, false)));
        assert!(all("", true).is_empty());
    }
}
