//! The one-page HTML summary, `REPORT.html`: what ran, how it went, who needs attention, where
//! data went, and whether the report is the one the runs wrote, for a change ticket or a manager.
//!
//! Drawn from the report and its run log only, so `zoom-offboard summary` rebuilds the same page
//! at any time and the page written after a resumed run covers every run. The page is one file:
//! inline style, an inline SVG chart ([`super::svg`]), no script, and a Content-Security-Policy
//! (`default-src 'none'`) so that a browser loads nothing else even if a value got through.
//! Every value from the input or from Zoom goes through maud's escaping: a name like
//! `<script>…` is text; and a URL in a value is written so that nothing takes it for a link
//! ([`unlinked`]).
//!
//! Reading a large report for the attention list costs one pass over its bytes: a row's status
//! is read from the bytes (its second CSV cell, its JSONL `status` key) and only rows that need
//! attention, or that may settle one, are parsed whole.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use maud::{DOCTYPE, Markup, PreEscaped, html};

pub use super::attention::{Group, Listed};

use super::attention::{Attention, FromBytes};
use super::chain::Link;
use super::records::RecordReader;
use super::runlog::{self, End, Entry, Start};
use super::svg::Svg;
use super::verify::{self, Outcome, Written};
use crate::report::{Format, ReportError, Status, check_planted};

/// Users listed per attention group before "and N more".
const LISTED: usize = 50;

/// One run of the report, from its start and (unless it was killed) end entries.
#[derive(Clone, Debug)]
pub struct RunView {
    /// The start entry.
    pub start: Start,
    /// The end entry; `None` for a killed run.
    pub end: Option<End>,
    /// Rows the run wrote.
    pub rows_written: u64,
}

/// Everything on the page.
#[derive(Debug)]
pub struct Page {
    /// The report's path as given.
    pub report: String,
    /// Every run, oldest first.
    pub runs: Vec<RunView>,
    /// Who needs attention: the last row of each user (and step) whose status is one of
    /// [`super::attention::ATTENTION`], grouped by reason.
    pub attention: Vec<Group>,
    /// What `verify` found (or why it could not check).
    pub verified: Result<Outcome, String>,
}

/// A page problem: the report or run log cannot be read, or the page cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Reading the report.
    #[error("cannot read report {}: {source}", .path.display())]
    Read {
        /// The report.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The report's extension.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The run log.
    #[error(transparent)]
    Log(#[from] runlog::RunLogError),
}

/// Reads the report and its run log into a [`Page`]: one pass over the report verifies it and
/// finds who needs attention (a second only when it does not verify).
pub fn gather(report: &Path) -> Result<Page, PageError> {
    let format = Format::from_path(report)?;
    let mut seen = FromBytes::new(format);
    let verified = verify::verify_observed(report, None, &mut |r| seen.record(r));
    if !matches!(&verified, Ok(o) if o.problem.is_none()) {
        // The pass stopped at the break (or never ran): read every row for the list.
        seen = FromBytes::new(format);
        read_attention(report, 0, &mut seen)?;
    }
    page(report, verified.map_err(|e| e.to_string()), seen.attention)
}

/// [`gather`] at the end of a run, from what its writer knows ([`Written`]) and the attention
/// list of the rows it wrote (`own`, taken as they were written): only the rows earlier runs
/// wrote are read (verified, and read for the list), unless one of them needs attention and a
/// row of this run may settle it: then this run's rows are read for the list too, not verified
/// again. Whatever the writer cannot vouch for is gathered as `summary` does.
pub fn gather_written(report: &Path, written: &Written, own: Attention) -> Result<Page, PageError> {
    let format = Format::from_path(report)?;
    let mut seen = FromBytes::new(format);
    let verified = match verify::verify_written(report, written, &mut |r| seen.record(r)) {
        Ok(Some(outcome)) => outcome,
        Ok(None) | Err(_) => return gather(report),
    };
    let attention = if seen.attention.is_empty() {
        own
    } else {
        read_attention(report, written.bytes_before, &mut seen)?;
        seen.attention
    };
    page(report, Ok(verified), attention)
}

/// The page of `report`, from what was found of it.
fn page(
    report: &Path,
    verified: Result<Outcome, String>,
    attention: Attention,
) -> Result<Page, PageError> {
    let entries = runlog::read(report)?;
    let rows_now = verified.as_ref().map_or(0, |o| o.rows);
    Ok(Page {
        report: report.display().to_string(),
        runs: runs(entries, rows_now),
        attention: attention.groups(),
        verified,
    })
}

/// Pairs start and end entries by run id, and counts the rows each run wrote (a killed run's
/// from the next run's start, or from the report's rows now).
fn runs(entries: Vec<(u64, Entry)>, rows_now: u64) -> Vec<RunView> {
    let mut runs: Vec<RunView> = Vec::new();
    for (_, entry) in entries {
        match entry {
            Entry::Start(start) => runs.push(RunView {
                start,
                end: None,
                rows_written: 0,
            }),
            Entry::End(end) => {
                if let Some(run) = runs.iter_mut().rev().find(|r| r.start.run_id == end.run_id) {
                    run.end = Some(end);
                }
            }
        }
    }
    let starts: Vec<u64> = runs.iter().map(|r| r.start.report_rows_before).collect();
    for (i, run) in runs.iter_mut().enumerate() {
        let after = match &run.end {
            Some(end) => end.report_rows,
            None => starts.get(i + 1).copied().unwrap_or(rows_now),
        };
        run.rows_written = after.saturating_sub(run.start.report_rows_before);
    }
    runs
}

/// Who needs attention, from the report's bytes: the records from byte `from` on (0: all, a
/// CSV's header first; else the rows after those `seen` has taken), fed to `seen`.
fn read_attention(report: &Path, from: u64, seen: &mut FromBytes) -> Result<(), PageError> {
    read_records(report, from, seen).map_err(|source| PageError::Read {
        path: report.to_owned(),
        source,
    })
}

fn read_records(report: &Path, from: u64, seen: &mut FromBytes) -> Result<(), std::io::Error> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(report)?;
    file.seek(SeekFrom::Start(from))?;
    let mut records = RecordReader::new(
        std::io::BufReader::with_capacity(1 << 20, file),
        seen.attention.format() == Format::Csv,
    );
    let mut buf = Vec::new();
    while let Some(at) = records.next(&mut buf)? {
        if !at.complete {
            break;
        }
        seen.record(&buf);
    }
    Ok(())
}

