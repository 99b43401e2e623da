//! Decoding throughput of a realistic stream of plain channel events.
//!
//! The stream is built from the events of a recorded real call (2–9.7 KB
//! each, 50–228 headers, percent-encoded values), repeated to about 8 MB.
//! `bytes` and `events`: each iteration frames the whole stream, classifies
//! every frame and reads `Event-Name` and `Unique-ID` of every event, as a
//! call controller routing events does. `every_header`: the same, decoding
//! every header of every event.

#[path = "common/recorded.rs"]
mod recorded;

use arsgate::esl::{ClientCodec, Message};
use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use recorded::recorded_event_frames;
use tokio_util::codec::Decoder;

fn decode_stream(mut buf: BytesMut) -> usize {
    let mut codec = ClientCodec::new();
    let mut events = 0;
    while let Some(frame) = codec.decode(&mut buf).expect("decodes") {
        if let Ok(Message::Event(event)) = Message::try_from(frame) {
            let named = !event.name().as_str().is_empty();
            let channel = event.unique_id().is_some();
            events += usize::from(named || channel);
        }
    }
    events
}

/// The worst case for a consumer: every header of every event decoded.
fn decode_every_header(mut buf: BytesMut) -> usize {
    let mut codec = ClientCodec::new();
    let mut values = 0;
    while let Some(frame) = codec.decode(&mut buf).expect("decodes") {
        if let Ok(Message::Event(event)) = Message::try_from(frame) {
            values += event.headers().map(|(_, value)| value.len()).sum::<usize>();
        }
    }
    values
}

fn bench(c: &mut Criterion) {
    let one_call = recorded_event_frames();
    let repeats = (8 << 20) / one_call.len();
    let stream = one_call.repeat(repeats);
    let events = decode_stream(BytesMut::from(&stream[..]));
    // The copy into a fresh buffer stands for the socket read and is not timed.
    let fresh = || BytesMut::from(&stream[..]);

    let mut group = c.benchmark_group("esl_decode");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("bytes", |b| {
        b.iter_batched(fresh, decode_stream, BatchSize::LargeInput)
    });
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("events", |b| {
        b.iter_batched(fresh, decode_stream, BatchSize::LargeInput)
    });
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("every_header", |b| {
        b.iter_batched(fresh, decode_every_header, BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
