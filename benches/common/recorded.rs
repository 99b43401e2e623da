//! The plain channel events of a call recorded against a real FreeSWITCH
//! 1.10.12 (2–9.7 KB each, 50–228 headers, percent-encoded values), as the
//! benchmarks stream them.

use arsgate::esl::{ClientCodec, Frame};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// The recorded call's event frames, encoded back to back.
pub fn recorded_event_frames() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/captures/answered_dtmf_pagd.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("capture fixture");
    let mut received = BytesMut::new();
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("json line");
        if record["dir"] == "recv" {
            let data = record["data"].as_str().unwrap_or_default();
            received.extend(data.chars().map(|c| c as u32 as u8));
        }
    }
    let mut codec = ClientCodec::new();
    let mut events = Vec::new();
    while let Some(frame) = codec.decode(&mut received).expect("capture decodes") {
        if frame.content_type() == Some("text/event-plain") {
            events.push(frame);
        }
    }
    events.iter().flat_map(Frame::to_bytes).collect()
}
