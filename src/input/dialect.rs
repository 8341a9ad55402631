//! Input dialects: how real HR and spreadsheet exports are written, read as they come.
//!
//! Every input (users, `--exclude`, `--roster`) goes through here before [`super::table`] sees it:
//! - **Delimiter.** `,` unless the first non-comment line has no `,` (outside quotes) but has `;`
//!   or a tab: Excel writes `;` in every locale whose decimal separator is a comma, and its
//!   "Unicode Text" export is tab-separated. Where that line has both, the one it has more of wins
//!   (a tie goes to the tab: "Unicode Text" keeps a `;` typed into a cell as is). An Excel `sep=X`
//!   first line sets the delimiter and is not a row; `--delimiter` forces one (a `sep=` line is
//!   then still skipped: it is never data).
//! - **Encoding.** UTF-8 with or without BOM is read as is. UTF-16 (LE or BE, with its BOM: Excel's
//!   "Unicode Text", many HR tools' "Unicode CSV") is decoded to UTF-8 on the fly by
//!   [`Decoded`], a line at a time, so a large export never sits in memory twice. A code unit that
//!   is not text (an unpaired surrogate, a trailing odd byte) becomes the byte `0xFF`, which is
//!   never UTF-8: like a Latin-1 byte in a UTF-8 file, it is no error in a column the run does not
//!   use, and an error naming the file and line in the one it does.
//!
//! Why by hand and not `encoding_rs_io`: std's `char::decode_utf16` does the decoding; what is
//! left is BOM sniffing and a buffer, about fifty lines, against a dependency (and `encoding_rs`'s
//! tables) whose other encodings the contract does not ask for: Latin-1 columns are tolerated,
//! not decoded.

use std::io::{BufRead, Read};

/// A field delimiter the reader understands: `--delimiter`, `sep=X`, or detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Delimiter {
    /// `,`: the CSV default.
    #[default]
    #[value(name = ",", alias = "comma")]
    Comma,
    /// `;`: Excel in locales with a decimal comma (most of Europe).
    #[value(name = ";", alias = "semicolon")]
    Semicolon,
    /// A tab: Excel's "Unicode Text" and many TSV exports.
    #[value(name = "tab", alias = "\t")]
    Tab,
    /// `|`: seen in a few HR systems' flat-file exports, and accepted in a `sep=|` line.
    #[value(name = "|", alias = "pipe")]
    Pipe,
}

impl Delimiter {
    /// The byte that separates fields.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
            Delimiter::Pipe => b'|',
        }
    }

    /// The delimiter a `sep=X` value names, if it is one the reader supports.
    fn from_byte(b: u8) -> Option<Delimiter> {
        [
            Delimiter::Comma,
            Delimiter::Semicolon,
            Delimiter::Tab,
            Delimiter::Pipe,
        ]
        .into_iter()
        .find(|d| d.byte() == b)
    }

    /// The delimiter of a file whose first non-comment line is `line` (see the module doc).
    pub(crate) fn detect(line: &[u8]) -> Delimiter {
        let (mut commas, mut semicolons, mut tabs) = (0usize, 0usize, 0usize);
        let mut quoted = false;
        for &b in line {
            match b {
                b'"' => quoted = !quoted,
                _ if quoted => {}
                b',' => commas += 1,
                b';' => semicolons += 1,
                b'\t' => tabs += 1,
                _ => {}
            }
        }
        match (commas, semicolons, tabs) {
            (0, s, t) if t > 0 && t >= s => Delimiter::Tab,
            (0, s, _) if s > 0 => Delimiter::Semicolon,
            _ => Delimiter::Comma,
        }
    }
}

impl std::fmt::Display for Delimiter {
    /// As an operator would name it in a message: `','`, `';'`, `'|'` or `tab`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delimiter::Tab => f.write_str("tab"),
            d => write!(f, "'{}'", char::from(d.byte())),
        }
    }
}

/// What an Excel `sep=` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SepLine {
    /// Not a `sep=` line: the line is data (or a header).
    No,
    /// `sep=X` with a delimiter the reader supports.
    Yes(Delimiter),
    /// `sep=X` with anything else: the file's rows cannot be split as Excel would.
    Unsupported(u8),
}

/// Reads `line` (no line ending) as an Excel `sep=X` line: `sep` in any case, `=`, one byte.
pub(crate) fn sep_line(line: &[u8]) -> SepLine {
    match line {
        [s, e, p, b'=', x] if [*s, *e, *p][..].eq_ignore_ascii_case(b"sep") => {
            Delimiter::from_byte(*x).map_or(SepLine::Unsupported(*x), SepLine::Yes)
        }
        _ => SepLine::No,
    }
}

/// A source as UTF-8 bytes: as it is, or decoded from UTF-16 (see the module doc).
pub(crate) enum Decoded<R> {
    /// UTF-8 (or anything that is not UTF-16 with a BOM): passed through untouched, so the fast
    /// path of a plain CSV costs nothing here.
    Bytes(R),
    /// UTF-16 with a BOM, decoded.
    Utf16(Utf16<R>),
}

/// Looks at the first bytes of `src` for a UTF-16 BOM and wraps it accordingly. An I/O error
/// while looking is left for the first real read to report with its line.
pub(crate) fn decoded<R: BufRead>(mut src: R) -> Decoded<R> {
    let bom = match src.fill_buf() {
        Ok([0xFF, 0xFE, ..]) => Some(false),
        Ok([0xFE, 0xFF, ..]) => Some(true),
        _ => None,
    };
    let Some(big_endian) = bom else {
        return Decoded::Bytes(src);
    };
    src.consume(2);
    Decoded::Utf16(Utf16 {
        inner: src,
        big_endian,
        out: Vec::with_capacity(8 * 1024),
        pos: 0,
        carry: None,
        high: None,
    })
}

