//! What counts as a user, and when two input lines mean the same user.
//!
//! A user goes into a URL path (`/users/{userId}/token`), so validation is about more than tidiness:
//! `/`, `?`, `#`, `%` or `\` would change which resource is hit, `.` and `..` are dropped or resolved
//! by URL builders (see docs/zoom-api.md), and `me` is Zoom's alias for the token's own user (the
//! admin running this tool). Anything that is neither a plausible email address nor a Zoom user ID
//! is rejected with a reason short enough for a report cell.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Longest user accepted. Zoom IDs are about 22 characters; emails longer than this are not
/// accepted by Zoom either, so a longer value is a pasted line, not a user.
pub const MAX_LEN: usize = 128;

/// A validated user: an email address or a Zoom user ID, safe to put in a URL path segment once
/// percent-encoded.
///
/// The only way to get one is [`UserId::parse`], so holding a `UserId` is proof it was checked.
/// A `Box<str>`, not a `String`: a user never grows, and a million of them are held for a whole
/// run, where the unused capacity word would be 8 MB.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Box<str>);

/// Why a value is not a user. `Display` is the bare reason (`contains '/'`), so callers can prefix
/// it with the file, line and value they know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidUser {
    /// What is wrong, e.g. `contains a space`.
    pub reason: String,
}

impl InvalidUser {
    fn new(reason: impl Into<String>) -> InvalidUser {
        InvalidUser {
            reason: reason.into(),
        }
    }
}

impl UserId {
    /// Validates `raw` after trimming surrounding whitespace (cells often carry it).
    ///
    /// Checks run from the most to the least specific, so the reason names the real problem:
    /// a value with a space and no `@` is reported as "contains a space", not "not an email".
    pub fn parse(raw: &str) -> Result<UserId, InvalidUser> {
        let s = trim(raw);
        if !is_plain_user(s.as_bytes()) {
            check(s)?;
        }
        Ok(UserId(s.into()))
    }

    /// The user as it goes into the request path (before percent-encoding) and the report.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Emails and IDs compare differently (see [`dedupe_key`]) and a dry run looks them up the
    /// same way, but the report and the summary may want to tell them apart.
    pub fn is_email(&self) -> bool {
        self.0.contains('@')
    }

    /// The key that decides whether two users are the same: [`dedupe_key`] of this user.
    pub fn key(&self) -> String {
        dedupe_key(&self.0)
    }
}

/// `raw.trim()`, skipped when both ends are printable ASCII (nothing to trim), as they are in
/// almost every row: Unicode trimming was a fifth of checking a user.
pub(crate) fn trim(raw: &str) -> &str {
    match raw.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => raw,
        [only] if only.is_ascii_graphic() => raw,
        _ => raw.trim(),
    }
}

/// The checks of [`UserId::parse`] on a trimmed value, one by one, each with its reason.
fn check(s: &str) -> Result<(), InvalidUser> {
    if s.is_empty() {
        return Err(InvalidUser::new("empty"));
    }
    let chars = s.chars().count();
    if chars > MAX_LEN {
        return Err(InvalidUser::new(format!(
            "longer than {MAX_LEN} characters ({chars})"
        )));
    }
    if let Some(e) = s.chars().find_map(reject) {
        return Err(e);
    }
    if s == "." || s == ".." {
        return Err(InvalidUser::new(format!(
            "\"{s}\" is a path segment, not a user"
        )));
    }
    if s.eq_ignore_ascii_case("me") {
        return Err(InvalidUser::new(
            "\"me\" means the admin whose token runs this tool, not a user to offboard",
        ));
    }
    if s.contains('@') {
        check_email(s)?;
    } else if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(InvalidUser::new(format!(
            "contains '{c}': not an email address (no '@') nor a Zoom user ID (letters, digits, '-', '_')"
        )));
    }
    Ok(())
}

/// The de-duplication key for a raw input value (valid or not) and for a report row's `user`.
///
/// Trimmed; emails (anything with an `@`) lower-cased, because mail domains and, at Zoom, local
/// parts are case-insensitive; Zoom user IDs kept as they are, because they are case-sensitive.
/// Resume matches report rows to input users with this same key.
pub fn dedupe_key(raw: &str) -> String {
    key_of(raw).into_owned()
}

