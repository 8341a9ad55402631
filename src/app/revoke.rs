//! `zoom-offboard revoke`: input → report → confirmation → run (or dry-run lookups) → summary.

use super::*;

/// `zoom-offboard revoke` (and its dry run).
pub async fn revoke(settings: Settings, ctx: &Context) -> Exit {
    let started = Instant::now();
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }

    // 1. Input: read and validate everything before any request.
    let mut sources: Vec<InputSource> = settings
        .inputs
        .iter()
        .map(|p| InputSource::from_arg(p))
        .collect();
    if sources.is_empty() && settings.users.is_empty() {
        if ctx.stdin_is_terminal {
            return usage(
                "no users given: pass INPUT files, --user ID, or pipe a list on stdin \
                 (stdin is a terminal)",
            );
        }
        sources.push(InputSource::Stdin);
    }
    let opts = InputOptions {
        column: settings.column.clone(),
        ..InputOptions::default()
    };
    let batch = {
        let mut stdin = std::io::stdin().lock();
        match input::load(
            &sources,
            &settings.users,
            settings.exclude.as_deref(),
            &opts,
            &mut stdin,
        ) {
            Ok(b) => b,
            Err(e) => return usage(&e.to_string()),
        }
    };

    // 2. Credentials must exist for a real run.
    if !settings.dry_run && settings.credentials.is_none() {
        return usage(
            "no credentials: set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET \
             (Server-to-Server OAuth), or ZOOM_ACCESS_TOKEN; or use --dry-run to validate only",
        );
    }
    // 3. Confirmation needs a terminal (checked before anything is written).
    if !settings.dry_run && !settings.yes && ctx.confirm.is_none() {
        return usage(
            "refusing to log users out without confirmation: there is no terminal to ask on. \
             Pass --yes to run unattended (check the plan first with --dry-run)",
        );
    }

    // 4. The report, opened before the first request (fail fast).
    let (writer, resume) = match ReportWriter::open(&settings.report, settings.resume) {
        Ok(x) => x,
        Err(e) => return usage(&e.to_string()),
    };
    let plan = WorkPlan::build(&batch, resume.as_ref(), settings.dry_run);
    if settings.resume {
        tracing::info!(
            already_done = plan.already_done,
            to_do = plan.todo.len(),
            "resuming {}",
            settings.report.display()
        );
    }

    if !settings.dry_run && !settings.yes && !plan.todo.is_empty() {
        let prompt = confirmation_text(&plan, &settings);
        let asked = ctx
            .confirm
            .as_ref()
            .is_some_and(|c| c(&prompt, plan.todo.len() as u64));
        if !asked {
            drop(writer);
            if resume.as_ref().is_none_or(|r| r.is_empty()) {
                let _ = std::fs::remove_file(&settings.report);
            }
            return usage("not confirmed: nothing was done");
        }
    }

    // 5. Collector: owns the report file and the progress bar.
    let total = plan.todo.len() as u64 + plan.prewritten.len() as u64;
    let bar = progress_bar(&settings.log, ctx.progress_terminal, total);
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel::<Row>(1024);
    let json_logs = settings.log.format == crate::cli::LogFormat::Json;
    let run_id = run_id();
    let span = tracing::info_span!("run", run_id = %run_id);
    let collector = tokio::spawn(
        collect(writer, rx, bar.clone(), stats.clone(), json_logs).instrument(span.clone()),
    );
    for row in plan.prewritten.iter().cloned() {
        if tx.send(row).await.is_err() {
            break;
        }
    }

    let mut stop: Option<StopReason> = None;
    let mut first_call_stop = false;
    let mut requests_rate = settings.rate;

    if !plan.todo.is_empty() {
        match (&settings.credentials, settings.dry_run) {
            (None, _) => {
                // Only a dry run gets here without credentials (checked above).
                for u in &plan.todo {
                    let mut row = Row::new(u.as_str(), Status::WouldRevoke);
                    row.message = "validated only: no credentials, so not looked up".into();
                    if tx.send(row).await.is_err() {
                        break;
                    }
                }
            }
            (Some(creds), dry) => {
                let mode = if dry { Mode::Lookup } else { Mode::Revoke };
                match connect(&settings, creds).await {
                    Err(msg) => {
                        // Nothing was done: leave no report behind (unless resuming one), so
                        // the same command works once the credentials are fixed.
                        drop(tx);
                        let _ = collector.await;
                        if let Some(b) = &bar {
                            b.finish_and_clear();
                        }
                        logging::set_bar(None);
                        discard_fresh_report(&settings);
                        return usage(&msg);
                    }
                    Ok(client) => {
                        let pacer = match Pacer::new(settings.rate) {
                            Ok(p) => Arc::new(p),
                            Err(e) => return usage(&e.to_string()),
                        };
                        requests_rate = pacer.max_rate();
                        let strategy = if dry {
                            pick_lookup(&settings, &client, plan.todo.len()).await
                        } else {
                            None
                        };
                        if let Some(medium) = strategy {
                            match crate::dryrun::by_listing(
                                &client,
                                &medium,
                                &plan.todo,
                                settings.max_retries,
                                &tx,
                                &ctx.cancel,
                            )
                            .instrument(span.clone())
                            .await
                            {
                                Ok(pages) => {
                                    stats.requests.fetch_add(pages, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    stop = Some(match e {
                                        crate::users::ListError::Interrupted => {
                                            StopReason::Interrupted
                                        }
                                        other => StopReason::Credentials(other.to_string()),
                                    });
                                    for u in &plan.todo {
                                        let mut row = Row::new(u.as_str(), Status::Pending);
                                        row.message = "not looked up: the listing stopped".into();
                                        let _ = tx.send(row).await;
                                    }
                                }
                            }
                        } else {
                            let opts =
                                RunOptions::new(mode, settings.concurrency, settings.max_retries);
                            let res = run::execute(
                                plan.todo.clone(),
                                client,
                                pacer.clone(),
                                opts,
                                stats.clone(),
                                tx.clone(),
                                ctx.cancel.clone(),
                            )
                            .instrument(span.clone())
                            .await;
                            stop = res.stop;
                            first_call_stop = res.stopped_on_first_call;
                        }
                    }
                }
            }
        }
    }
    drop(tx);
    let collected = match collector.await {
        Ok(c) => c,
        Err(e) => {
            logging::set_bar(None);
            logging::eprint_line(&format!("zoom-offboard: error: report writer failed: {e}"));
            return Exit::Stopped;
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    logging::set_bar(None);
    if let Some(err) = &collected.error {
        stop.get_or_insert(StopReason::Report(err.clone()));
    }

    // 6. Summary and exit code over every user's final state (resumed users included).
    let mut final_counts = collected.counts.clone();
    for (k, v) in &plan.done_counts {
        *final_counts.entry(*k).or_default() += v;
    }
    let summary = Summary {
        counts: collected.counts.clone(),
        wall: started.elapsed(),
        requests: stats.requests.load(Ordering::Relaxed),
        target_rate: requests_rate,
        throttled: stats.throttled.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        duplicates: batch.duplicates,
        report_path: settings.report.clone(),
        dry_run: settings.dry_run,
        stop_reason: stop.as_ref().map(|s| s.to_string()),
    };
    if !settings.log.quiet {
        let mut text = summary.render();
        if plan.already_done > 0 {
            text.push_str(&format!(
                "\n  resumed: {} users were already done in earlier runs",
                plan.already_done
            ));
        }
        if settings.dry_run {
            text.push_str(&dry_run_estimate(&plan, &settings));
        }
        logging::eprint_line(&text);
    }
    if let Some(reason) = &stop {
        if first_call_stop {
            discard_fresh_report(&settings);
            logging::eprint_line(&format!(
                "zoom-offboard: stopped on the first call, nothing was done: {reason}"
            ));
            return Exit::Usage;
        }
        logging::eprint_line(&format!(
            "zoom-offboard: stopped: {reason}. Users not finished are `pending` in {}; \
             continue with the same command plus --resume --report {}",
            settings.report.display(),
            settings.report.display()
        ));
        return Exit::Stopped;
    }
    Exit::from_counts(&final_counts)
}

/// Removes the report of a run that did nothing (exit 2), unless it was a resumed report.
fn discard_fresh_report(settings: &Settings) {
    if !settings.resume {
        let _ = std::fs::remove_file(&settings.report);
    }
}

/// For a dry run, decides how to look users up. `Some(medium pacer)` means: by listing.
async fn pick_lookup(settings: &Settings, client: &ZoomClient, users: usize) -> Option<Pacer> {
    use crate::dryrun::Lookup;
    let medium_rate = f64::from(settings.plan.per_second(crate::plan::Label::Medium)) * 0.8;
    let medium = Pacer::new(medium_rate).ok()?;
    let chosen = match settings.lookup {
        Lookup::Each => Lookup::Each,
        Lookup::List => Lookup::List,
        Lookup::Auto => {
            let (pick, est) = crate::dryrun::choose(client, &medium, users, settings.rate).await;
            tracing::info!(
                each_secs = est.each_secs,
                list_secs = ?est.list_secs,
                "dry run: looking users up {}",
                if pick == Lookup::List { "by listing the account" } else { "one by one" }
            );
            pick
        }
    };
    (chosen == Lookup::List).then_some(medium)
}

/// What this invocation has to do, after input and resume state are known.
struct WorkPlan {
    /// Users to request, in order.
    todo: Vec<input::UserId>,
    /// Rows known without any request (invalid, excluded), not already in the report.
    prewritten: Vec<Row>,
    /// Users skipped because the report already has them done.
    already_done: usize,
    /// Final statuses of those skipped users, for the exit code.
    done_counts: BTreeMap<Status, u64>,
    /// For the confirmation and the dry-run plan.
    excluded: usize,
    invalid: usize,
}

impl WorkPlan {
    /// `failed` users are retried on resume (a failure is usually why one resumes, and a
    /// revoke is harmless to repeat). A real run resuming a dry run's report must not take
    /// `would_revoke` for done: that user is still logged in.
    fn build(batch: &Batch, resume: Option<&ResumeState>, dry_run: bool) -> WorkPlan {
        let mut done_counts = BTreeMap::new();
        let mut already_done = 0;
        let mut done = |key: &str| -> bool {
            match resume.and_then(|r| r.last(key)) {
                Some(row)
                    if row.status.is_terminal()
                        && row.status != Status::Failed
                        && (dry_run || row.status != Status::WouldRevoke) =>
                {
                    *done_counts.entry(row.status).or_insert(0) += 1;
                    already_done += 1;
                    true
                }
                _ => false,
            }
        };
        let mut prewritten = Vec::new();
        for inv in &batch.invalid {
            if done(&input::dedupe_key(&inv.raw)) {
                continue;
            }
            let mut row = Row::new(inv.raw.clone(), Status::Invalid);
            row.message = format!(
                "{} line {}: {} (never sent)",
                inv.origin.file, inv.origin.line, inv.reason
            );
            prewritten.push(row);
        }
        for u in &batch.excluded {
            if done(&u.key()) {
                continue;
            }
            let mut row = Row::new(u.as_str(), Status::Excluded);
            row.message = "in the --exclude list: never touched".into();
            prewritten.push(row);
        }
        let todo: Vec<_> = batch
            .users
            .iter()
            .filter(|u| !done(&u.key()))
            .cloned()
            .collect();
        WorkPlan {
            todo,
            prewritten,
            already_done,
            done_counts,
            excluded: batch.excluded.len(),
            invalid: batch.invalid.len(),
        }
    }
}

fn confirmation_text(plan: &WorkPlan, settings: &Settings) -> String {
    let sample: Vec<&str> = plan.todo.iter().take(5).map(|u| u.as_str()).collect();
    let more = plan.todo.len().saturating_sub(sample.len());
    let secs = plan.todo.len() as f64 / settings.rate;
    format!(
        "About to log {} users out of Zoom ({} excluded, {} invalid and skipped), at {:.1} \
         requests/s (about {}):\n  {}{}\nReport: {}\nType the number of users ({}) to go on: ",
        plan.todo.len(),
        plan.excluded,
        plan.invalid,
        settings.rate,
        humantime::format_duration(Duration::from_secs(secs.ceil() as u64)),
        sample.join("\n  "),
        if more > 0 {
            format!("\n  ... and {more} more")
        } else {
            String::new()
        },
        settings.report.display(),
        plan.todo.len()
    )
}

fn dry_run_estimate(plan: &WorkPlan, settings: &Settings) -> String {
    let secs = plan.todo.len() as f64 / settings.rate;
    format!(
        "\n  dry run: no write request was sent. A real run would request {} users at {:.1}/s: \
         about {}.{}",
        plan.todo.len(),
        settings.rate,
        humantime::format_duration(Duration::from_secs(secs.ceil() as u64)),
        if settings.credentials.is_none() {
            " Without credentials, users were validated but not looked up."
        } else {
            ""
        }
    )
}

fn progress_bar(log: &LogSettings, terminal: bool, total: u64) -> Option<ProgressBar> {
    if !log.progress || !terminal || log.quiet {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} users  {per_sec}  ETA {eta}  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    logging::set_bar(Some(bar.clone()));
    Some(bar)
}

/// What the collector hands back.
struct Collected {
    counts: BTreeMap<Status, u64>,
    error: Option<String>,
}

/// Rows the collector writes with one flush at most (the row channel's capacity).
const COLLECT_BATCH: usize = 1024;

/// The single owner of the report file and the bar: writes rows as they arrive, whatever is
/// waiting in the channel at once with one flush (a row per `write(2)` and a wake-up per row
/// made a million-row dry run take three times as long).
async fn collect(
    mut writer: ReportWriter,
    mut rx: mpsc::Receiver<Row>,
    bar: Option<ProgressBar>,
    stats: Arc<Stats>,
    json_logs: bool,
) -> Collected {
    let mut counts = BTreeMap::new();
    let mut error = None;
    let mut batch = Vec::with_capacity(COLLECT_BATCH);
    while rx.recv_many(&mut batch, COLLECT_BATCH).await > 0 {
        if let Err(e) = writer.write_rows(&batch) {
            error = Some(e.to_string());
            tracing::error!("cannot write the report: {e}");
            rx.close();
            // Count the rest so nothing is silently lost from the summary.
            for row in &batch {
                *counts.entry(row.status).or_insert(0) += 1;
            }
            while let Some(r) = rx.recv().await {
                *counts.entry(r.status).or_insert(0) += 1;
            }
            break;
        }
        let finished = batch.len() as u64;
        for row in batch.drain(..) {
            if json_logs {
                tracing::info!(user = %row.user, status = %row.status, http_status = row.http_status,
                    error_code = row.error_code, tracking_id = row.tracking_id.as_deref(),
                    attempts = row.attempts, "user finished");
            } else {
                tracing::debug!(user = %row.user, status = %row.status, "{}", row.message);
            }
            *counts.entry(row.status).or_insert(0) += 1;
        }
        if let Some(b) = &bar {
            b.inc(finished);
            b.set_message(format!(
                "429s: {}  retries: {}",
                stats.throttled.load(Ordering::Relaxed),
                stats.retries.load(Ordering::Relaxed)
            ));
        }
    }
    if let Err(e) = writer.sync() {
        error.get_or_insert(e.to_string());
    }
    Collected { counts, error }
}

fn run_id() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{}-{n:08x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}
