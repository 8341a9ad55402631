//! The one way the tests run the real `zoom-offboard` binary.
//!
//! Every run is hermetic and bounded, whatever the caller's shell holds:
//! - the environment is cleared: only `ZOOM_OFFBOARD_NO_TTY=1` (no terminal to confirm on) and
//!   what the test passes reach the binary, so a developer's `ZOOM_ACCESS_TOKEN`, `ZOOM_*`
//!   credentials or `RUST_LOG` cannot change what is tested (the binary needs neither `PATH` nor
//!   `HOME`);
//! - it runs in a fresh empty folder unless the test names one, so a `zoom-offboard.toml` in the
//!   repository (the default config path is relative) cannot be picked up;
//! - stdin is closed unless the test gives bytes for it;
//! - stdout and stderr are collected as the run goes, and a run that outlives its limit is
//!   killed and fails the test with everything it printed so far.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How long a run may take unless the test sets [`Bin::limit`]: far above any test's need, so
/// it only ever ends a hang.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// What one run of the binary left behind.
#[derive(Debug)]
pub struct BinRun {
    /// Exit code (`None`: ended by a signal).
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl BinRun {
    /// Fails the test if the process panicked or died by a signal.
    pub fn assert_clean(&self) {
        assert!(self.code.is_some(), "killed by a signal: {self:?}");
        assert_ne!(self.code, Some(101), "panicked: {}", self.stderr);
        assert!(
            !self.stderr.contains("panicked"),
            "panicked: {}",
            self.stderr
        );
    }
}

/// A command line for the binary, built up by the test, then [`Bin::run`] or [`Bin::spawn`].
#[must_use]
pub struct Bin {
    cmd: tokio::process::Command,
    /// The arguments as text, for failure messages.
    shown: Vec<String>,
    stdin: Option<Vec<u8>>,
    cwd: Option<PathBuf>,
    limit: Duration,
}

impl Default for Bin {
    fn default() -> Self {
        Bin::new()
    }
}

impl Bin {
    /// The binary with no arguments, a cleared environment and the default limit.
    pub fn new() -> Bin {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zoom-offboard"));
        cmd.env_clear()
            .env("ZOOM_OFFBOARD_NO_TTY", "1")
            .kill_on_drop(true);
        Bin {
            cmd,
            shown: Vec::new(),
            stdin: None,
            cwd: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Bin {
        self.shown.push(a.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(a);
        self
    }

    /// Adds arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Bin {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Sets one environment variable (on top of the cleared environment).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Bin {
        self.cmd.env(key, value);
        self
    }

    /// Sets environment variables (on top of the cleared environment).
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(mut self, vars: &[(K, V)]) -> Bin {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    /// Removes a variable set earlier (e.g. by a helper that built most of the command line).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Bin {
        self.cmd.env_remove(key);
        self
    }

    /// Gives the binary these bytes on stdin (then end of file) instead of a closed stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Bin {
        self.stdin = Some(bytes.into());
        self
    }

    /// Runs in `dir` instead of a fresh empty folder.
    pub fn current_dir(mut self, dir: &Path) -> Bin {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Limits the size of any file the binary writes to `bytes` (RLIMIT_FSIZE), with SIGXFSZ
    /// ignored, so a write past it fails with EFBIG: a full disk, for this process only.
    pub fn file_size_limit(mut self, bytes: u64) -> Bin {
        let limit = bytes as libc::rlim_t;
        // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal), no
        // allocation. SIG_IGN is kept across exec.
        unsafe {
            self.cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        self
    }

    /// Kills the run, and fails the test, after `limit` instead of [`DEFAULT_LIMIT`].
    pub fn limit(mut self, limit: Duration) -> Bin {
        self.limit = limit;
        self
    }

    /// Starts the binary; the test may watch its output, signal it, and then wait for it.
    pub fn spawn(mut self) -> Running {
        let scratch = match &self.cwd {
            Some(dir) => {
                self.cmd.current_dir(dir);
                None
            }
            None => {
                let dir = tempfile::tempdir().expect("a scratch folder for the binary");
                self.cmd.current_dir(dir.path());
                Some(dir)
            }
        };
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        self.cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = self.shown.join(" ");
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn zoom-offboard {shown}: {e}"));
        if let (Some(bytes), Some(mut pipe)) = (self.stdin.take(), child.stdin.take()) {
            tokio::spawn(async move {
                // The binary may exit without reading it all: a broken pipe is fine.
                let _ = pipe.write_all(&bytes).await;
            });
        }
        let changed = Arc::new(Notify::new());
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take(), stdout.clone(), changed.clone()),
            collect(child.stderr.take(), stderr.clone(), changed.clone()),
        ];
        Running {
            child,
            stdout,
            stderr,
            changed,
            readers,
            started: Instant::now(),
            limit: self.limit,
            shown,
            _scratch: scratch,
        }
    }

    /// Runs the binary to its end (bounded by the limit) and returns what it left behind.
    pub async fn run(self) -> BinRun {
        self.spawn().wait().await
    }
}

/// Copies everything `pipe` yields into `into`, waking `changed` after each chunk.
fn collect(
    pipe: Option<impl AsyncRead + Unpin + Send + 'static>,
    into: Arc<Mutex<Vec<u8>>>,
    changed: Arc<Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut pipe) = pipe else { return };
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
            changed.notify_waiters();
        }
        changed.notify_waiters();
    })
}

/// A running binary. Dropping it kills the process.
pub struct Running {
    child: tokio::process::Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Woken whenever output arrives or a pipe closes.
    changed: Arc<Notify>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    limit: Duration,
    shown: String,
    /// The empty folder it runs in, removed after the process is gone.
    _scratch: Option<tempfile::TempDir>,
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the binary is still running")
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid this test spawned and has not yet reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Everything on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Everything on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until stdout contains `needle`; fails the test if the run ends first or the limit
    /// passes.
    pub async fn until_stdout(&mut self, needle: &str) {
        let deadline = tokio::time::Instant::from_std(self.started + self.limit);
        loop {
            let changed = self.changed.clone();
            let woken = changed.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.stdout_so_far().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("ended ({status}) before printing {needle:?}"));
            }
            tokio::select! {
                _ = woken => {}
                // The process may exit without a last chunk of output: look again now and then.
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    self.fail(&format!("did not print {needle:?} within {:?}", self.limit));
                }
            }
        }
    }

    /// Waits for the process to end (killing it and failing the test after the limit).
    pub async fn wait(mut self) -> BinRun {
        let left = self.limit.saturating_sub(self.started.elapsed());
        let status = match tokio::time::timeout(left, self.child.wait()).await {
            Ok(status) => status.expect("wait for zoom-offboard"),
            Err(_) => {
                let _ = self.child.kill().await;
                self.fail(&format!("hung for more than {:?}: killed", self.limit));
            }
        };
        self.finish(status.code()).await
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(mut self) -> BinRun {
        self.child.start_kill().expect("SIGKILL the binary");
        self.wait().await
    }

    async fn finish(mut self, code: Option<i32>) -> BinRun {
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
        BinRun {
            code,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
            elapsed: self.started.elapsed(),
        }
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "zoom-offboard {} {why}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.shown,
            self.stdout_so_far(),
            self.stderr_so_far()
        );
    }
}
