//! The FreeSWITCH backend's reading of real events and its originate
//! strings.

mod common;

use arsgate::esl::{ClientCodec, HangupCause, Message};
use arsgate::switch::freeswitch::translate;
use arsgate::switch::{CallEvent, CollectedInput};
use bytes::{BufMut, BytesMut};
use common::capture::{self, Direction};
use tokio_util::codec::Decoder;

/// The call events a capture's channel events translate to.
fn translated(name: &str) -> Vec<CallEvent> {
    let records = capture::load(name);
    let mut buf = BytesMut::new();
    for chunk in capture::chunks(&records, Direction::Recv) {
        buf.put_slice(chunk);
    }
    let mut codec = ClientCodec::new();
    let mut out = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        if let Ok(Message::Event(event)) = Message::try_from(frame)
            && let Some(call_event) = translate(&event)
        {
            out.push(call_event);
        }
    }
    out
}

fn collected(events: &[CallEvent]) -> Vec<CollectedInput> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Collected { var, input } => {
                assert_eq!(var, "ars_input");
                Some(input.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn an_answered_call_with_keyed_digits_reads_as_it_happened() {
    let events = translated("answered_dtmf_pagd");
    let expected_start = [
        CallEvent::Ringing,
        CallEvent::Answered,
        CallEvent::Parked { mark: None },
    ];
    assert_eq!(&events[..3], &expected_start);
    assert_eq!(
        collected(&events),
        [CollectedInput {
            digits: Some("123456".to_owned()),
            invalid: false
        }]
    );
    assert!(events.contains(&CallEvent::HungUp {
        cause: HangupCause::NormalClearing
    }));
    assert_eq!(events.last(), Some(&CallEvent::Ended));
}

#[test]
fn collect_failures_read_as_freeswitch_reports_them() {
    assert_eq!(
        collected(&translated("pagd_timeout")),
        [CollectedInput {
            digits: None,
            invalid: false
        }]
    );
    assert_eq!(
        collected(&translated("pagd_regex_fail")),
        [CollectedInput {
            digits: None,
            invalid: true
        }]
    );
    assert_eq!(
        collected(&translated("pagd_wrong_then_right")),
        [CollectedInput {
            digits: Some("123456".to_owned()),
            invalid: false
        }]
    );
}

#[test]
fn refusals_and_recordings_translate() {
    let busy = translated("busy");
    assert!(busy.contains(&CallEvent::HungUp {
        cause: HangupCause::UserBusy
    }));
    assert!(!busy.contains(&CallEvent::Answered));
    let recorded = translated("record_bye");
    let stop = recorded
        .iter()
        .find_map(|e| match e {
            CallEvent::RecordingStopped { path, duration } => Some((path.clone(), *duration)),
            _ => None,
        })
        .expect("a recording stopped");
    assert_eq!(stop.0, "/rec/cap-a1b2c3d4-0007-4000-8000-000000000007.wav");
    assert_eq!(stop.1.as_millis(), 3960);
    let early = translated("early_media_default");
    assert!(early.contains(&CallEvent::EarlyMedia));
}
