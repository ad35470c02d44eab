//! Serving HTTP on a port that clients reach, with the limits such a port needs and `axum::serve`
//! does not set: a deadline for a request's headers (which also closes idle keep-alive
//! connections), a cap on open connections, and a bounded drain at shutdown, so slow or idle
//! clients can neither exhaust the process nor keep it from stopping. With `ServerTls` the port
//! speaks HTTPS, the handshake held to the same deadline as the headers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::tls::ServerTls;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection that has not sent a request's complete headers within this is closed: the
    /// first request's, and the next one's on an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Connections accepted past this many open ones are closed at once.
    pub max_connections: usize,
    /// How long requests in flight may finish after `shutdown`, before the rest are cut.
    pub drain: Duration,
}

/// Binds `addr`; the error names the variables that set it (e.g. "API_HOST, API_PORT").
pub async fn bind(addr: SocketAddr, vars: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({vars}): {e}"))
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` resolves, then
/// drains within `limits.drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()>,
) {
    // HTTP/1.1 only: detecting HTTP/2 reads the first bytes before any header timer runs, so a
    // client that sends nothing would never be cut off.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Each connection is told to finish at shutdown (hyper's graceful shutdown: the request in
    // flight is answered, keep-alive ends); the drain waits until every slot is given back.
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                max = limits.max_connections,
                "connection refused: too many open"
            );
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let handshake_within = limits.header_read_timeout;
        let stop = stop_seen.clone();
        // Each branch's connection is boxed at its own size: inline, every plain connection's
        // task would be as large as a TLS one's, for as long as a push stream stays open.
        tokio::spawn(async move {
            let ended = match acceptor {
                None => Box::pin(serve_one(&builder, TokioIo::new(stream), service, stop)).await,
                Some(acceptor) => {
                    let handshake = (acceptor, stream, handshake_within);
                    Box::pin(serve_tls(&builder, handshake, service, stop)).await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(drain = ?limits.drain, "connections still open after the drain; closing them");
    }
}

/// `serve_one` behind a TLS handshake that must finish within `within`.
async fn serve_tls(
    builder: &http1::Builder,
    (acceptor, stream, within): (tokio_rustls::TlsAcceptor, tokio::net::TcpStream, Duration),
    service: TowerToHyperService<Router>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> hyper::Result<()> {
    match tokio::time::timeout(within, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_one(builder, TokioIo::new(stream), service, stop).await,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            Ok(())
        }
        Err(_) => {
            tracing::debug!("TLS handshake not done within the header deadline");
            Ok(())
        }
    }
}

/// Serves one connection, upgrades (WebSocket) included, until it ends; once `stop` turns true
/// it finishes the request in flight and closes. An upgraded connection leaves hyper when it
/// upgrades: what runs on it ends by its own means (the API's push hub).
async fn serve_one<I>(
    builder: &http1::Builder,
    io: I,
    service: TowerToHyperService<Router>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> hyper::Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        ended = connection.as_mut() => return ended,
        _ = stop.wait_for(|s| *s) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}
