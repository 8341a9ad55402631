//! Evidence that a run happened as its report says: the chained report, the run log beside it,
//! `verify`, and the one-page HTML summary for the change ticket.
//!
//! Offboarding is access removal, and access removal gets audited. The report alone answers
//! "what happened to each person"; this module adds "can we trust that this file is the one the
//! run wrote" (the chain: [`chain`], checked by [`verify`]), "who ran it, from where, with which
//! input, when, and how it went" (the run log: [`runlog`], its per-second [`timeline`]), and a
//! page a manager can read ([`html`], its chart drawn by [`svg`]).
//!
//! The chain is computed by the report writer from the bytes it already encodes
//! (`crate::report::ReportWriter`); everything here reads those bytes back the way an independent
//! checker would, without the report's row parser.

pub mod attention;
pub mod chain;
pub mod html;
pub mod record;
pub mod records;
pub mod runlog;
pub mod svg;
pub mod timeline;
pub mod verify;

use std::path::{Path, PathBuf};

/// The run log's path: the report's path plus `.runs.jsonl` (`out.csv.runs.jsonl`).
pub fn runs_path(report: &Path) -> PathBuf {
    with_suffix(report, ".runs.jsonl")
}

/// The HTML summary's default path: the report's path plus `.html` (`out.csv.html`).
pub fn html_path(report: &Path) -> PathBuf {
    with_suffix(report, ".html")
}

fn with_suffix(report: &Path, suffix: &str) -> PathBuf {
    let mut name = report.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