/// A UTF-16 source decoded to UTF-8 as it is read.
pub(crate) struct Utf16<R> {
    /// The UTF-16 bytes, past the BOM.
    inner: R,
    /// Byte order, from the BOM.
    big_endian: bool,
    /// Decoded UTF-8 not yet consumed, from `pos`.
    out: Vec<u8>,
    /// How much of `out` has been consumed.
    pos: usize,
    /// The first byte of a code unit split across two reads of `inner`.
    carry: Option<u8>,
    /// A high surrogate waiting for its low half (which may come in the next read).
    high: Option<u16>,
}

/// The byte an undecodable code unit becomes: never part of UTF-8.
const NOT_TEXT: u8 = 0xFF;

impl<R: BufRead> Utf16<R> {
    /// Decodes the next chunk of `inner` into `out`; at the end of `inner`, flushes what is left.
    fn refill(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                self.finish();
                return Ok(());
            }
            let n = chunk.len();
            let mut bytes = chunk.iter().copied();
            let mut units = Vec::with_capacity(n / 2 + 1);
            let mut first = self.carry.take().or_else(|| bytes.next());
            while let Some(a) = first {
                let Some(b) = bytes.next() else {
                    self.carry = Some(a);
                    break;
                };
                units.push(if self.big_endian {
                    u16::from_be_bytes([a, b])
                } else {
                    u16::from_le_bytes([a, b])
                });
                first = bytes.next();
            }
            self.inner.consume(n);
            self.push_units(&units);
        }
        Ok(())
    }

    /// Appends the UTF-8 of `units`, keeping a trailing high surrogate for the next chunk.
    fn push_units(&mut self, units: &[u16]) {
        let mut all: Vec<u16> = self.high.take().into_iter().collect();
        all.extend_from_slice(units);
        if let Some(&last) = all.last()
            && (0xD800..0xDC00).contains(&last)
        {
            self.high = all.pop();
        }
        let mut buf = [0u8; 4];
        for c in char::decode_utf16(all) {
            match c {
                Ok(c) => self
                    .out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
                Err(_) => self.out.push(NOT_TEXT),
            }
        }
    }

    /// The end of the source: a dangling high surrogate or odd byte is not text.
    fn finish(&mut self) {
        if self.high.take().is_some() {
            self.out.push(NOT_TEXT);
        }
        if self.carry.take().is_some() {
            self.out.push(NOT_TEXT);
        }
    }
}

impl<R: BufRead> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Decoded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Decoded::Bytes(r) => r.fill_buf(),
            Decoded::Utf16(u) => {
                if u.pos == u.out.len() {
                    u.refill()?;
                }
                Ok(&u.out[u.pos..])
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            Decoded::Bytes(r) => r.consume(amt),
            Decoded::Utf16(u) => u.pos = (u.pos + amt).min(u.out.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for u in text.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        out
    }

    fn read_all(bytes: &[u8], chunk: usize) -> Vec<u8> {
        let reader = std::io::BufReader::with_capacity(chunk, bytes);
        let mut out = Vec::new();
        decoded(reader).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn utf16_both_orders_decode_whatever_the_read_size() {
        let text = "email\tname\r\nzoë@example.com\tZoë 😀\r\n";
        for be in [false, true] {
            for chunk in [2, 3, 5, 64] {
                assert_eq!(
                    read_all(&utf16(text, be), chunk),
                    text.as_bytes(),
                    "{be} {chunk}"
                );
            }
        }
    }

    #[test]
    fn utf8_passes_through_untouched() {
        let bytes = b"\xEF\xBB\xBFemail\nx@y.com\n\xE9\n";
        assert_eq!(read_all(bytes, 4), bytes);
    }

    #[test]
    fn undecodable_units_are_never_utf8() {
        // A lone low surrogate, then a lone high one at the end, then an odd byte.
        let mut bytes = vec![0xFF, 0xFE, b'a', 0, 0x00, 0xDC, b'b', 0, 0x00, 0xD8, b'c'];
        let out = read_all(&bytes, 3);
        assert_eq!(out, b"a\xFFb\xFF\xFF");
        bytes.truncate(10);
        assert_eq!(read_all(&bytes, 64), b"a\xFFb\xFF");
    }

    #[test]
    fn detection_follows_the_first_line() {
        assert_eq!(Delimiter::detect(b"email;name"), Delimiter::Semicolon);
        assert_eq!(Delimiter::detect(b"email\tname"), Delimiter::Tab);
        assert_eq!(Delimiter::detect(b"email,name;x"), Delimiter::Comma);
        assert_eq!(Delimiter::detect(b"email"), Delimiter::Comma);
        assert_eq!(
            Delimiter::detect(b"\"Doe, Jane\";email"),
            Delimiter::Semicolon,
            "a comma inside quotes is data"
        );
        assert_eq!(Delimiter::detect(b"a;b;c\td"), Delimiter::Semicolon);
        assert_eq!(Delimiter::detect(b"a;b\tc"), Delimiter::Tab);
    }

    #[test]
    fn sep_lines() {
        assert_eq!(sep_line(b"sep=;"), SepLine::Yes(Delimiter::Semicolon));
        assert_eq!(sep_line(b"SEP=\t"), SepLine::Yes(Delimiter::Tab));
        assert_eq!(sep_line(b"sep=,"), SepLine::Yes(Delimiter::Comma));
        assert_eq!(sep_line(b"sep=#"), SepLine::Unsupported(b'#'));
        assert_eq!(sep_line(b"sep=;;"), SepLine::No);
        assert_eq!(sep_line(b"email"), SepLine::No);
    }
}
