//! The open-loop load: verification requests sent on a fixed schedule,
//! each on its own task, whatever the server's pace.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// One request sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// When it was sent (wall-clock microseconds).
    pub sent_micros: u64,
    /// How long the API took to answer.
    pub latency: Duration,
    /// The HTTP status (0 if no answer).
    pub status: u16,
    /// The verification's id, when one was created.
    pub id: Option<String>,
}

/// The requests so far, for the progress lines.
#[derive(Debug, Default)]
pub struct Tally {
    /// Sent.
    pub sent: AtomicUsize,
    /// Answered `201`.
    pub accepted: AtomicUsize,
    /// Answered otherwise, or not at all.
    pub refused: AtomicUsize,
}

/// Sends `calls` verification requests at `rate` per second, taking the
/// merchants' `keys` in turn, counting them in `tally`; each one's fate,
/// in the order sent.
pub async fn offer(
    base: &str,
    keys: &[String],
    scenario: &str,
    calls: u32,
    rate: u32,
    tally: &Arc<Tally>,
) -> Vec<Sent> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let url = format!("{base}/v1/verifications");
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(rate));
        tokio::time::sleep_until(due).await;
        // A different number each time: the per-phone velocity limit is
        // not what is measured.
        let body = json!({
            "phone": format!("0102{:07}", i % 10_000_000),
            "scenario": scenario,
        });
        let key = &keys[i as usize % keys.len()];
        let request = client.post(&url).bearer_auth(key).json(&body);
        let tally = Arc::clone(tally);
        tally.sent.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let sent_micros = wall_micros();
            let sent = Instant::now();
            let (status, id) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    (status, body["id"].as_str().map(str::to_owned))
                }
                Err(_) => (0, None),
            };
            let counter = if status == 201 && id.is_some() {
                &tally.accepted
            } else {
                &tally.refused
            };
            counter.fetch_add(1, Ordering::Relaxed);
            (
                i,
                Sent {
                    sent_micros,
                    latency: sent.elapsed(),
                    status,
                    id: id.filter(|_| status == 201),
                },
            )
        });
    }
    let mut sent: Vec<Option<Sent>> = vec![None; calls as usize];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, one)) = joined {
            sent[i as usize] = Some(one);
        }
    }
    sent.into_iter().flatten().collect()
}

/// Now, in microseconds since the Unix epoch.
pub fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
