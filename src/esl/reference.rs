//! The byte-exact wire examples of the ESL reference
//! (`../shared/reference/esl-protocol.md`, sections 2.4 and 5), for the
//! codec's tests. Each is written line by line as it appears there.

/// An `api` reply (section 2.4, 88 bytes): Content-Type first, then the
/// length of the 41-byte body.
pub(crate) const API_RESPONSE: &str = concat!(
    "Content-Type: api/response\n",
    "Content-Length: 41\n",
    "\n",
    "+OK a1b2c3d4-0000-4000-8000-000000000042\n",
);

/// A `bgapi` reply (section 2.4, 139 bytes): the Job-UUID twice, in the
/// reply text and as its own header line.
pub(crate) const BGAPI_REPLY: &str = concat!(
    "Content-Type: command/reply\n",
    "Reply-Text: +OK Job-UUID: 0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01\n",
    "Job-UUID: 0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01\n",
    "\n",
);

/// The `BACKGROUND_JOB` for that job (section 2.4, 815 bytes): an outer
/// length of 763 and an inner one of 41 for the result text.
pub(crate) const BACKGROUND_JOB: &str = concat!(
    "Content-Length: 763\n",
    "Content-Type: text/event-plain\n",
    "\n",
    "Event-Name: BACKGROUND_JOB\n",
    "Core-UUID: 6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10\n",
    "FreeSWITCH-Hostname: fs-lab-1\n",
    "FreeSWITCH-Switchname: fs-lab-1\n",
    "FreeSWITCH-IPv4: 192.0.2.10\n",
    "FreeSWITCH-IPv6: %3A%3A1\n",
    "Event-Date-Local: 2026-03-01%2010%3A05%3A30\n",
    "Event-Date-GMT: Sun,%2001%20Mar%202026%2009%3A05%3A30%20GMT\n",
    "Event-Date-Timestamp: 1772359530412233\n",
    "Event-Calling-File: mod_event_socket.c\n",
    "Event-Calling-Function: api_exec\n",
    "Event-Calling-Line-Number: 1589\n",
    "Event-Sequence: 9135\n",
    "Job-UUID: 0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01\n",
    "Job-Command: originate\n",
    "Job-Command-Arg: %7Borigination_uuid%3Da1b2c3d4-0000-4000-8000-000000000042,ignore_early_media%3Dtrue,originate_timeout%3D30%7Dsofia/gateway/carrier1/15551234567%20%26park()\n",
    "Content-Length: 41\n",
    "\n",
    "+OK a1b2c3d4-0000-4000-8000-000000000042\n",
);

/// A `DTMF` event (section 2.4, 1109 bytes): `@`, `+` and spaces encoded, no
/// body, the blank line that ends the event counted in the outer length.
pub(crate) const DTMF: &str = concat!(
    "Content-Length: 1056\n",
    "Content-Type: text/event-plain\n",
    "\n",
    "Event-Name: DTMF\n",
    "Core-UUID: 6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10\n",
    "FreeSWITCH-Hostname: fs-lab-1\n",
    "FreeSWITCH-Switchname: fs-lab-1\n",
    "FreeSWITCH-IPv4: 192.0.2.10\n",
    "FreeSWITCH-IPv6: %3A%3A1\n",
    "Event-Date-Local: 2026-03-01%2010%3A05%3A41\n",
    "Event-Date-GMT: Sun,%2001%20Mar%202026%2009%3A05%3A41%20GMT\n",
    "Event-Date-Timestamp: 1772359541002817\n",
    "Event-Calling-File: switch_channel.c\n",
    "Event-Calling-Function: switch_channel_queue_dtmf\n",
    "Event-Calling-Line-Number: 700\n",
    "Event-Sequence: 9201\n",
    "Channel-State: CS_EXECUTE\n",
    "Channel-Call-State: ACTIVE\n",
    "Channel-State-Number: 4\n",
    "Channel-Name: sofia/external/15551234567%40203.0.113.5\n",
    "Unique-ID: a1b2c3d4-0000-4000-8000-000000000042\n",
    "Call-Direction: outbound\n",
    "Presence-Call-Direction: outbound\n",
    "Channel-HIT-Dialplan: false\n",
    "Channel-Call-UUID: a1b2c3d4-0000-4000-8000-000000000042\n",
    "Answer-State: answered\n",
    "Caller-Direction: outbound\n",
    "Caller-Caller-ID-Name: Acme%20Bank\n",
    "Caller-Caller-ID-Number: %2B15550001111\n",
    "Caller-Destination-Number: 15551234567\n",
    "Caller-Unique-ID: a1b2c3d4-0000-4000-8000-000000000042\n",
    "DTMF-Digit: 7\n",
    "DTMF-Duration: 1360\n",
    "DTMF-Source: RTP\n",
    "\n",
);

