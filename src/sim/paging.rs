//! `GET /v2/users` paging: page sizes and `next_page_token`s that expire.
//!
//! A page token remembers the status filter and where the next page starts; it expires
//! `page_token_ttl` after issue (15 minutes at Zoom). The filter is re-evaluated on every page,
//! so users whose status changes mid-listing may shift between pages, as on a live account;
//! `SimConfig::list_churn` makes that happen before every continued page (see the handler).
//! `page_size` defaults to 30; anything over 300 is served as 300 (older docs' maximum, what
//! clients are told to ask for) rather than rejected; 0 or a non-number is a 400 code 300.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Value, json};

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
}

/// A 400 answer for the list endpoint.
pub(crate) type ListError = (u16, Value);

impl Pages {
    /// No tokens yet; tokens will live `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Pages {
            cursors: HashMap::new(),
            ttl,
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
                (status, 0)
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
