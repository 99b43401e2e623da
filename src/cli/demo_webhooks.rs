//! The demo's webhook receiver: a local HTTP endpoint that checks each
//! webhook's signature as a merchant's backend would, drops repeats by
//! event id, and prints what arrived.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::demo::Printer;
use crate::webhook::signature;

#[derive(Default)]
struct Seen {
    events: HashSet<String>,
    /// Verification id → the type of each event received about it.
    by_verification: HashMap<String, Vec<String>>,
}

#[derive(Clone)]
struct ReceiverState {
    secret: String,
    printer: Printer,
    seen: Arc<Mutex<Seen>>,
}

/// A running receiver.
pub struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    /// Starts listening on a free local port.
    pub async fn start(secret: String, printer: Printer) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let state = ReceiverState {
            secret,
            printer,
            seen: Arc::clone(&seen),
        };
        let router = Router::new()
            .route("/webhook", post(receive))
            .with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Receiver { addr, seen })
    }

    /// The URL to give as `callback_url`.
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// Waits (up to `limit`) for the `finished` webhook of each of `ids`;
    /// returns how many arrived.
    pub async fn wait_for(&self, ids: &[String], limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = {
                let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                ids.iter()
                    .filter(|id| {
                        seen.by_verification
                            .get(*id)
                            .is_some_and(|types| types.iter().any(|t| t == "verification.finished"))
                    })
                    .count()
            };
            if arrived == ids.len() || tokio::time::Instant::now() >= deadline {
                return arrived;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if signature::verify(&state.secret, header, &body, std::time::SystemTime::now()).is_err() {
        state.printer.line("webhook with a bad signature refused");
        return StatusCode::BAD_REQUEST;
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let event = payload["id"].as_str().unwrap_or("").to_owned();
    let kind = payload["type"].as_str().unwrap_or("").to_owned();
    let verification = payload["data"]["id"].as_str().unwrap_or("").to_owned();
    let outcome = payload["data"]["outcome"]
        .as_str()
        .unwrap_or("-")
        .to_owned();
    let fresh = {
        let mut seen = state.seen.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = seen.events.insert(event.clone());
        if fresh {
            seen.by_verification
                .entry(verification.clone())
                .or_default()
                .push(kind.clone());
        }
        fresh
    };
    if fresh {
        state.printer.line(format!(
            "webhook {kind} {verification} outcome {outcome}: signature verified ({event})"
        ));
    }
    StatusCode::NO_CONTENT
}
