//! Connection handling: our own accept loop over hyper's HTTP/1 connections.
//!
//! axum's `serve` cannot close a connection without answering, and the drop fault needs exactly
//! that. So each connection is served by hyper directly, raced against a per-connection
//! cancellation token the handler can trigger: dropping the connection future closes the socket
//! with no response bytes. The same race against the simulator's shutdown token ends stalled and
//! keep-alive connections promptly when the simulator stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::sim::{Shared, routes};

/// Accepts connections until the simulator shuts down.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, shared.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "sim: accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Serves one connection until the client closes it, a drop fault kills it, or shutdown.
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let kill = CancellationToken::new();
    let svc = {
        let (shared, kill) = (shared.clone(), kill.clone());
        service_fn(move |req| {
            let (shared, kill) = (shared.clone(), kill.clone());
            async move { Ok::<_, Infallible>(routes::handle(shared, req, kill).await) }
        })
    };
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        res = conn => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "sim: connection ended with an error");
            }
        }
        _ = kill.cancelled() => {}
        _ = shared.shutdown.cancelled() => {}
    }
}
