//! `GET /v2/users` paging: page sizes, `next_page_token`s that expire, and the deprecated
//! `page_number`.
//!
//! A page token remembers the status filter and where the next page starts; it expires
//! `page_token_ttl` after issue (15 minutes at Zoom). The filter is re-evaluated on every page,
//! so users whose status changes mid-listing may shift between pages, as on a live account;
//! `SimConfig::list_churn` makes that happen before every continued page (see the handler).
//! `page_size` defaults to 30; anything over 300 is served as 300 (older docs' maximum, what
//! clients are told to ask for) rather than rejected; 0 or a non-number is a 400 code 300.
//!
//! `page_number` (1-based, used only without a `next_page_token`) is served as Zoom serves it:
//! page N starts at user `(N - 1) × page_size`, the answer echoes `page_number`, and a page past
//! the last is empty; 0 or a non-number is a 400 code 300. [`PageNumbers`] can make the
//! simulator ignore it (every such call answers the first page) or refuse it (400 code 300), the
//! two ways a future Zoom could drop it. Every answer carries `page_count` and `total_records`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Value, json};

use crate::sim::config::PageNumbers;
use crate::sim::render;
use crate::sim::users::{Directory, UserStatus};

/// Default `page_size`, as Zoom documents.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 30;
/// Largest page served; bigger requests are clamped to it.
pub(crate) const MAX_PAGE_SIZE: usize = 300;

/// Where a listing continues.
#[derive(Debug, Clone)]
struct Cursor {
    /// The `status` filter of the listing.
    status: UserStatus,
    /// Index (within the filtered users) of the next page's first user.
    offset: usize,
    /// When the token was issued.
    issued: Instant,
}

/// Outstanding page tokens.
#[derive(Debug)]
pub(crate) struct Pages {
    /// token → cursor.
    cursors: HashMap<String, Cursor>,
    /// How long a token stays valid.
    ttl: Duration,
    /// How `page_number` is treated ([`crate::sim::Sim::set_page_numbers`] changes it).
    pub(crate) numbers: PageNumbers,
}

/// A 400 answer for the list endpoint.
pub(crate) type ListError = (u16, Value);

impl Pages {
    /// No tokens yet; tokens will live `ttl`; `page_number` treated as `numbers` says.
    pub(crate) fn new(ttl: Duration, numbers: PageNumbers) -> Self {
        Pages {
            cursors: HashMap::new(),
            ttl,
            numbers,
        }
    }

    /// Forgets every outstanding token: the next use of any of them is "invalid or expired".
    pub(crate) fn expire_all(&mut self) {
        self.cursors.clear();
    }

    /// Answers one `GET /v2/users` call given its decoded query parameters.
    pub(crate) fn list(
        &mut self,
        dir: &Directory,
        query: &HashMap<String, String>,
        now: Instant,
    ) -> Result<Value, ListError> {
        let page_size = match query.get("page_size").map(|s| s.trim()) {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n >= 1 => n.min(MAX_PAGE_SIZE),
                _ => return Err(validation("page_size", "must be a positive integer")),
            },
        };
        let (status, offset) = match query.get("next_page_token").filter(|t| !t.is_empty()) {
            Some(token) => {
                let cursor = self
                    .cursors
                    .get(token)
                    .filter(|c| now.duration_since(c.issued) < self.ttl)
                    .ok_or_else(|| {
                        (
                            400,
                            json!({"code": 300, "message": "The next page token is invalid or expired."}),
                        )
                    })?;
                (cursor.status, cursor.offset)
            }
            None => {
                let status = match query.get("status").map(|s| s.as_str()) {
                    None | Some("") => UserStatus::Active,
                    Some(s) => s.parse().map_err(|_| {
                        validation("status", "must be one of active, inactive, pending")
                    })?,
                };
                (status, first_index(query, self.numbers, page_size)?)
            }
        };
        let matching = dir.with_status(status);
        let end = (offset + page_size).min(matching.len());
        let users: Vec<Value> = matching
            .get(offset..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| dir.get(i).map(|u| render::list_item(u, i)))
            .collect();
        let next_page_token = if end < matching.len() {
            let bytes: [u8; 24] = rand::rng().random();
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            self.cursors.insert(
                token.clone(),
                Cursor {
                    status,
                    offset: end,
                    issued: now,
                },
            );
            token
        } else {
            String::new()
        };
        Ok(json!({
            "next_page_token": next_page_token,
            "page_count": matching.len().div_ceil(page_size),
            "page_number": offset / page_size + 1,
            "page_size": page_size,
            "total_records": matching.len(),
            "users": users,
        }))
    }
}