/// Writes the page for `report` to `out`, with the report's care: never through a symbolic
/// link nor into another user's file, created 0600 (it names people).
pub fn write(report: &Path, out: &Path) -> Result<(), PageError> {
    write_page(&gather(report)?, out)
}

/// [`write`] at the end of a run, from what its writer knows ([`gather_written`]).
pub fn write_written(
    report: &Path,
    out: &Path,
    written: &Written,
    own: Attention,
) -> Result<(), PageError> {
    write_page(&gather_written(report, written, own)?, out)
}

fn write_page(page: &Page, out: &Path) -> Result<(), PageError> {
    let text = unlinked(&render(page).into_string());
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let io = |source| {
        PageError::Report(ReportError::Write {
            path: out.to_owned(),
            source,
        })
    };
    let mut file = opts.open(out).map_err(|source| {
        let link = std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink());
        if link {
            PageError::Report(ReportError::Symlink {
                path: out.to_owned(),
            })
        } else {
            io(source)
        }
    })?;
    check_planted(&file, out)?;
    file.set_len(0)
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(io)
}

/// `zoom-offboard summary REPORT [--html PATH]`: rebuilds the page; exit 0, or 2 if the report
/// cannot be read or the page written.
pub fn command(report: &Path, html: Option<&Path>) -> crate::exit::Exit {
    let out = html.map_or_else(|| super::html_path(report), Path::to_owned);
    if !report.is_file() {
        crate::logging::eprint_line(&format!(
            "zoom-offboard: error: no such report: {}",
            report.display()
        ));
        return crate::exit::Exit::Usage;
    }
    match write(report, &out) {
        Ok(()) => {
            println!("summary: {}", out.display());
            crate::exit::Exit::Success
        }
        Err(e) => {
            crate::logging::eprint_line(&format!("zoom-offboard: error: {e}"));
            crate::exit::Exit::Usage
        }
    }
}

/// The page with every `://` written as `:&#47;&#47;`: the template has no URL of its own, so
/// these come from values (the command's `--base-url`, a message), and a browser shows them
/// as they were, while a mail client or a ticket system that turns URLs in pasted text into
/// links, or a scanner looking for references, finds none.
fn unlinked(page: &str) -> String {
    page.replace("://", ":&#47;&#47;")
}

const STYLE: &str = include_str!("page.css");

/// The page's markup.
pub fn render(p: &Page) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
                meta name="referrer" content="no-referrer";
                title { "zoom-offboard: " (p.report) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (heading(p))
                (outcome(p))
                (chart_section(p))
                (attention_section(p))
                (destinations(p))
                (runs_section(p))
                (chain_section(p))
            }
        }
    }
}

fn last_end(p: &Page) -> Option<&End> {
    p.runs.iter().rev().find_map(|r| r.end.as_ref())
}

