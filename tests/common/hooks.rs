//! A merchant's webhook endpoint: a real HTTP listener that records every
//! delivery, checks its signature with the merchants' secrets, and can be
//! told to fail.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arsgate::webhook::signature;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The payload's event id.
    pub event: String,
    /// The payload's type (`verification.finished`).
    pub kind: String,
    /// The verification's id.
    pub verification: String,
    /// The whole payload.
    pub body: Value,
    /// The `Arsgate-Event-Id` header.
    pub event_header: String,
    /// Whether the signature verified under a trusted secret.
    pub signed: bool,
    /// What the endpoint answered.
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    received: Vec<Received>,
    /// Answer 500 to this many deliveries first.
    failures: u32,
}

/// The endpoint.
#[derive(Clone)]
pub struct Hooks {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Hooks {
    /// Starts listening on a free port.
    pub async fn start() -> Hooks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let router = Router::new()
            .route("/hooks", post(receive))
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Hooks { addr, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The URL to give as `callback_url`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Accepts signatures made with `secret`.
    pub fn trust(&self, secret: &str) {
        self.lock().secrets.push(secret.to_owned());
    }

    /// Answers `500` to the next `count` deliveries.
    pub fn fail_next(&self, count: u32) {
        self.lock().failures = count;
    }

    /// Every delivery received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The deliveries accepted (2xx) about `verification`.
    pub fn accepted_for(&self, verification: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.verification == verification && r.answered < 300)
            .collect()
    }

    /// Waits (up to 20 s) until `done` holds for what was received.
    pub async fn wait_for(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "webhooks never arrived; got {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the accepted `verification.finished` webhook of
    /// `verification`.
    pub async fn finished(&self, verification: &str) -> Received {
        let kind = "verification.finished";
        self.wait_for(|r| {
            r.iter()
                .any(|d| d.verification == verification && d.kind == kind && d.answered < 300)
        })
        .await
        .into_iter()
        .find(|d| d.verification == verification && d.kind == kind && d.answered < 300)
        .expect("found")
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    let signed = inner.secrets.iter().any(|secret| {
        signature::verify(secret, &header(signature::HEADER), &body, SystemTime::now()).is_ok()
    });
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answered = if inner.failures > 0 {
        inner.failures -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    inner.received.push(Received {
        event: payload["id"].as_str().unwrap_or("").to_owned(),
        kind: payload["type"].as_str().unwrap_or("").to_owned(),
        verification: payload["data"]["id"].as_str().unwrap_or("").to_owned(),
        event_header: header("arsgate-event-id"),
        body: payload,
        signed,
        answered: answered.as_u16(),
    });
    answered
}