/// [`dedupe_key`] without an allocation when the value already is its key (IDs, and emails that
/// are lower-case ASCII, which is most of them): a million-row input then allocates only the
/// users it keeps.
pub(crate) fn key_of(raw: &str) -> Cow<'_, str> {
    let s = trim(raw);
    // The byte test first: it is false for most users, and then one pass is all it takes.
    if s.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase()) && s.contains('@') {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Why `c` cannot be in a user anywhere, checked from the most to the least specific; `None` if
/// it can.
fn reject(c: char) -> Option<InvalidUser> {
    if c.is_control() {
        return Some(InvalidUser::new(format!(
            "contains a control character (U+{:04X})",
            u32::from(c)
        )));
    }
    if is_invisible(c) {
        return Some(InvalidUser::new(format!(
            "contains an invisible character (U+{:04X})",
            u32::from(c)
        )));
    }
    if c.is_whitespace() {
        return Some(InvalidUser::new("contains a space"));
    }
    if matches!(c, '/' | '?' | '#' | '%' | '\\') {
        return Some(InvalidUser::new(format!("contains '{c}'")));
    }
    None
}

/// Whether `s` (trimmed) is a valid ASCII user, told in one pass over its bytes: what most
/// users are. `false` sends it through [`check`], valid or not, so every reason still comes from
/// there (a property test holds the two to the same verdict on ASCII values).
/// Those checks ran about 1,300 instructions per user, a fifth of loading a million rows.
fn is_plain_user(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > MAX_LEN {
        return false;
    }
    let mut at = None;
    let mut id = true;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => {}
            b'@' if at.is_none() => {
                at = Some(i);
                id = false;
            }
            b'@' | b'"' | b',' | b';' | b'<' | b'>' | b'/' | b'?' | b'#' | b'%' | b'\\' => {
                return false;
            }
            b'!'..=b'~' => id = false,
            _ => return false,
        }
    }
    match at {
        None => id && !s.eq_ignore_ascii_case(b"me"),
        Some(i) => {
            let (local, domain) = (&s[..i], &s[i + 1..]);
            !local.is_empty()
                && domain.contains(&b'.')
                && domain.first() != Some(&b'.')
                && domain.last() != Some(&b'.')
                && !domain.windows(2).any(|w| w == b"..")
        }
    }
}

