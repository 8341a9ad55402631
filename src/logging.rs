//! Logging and the progress bar on stderr, arranged so that log lines never tear the bar.
//!
//! Every log line is written through [`BarWriter`], which hides the active progress bar (if any)
//! while the line is printed (`ProgressBar::suspend`). The bar is registered with [`set_bar`] by
//! the collector that owns it.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;
use crate::config::LogSettings;

static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Registers (or, with `None`, removes) the progress bar that log lines must not tear.
pub fn set_bar(bar: Option<ProgressBar>) {
    let mut b = crate::sync::lock(&BAR);
    *b = bar;
}

/// Prints a line on stderr without tearing the progress bar.
pub fn eprint_line(line: &str) {
    let bar = crate::sync::lock(&BAR).clone();
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    };
    match bar {
        Some(b) => b.suspend(write),
        None => write(),
    }
}

/// A log line buffered until the event is complete, then written around the bar.
pub struct BarWriter {
    buf: Vec<u8>,
}

impl Write for BarWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let bar = crate::sync::lock(&BAR).clone();
        let buf = std::mem::take(&mut self.buf);
        let write = move || {
            let _ = std::io::stderr().lock().write_all(&buf);
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }
}

/// Makes a [`BarWriter`] per event.
#[derive(Clone, Copy, Default)]
pub struct MakeBarWriter;

impl<'a> MakeWriter<'a> for MakeBarWriter {
    type Writer = BarWriter;

    fn make_writer(&'a self) -> Self::Writer {
        BarWriter { buf: Vec::new() }
    }
}

/// Installs the global subscriber: level from -v/-q (RUST_LOG overrides), text or JSON lines.
pub fn init(log: &LogSettings) {
    let default = if log.quiet {
        "error"
    } else {
        match log.verbose {
            0 => "warn,zoom_offboard=info",
            1 => "warn,zoom_offboard=debug",
            _ => "info,zoom_offboard=trace",
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MakeBarWriter)
        .with_target(false);
    let _ = match log.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).compact().try_init(),
    };
}