fn heading(p: &Page) -> Markup {
    let first = p.runs.first();
    let command = first.map(|r| r.start.command.join(" ")).unwrap_or_default();
    let dry = p.runs.iter().any(|r| r.start.dry_run);
    let killed = p.runs.iter().filter(|r| r.end.is_none()).count();
    html! {
        header {
            h1 { "Zoom offboarding report" }
            p.lede {
                @if dry { strong { "Dry run: nothing was changed in Zoom. " } }
                (p.runs.len()) " run" @if p.runs.len() != 1 { "s" }
                @if killed > 0 { " (" (killed) " killed)" }
                " wrote " code { (p.report) } "."
            }
            (verdict(p))
            dl.facts {
                dt { "Command" } dd { code { (command) } }
                dt { "Steps" } dd { (first.map(|r| r.start.steps.join(" → ")).unwrap_or_default()) }
                dt { "Zoom account" } dd { (first.and_then(|r| r.start.account_id.clone()).unwrap_or_else(|| "— (static token or dry run)".into())) }
                dt { "Operator" } dd { (first.map(|r| format!("{} on {}", r.start.operator, r.start.host)).unwrap_or_default()) }
                dt { "Tool version" } dd { (first.map(|r| r.start.tool_version.clone()).unwrap_or_default()) }
                dt { "Started" } dd { (first.map(|r| r.start.started_at.clone()).unwrap_or_default()) }
                dt { "Ended" } dd { (last_end(p).map(|e| e.ended_at.clone()).unwrap_or_else(|| "— (the last run was killed)".into())) }
            }
        }
    }
}

/// The page's answer in one line: how many need attention, and whether the report verifies.
fn verdict(p: &Page) -> Markup {
    let attention: usize = p.attention.iter().map(|g| g.users.len()).sum();
    let total: u64 = last_end(p).map_or(0, |e| e.report_rows);
    let intact = matches!(&p.verified, Ok(o) if o.problem.is_none());
    html! {
        p.verdict {
            @if attention == 0 { span.ok { "Nobody needs attention" } " (" (total) " report rows)." }
            @else { span.bad { (attention) " need" @if attention == 1 { "s" } " attention" } " (" (total) " report rows): see below." }
            " "
            @if intact { span.ok { "The report verifies." } }
            @else { span.bad { "The report does NOT verify." } }
        }
    }
}