/// Zero-width and direction-control characters that copy-paste from chat and documents brings
/// along: they are not controls or spaces, so they would otherwise pass inside an email address
/// and make the request miss the user.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A plausible email address: exactly one `@`, a non-empty local part, a dotted domain with no
/// empty label, and none of the characters that would need quoting in an address or break a CSV
/// or header (`"`, `,`, `;`, `<`, `>`). Forbidden URL characters were rejected before this.
fn check_email(s: &str) -> Result<(), InvalidUser> {
    // Bytes, not chars: these are ASCII, and UTF-8 never has an ASCII byte inside a character.
    if let Some(b) = s
        .bytes()
        .find(|b| matches!(b, b'"' | b',' | b';' | b'<' | b'>'))
    {
        return Err(InvalidUser::new(format!(
            "contains '{}', which a plain email address does not",
            char::from(b)
        )));
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(InvalidUser::new("not an email address"));
    };
    if domain.contains('@') {
        return Err(InvalidUser::new(
            "contains more than one '@': not an email address",
        ));
    }
    if local.is_empty() {
        return Err(InvalidUser::new("nothing before '@': not an email address"));
    }
    if domain.is_empty() {
        return Err(InvalidUser::new("nothing after '@': not an email address"));
    }
    if !domain.contains('.') {
        return Err(InvalidUser::new(format!(
            "domain \"{domain}\" has no dot: not an email address"
        )));
    }
    // An empty label: the same as `domain.split('.').any(str::is_empty)`, in one byte pass.
    let d = domain.as_bytes();
    if d.first() == Some(&b'.') || d.last() == Some(&b'.') || d.windows(2).any(|w| w == b"..") {
        return Err(InvalidUser::new(format!(
            "domain \"{domain}\" has an empty label: not an email address"
        )));
    }
    Ok(())
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UserId {
    type Err = InvalidUser;

    fn from_str(s: &str) -> Result<UserId, InvalidUser> {
        UserId::parse(s)
    }
}

/// The user's text, without a copy: a report row takes its user over this way when the user is
/// not needed afterwards (a million-row dry run's rows).
impl From<UserId> for String {
    fn from(user: UserId) -> String {
        user.0.into_string()
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(raw: &str) -> String {
        UserId::parse(raw).unwrap_err().reason
    }

    #[test]
    fn accepts_emails_and_ids() {
        for ok in [
            "a@x.com",
            "First.Last+tag@sub.example.co.uk",
            "KdYKjnimT4KPd8FFgQt9FQ",
            "abc-DEF_123",
            "josé@exämple.com",
        ] {
            let u = UserId::parse(ok).unwrap();
            assert_eq!(u.as_str(), ok);
            assert_eq!(u.to_string(), ok);
        }
        assert!(UserId::parse("a@x.com").unwrap().is_email());
        assert!(!UserId::parse("abc").unwrap().is_email());
        assert_eq!("abc".parse::<UserId>().unwrap().as_str(), "abc");
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(UserId::parse("  a@x.com\t").unwrap().as_str(), "a@x.com");
        assert_eq!(UserId::parse("\u{a0}abc ").unwrap().as_str(), "abc");
    }

    #[test]
    fn rejects_url_breaking_characters() {
        assert_eq!(reason("a/b"), "contains '/'");
        assert_eq!(reason("x?y"), "contains '?'");
        assert_eq!(reason("a#b"), "contains '#'");
        assert_eq!(reason("%2F"), "contains '%'");
        assert_eq!(reason("a\\b"), "contains '\\'");
        assert_eq!(reason("../.."), "contains '/'");
        assert_eq!(reason("a b@x.com"), "contains a space");
        assert_eq!(reason("a\u{7}b"), "contains a control character (U+0007)");
        assert_eq!(reason("a\nb"), "contains a control character (U+000A)");
        assert_eq!(
            reason("a\u{200B}@x.com"),
            "contains an invisible character (U+200B)"
        );
    }

    #[test]
    fn rejects_dot_segments_me_and_empty() {
        assert!(reason(".").contains("path segment"));
        assert!(reason("..").contains("path segment"));
        for me in ["me", "ME", " Me "] {
            assert!(reason(me).contains("\"me\""), "{me}");
        }
        assert_eq!(reason(""), "empty");
        assert_eq!(reason("   "), "empty");
        // "me" inside a longer ID is an ordinary ID.
        assert!(UserId::parse("meme").is_ok());
    }

    #[test]
    fn length_limit_is_128_characters() {
        let ok = "a".repeat(MAX_LEN);
        assert!(UserId::parse(&ok).is_ok());
        assert_eq!(
            reason(&"a".repeat(MAX_LEN + 1)),
            "longer than 128 characters (129)"
        );
        // Characters, not bytes: 128 two-byte letters are fine.
        let wide = format!("{}@x.com", "é".repeat(MAX_LEN - 6));
        assert!(UserId::parse(&wide).is_ok());
    }

    #[test]
    fn rejects_implausible_emails() {
        assert!(reason("a@b@x.com").contains("more than one '@'"));
        assert!(reason("@x.com").contains("nothing before '@'"));
        assert!(reason("a@").contains("nothing after '@'"));
        assert!(reason("a@localhost").contains("has no dot"));
        assert!(reason("a@x..com").contains("empty label"));
        assert!(reason("a@.com").contains("empty label"));
        for c in ['"', ',', ';', '<', '>'] {
            assert!(reason(&format!("a{c}b@x.com")).contains(c), "{c}");
        }
    }

    #[test]
    fn rejects_ids_with_other_characters() {
        let r = reason("abc.def");
        assert!(r.starts_with("contains '.'"), "{r}");
        assert!(reason("ab+c").starts_with("contains '+'"));
    }

    proptest::proptest! {
        #[test]
        fn trim_is_str_trim(s in "[ \t\u{a0}\u{3000}\u{2028}a@.\u{e9}\x7f\n\r]{0,5}") {
            proptest::prop_assert_eq!(trim(&s), s.trim());
        }

        #[test]
        fn the_fast_path_accepts_exactly_what_the_checks_accept(
            s in r#"[a-zA-Z0-9@._+!~'/?#%\\,;<>" \t\x7f-]{0,10}|[a-z]{1,3}@[a-z.]{0,6}|[mMeE.]{1,3}"#
        ) {
            proptest::prop_assert_eq!(is_plain_user(s.as_bytes()), check(&s).is_ok(), "{:?}", s);
        }
    }

    #[test]
    fn the_fast_path_agrees_on_ids_and_edge_cases() {
        for s in [
            "abc",
            "ABC-def_1",
            "me",
            "Me",
            "meme",
            ".",
            "..",
            "a.b",
            "a@b.c",
            "@b.c",
            "a@",
            "a@b",
            "a@.b",
            "a@b.",
            "a@b..c",
            "a@@b.c",
            "a@b@c.d",
            "a\"b@c.d",
            "a b@c.d",
            "a/b",
            "",
            "a;b@c.d",
            "a+b@c.d",
            "x@y.z",
            "ab+c",
            "a\u{7f}b",
        ] {
            assert_eq!(is_plain_user(s.as_bytes()), check(s).is_ok(), "{s:?}");
        }
        let long_id = "a".repeat(MAX_LEN);
        assert!(is_plain_user(long_id.as_bytes()));
        assert!(!is_plain_user(format!("{long_id}a").as_bytes()));
    }

    #[test]
    fn dedupe_key_folds_email_case_only() {
        assert_eq!(dedupe_key(" A@X.Com "), "a@x.com");
        assert_eq!(
            UserId::parse("A@x.com").unwrap().key(),
            UserId::parse("a@X.COM").unwrap().key()
        );
        assert_eq!(dedupe_key(" AbC "), "AbC");
        assert_ne!(dedupe_key("AbC"), dedupe_key("abc"));
    }
}
