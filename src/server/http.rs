//! The API's HTTP/1.1 connections, served by hyper directly rather than
//! through `axum::serve`, which sets no timer and so cannot bound how long
//! a client takes to send its request's head.

use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::edge;

/// Serves `router` on `listener` until `stop`, then closes idle
/// connections and lets the requests in progress finish (which
/// the request timeout bounds).
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    stop: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Above the API's own limits (answered as problems by
        // `api::edge`), so that only requests far past them get hyper's
        // bodiless 431.
        .max_headers(edge::MAX_HEADERS * 2)
        .max_header_size(edge::MAX_URI_BYTES + edge::MAX_HEADER_BYTES * 2);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set on an API connection");
        }
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Header timeouts, resets and parse errors: the client's doing.
                tracing::debug!(%error, "API connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