/// The outcome: for each run that ended, its terminal summary's counts (users, or user steps,
/// per status), one column per run, and per step for `offboard`.
fn outcome(p: &Page) -> Markup {
    let ended: Vec<(usize, &End)> = p
        .runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.end.as_ref().map(|e| (i + 1, e)))
        .collect();
    let statuses: Vec<&str> = Status::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| {
            ended
                .iter()
                .any(|(_, e)| e.counts.get(*s).is_some_and(|n| *n > 0))
        })
        .collect();
    let count = |e: &End, s: &str| e.counts.get(s).copied().unwrap_or(0);
    html! {
        section {
            h2 { "Outcome" }
            @if ended.is_empty() {
                p.warn { "No run of this report ended: every run was killed, so there are no counts. Resume it with --resume." }
            } @else {
                table.counts {
                    thead { tr {
                        th { "status" }
                        @for (n, _) in &ended { th.num { "run " (n) } }
                    } }
                    tbody {
                        @for s in &statuses {
                            tr class=(status_class(s)) {
                                td { (s) }
                                @for (_, e) in &ended { td.num { (count(e, s)) } }
                            }
                        }
                        tr.total {
                            td { "total" }
                            @for (_, e) in &ended { td.num { (e.counts.values().sum::<u64>()) } }
                        }
                    }
                }
                p.note { "Each column is one run's terminal summary: the users (for offboarding, each user and step) that run finished, by status. A resumed run counts what it did itself." }
            }
            @if let Some(e) = last_end(p).filter(|e| !e.by_step.is_empty()) {
                h3 { "Per step (the last run)" }
                table.counts {
                    thead { tr { th { "step" } th { "status" } th.num { "count" } } }
                    tbody {
                        @for (step, counts) in in_run_order(&e.by_step) {
                            @for (status, n) in counts {
                                tr class=(status_class(status)) { td { (step) } td { (status) } td.num { (n) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The run log's counts by step, in the order a run takes the steps (rows about the user as a
/// whole, `invalid` and `excluded`, first).
fn in_run_order(
    by_step: &BTreeMap<String, BTreeMap<String, u64>>,
) -> Vec<(&String, &BTreeMap<String, u64>)> {
    let rank = |name: &str| {
        crate::step::Step::ALL
            .iter()
            .position(|s| s.as_str() == name)
            .map_or(0, |i| i + 1)
    };
    let mut steps: Vec<_> = by_step.iter().collect();
    steps.sort_by_key(|(name, _)| rank(name));
    steps
}

fn status_class(status: &str) -> &'static str {
    match status {
        "failed" | "refused" | "not_found" | "invalid" | "pending" | "skipped" => "bad",
        _ => "ok",
    }
}

fn chart_section(p: &Page) -> Markup {
    // A dry run without credentials sends nothing: its empty chart is said to be empty, so that
    // a reader does not look for a line that is missing.
    let sent = p.runs.iter().any(|r| {
        r.end
            .as_ref()
            .is_none_or(|e| e.timeline.iter().any(|t| t[1] > 0 || t[2] > 0 || t[3] > 0))
    });
    html! {
        section {
            h2 { "Requests over time" }
            @if !sent {
                p { "No request was sent to Zoom in this report's runs: the chart is empty." }
            }
            (PreEscaped(chart(&p.runs)))
            p.legend {
                span.key.k-req {} " requests per second  "
                span.key.k-429 {} " 429 (rate limited)  "
                span.key.k-fail {} " failed answers (5xx, timeouts, dropped)  "
                @if p.runs.iter().any(|r| r.end.is_none()) {
                    span.key.k-killed {} " killed run (no timeline)"
                }
            }
        }
    }
}

/// Width and height of the chart's drawing area, and its margins.
const W: f64 = 900.0;
const H: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 36.0;

/// The chart: every run on one time axis (seconds since the first run's start), requests per
/// second as a line, 429s and failed answers as bars below it, killed runs as hatched bands.
fn chart(runs: &[RunView]) -> String {
    let t0 = runs.first().and_then(|r| time(&r.start.started_at));
    let spans = spans(runs, t0);
    let span = spans.iter().map(|s| s.1).fold(1.0f64, f64::max);
    let peak = runs
        .iter()
        .filter_map(|r| r.end.as_ref())
        .flat_map(|e| e.timeline.iter().map(|t| t[1].max(t[2]).max(t[3])))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut svg = Svg::new(
        W as u32,
        H as u32,
        "requests, 429s and failed answers per second",
    );
    let plot_w = W - LEFT - 10.0;
    let plot_h = H - BOTTOM - 14.0;
    let x = |s: f64| LEFT + s / span * plot_w;
    let y = |v: f64| 14.0 + plot_h - v / peak * plot_h;
    let bar = (plot_w / span).max(1.0);
    for (r, (from, to)) in runs.iter().zip(&spans) {
        match &r.end {
            None => {
                svg.rect(
                    x(*from),
                    14.0,
                    (x(*to) - x(*from)).max(6.0),
                    plot_h,
                    "killed",
                );
                let label = format!("killed · {} rows", r.rows_written);
                svg.text(x(*from) + 3.0, 26.0, "start", "label", &label);
            }
            Some(e) => {
                svg.rect(x(*from), 14.0, (x(*to) - x(*from)).max(1.0), plot_h, "run");
                for t in &e.timeline {
                    let at = x(*from + t[0] as f64);
                    svg.rect(
                        at,
                        y(t[2] as f64),
                        bar,
                        y(0.0) - y(t[2] as f64),
                        "throttled",
                    );
                    svg.rect(at, y(t[3] as f64), bar, y(0.0) - y(t[3] as f64), "failed");
                }
                let points: Vec<(f64, f64)> = e
                    .timeline
                    .iter()
                    .map(|t| (x(*from + t[0] as f64 + 0.5), y(t[1] as f64)))
                    .collect();
                svg.polyline(&points, "requests");
            }
        }
    }
    axes(&mut svg, span, peak, plot_h);
    svg.finish()
}

fn axes(svg: &mut Svg, span: f64, peak: f64, plot_h: f64) {
    let base = 14.0 + plot_h;
    svg.line((LEFT, 14.0), (LEFT, base), "axis");
    svg.line((LEFT, base), (W - 10.0, base), "axis");
    svg.text(LEFT - 4.0, 20.0, "end", "label", &format!("{peak:.0}/s"));
    svg.text(LEFT - 4.0, base, "end", "label", "0");
    for i in 0..=4 {
        let s = span * f64::from(i) / 4.0;
        let at = LEFT + (W - LEFT - 10.0) * f64::from(i) / 4.0;
        svg.text(at, base + 16.0, "middle", "label", &duration(s));
    }
    svg.text(
        W / 2.0,
        H - 2.0,
        "middle",
        "label",
        "time since the first run started",
    );
}

/// An axis label. Under ten seconds a quarter of the span is not a whole second, so the label
/// keeps a decimal (a 2 s run's ticks read 0s, 0.5s, 1s, 1.5s, 2s, not 0s, 1s, 1s, 2s, 2s).
fn duration(secs: f64) -> String {
    if secs < 10.0 && (secs * 10.0).round() % 10.0 != 0.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    crate::report::parse_time(text).ok()
}

/// Seconds from `t0` to `at` (0 if either is unreadable or `at` is earlier).
/// Each run's stretch of the time axis, in seconds since `t0`: a run with an end entry spans its
/// timeline; a killed run left none, so its band reaches to the next run's start (it ended some
/// time before), or a second when it was the last run.
fn spans(runs: &[RunView], t0: Option<chrono::DateTime<chrono::Utc>>) -> Vec<(f64, f64)> {
    let starts: Vec<f64> = runs
        .iter()
        .map(|r| offset(t0, &r.start.started_at))
        .collect();
    runs.iter()
        .zip(&starts)
        .enumerate()
        .map(|(i, (r, &start))| match &r.end {
            Some(e) => (start, start + e.timeline.len().max(1) as f64),
            None => {
                let next = starts.get(i + 1).copied().filter(|&n| n > start);
                (start, next.unwrap_or(start + 1.0))
            }
        })
        .collect()
}

fn offset(t0: Option<chrono::DateTime<chrono::Utc>>, at: &str) -> f64 {
    match (t0, time(at)) {
        (Some(t0), Some(at)) => ((at - t0).num_milliseconds().max(0) as f64) / 1000.0,
        _ => 0.0,
    }
}

fn attention_section(p: &Page) -> Markup {
    let total: usize = p.attention.iter().map(|g| g.users.len()).sum();
    html! {
        section {
            h2 { "Needs attention (" (total) ")" }
            @if p.attention.is_empty() {
                p { "Nobody: every user ended in a final, successful status." }
            }
            @for g in &p.attention {
                div.group {
                    h3 {
                        span class=(status_class(g.status.as_str())) { (g.status.as_str()) }
                        @if let Some(step) = &g.step { " at " (step) }
                        " · " (g.users.len()) " user" @if g.users.len() != 1 { "s" }
                    }
                    p.reason { (g.reason) }
                    ul {
                        @for u in g.users.iter().take(LISTED) {
                            li {
                                code { (u.user) }
                                @if let Some(name) = &u.name { " (" (name) ")" }
                                @if !u.note.is_empty() { " — " (u.note) }
                            }
                        }
                        @if g.users.len() > LISTED {
                            li.more { "and " (g.users.len() - LISTED) " more: see the report" }
                        }
                    }
                }
            }
        }
    }
}

fn destinations(p: &Page) -> Markup {
    let mut went: BTreeMap<&str, u64> = BTreeMap::new();
    for e in p.runs.iter().filter_map(|r| r.end.as_ref()) {
        for (target, n) in &e.destinations {
            *went.entry(target.as_str()).or_default() += n;
        }
    }
    html! {
        section {
            h2 { "Where data went" }
            @if went.is_empty() {
                p { "No user was removed, so no data was moved." }
            } @else {
                table.counts {
                    thead { tr { th { "target" } th.num { "users" } } }
                    tbody { @for (t, n) in &went { tr { td { (t) } td.num { (n) } } } }
                }
            }
        }
    }
}

fn runs_section(p: &Page) -> Markup {
    html! {
        section {
            h2 { "Runs" }
            table.runs {
                thead { tr { th { "#" } th { "started" } th { "ended" } th { "exit" } th.num { "rows written" } th { "inputs" } } }
                tbody {
                    @for (i, r) in p.runs.iter().enumerate() {
                        tr {
                            td { (i + 1) }
                            td.time { (r.start.started_at) }
                            @match &r.end {
                                Some(e) => {
                                    td.time { (e.ended_at) }
                                    td { (e.exit_code) @if let Some(s) = &e.stopped { " (stopped: " (s) ")" } }
                                }
                                None => { td.bad { "killed (no end entry)" } td { "—" } }
                            }
                            td.num { (r.rows_written) }
                            td {
                                @for inp in &r.start.inputs {
                                    div { code { (inp.path) } " · " (inp.rows) " rows · sha256 " code.hash { (inp.sha256) } }
                                }
                                @if r.start.torn_bytes_cut > 0 {
                                    div.warn { "cut a torn last row of " (r.start.torn_bytes_cut) " bytes before resuming" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn chain_section(p: &Page) -> Markup {
    let mut check = String::new();
    let _ = write!(check, "zoom-offboard verify {} --head ", p.report);
    html! {
        section {
            h2 { "Is this the report the runs wrote?" }
            @match &p.verified {
                Ok(o) => {
                    @match &o.problem {
                        None => p.ok { "Yes: the chain over all " (o.rows) " rows holds, and every run log entry agrees with the report." }
                        Some(f) => p.bad { "No: line " (f.line) ": " (f.kind.to_string()) }
                    }
                    p { "Chain head: " code.hash { (o.head.map_or_else(|| "none (no rows)".to_owned(), |h: Link| h.to_string())) } }
                    p.note { "Paste the chain head into the ticket. Anyone can later check the report against it: " code { (check) "HEAD" } }
                }
                Err(e) => p.bad { "Cannot be checked: " (e) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::runlog::{InputDigest, RunLog};
    use crate::report::{ReportKind, ReportWriter, Row};
    use crate::step::Step;

    #[test]
    fn a_killed_runs_band_reaches_to_the_resume() {
        let run = |at: &str, end: Option<End>| RunView {
            start: Start {
                started_at: at.into(),
                ..Start::default()
            },
            end,
            rows_written: 0,
        };
        let ended = End {
            timeline: vec![[0, 5, 0, 0]; 3],
            ..End::default()
        };
        let runs = [
            run("2026-12-04T10:00:00Z", None),
            run("2026-12-04T10:00:40Z", Some(ended)),
            run("2026-12-04T10:01:00Z", None),
        ];
        let t0 = time(&runs[0].start.started_at);
        assert_eq!(
            spans(&runs, t0),
            [(0.0, 40.0), (40.0, 43.0), (60.0, 61.0)],
            "killed, then a run of 3 s, then killed last"
        );
    }

    /// A run that sent nothing (a dry run without credentials) says so above its empty chart; a
    /// run that sent requests, or a killed run (its band is drawn), does not.
    #[test]
    fn an_empty_chart_says_that_no_request_was_sent() {
        let page = |end: Option<End>| Page {
            report: "r.csv".into(),
            runs: vec![RunView {
                start: Start::default(),
                end,
                rows_written: 3,
            }],
            attention: Vec::new(),
            verified: Err("not checked".into()),
        };
        let quiet = End {
            timeline: vec![[0, 0, 0, 0]; 2],
            ..End::default()
        };
        let busy = End {
            timeline: vec![[0, 0, 0, 0], [1, 4, 1, 0]],
            ..End::default()
        };
        let section = |p: &Page| chart_section(p).into_string();
        let none = section(&page(Some(quiet)));
        assert!(none.contains("No request was sent to Zoom"), "{none}");
        assert!(none.contains("<svg"), "the chart stays: {none}");
        for drawn in [page(Some(busy)), page(None)] {
            let html = section(&drawn);
            assert!(
                html.contains("<svg") && !html.contains("No request was sent"),
                "{html}"
            );
        }
    }

    #[test]
    fn axis_labels_of_a_short_run_are_distinct() {
        let ticks: Vec<String> = (0..=4)
            .map(|i| duration(1.3 * f64::from(i) / 4.0))
            .collect();
        assert_eq!(ticks, ["0s", "0.3s", "0.7s", "1s", "1.3s"]);
        assert_eq!(duration(2.0 * 3.0 / 4.0), "1.5s");
        assert_eq!(duration(2.0), "2s");
        assert_eq!(duration(75.0), "1m15s");
    }

    fn row(user: &str, status: Status, step: Option<Step>, message: &str) -> Row {
        let mut r = Row::new(user, status);
        r.step = step;
        r.message = message.to_owned().into();
        r
    }

    /// An offboard report of two runs (the first killed) with refusals, a failure fixed by the
    /// second run, a hostile name, and a timeline with an outage.
    pub(crate) fn sample(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        let evil = "<script>alert(1)</script>@x.com";
        let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Offboard).unwrap();
        let mut log = RunLog::open(&path).unwrap();
        let start = Start {
            run_id: "r1".into(),
            started_at: "2026-12-04T10:00:00.000Z".into(),
            command: vec![
                "zoom-offboard".into(),
                "offboard".into(),
                "leavers.csv".into(),
            ],
            operator: "ops".into(),
            host: "box".into(),
            steps: vec!["revoke".into(), "delete".into()],
            inputs: vec![InputDigest {
                path: "leavers.csv".into(),
                sha256: "ab".repeat(32),
                rows: 4,
            }],
            ..Start::default()
        };
        log.append(&Entry::Start(start.clone())).unwrap();
        w.write_rows(&[
            row("a@x.com", Status::Revoked, Some(Step::Revoke), ""),
            row(
                "b@x.com",
                Status::Failed,
                Some(Step::Revoke),
                "HTTP 503 after 5 attempts",
            ),
        ])
        .unwrap();
        // Killed here; the second run resumes.
        log.append(&Entry::Start(Start {
            run_id: "r2".into(),
            started_at: "2026-12-04T10:00:30.000Z".into(),
            report_rows_before: w.rows(),
            chain_before: w.chain_head(),
            ..start
        }))
        .unwrap();
        w.write_rows(&[
            row("b@x.com", Status::Revoked, Some(Step::Revoke), ""),
            row(
                evil,
                Status::Refused,
                Some(Step::Delete),
                "refused, never sent: <b>admin</b>",
            ),
            row(
                "c@x.com",
                Status::Refused,
                Some(Step::Delete),
                "refused, never sent: <b>admin</b>",
            ),
            row(
                "bad/one",
                Status::Invalid,
                None,
                "leavers.csv line 5: contains '/'",
            ),
            row("a@x.com", Status::Deleted, Some(Step::Delete), "deleted"),
        ])
        .unwrap();
        log.append(&Entry::End(End {
            run_id: "r2".into(),
            ended_at: "2026-12-04T10:00:36.000Z".into(),
            exit_code: 1,
            counts: [
                ("revoked", 2),
                ("deleted", 1),
                ("refused", 2),
                ("invalid", 1),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            report_rows: w.rows(),
            chain_head: w.chain_head(),
            timeline: vec![
                [0, 3, 0, 0],
                [1, 0, 0, 2],
                [2, 0, 0, 3],
                [3, 2, 1, 0],
                [4, 1, 0, 0],
                [5, 0, 0, 0],
            ],
            destinations: [("boss@x.com".to_owned(), 1)].into(),
            ..End::default()
        }))
        .unwrap();
        path
    }

    #[test]
    fn the_page_escapes_loads_nothing_and_carries_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let report = sample(dir.path(), name);
            let out = dir.path().join(format!("{name}.html"));
            write(&report, &out).unwrap();
            let page = std::fs::read_to_string(&out).unwrap();
            assert!(!page.contains("<script"), "escaped");
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;@x.com"));
            assert!(page.contains("refused, never sent: &lt;b&gt;admin&lt;/b&gt;"));
            for external in ["http:", "https:", "src=", "href=", "url(", "@import", "//"] {
                assert!(!page.contains(external), "{name}: {external}");
            }
            assert!(page.contains("default-src 'none'"));
            let gathered = gather(&report).unwrap();
            assert_eq!(gathered.runs.len(), 2);
            assert!(gathered.runs[0].end.is_none(), "the killed run");
            assert_eq!(gathered.runs[0].rows_written, 2);
            assert_eq!(gathered.runs[1].rows_written, 5);
            assert_eq!(gathered.verified.as_ref().unwrap().problem, None);
            // b@x.com failed in the first run and was revoked in the second: not listed.
            let listed: Vec<&str> = gathered
                .attention
                .iter()
                .flat_map(|g| g.users.iter().map(|u| u.user.as_str()))
                .collect();
            assert_eq!(
                listed,
                vec!["<script>alert(1)</script>@x.com", "c@x.com", "bad/one"]
            );
            assert_eq!(gathered.attention[0].users.len(), 2, "one refusal group");
            assert!(page.contains("Needs attention (3)"));
            assert!(page.contains("boss@x.com"));
            assert!(page.contains("killed (no end entry)"));
        }
    }

    /// One run of the collector's part: `rows` written in one batch, each taken into `own` as
    /// the collector takes it, between a start and an end entry of the run log.
    fn run_of(w: &mut ReportWriter, log: &mut RunLog, id: &str, rows: &[Row]) -> Attention {
        log.append(&Entry::Start(Start {
            run_id: id.into(),
            started_at: "2026-12-04T10:00:00.000Z".into(),
            report_rows_before: w.rows(),
            chain_before: w.chain_head(),
            ..Start::default()
        }))
        .unwrap();
        let mut own = w.attention();
        w.write_rows(rows).unwrap();
        rows.iter().for_each(|r| own.row(r));
        log.append(&Entry::End(End {
            run_id: id.into(),
            ended_at: "2026-12-04T10:00:09.000Z".into(),
            report_rows: w.rows(),
            chain_head: w.chain_head(),
            ..End::default()
        }))
        .unwrap();
        own
    }

    /// Rows with every kind of attention case: a failure settled later, a write-ahead row
    /// settled by its step, a refusal naming the user, a formula-like name, an invalid row.
    fn mixed(n: usize) -> Vec<Row> {
        let mut rows = Vec::new();
        for i in 0..n {
            let user = format!("u{i}@x.com");
            let status = [Status::Revoked, Status::Failed, Status::NotFound][i % 3];
            let mut r = row(
                &user,
                status,
                Some(Step::Revoke),
                &format!("HTTP 404 for {user}"),
            );
            // A formula the writer quotes, a value that reads back as one, and an empty name.
            r.name = Some(match i % 5 {
                0 => "=cmd".into(),
                2 => "'=cmd".into(),
                _ => String::new(),
            });
            rows.push(r);
        }
        rows.push(row("u1@x.com", Status::Revoked, Some(Step::Revoke), ""));
        rows.push(Row::write_ahead("u0@x.com", Step::Delete, "zid-0"));
        rows.push(row(
            "bad/one",
            Status::Invalid,
            None,
            "in.csv line 5: contains '/'",
        ));
        rows
    }

    fn rendered(page: &Page) -> String {
        render(page).into_string()
    }

    #[test]
    fn the_run_end_page_reads_only_earlier_rows_and_says_what_summary_says() {
        let dir = tempfile::tempdir().unwrap();
        let clean: Vec<Row> = (20..25)
            .map(|i| {
                row(
                    &format!("u{i}@x.com"),
                    Status::Revoked,
                    Some(Step::Revoke),
                    "",
                )
            })
            .collect();
        for name in [
            "fresh.csv",
            "fresh.jsonl",
            "resumed.csv",
            "resumed.jsonl",
            "clean.csv",
            "clean.jsonl",
        ] {
            let path = dir.path().join(name);
            let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Offboard).unwrap();
            let mut log = RunLog::open(&path).unwrap();
            if !name.starts_with("fresh") {
                // An earlier run with failures the second run settles, or leaves; or one whose
                // rows need no attention (the page then takes the second run's list as is).
                let earlier = if name.starts_with("clean") {
                    clean.clone()
                } else {
                    mixed(7)
                };
                run_of(&mut w, &mut log, "r1", &earlier);
                drop(w);
                w = ReportWriter::open(&path, true, ReportKind::Offboard)
                    .unwrap()
                    .0;
            }
            let own = run_of(&mut w, &mut log, "r2", &mixed(11));
            let written = w.written().unwrap();
            drop(w);
            let settled = verify::verify_written(&path, &written, &mut |_| ()).unwrap();
            assert!(
                settled.is_some(),
                "{name}: settled without reading this run's rows"
            );
            let quick = gather_written(&path, &written, own).unwrap();
            let full = gather(&path).unwrap();
            assert_eq!(quick.verified.as_ref().unwrap().problem, None, "{name}");
            assert_eq!(
                quick.verified.as_ref().unwrap(),
                full.verified.as_ref().unwrap()
            );
            assert!(!quick.attention.is_empty(), "{name}");
            assert_eq!(quick.attention, full.attention, "{name}");
            assert_eq!(rendered(&quick), rendered(&full), "{name}");
        }
    }

    #[test]
    fn the_run_end_page_still_shows_a_report_edited_before_the_resume_or_during_the_run() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.jsonl"] {
            let path = dir.path().join(name);
            let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Offboard).unwrap();
            let mut log = RunLog::open(&path).unwrap();
            run_of(&mut w, &mut log, "r1", &mixed(5));
            drop(w);
            // Edited before the resume: one character of the second row, same length.
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replacen("u1@x.com", "u9@x.com", 1)).unwrap();
            let mut w = ReportWriter::open(&path, true, ReportKind::Offboard)
                .unwrap()
                .0;
            let own = run_of(&mut w, &mut log, "r2", &mixed(3));
            let written = w.written().unwrap();
            assert_eq!(
                verify::verify_written(&path, &written, &mut |_| ()).unwrap(),
                None
            );
            let page = gather_written(&path, &written, own).unwrap();
            let problem = page.verified.as_ref().unwrap().problem.clone();
            assert!(problem.is_some(), "{name}: the edit shows");
            assert_eq!(problem, gather(&path).unwrap().verified.unwrap().problem);
            assert!(rendered(&page).contains("does NOT verify"), "{name}");

            // A row appended behind the writer's back during the run: the file is no longer
            // where the writer left it, so the page reads it all.
            let path = dir.path().join(format!("forged.{name}"));
            let (mut w, _) = ReportWriter::open(&path, false, ReportKind::Offboard).unwrap();
            let mut log = RunLog::open(&path).unwrap();
            let own = run_of(&mut w, &mut log, "r1", &mixed(2));
            let written = w.written().unwrap();
            assert!(
                gather_written(&path, &written, w.attention())
                    .unwrap()
                    .verified
                    .unwrap()
                    .problem
                    .is_none()
            );
            drop(w);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b"forged row\n").unwrap();
            let page = gather_written(&path, &written, own).unwrap();
            assert!(
                page.verified.unwrap().problem.is_some(),
                "{name}: the forged row shows"
            );
        }
    }
}
