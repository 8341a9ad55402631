//! Helpers for the security tests: a tiny raw HTTP/1.1 server whose every answer a test scripts
//! (including answers no real server would give), and random secrets. The binary itself is run
//! through [`crate::common::bin::Bin`], like everywhere else.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A random secret-looking string with a recognisable prefix, so a leak is unmistakable.
pub fn random_secret(prefix: &str) -> String {
    let n: u128 = rand::rng().random();
    format!("{prefix}{n:032x}")
}

/// Asserts that none of `secrets` occurs in `haystack` (named `what` in the failure).
pub fn assert_absent(what: &str, haystack: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !haystack.contains(s),
            "{what} contains a secret ({s}):\n{haystack}"
        );
    }
}

/// One request as the raw server parsed it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// e.g. `DELETE`.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl RawRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the raw server answers one request. Each connection serves one request, then closes.
#[derive(Clone, Debug)]
pub enum Reply {
    /// These bytes exactly (status line, headers, body), then close.
    Raw(Vec<u8>),
    /// `head` (status line and headers, ending in a blank line), then `body_byte` repeated,
    /// streamed lazily up to `total` bytes or until the client goes away.
    Endless { head: String, total: u64 },
    /// `head` (possibly empty), then nothing: the connection stays open until the test ends.
    Stall { head: Vec<u8> },
    /// A chunked body that sends one byte every 50 ms, forever.
    Trickle,
    /// Close at once, without a byte.
    Close,
}

impl Reply {
    /// A complete answer with a status, extra header lines and a body.
    pub fn status(status: u16, reason: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut s = format!("HTTP/1.1 {status} {reason}\r\n");
        for (k, v) in headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ));
        Reply::Raw(s.into_bytes())
    }

    /// `204 No Content`: a successful revoke.
    pub fn revoked() -> Reply {
        Reply::Raw(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec())
    }
}

/// The scripted handler: request in, reply out.
pub type Handler = Arc<dyn Fn(&RawRequest) -> Reply + Send + Sync>;

/// A raw HTTP/1.1 server on a loopback address.
pub struct RawServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<RawRequest>>>,
    /// Connections accepted (whether or not a request could be read).
    pub connections: Arc<AtomicU64>,
    /// Body bytes written by the largest `Endless` reply so far.
    pub max_streamed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    /// Starts on `ip` (e.g. `127.0.0.1`, or `127.0.0.2` for "another host") with a free port.
    pub async fn start(ip: &str, handler: Handler) -> RawServer {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind raw server");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicU64::new(0));
        let max_streamed = Arc::new(AtomicU64::new(0));
        let (r, c, m) = (requests.clone(), connections.clone(), max_streamed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::Relaxed);
                let (handler, r, m) = (handler.clone(), r.clone(), m.clone());
                tokio::spawn(async move {
                    serve(sock, handler, r, m).await;
                });
            }
        });
        RawServer {
            addr,
            requests,
            connections,
            max_streamed,
            task,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the requests so far.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<RawRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(RawRequest {
        method,
        target,
        headers,
    })
}

async fn serve(
    mut sock: TcpStream,
    handler: Handler,
    log: Arc<Mutex<Vec<RawRequest>>>,
    max_streamed: Arc<AtomicU64>,
) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let reply = handler(&req);
    log.lock().unwrap().push(req);
    match reply {
        Reply::Raw(bytes) => {
            let _ = sock.write_all(&bytes).await;
            let _ = sock.shutdown().await;
        }
        Reply::Close => {}
        Reply::Endless { head, total } => {
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![b'0'; 64 * 1024];
            let mut sent = 0u64;
            while sent < total {
                let n = (total - sent).min(block.len() as u64) as usize;
                if sock.write_all(&block[..n]).await.is_err() {
                    break;
                }
                sent += n as u64;
                max_streamed.fetch_max(sent, Ordering::Relaxed);
            }
        }
        Reply::Stall { head } => {
            let _ = sock.write_all(&head).await;
            // Hold the connection open; the test's runtime ends it.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Reply::Trickle => {
            let head = b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n";
            if sock.write_all(head).await.is_err() {
                return;
            }
            loop {
                if sock.write_all(b"1\r\nx\r\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads a whole file as text ("" when it does not exist).
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
