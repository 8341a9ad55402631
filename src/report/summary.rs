//! The end-of-run summary on stderr: what happened, how fast, and where the details are.
//!
//! It answers the operator's three questions in order: did it work (counts per status), did it
//! run at the rate I asked for (achieved vs target, 429s, retries), and what now (the report path,
//! and for a run that stopped early, the exact resume command).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::Status;

/// Run summary printed on stderr at the end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Users per final status in this run (a status with no users may be absent).
    pub counts: BTreeMap<Status, u64>,
    /// Wall time of the run, from the command's start (reading the input, opening the report)
    /// to the last row written.
    pub wall: Duration,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// `--rate`: requests per second the run aimed at.
    pub target_rate: f64,
    /// 429 responses received.
    pub throttled: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// Input lines dropped as duplicates.
    pub duplicates: u64,
    /// Where the rows are.
    pub report_path: PathBuf,
    /// A dry run: nothing was revoked, whatever the counts say.
    pub dry_run: bool,
    /// Why the run stopped early, if it did (daily limit, credentials, Ctrl-C).
    pub stop_reason: Option<String>,
    /// What one count is, for the total's label: `users` (the default, for `revoke`), or
    /// `user steps` for `offboard`, whose rows are one per user per step.
    pub unit: &'static str,
    /// The chain of the report's last row: the `chain head` line, to paste into the ticket.
    pub chain_head: Option<String>,
    /// Where the HTML summary was written.
    pub page: Option<PathBuf>,
}

impl Summary {
    /// Adds one user with `status` to the counts.
    pub fn count(&mut self, status: Status) {
        *self.counts.entry(status).or_default() += 1;
    }

    /// Requests per second over the wall time (0 for an instant run).
    pub fn achieved_rate(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// A few aligned lines, ending with a newline.
    pub fn render(&self) -> String {
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| lines.push((k.to_owned(), v));
        for st in Status::ALL {
            match self.counts.get(&st) {
                Some(&n) if n > 0 => add(st.as_str(), n.to_string()),
                _ => {}
            }
        }
        let unit = if self.unit.is_empty() {
            "users"
        } else {
            self.unit
        };
        add(unit, self.counts.values().sum::<u64>().to_string());
        if self.duplicates > 0 {
            add(
                "duplicates",
                format!("{} (input lines dropped)", self.duplicates),
            );
        }
        add("wall time", human(self.wall));
        add(
            "requests",
            format!(
                "{} at {:.1}/s (target {:.1}/s)",
                self.requests,
                self.achieved_rate(),
                self.target_rate
            ),
        );
        add(
            "throttled",
            format!("{} (HTTP 429), {} retries", self.throttled, self.retries),
        );
        add("report", self.report_path.display().to_string());
        if let Some(head) = &self.chain_head {
            add("chain head", head.clone());
        }
        if let Some(page) = &self.page {
            add("summary page", page.display().to_string());
        }
        if let Some(reason) = &self.stop_reason {
            add("stopped", reason.clone());
            add(
                "",
                format!(
                    "resume with --resume --report {}",
                    shell_quote(&self.report_path.display().to_string())
                ),
            );
        }
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        if self.dry_run {
            out.push_str("dry run: nothing was changed in Zoom\n");
        }
        for (k, v) in lines {
            let _ = writeln!(out, "{k:<width$}  {v}");
        }
        out
    }
}

/// `12.3s`, `4m05s`, `1h02m03s`: short, and exact enough for a run summary.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// Quotes a path for a POSIX shell when it needs it, so the resume hint can be pasted as is.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let mut s = Summary {
            wall: Duration::from_millis(12_340),
            requests: 1234,
            target_rate: 100.0,
            throttled: 2,
            retries: 5,
            duplicates: 3,
            report_path: PathBuf::from("out/report.csv"),
            ..Summary::default()
        };
        for _ in 0..1200 {
            s.count(Status::Revoked);
        }
        s.count(Status::NotFound);
        s.count(Status::Invalid);
        s
    }

    #[test]
    fn render_has_counts_rate_and_path() {
        let text = summary().render();
        assert!(text.contains("revoked     1200\n"), "{text}");
        assert!(text.contains("not_found   1\n"), "{text}");
        assert!(text.contains("users       1202\n"), "{text}");
        assert!(!text.contains("failed"), "zero counts are left out: {text}");
        assert!(text.contains("wall time   12.3s"), "{text}");
        assert!(text.contains("1234 at 100.0/s (target 100.0/s)"), "{text}");
        assert!(text.contains("2 (HTTP 429), 5 retries"), "{text}");
        assert!(text.contains("report      out/report.csv"), "{text}");
        assert!(!text.contains("resume"), "{text}");
        assert!(!text.contains("dry run"), "{text}");
    }

    #[test]
    fn render_stopped_run_says_how_to_resume() {
        let mut s = summary();
        s.report_path = PathBuf::from("my report.csv");
        s.stop_reason =
            Some("daily limit reached; Zoom allows more after 2026-11-29T00:00:00Z".into());
        s.dry_run = true;
        let text = s.render();
        assert!(text.starts_with("dry run"), "{text}");
        assert!(text.contains("stopped     daily limit reached"), "{text}");
        assert!(
            text.contains("resume with --resume --report 'my report.csv'"),
            "{text}"
        );
    }

    #[test]
    fn achieved_rate_and_durations() {
        assert!((summary().achieved_rate() - 1234.0 / 12.34).abs() < 1e-9);
        assert_eq!(Summary::default().achieved_rate(), 0.0);
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3723)), "1h02m03s");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
