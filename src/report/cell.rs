//! Formula-looking CSV cells: quoted with a leading `'` on the way out, unquoted on the way in.
//!
//! A spreadsheet that opens the CSV report runs a cell beginning with `=`, `+`, `-` or `@` as a
//! formula (`=HYPERLINK("http://evil","x")` in an input file would come back as a live link in the
//! `user` column of an `invalid` row), and tab or CR lead some importers to the same place (OWASP,
//! "CSV Injection"). A leading `'` makes every common spreadsheet show the cell as text. The
//! report is also what `--resume` reads, so the quoting must be undone exactly: a value that
//! itself begins with `'` is quoted too, and the reader removes one `'` only where one of those
//! characters, or another `'`, follows it. Quoting is then a bijection on strings: every value
//! reads back as it was written. Every cell goes through it, numeric columns included (they never
//! begin with `-` today, and if one did it would still read back).
//!
//! JSONL is written as is: no spreadsheet opens it, and JSON strings cannot be formulas.

use std::borrow::Cow;

/// The characters that make a spreadsheet treat a cell as a formula, and the quote itself.
fn needs_quote(first: char) -> bool {
    matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r' | '\'')
}

/// The CSV cell for `value`: `'` + `value` when `value` begins with `=`, `+`, `-`, `@`, a tab, a
/// carriage return or `'`; `value` itself otherwise.
pub fn escape_cell(value: &str) -> Cow<'_, str> {
    if starts_formula(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Whether [`escape_cell`] quotes `value`: for the writer, which adds the `'` in place.
pub(crate) fn starts_formula(value: &str) -> bool {
    value.chars().next().is_some_and(needs_quote)
}

/// The value of a CSV cell written by [`escape_cell`]: one leading `'` removed where one of the
/// quoted characters follows it; the cell itself otherwise (so a report written before quoting
/// existed reads as it did, unless a value began with `'` followed by one of them).
pub fn unescape_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.chars().next().is_some_and(needs_quote) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_cells_are_quoted_and_read_back() {
        for (value, cell) in [
            (
                "=HYPERLINK(\"http://evil\",\"x\")",
                "'=HYPERLINK(\"http://evil\",\"x\")",
            ),
            ("@SUM(1)", "'@SUM(1)"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'", "''"),
            ("'=x", "''=x"),
            ("''", "'''"),
            ("", ""),
            ("a@x.com", "a@x.com"),
            ("it's", "it's"),
            (" =x", " =x"),
        ] {
            assert_eq!(escape_cell(value), cell, "{value:?}");
            assert_eq!(unescape_cell(cell), value, "{cell:?}");
        }
        // A lone quote before an ordinary character was not written by escape_cell: kept.
        assert_eq!(unescape_cell("'abc"), "'abc");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

        /// Every string reads back as it was, and no written cell starts a formula.
        #[test]
        fn quoting_round_trips(value in "[=+\\-@\t\r' a]{0,3}\\PC{0,8}") {
            let cell = escape_cell(&value);
            prop_assert_eq!(unescape_cell(&cell), value.as_str());
            prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
        }

        /// The same over arbitrary strings, control characters included.
        #[test]
        fn quoting_round_trips_any_string(value in any::<String>()) {
            let cell = escape_cell(&value);
            prop_assert_eq!(unescape_cell(&cell), value.as_str());
        }
    }
}
