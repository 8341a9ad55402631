//! JSON bodies shaped like Zoom's `user` and `users` schemas (see Zoom's spec in `spec/`).
//!
//! Fields our client does not read are still filled with plausible, deterministic values so a
//! validating proxy (Prism) accepts the answers and a human reading them sees a Zoom-like user.
//! Values that Zoom derives from account history (creation time, PMI, time zone) are derived
//! here from the user's position in the directory.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};

use crate::sim::users::{SimUser, UserStatus};

const TIMEZONES: [&str; 5] = [
    "America/New_York",
    "Europe/Paris",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Australia/Sydney",
];

/// Fields shared by `GET /users/{userId}` and the items of `GET /users`.
fn common(u: &SimUser, index: usize) -> Map<String, Value> {
    let created = DateTime::from_timestamp(1_614_589_200 + 4_020 * index as i64, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert("id".into(), json!(u.id));
    m.insert("first_name".into(), json!(u.first_name));
    m.insert("last_name".into(), json!(u.last_name));
    let display = format!("{} {}", u.first_name, u.last_name);
    m.insert("display_name".into(), json!(display.trim()));
    m.insert("email".into(), json!(u.email));
    m.insert("type".into(), json!(u.user_type));
    m.insert(
        "pmi".into(),
        json!(3_000_000_000_u64 + 7_919 * index as u64),
    );
    m.insert("timezone".into(), json!(TIMEZONES[index % TIMEZONES.len()]));
    m.insert("verified".into(), json!(1));
    m.insert("dept".into(), json!(""));
    m.insert("created_at".into(), json!(created));
    m.insert("user_created_at".into(), json!(created));
    if let Some(t) = &u.last_login_time {
        m.insert("last_login_time".into(), json!(t));
        m.insert("last_client_version".into(), json!("6.4.3.58178(mac)"));
    }
    m.insert("language".into(), json!("en-US"));
    m.insert("status".into(), json!(u.status.as_str()));
    m.insert("role_id".into(), json!(u.role_id));
    m
}

/// The body of `GET /v2/users/{userId}` (schema `user`), with `role_name` and `login_types`.
pub(crate) fn user(u: &SimUser, index: usize, account_id: &str) -> Value {
    let mut m = common(u, index);
    m.insert("role_name".into(), json!(u.role_name));
    m.insert("use_pmi".into(), json!(false));
    m.insert(
        "personal_meeting_url".into(),
        json!(format!("https://example.zoom.us/j/{}", m["pmi"])),
    );
    m.insert("account_id".into(), json!(account_id));
    m.insert("account_number".into(), json!(10_009_239));
    m.insert("cluster".into(), json!("us06"));
    m.insert("jid".into(), json!(format!("{}@xmpp.zoom.us", u.id)));
    m.insert("login_types".into(), json!(u.login_types));
    m.insert("group_ids".into(), json!([]));
    m.insert("im_group_ids".into(), json!([]));
    m.insert("phone_number".into(), json!(""));
    Value::Object(m)
}

/// One item of `GET /v2/users` (schema `users.users[]`): pending users come without `id`. The
/// spec's list items carry `role_id` but neither `role_name` nor `login_types`, so neither do these.
pub(crate) fn list_item(u: &SimUser, index: usize) -> Value {
    let mut m = common(u, index);
    if u.status == UserStatus::Pending {
        m.remove("id");
    }
    m.insert("group_ids".into(), json!([]));
    Value::Object(m)
}