/// Whether a call asks for a page after the first: with a `next_page_token`, or a `page_number`
/// over 1 (`list_churn` changes the account before such a page).
pub(crate) fn continues(query: &HashMap<String, String>) -> bool {
    let token = query.get("next_page_token").is_some_and(|t| !t.is_empty());
    let numbered = query
        .get("page_number")
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| n > 1);
    token || numbered
}

/// Where a listing asked for without a page token starts: at `page_number`'s first user when
/// it is given and served, else at the first user.
fn first_index(
    query: &HashMap<String, String>,
    numbers: PageNumbers,
    page_size: usize,
) -> Result<usize, ListError> {
    let Some(raw) = query
        .get("page_number")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    else {
        return Ok(0);
    };
    match numbers {
        PageNumbers::Ignored => Ok(0),
        PageNumbers::Rejected => Err(validation(
            "page_number",
            "is no longer supported: use next_page_token",
        )),
        PageNumbers::Served => match raw.parse::<usize>() {
            Ok(n) if n >= 1 => Ok((n - 1).saturating_mul(page_size)),
            _ => Err(validation("page_number", "must be a positive integer")),
        },
    }
}

/// A Zoom validation error (code 300 with an `errors` list).
fn validation(field: &str, message: &str) -> ListError {
    (
        400,
        json!({
            "code": 300,
            "message": "Validation Failed.",
            "errors": [{"field": field, "message": message}],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::users::generate_users;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn emails(page: &Value) -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn page_number_is_served_one_based_and_echoed_with_the_counts() {
        let dir = Directory::new(generate_users(20, 1)).unwrap();
        let active = dir.with_status(UserStatus::Active).len();
        let mut pages = Pages::new(Duration::from_secs(60), PageNumbers::Served);
        let now = Instant::now();
        let size = [("page_size", "5")];
        let first = pages.list(&dir, &query(&size), now).unwrap();
        let q = |n: &str| query(&[size[0], ("page_number", n)]);
        let second = pages.list(&dir, &q("2"), now).unwrap();
        assert_eq!(second["page_number"], 2);
        assert_eq!(second["page_count"], active.div_ceil(5));
        assert_eq!(second["total_records"], active);
        let one = pages.list(&dir, &q("1"), now).unwrap();
        assert_eq!(emails(&one), emails(&first));
        let token = first["next_page_token"].as_str().unwrap();
        let by_token = pages
            .list(&dir, &query(&[size[0], ("next_page_token", token)]), now)
            .unwrap();
        assert_eq!(emails(&second), emails(&by_token), "same page both ways");
        let past = pages.list(&dir, &q("99"), now).unwrap();
        assert!(emails(&past).is_empty());
        assert_eq!(past["page_number"], 99);
        for bad in ["0", "x", "-1"] {
            let (status, body) = pages.list(&dir, &q(bad), now).unwrap_err();
            assert_eq!((status, body["code"].as_i64()), (400, Some(300)), "{bad}");
        }
    }

    #[test]
    fn page_number_can_be_ignored_or_refused_as_a_later_zoom_might() {
        let dir = Directory::new(generate_users(20, 1)).unwrap();
        let mut pages = Pages::new(Duration::from_secs(60), PageNumbers::Served);
        let now = Instant::now();
        let q = query(&[("page_size", "5"), ("page_number", "3")]);
        let first = pages
            .list(&dir, &query(&[("page_size", "5")]), now)
            .unwrap();
        pages.numbers = PageNumbers::Ignored;
        let ignored = pages.list(&dir, &q, now).unwrap();
        assert_eq!(ignored["page_number"], 1);
        assert_eq!(emails(&ignored), emails(&first));
        pages.numbers = PageNumbers::Rejected;
        let (status, body) = pages.list(&dir, &q, now).unwrap_err();
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["field"], "page_number");
        // Without page_number every mode serves the first page.
        let plain = query(&[("page_size", "5")]);
        assert!(pages.list(&dir, &plain, now).is_ok());
    }

    #[test]
    fn a_continued_page_is_one_with_a_token_or_a_page_number_over_one() {
        assert!(!continues(&query(&[])));
        assert!(!continues(&query(&[("page_number", "1")])));
        assert!(!continues(&query(&[("next_page_token", "")])));
        assert!(continues(&query(&[("page_number", "2")])));
        assert!(continues(&query(&[("next_page_token", "abc")])));
    }
}