/// A shortened `CHANNEL_ANSWER` in JSON (section 2.4, 628 bytes): values not
/// encoded, no newline after the closing brace.
pub(crate) const JSON_CHANNEL_ANSWER: &str = concat!(
    "Content-Length: 577\n",
    "Content-Type: text/event-json\n",
    "\n",
    "{\"Event-Name\":\"CHANNEL_ANSWER\",\"Core-UUID\":\"6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10\",\"FreeSWITCH-Hostname\":\"fs-lab-1\",\"FreeSWITCH-Switchname\":\"fs-lab-1\",\"FreeSWITCH-IPv4\":\"192.0.2.10\",\"FreeSWITCH-IPv6\":\"::1\",\"Event-Date-Local\":\"2026-03-01 10:05:34\",\"Event-Date-GMT\":\"Sun, 01 Mar 2026 09:05:34 GMT\",\"Event-Date-Timestamp\":\"1772359534120056\",\"Event-Calling-File\":\"switch_channel.c\",\"Event-Calling-Function\":\"switch_channel_perform_mark_answered\",\"Event-Calling-Line-Number\":\"3848\",\"Event-Sequence\":\"9160\",\"Unique-ID\":\"a1b2c3d4-0000-4000-8000-000000000042\",\"Answer-State\":\"answered\"}",
);

/// A `log/data` frame (section 2.4, 333 bytes): Content-Type, Content-Length,
/// then the log line's metadata.
pub(crate) const LOG_DATA: &str = concat!(
    "Content-Type: log/data\n",
    "Content-Length: 136\n",
    "Log-Level: 5\n",
    "Text-Channel: 3\n",
    "Log-File: switch_channel.c\n",
    "Log-Func: switch_channel_set_name\n",
    "Log-Line: 1150\n",
    "User-Data: a1b2c3d4-0000-4000-8000-000000000042\n",
    "\n",
    "2026-03-01 10:05:30.412233 [NOTICE] switch_channel.c:1150 New Channel sofia/external/15551234567 [a1b2c3d4-0000-4000-8000-000000000042]\n",
);

/// A `sendmsg` execute with its argument in a header (section 5, 210 bytes).
pub(crate) const SENDMSG: &str = concat!(
    "sendmsg a1b2c3d4-0000-4000-8000-000000000042\n",
    "call-command: execute\n",
    "execute-app-name: playback\n",
    "execute-app-arg: /var/lib/prompts/en/welcome.wav\n",
    "event-lock: true\n",
    "Event-UUID: 5e0c9d7a-2b44-4f0e-a7a1-6c3d2e1f0b99\n",
    "\n",
);

/// The same with the argument as a body (section 5, 261 bytes): lower-case
/// `content-type`/`content-length`, 94 body bytes, no trailing newline.
pub(crate) const SENDMSG_WITH_BODY: &str = concat!(
    "sendmsg a1b2c3d4-0000-4000-8000-000000000042\n",
    "call-command: execute\n",
    "execute-app-name: play_and_get_digits\n",
    "event-lock: true\n",
    "content-type: text/plain\n",
    "content-length: 94\n",
    "\n",
    "6 6 3 7000 # file_string://prompts/enter_code.wav silence_stream://250 otp_digits ^\\d{6}$ 3000",
);

#[test]
fn examples_have_the_lengths_the_reference_states() {
    // Guards the transcription: the reference gives each example's size.
    let lengths = [
        (API_RESPONSE, 88),
        (BGAPI_REPLY, 139),
        (BACKGROUND_JOB, 815),
        (DTMF, 1109),
        (JSON_CHANNEL_ANSWER, 628),
        (LOG_DATA, 333),
        (SENDMSG, 210),
        (SENDMSG_WITH_BODY, 261),
    ];
    for (example, length) in lengths {
        assert_eq!(
            example.len(),
            length,
            "{}",
            example.lines().next().unwrap_or("")
        );
    }
}
