//! End to end through the event socket client: a node streams recorded
//! real-sized channel events as fast as a socket carries them, and the
//! client reads, frames and classifies them and hands them to a consumer
//! through its event queue (the path every node's events take in arsgate).
//! Reports events per second, and how many the default queue dropped.

#[path = "common/recorded.rs"]
mod recorded;

use std::time::{Duration, Instant};

use arsgate::esl::EventName;
use arsgate::esl::client::{Client, ClientConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use recorded::recorded_event_frames;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Events streamed per iteration.
const EVENTS: usize = 100_000;

/// A node that answers the client's setup, then writes `stream` at once.
async fn serve_once(listener: TcpListener, stream: Vec<u8>) {
    let (socket, _) = listener.accept().await.expect("accept");
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"Content-Type: auth/request\n\n")
        .await
        .unwrap();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.is_empty() {
            continue;
        }
        let reply: &[u8] = if line.starts_with("auth") {
            b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
        } else if line.starts_with("api global_getvar core_uuid") {
            b"Content-Type: api/response\nContent-Length: 37\n\n00000000-0000-4000-8000-000000000001\n"
        } else {
            b"Content-Type: command/reply\nReply-Text: +OK\n\n"
        };
        write.write_all(reply).await.unwrap();
        if line.starts_with("api global_getvar") {
            break;
        }
    }
    write.write_all(&stream).await.unwrap();
    // Held open until the client is done: a close would be a reconnect.
    let _ = lines.next_line().await;
}

/// Streams `stream` (holding `events` events) to a fresh client; the time
/// from the client's connection to its consumer's last event, and how
/// many events its queue dropped.
async fn through_the_client(stream: Vec<u8>, events: usize) -> (Duration, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_once(listener, stream));
    let mut config = ClientConfig::new(addr.to_string(), "ClueCon");
    config.subscriptions = vec![EventName::ChannelExecute, EventName::ChannelExecuteComplete];
    let started = Instant::now();
    let (client, mut received) = Client::connect(config).await.expect("connects");
    let mut seen = 0;
    while seen < events {
        match tokio::time::timeout(Duration::from_millis(500), received.recv()).await {
            Ok(Some(event)) => {
                // What the router reads of every event.
                let _ = (event.name(), event.unique_id());
                seen += 1;
            }
            // The rest was dropped: the queue overflowed.
            _ => break,
        }
    }
    let took = started.elapsed();
    let dropped = client.stats().events_dropped;
    client.close().await;
    server.abort();
    (took, dropped)
}

fn bench(c: &mut Criterion) {
    let one_call = recorded_event_frames();
    let per_call = arsgate_events_in(&one_call);
    let repeats = EVENTS.div_ceil(per_call);
    let stream = one_call.repeat(repeats);
    let events = per_call * repeats;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("esl_client");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events as u64));
    let mut dropped_total = 0;
    group.bench_function("events_end_to_end", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let (took, dropped) = runtime.block_on(through_the_client(stream.clone(), events));
                total += took;
                dropped_total += dropped;
            }
            total
        })
    });
    group.finish();
    println!(
        "esl_client: {events} events of {} bytes per iteration; events dropped by the default queue over all runs: {dropped_total}",
        stream.len()
    );
}

/// How many events `frames` holds.
fn arsgate_events_in(frames: &[u8]) -> usize {
    let needle = b"Content-Type: text/event-plain";
    frames.windows(needle.len()).filter(|w| w == needle).count()
}

criterion_group!(benches, bench);
criterion_main!(benches);
