//! The ESL codec against real FreeSWITCH bytes, and its properties.

mod common;

use arsgate::esl::{ClientCodec, Command, Frame, FrameError, Message, ServerCodec};
use bytes::{BufMut, BytesMut};
use common::capture::{self, CAPTURES, Direction};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Feeds `chunks` to a decoder one at a time, collecting every item and
/// asserting nothing is left over at the end.
fn decode_chunks<D: Decoder>(decoder: &mut D, chunks: &[&[u8]]) -> Vec<D::Item>
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.put_slice(chunk);
        while let Some(item) = decoder.decode(&mut buf).expect("capture bytes decode") {
            items.push(item);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    items
}

fn bytes_of(chunks: &[&[u8]]) -> Vec<u8> {
    chunks.concat()
}

#[test]
fn every_capture_decodes_at_its_recorded_read_boundaries_and_byte_by_byte() {
    for &(name, frame_count, event_count, command_count) in CAPTURES {
        let records = capture::load(name);
        let received = capture::chunks(&records, Direction::Recv);
        let frames = decode_chunks(&mut ClientCodec::new(), &received);
        assert_eq!(frames.len(), frame_count, "{name}: frames");

        let all = bytes_of(&received);
        let singles: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(
            decode_chunks(&mut ClientCodec::new(), &singles),
            frames,
            "{name}: byte by byte"
        );

        let mut events = 0;
        for frame in frames {
            let message = Message::try_from(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Message::Event(event) = message {
                events += 1;
                assert!(
                    !event.name().as_str().is_empty(),
                    "{name}: event without a name"
                );
            }
        }
        assert_eq!(events, event_count, "{name}: events");

        let sent = capture::chunks(&records, Direction::Send);
        let commands = decode_chunks(&mut ServerCodec::new(), &sent);
        assert_eq!(commands.len(), command_count, "{name}: commands");
    }
}

#[test]
fn plain_events_keep_their_exact_bytes_through_decode_and_encode() {
    let records = capture::load("answered_dtmf_pagd");
    let received = capture::chunks(&records, Direction::Recv);
    for frame in decode_chunks(&mut ClientCodec::new(), &received) {
        let body = frame.body().cloned();
        if let Ok(Message::Event(event)) = Message::try_from(frame) {
            assert_eq!(Some(&event.to_plain()[..]), body.as_deref());
        }
    }
}

/// Every event of a capture, decoded.
fn recorded_events(name: &str) -> Vec<arsgate::esl::Event> {
    let records = capture::load(name);
    let received = capture::chunks(&records, Direction::Recv);
    decode_chunks(&mut ClientCodec::new(), &received)
        .into_iter()
        .filter_map(|f| match Message::try_from(f) {
            Ok(Message::Event(e)) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn recorded_events_read_like_the_reference_says() {
    let events = recorded_events("answered_dtmf_pagd");
    let job = events
        .iter()
        .find(|e| e.name().as_str() == "BACKGROUND_JOB")
        .expect("job");
    assert_eq!(
        job.body_text().as_deref(),
        Some("+OK a1b2c3d4-0002-4000-8000-000000000002\n")
    );
    let complete = events
        .iter()
        .find(|e| {
            e.name().as_str() == "CHANNEL_EXECUTE_COMPLETE"
                && e.application().as_deref() == Some("play_and_get_digits")
        })
        .expect("pagd complete");
    assert_eq!(complete.variable("ars_input").as_deref(), Some("123456"));
    assert_eq!(complete.variable("read_result").as_deref(), Some("success"));
    assert_eq!(
        complete.application_uuid().as_deref(),
        Some("e0e00002-0000-4000-8000-0000000000e2")
    );
    assert_eq!(
        complete.header("Application-Data").as_deref(),
        Some("6 6 1 7000 # tone_stream://%(500,0,440) silence_stream://250 ars_input \\d+ 3000")
    );
    let hangup = events
        .iter()
        .find(|e| e.name().as_str() == "CHANNEL_HANGUP_COMPLETE")
        .expect("hangup");
    assert_eq!(hangup.header_all("Hangup-Cause").len(), 2);
    assert_eq!(hangup.hangup_cause().map(|c| c.q850()), Some(16));
    let digits: String = events
        .iter()
        .filter(|e| e.name().as_str() == "DTMF")
        .filter_map(|e| e.header("DTMF-Digit").map(|d| d.into_owned()))
        .collect();
    assert_eq!(digits, "123456");
}

#[test]
fn korean_tts_text_decodes_from_percent_encoded_utf8() {
    let speak = recorded_events("tts_speak")
        .into_iter()
        .find(|e| e.application().as_deref() == Some("speak"))
        .expect("speak execute");
    assert_eq!(
        speak.header("Application-Data").as_deref(),
        Some("tts_commandline|ko|인증번호는 1 2 3 4 입니다")
    );
}

#[test]
fn json_events_decode_with_their_duplicates() {
    let events = recorded_events("json_events");
    assert_eq!(events.len(), 15);
    let complete = events
        .iter()
        .find(|e| e.name().as_str() == "CHANNEL_HANGUP_COMPLETE")
        .unwrap();
    assert_eq!(
        complete.header_all("Hangup-Cause"),
        vec!["USER_BUSY", "USER_BUSY"]
    );
    let job = events
        .iter()
        .find(|e| e.name().as_str() == "BACKGROUND_JOB")
        .unwrap();
    assert_eq!(job.body_text().as_deref(), Some("-ERR USER_BUSY\n"));
}

/// A valid stream of frames of every shape the server writes.
fn frame_strategy() -> impl Strategy<Value = Frame> {
    let text = "([!-~][ -~]{0,39})?";
    prop_oneof![
        Just(Frame::auth_request()),
        text.prop_map(|t| Frame::command_reply(&t)),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Frame::api_response),
        (
            "[A-Z_]{1,20}",
            // Values avoid what FreeSWITCH's encoding cannot carry: empty
            // values (sent as `_undef_`) and `%XX` look-alikes (not re-encoded).
            proptest::collection::vec(
                (
                    "[A-Za-z-]{1,20}",
                    any::<String>().prop_map(|v| format!("{}.", v.replace('%', "% ")))
                ),
                0..12
            ),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200))
        )
            .prop_map(|(name, headers, body)| {
                let mut event = arsgate::esl::Event::empty().with("Event-Name", name);
                for (n, v) in headers {
                    event.push(n, v);
                }
                if let Some(body) = body {
                    event.set_body(body);
                }
                Frame::event_plain(&event)
            }),
        any::<String>().prop_map(Frame::disconnect_notice),
    ]
}

fn encode_frames(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        ServerCodec::new().encode(frame, &mut buf).unwrap();
    }
    buf.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_chunking_of_a_valid_stream_decodes_to_the_same_frames(
        frames in proptest::collection::vec(frame_strategy(), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let wire = encode_frames(&frames);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        let mut chunks = Vec::new();
        let mut start = 0;
        for point in points {
            chunks.push(&wire[start..point]);
            start = point;
        }
        chunks.push(&wire[start..]);
        prop_assert_eq!(decode_chunks(&mut ClientCodec::new(), &chunks), frames);
    }

    #[test]
    fn events_round_trip_through_frames(frame in frame_strategy()) {
        let wire = encode_frames(std::slice::from_ref(&frame));
        let decoded = decode_chunks(&mut ClientCodec::new(), &[&wire]);
        prop_assert_eq!(&decoded, &vec![frame.clone()]);
        if let Message::Event(event) = Message::try_from(frame).unwrap() {
            let again = Frame::event_plain(&event);
            let Message::Event(reparsed) = Message::try_from(again).unwrap() else { panic!() };
            prop_assert_eq!(reparsed, event);
        }
    }

    #[test]
    fn commands_round_trip_from_client_to_server(
        line in "[a-z]{1,10}( [ -~]{1,40})?",
        headers in proptest::collection::vec(("[A-Za-z][A-Za-z-]{0,15}", "[ -~]{0,40}"), 0..6),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..200)),
    ) {
        let mut command = Command::new(line.trim_end());
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length") {
                command = command.header(name, value.trim_start());
            }
        }
        if let Some(body) = body {
            command = command.body(body);
        }
        let mut buf = BytesMut::new();
        ClientCodec::new().encode(&command, &mut buf).unwrap();
        let decoded = ServerCodec::new().decode(&mut buf).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded.line(), command.line());
        prop_assert_eq!(decoded.body_bytes(), command.body_bytes());
        for (name, value) in command.headers().iter() {
            prop_assert_eq!(decoded.headers().get(name), command.headers().get(name), "{}: {}", name, value);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut codec = ClientCodec::with_max_frame(512);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            let _ = Message::try_from(frame);
        }
        let mut buf = BytesMut::from(&bytes[..]);
        let mut server = ServerCodec::with_max_frame(512);
        while let Ok(Some(_)) = server.decode(&mut buf) {}
    }

    #[test]
    fn the_size_cap_holds(limit in 16usize..4096, excess in 1usize..4096) {
        let length = limit + excess;
        let mut buf = BytesMut::from(format!("Content-Type: api/response\nContent-Length: {length}\n\n").as_bytes());
        let result = ClientCodec::with_max_frame(limit).decode(&mut buf);
        let refused = matches!(result, Err(FrameError::BodyTooLarge { .. }));
        prop_assert!(refused);
        let mut head = BytesMut::from(&vec![b'a'; length + 1][..]);
        let result = ClientCodec::with_max_frame(limit).decode(&mut head);
        let refused = matches!(result, Err(FrameError::HeadTooLarge { .. }));
        prop_assert!(refused);
    }
}
