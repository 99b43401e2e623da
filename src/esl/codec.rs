//! The framing codec, for both ends of an event socket.
//!
//! [`ClientCodec`] reads FreeSWITCH's frames and writes commands;
//! [`ServerCodec`] (the simulator's side) reads commands and writes frames.
//! Both share one incremental scanner: it remembers how far it has looked for
//! the empty line that ends a header block, so a frame delivered one byte at
//! a time costs no more than one delivered whole, and it slices bodies by
//! `Content-Length` in bytes, never characters.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::command::Command;
use super::frame::Frame;
use super::headers::Headers;

/// Default cap on one frame's header block and on its body: 8 MiB.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// Why a byte stream could not be framed. Any of these ends the connection:
/// past a framing error the stream position is unknown.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reading or writing the socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// No end of header block within the size cap.
    #[error("header block longer than the {limit}-byte limit")]
    HeadTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// A `Content-Length` over the size cap.
    #[error("body of {length} bytes exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The announced length.
        length: u64,
        /// The cap in bytes.
        limit: usize,
    },
    /// A `Content-Length` that is not a decimal number.
    #[error("invalid Content-Length {0:?}")]
    InvalidLength(String),
    /// A command that cannot be written safely (line breaks in a line or a
    /// header, a colon in a header name, a Content-Length that disagrees with
    /// the body).
    #[error("refusing to send command: {0}")]
    InvalidCommand(String),
}

/// Incremental state shared by both codecs.
#[derive(Debug)]
struct Scanner {
    max_frame: usize,
    /// Where the line being scanned for the blank line starts.
    line_start: usize,
    /// Header block parsed, waiting for the body: (body offset, body length).
    pending: Option<(Headers, String, usize, usize)>,
}

/// A complete header block and its body.
struct RawFrame {
    first_line: String,
    headers: Headers,
    body: Option<Bytes>,
}

impl Scanner {
    fn new(max_frame: usize) -> Scanner {
        Scanner {
            max_frame,
            line_start: 0,
            pending: None,
        }
    }

    /// Takes the next frame from `src`. With `has_command_line`, the first
    /// line is a command rather than a header.
    fn next(
        &mut self,
        src: &mut BytesMut,
        has_command_line: bool,
    ) -> Result<Option<RawFrame>, FrameError> {
        if self.pending.is_none() {
            if self.line_start == 0 {
                // Blank lines between frames are harmless (FreeSWITCH skips them).
                let leading = src
                    .iter()
                    .take_while(|&&b| b == b'\n' || b == b'\r')
                    .count();
                src.advance(leading);
            }
            let Some((head_end, body_start)) = self.find_head_end(src)? else {
                return Ok(None);
            };
            let (first_line, headers, length) =
                self.parse_head(&src[..head_end], has_command_line)?;
            self.line_start = 0;
            self.pending = Some((headers, first_line, body_start, length));
        }
        let Some((_, _, body_start, length)) = &self.pending else {
            return Ok(None);
        };
        let (body_start, length) = (*body_start, *length);
        if src.len() < body_start + length {
            src.reserve(body_start + length - src.len());
            return Ok(None);
        }
        let Some((headers, first_line, _, _)) = self.pending.take() else {
            return Ok(None);
        };
        src.advance(body_start);
        let body = if length > 0 || headers.get("Content-Length").is_some() {
            Some(src.split_to(length).freeze())
        } else {
            None
        };
        Ok(Some(RawFrame {
            first_line,
            headers,
            body,
        }))
    }

    /// Looks for a line holding nothing but CRs, starting where the last call
    /// stopped. Returns the header block's end and the body's start.
    fn find_head_end(&mut self, src: &BytesMut) -> Result<Option<(usize, usize)>, FrameError> {
        let mut line_start = self.line_start;
        while let Some(offset) = memchr::memchr(b'\n', &src[line_start..]) {
            let lf = line_start + offset;
            if src[line_start..lf].iter().all(|&b| b == b'\r') {
                return Ok(Some((line_start, lf + 1)));
            }
            line_start = lf + 1;
        }
        if src.len() > self.max_frame {
            return Err(FrameError::HeadTooLarge {
                limit: self.max_frame,
            });
        }
        self.line_start = line_start;
        Ok(None)
    }

    fn parse_head(
        &self,
        head: &[u8],
        has_command_line: bool,
    ) -> Result<(String, Headers, usize), FrameError> {
        let mut headers = Headers::new();
        let mut first_line = String::new();
        for (index, line) in head.split(|&b| b == b'\n').enumerate() {
            let line = strip_cr(line);
            if index == 0 && has_command_line {
                first_line = String::from_utf8_lossy(line).into_owned();
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let value = &line[colon + 1..];
            let value = &value[value.iter().take_while(|&&b| b == b' ').count()..];
            headers.push(
                String::from_utf8_lossy(&line[..colon]),
                String::from_utf8_lossy(value),
            );
        }
        let length = match headers.get("Content-Length") {
            None => 0,
            Some(text) => {
                let length: u64 = text
                    .trim()
                    .parse()
                    .map_err(|_| FrameError::InvalidLength(text.to_owned()))?;
                if length > self.max_frame as u64 {
                    return Err(FrameError::BodyTooLarge {
                        length,
                        limit: self.max_frame,
                    });
                }
                length as usize
            }
        };
        Ok((first_line, headers, length))
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    &line[..end]
}

/// The client's codec: decodes FreeSWITCH's frames, encodes commands.
#[derive(Debug)]
pub struct ClientCodec {
    scanner: Scanner,
}

impl ClientCodec {
    /// A codec with the default 8 MiB frame cap.
    pub fn new() -> ClientCodec {
        ClientCodec::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec refusing header blocks or bodies over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> ClientCodec {
        ClientCodec {
            scanner: Scanner::new(max_frame),
        }
    }
}

impl Default for ClientCodec {
    fn default() -> ClientCodec {
        ClientCodec::new()
    }
}

impl Decoder for ClientCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        Ok(self
            .scanner
            .next(src, false)?
            .map(|raw| Frame::new(raw.headers, raw.body)))
    }
}

impl Encoder<&Command> for ClientCodec {
    type Error = FrameError;

    fn encode(&mut self, command: &Command, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_command(command, dst)
    }
}

impl Encoder<Command> for ClientCodec {
    type Error = FrameError;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_command(&command, dst)
    }
}

fn encode_command(command: &Command, dst: &mut BytesMut) -> Result<(), FrameError> {
    let line = command.line();
    if line.trim().is_empty() || line.contains(['\r', '\n']) {
        return Err(FrameError::InvalidCommand(format!("command line {line:?}")));
    }
    for (name, value) in command.headers().iter() {
        if name.is_empty() || name.contains([':', '\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(FrameError::InvalidCommand(format!(
                "header {name:?}: {value:?}"
            )));
        }
    }
    let declared = command.headers().get("Content-Length");
    let body_len = command.body_bytes().map(Bytes::len);
    match (declared, body_len) {
        (Some(text), Some(len)) if text.trim().parse::<usize>().ok() != Some(len) => {
            return Err(FrameError::InvalidCommand(format!(
                "Content-Length {text} for a {len}-byte body"
            )));
        }
        (Some(text), None) if text.trim() != "0" => {
            return Err(FrameError::InvalidCommand(format!(
                "Content-Length {text} without a body"
            )));
        }
        _ => {}
    }
    dst.put_slice(line.as_bytes());
    dst.put_u8(b'\n');
    for (name, value) in command.headers().iter() {
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_u8(b'\n');
    }
    if let (None, Some(len)) = (declared, body_len) {
        dst.put_slice(format!("Content-Length: {len}\n").as_bytes());
    }
    dst.put_u8(b'\n');
    if let Some(body) = command.body_bytes() {
        dst.put_slice(body);
    }
    Ok(())
}

/// The server's codec (the simulator's): decodes commands as FreeSWITCH
/// parses them, encodes frames.
#[derive(Debug)]
pub struct ServerCodec {
    scanner: Scanner,
}

impl ServerCodec {
    /// A codec with the default 8 MiB cap.
    pub fn new() -> ServerCodec {
        ServerCodec::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec refusing commands over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> ServerCodec {
        ServerCodec {
            scanner: Scanner::new(max_frame),
        }
    }
}

impl Default for ServerCodec {
    fn default() -> ServerCodec {
        ServerCodec::new()
    }
}

impl Decoder for ServerCodec {
    type Item = Command;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Command>, FrameError> {
        Ok(self
            .scanner
            .next(src, true)?
            .map(|raw| Command::from_parts(raw.first_line, raw.headers, raw.body)))
    }
}

impl Encoder<&Frame> for ServerCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        frame.encode_into(dst);
        Ok(())
    }
}

impl Encoder<Frame> for ServerCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        frame.encode_into(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esl::command::SendMsg;
    use crate::esl::event::Event;
    use crate::esl::event_name::EventName;
    use crate::esl::message::Message;
    use crate::esl::reference;

    fn decode_all(codec: &mut ClientCodec, bytes: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert!(
            buf.is_empty(),
            "left over: {:?}",
            String::from_utf8_lossy(&buf)
        );
        frames
    }

    fn text(buf: &[u8]) -> &str {
        std::str::from_utf8(buf).expect("UTF-8")
    }

    /// Decodes `wire`, which must hold exactly one frame.
    fn decode_one(wire: &str) -> Frame {
        let mut frames = decode_all(&mut ClientCodec::new(), wire.as_bytes());
        assert_eq!(frames.len(), 1);
        frames.remove(0)
    }

    /// `frame` as the simulator's end of the socket writes it.
    fn encode_frame(frame: &Frame) -> BytesMut {
        let mut buf = BytesMut::new();
        ServerCodec::new().encode(frame, &mut buf).unwrap();
        buf
    }

    fn envelope(frame: &Frame) -> Vec<(&str, &str)> {
        frame.headers().iter().collect()
    }

    fn event_of(frame: Frame) -> Event {
        match Message::try_from(frame) {
            Ok(Message::Event(event)) => event,
            other => panic!("not an event: {other:?}"),
        }
    }

    /// The event's headers, values decoded, in wire order.
    fn decoded(event: &Event) -> Vec<(String, String)> {
        event
            .headers()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    fn owned(lines: &[(&str, &str)]) -> Vec<(String, String)> {
        lines
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// A new event holding `event`'s decoded values, so that serializing it
    /// percent-encodes them afresh instead of copying the received bytes.
    fn rebuilt(event: &Event) -> Event {
        let mut fresh = Event::empty();
        for (name, value) in decoded(event) {
            fresh.push(name, value);
        }
        if let Some(body) = event.body() {
            fresh.set_body(body.clone());
        }
        fresh
    }

    const STREAM: &[u8] = b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\nContent-Type: api/response\nContent-Length: 41\n\n+OK a1b2c3d4-0000-4000-8000-000000000042\nContent-Length: 23\nContent-Type: text/event-plain\n\nEvent-Name: HEARTBEAT\n\n";

    #[test]
    fn decodes_many_frames_from_one_read() {
        let frames = decode_all(&mut ClientCodec::new(), STREAM);
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0].content_type(), Some("auth/request"));
        assert_eq!(frames[0].body(), None);
        assert_eq!(frames[1].header("Reply-Text"), Some("+OK accepted"));
        assert_eq!(frames[2].body().unwrap().len(), 41);
        assert_eq!(&frames[3].body().unwrap()[..], b"Event-Name: HEARTBEAT\n\n");
    }

    #[test]
    fn decodes_frames_fed_one_byte_at_a_time() {
        let mut codec = ClientCodec::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for &byte in STREAM {
            buf.put_u8(byte);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, decode_all(&mut ClientCodec::new(), STREAM));
    }

    #[test]
    fn crlf_line_ends_are_accepted() {
        let frames = decode_all(
            &mut ClientCodec::new(),
            b"Content-Type: api/response\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert_eq!(frames[0].content_type(), Some("api/response"));
        assert_eq!(&frames[0].body().unwrap()[..], b"abc");
    }

    #[test]
    fn content_length_counts_bytes_not_characters() {
        let body = "인증번호는 1234\n";
        let wire = format!(
            "Content-Type: api/response\nContent-Length: {}\n\n{body}Content-Type: auth/request\n\n",
            body.len()
        );
        let frames = decode_all(&mut ClientCodec::new(), wire.as_bytes());
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0].body().unwrap()[..], body.as_bytes());
    }

    #[test]
    fn values_keep_colons_after_the_first() {
        let frames = decode_all(
            &mut ClientCodec::new(),
            b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: 7b3c\nJob-UUID: 7b3c\n\n",
        );
        assert_eq!(frames[0].header("Reply-Text"), Some("+OK Job-UUID: 7b3c"));
        assert_eq!(frames[0].header("Job-UUID"), Some("7b3c"));
    }

    #[test]
    fn oversized_bodies_are_refused_before_buffering() {
        let mut codec = ClientCodec::with_max_frame(1024);
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 1025\n\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::BodyTooLarge {
                length: 1025,
                limit: 1024
            })
        ));
    }

    #[test]
    fn endless_header_blocks_are_refused() {
        let mut codec = ClientCodec::with_max_frame(64);
        let mut buf = BytesMut::from(&[b'x'; 200][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::HeadTooLarge { limit: 64 })
        ));
    }

    #[test]
    fn garbage_content_length_is_an_error() {
        let mut codec = ClientCodec::new();
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: -5\n\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::InvalidLength(_))
        ));
    }

    #[test]
    fn commands_encode_like_the_reference() {
        let message = SendMsg::execute("playback", "/var/lib/prompts/en/welcome.wav")
            .event_lock()
            .event_uuid("5e0c9d7a-2b44-4f0e-a7a1-6c3d2e1f0b99");
        let command = Command::sendmsg("a1b2c3d4-0000-4000-8000-000000000042", message);
        let mut buf = BytesMut::new();
        ClientCodec::new().encode(&command, &mut buf).unwrap();
        assert_eq!(text(&buf), reference::SENDMSG);
        let mut wire = BytesMut::from(reference::SENDMSG);
        assert_eq!(ServerCodec::new().decode(&mut wire).unwrap(), Some(command));
        assert!(wire.is_empty());
    }

    #[test]
    fn commands_with_a_declared_body_encode_and_decode_like_the_reference() {
        let arg = "6 6 3 7000 # file_string://prompts/enter_code.wav silence_stream://250 otp_digits ^\\d{6}$ 3000";
        let command = Command::new("sendmsg a1b2c3d4-0000-4000-8000-000000000042")
            .header("call-command", "execute")
            .header("execute-app-name", "play_and_get_digits")
            .header("event-lock", "true")
            .header("content-type", "text/plain")
            .header("content-length", "94")
            .body(arg);
        let mut buf = BytesMut::new();
        ClientCodec::new().encode(&command, &mut buf).unwrap();
        assert_eq!(
            text(&buf),
            reference::SENDMSG_WITH_BODY,
            "the declared lower-case length is kept, not repeated"
        );
        let mut wire = BytesMut::from(reference::SENDMSG_WITH_BODY);
        let decoded = ServerCodec::new().decode(&mut wire).unwrap().unwrap();
        assert!(wire.is_empty());
        assert_eq!(
            decoded.line(),
            "sendmsg a1b2c3d4-0000-4000-8000-000000000042"
        );
        assert_eq!(decoded.headers().get("Content-Length"), Some("94"));
        assert_eq!(decoded.body_bytes().map(|b| &b[..]), Some(arg.as_bytes()));
        assert_eq!(decoded, command);
    }

    #[test]
    fn commands_with_a_body_announce_its_length() {
        let arg = "6 6 3 7000 # file_string://prompts/enter_code.wav silence_stream://250 otp_digits ^\\d{6}$ 3000";
        let command = Command::sendmsg(
            "a1b2c3d4-0000-4000-8000-000000000042",
            SendMsg::execute("play_and_get_digits", arg),
        )
        .body(arg);
        let mut buf = BytesMut::new();
        ClientCodec::new().encode(&command, &mut buf).unwrap();
        let text = String::from_utf8(buf.to_vec()).unwrap();
        assert!(text.ends_with(&format!("Content-Length: {}\n\n{arg}", arg.len())));
    }

    #[test]
    fn line_breaks_cannot_smuggle_a_second_command() {
        let mut buf = BytesMut::new();
        let mut codec = ClientCodec::new();
        let hostile = Command::api("status\n\napi hupall");
        assert!(matches!(
            codec.encode(&hostile, &mut buf),
            Err(FrameError::InvalidCommand(_))
        ));
        let hostile_header =
            Command::new("sendmsg u").header("execute-app-arg", "x\nevent-lock: true");
        assert!(matches!(
            codec.encode(&hostile_header, &mut buf),
            Err(FrameError::InvalidCommand(_))
        ));
        let bad_name = Command::new("sendmsg u").header("a:b", "x");
        assert!(codec.encode(&bad_name, &mut buf).is_err());
        assert!(buf.is_empty(), "nothing is written for a refused command");
    }

    #[test]
    fn server_decodes_commands_as_freeswitch_parses_them() {
        let mut codec = ServerCodec::new();
        let mut buf = BytesMut::from(
            &b"\r\n\nauth ClueCon\r\n\r\nsendmsg u1\ncall-command:execute\nexecute-app-name:   playback\nno colon line\ncontent-length: 5\n\nhello"[..],
        );
        let auth = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(auth.line(), "auth ClueCon");
        let sendmsg = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(sendmsg.line(), "sendmsg u1");
        assert_eq!(sendmsg.headers().get("call-command"), Some("execute"));
        assert_eq!(sendmsg.headers().get("Execute-App-Name"), Some("playback"));
        assert_eq!(sendmsg.headers().len(), 3);
        assert_eq!(&sendmsg.body_bytes().unwrap()[..], b"hello");
        assert!(buf.is_empty());
    }

    #[test]
    fn commands_round_trip_through_both_codecs() {
        let command = Command::bgapi("originate {origination_uuid=u1}null/x &park()", "j1");
        let mut buf = BytesMut::new();
        ClientCodec::new().encode(&command, &mut buf).unwrap();
        assert_eq!(ServerCodec::new().decode(&mut buf).unwrap(), Some(command));
    }

    #[test]
    fn the_reference_examples_decode_as_one_stream_in_any_chunking() {
        let stream = [
            reference::API_RESPONSE,
            reference::BGAPI_REPLY,
            reference::BACKGROUND_JOB,
            reference::DTMF,
            reference::JSON_CHANNEL_ANSWER,
            reference::LOG_DATA,
        ]
        .concat();
        let whole = decode_all(&mut ClientCodec::new(), stream.as_bytes());
        let types: Vec<_> = whole.iter().map(Frame::content_type).collect();
        assert_eq!(
            types,
            [
                Some("api/response"),
                Some("command/reply"),
                Some("text/event-plain"),
                Some("text/event-plain"),
                Some("text/event-json"),
                Some("log/data"),
            ]
        );
        let mut codec = ClientCodec::new();
        let mut buf = BytesMut::new();
        let mut singles = Vec::new();
        for &byte in stream.as_bytes() {
            buf.put_u8(byte);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                singles.push(frame);
            }
        }
        assert_eq!(singles, whole);
        let mut again = BytesMut::new();
        for frame in &whole {
            again.extend_from_slice(&encode_frame(frame));
        }
        assert_eq!(text(&again), stream);
    }

    #[test]
    fn replies_decode_like_the_reference() {
        let api = decode_one(reference::API_RESPONSE);
        assert_eq!(
            envelope(&api),
            [("Content-Type", "api/response"), ("Content-Length", "41")]
        );
        assert_eq!(
            api.body().map(|b| &b[..]),
            Some(&b"+OK a1b2c3d4-0000-4000-8000-000000000042\n"[..])
        );
        assert_eq!(encode_frame(&api), reference::API_RESPONSE.as_bytes());

        let bgapi = decode_one(reference::BGAPI_REPLY);
        assert_eq!(
            envelope(&bgapi),
            [
                ("Content-Type", "command/reply"),
                (
                    "Reply-Text",
                    "+OK Job-UUID: 0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01"
                ),
                ("Job-UUID", "0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01"),
            ]
        );
        assert_eq!(bgapi.body(), None);
        assert_eq!(encode_frame(&bgapi), reference::BGAPI_REPLY.as_bytes());
    }

    #[test]
    fn a_background_job_decodes_like_the_reference() {
        let frame = decode_one(reference::BACKGROUND_JOB);
        assert_eq!(
            envelope(&frame),
            [
                ("Content-Length", "763"),
                ("Content-Type", "text/event-plain")
            ]
        );
        assert_eq!(frame.body().map(Bytes::len), Some(763));
        assert_eq!(encode_frame(&frame), reference::BACKGROUND_JOB.as_bytes());

        let event = event_of(frame);
        assert_eq!(event.name(), EventName::BackgroundJob);
        assert_eq!(
            decoded(&event),
            owned(&[
                ("Event-Name", "BACKGROUND_JOB"),
                ("Core-UUID", "6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10"),
                ("FreeSWITCH-Hostname", "fs-lab-1"),
                ("FreeSWITCH-Switchname", "fs-lab-1"),
                ("FreeSWITCH-IPv4", "192.0.2.10"),
                ("FreeSWITCH-IPv6", "::1"),
                ("Event-Date-Local", "2026-03-01 10:05:30"),
                ("Event-Date-GMT", "Sun, 01 Mar 2026 09:05:30 GMT"),
                ("Event-Date-Timestamp", "1772359530412233"),
                ("Event-Calling-File", "mod_event_socket.c"),
                ("Event-Calling-Function", "api_exec"),
                ("Event-Calling-Line-Number", "1589"),
                ("Event-Sequence", "9135"),
                ("Job-UUID", "0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01"),
                ("Job-Command", "originate"),
                (
                    "Job-Command-Arg",
                    "{origination_uuid=a1b2c3d4-0000-4000-8000-000000000042,ignore_early_media=true,originate_timeout=30}sofia/gateway/carrier1/15551234567 &park()"
                ),
            ])
        );
        assert_eq!(
            event.job_uuid().as_deref(),
            Some("0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01")
        );
        assert_eq!(event.sequence(), Some(9135));
        assert_eq!(event.timestamp_micros(), Some(1_772_359_530_412_233));
        assert_eq!(
            event.body_text().as_deref(),
            Some("+OK a1b2c3d4-0000-4000-8000-000000000042\n")
        );
        assert_eq!(
            Frame::event_plain(&rebuilt(&event)).to_bytes(),
            reference::BACKGROUND_JOB.as_bytes(),
            "encoding the decoded values again gives FreeSWITCH's bytes"
        );
    }

    #[test]
    fn a_dtmf_event_decodes_like_the_reference() {
        let frame = decode_one(reference::DTMF);
        assert_eq!(
            envelope(&frame),
            [
                ("Content-Length", "1056"),
                ("Content-Type", "text/event-plain")
            ]
        );
        assert_eq!(frame.body().map(Bytes::len), Some(1056));
        assert_eq!(encode_frame(&frame), reference::DTMF.as_bytes());

        let event = event_of(frame);
        let uuid = "a1b2c3d4-0000-4000-8000-000000000042";
        assert_eq!(
            decoded(&event),
            owned(&[
                ("Event-Name", "DTMF"),
                ("Core-UUID", "6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10"),
                ("FreeSWITCH-Hostname", "fs-lab-1"),
                ("FreeSWITCH-Switchname", "fs-lab-1"),
                ("FreeSWITCH-IPv4", "192.0.2.10"),
                ("FreeSWITCH-IPv6", "::1"),
                ("Event-Date-Local", "2026-03-01 10:05:41"),
                ("Event-Date-GMT", "Sun, 01 Mar 2026 09:05:41 GMT"),
                ("Event-Date-Timestamp", "1772359541002817"),
                ("Event-Calling-File", "switch_channel.c"),
                ("Event-Calling-Function", "switch_channel_queue_dtmf"),
                ("Event-Calling-Line-Number", "700"),
                ("Event-Sequence", "9201"),
                ("Channel-State", "CS_EXECUTE"),
                ("Channel-Call-State", "ACTIVE"),
                ("Channel-State-Number", "4"),
                ("Channel-Name", "sofia/external/15551234567@203.0.113.5"),
                ("Unique-ID", uuid),
                ("Call-Direction", "outbound"),
                ("Presence-Call-Direction", "outbound"),
                ("Channel-HIT-Dialplan", "false"),
                ("Channel-Call-UUID", uuid),
                ("Answer-State", "answered"),
                ("Caller-Direction", "outbound"),
                ("Caller-Caller-ID-Name", "Acme Bank"),
                ("Caller-Caller-ID-Number", "+15550001111"),
                ("Caller-Destination-Number", "15551234567"),
                ("Caller-Unique-ID", uuid),
                ("DTMF-Digit", "7"),
                ("DTMF-Duration", "1360"),
                ("DTMF-Source", "RTP"),
            ])
        );
        assert_eq!(event.name(), EventName::Dtmf);
        assert_eq!(event.unique_id().as_deref(), Some(uuid));
        assert_eq!(event.body(), None);
        assert_eq!(
            Frame::event_plain(&event).to_bytes(),
            reference::DTMF.as_bytes(),
            "a received event is written back as received"
        );
        assert_eq!(
            Frame::event_plain(&rebuilt(&event)).to_bytes(),
            reference::DTMF.as_bytes(),
            "encoding the decoded values again gives FreeSWITCH's bytes"
        );
    }

    #[test]
    fn a_json_event_decodes_like_the_reference() {
        let frame = decode_one(reference::JSON_CHANNEL_ANSWER);
        assert_eq!(
            envelope(&frame),
            [
                ("Content-Length", "577"),
                ("Content-Type", "text/event-json")
            ]
        );
        assert_eq!(frame.body().map(Bytes::len), Some(577));
        assert_eq!(
            encode_frame(&frame),
            reference::JSON_CHANNEL_ANSWER.as_bytes()
        );

        let event = event_of(frame);
        assert_eq!(
            decoded(&event),
            owned(&[
                ("Event-Name", "CHANNEL_ANSWER"),
                ("Core-UUID", "6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10"),
                ("FreeSWITCH-Hostname", "fs-lab-1"),
                ("FreeSWITCH-Switchname", "fs-lab-1"),
                ("FreeSWITCH-IPv4", "192.0.2.10"),
                ("FreeSWITCH-IPv6", "::1"),
                ("Event-Date-Local", "2026-03-01 10:05:34"),
                ("Event-Date-GMT", "Sun, 01 Mar 2026 09:05:34 GMT"),
                ("Event-Date-Timestamp", "1772359534120056"),
                ("Event-Calling-File", "switch_channel.c"),
                (
                    "Event-Calling-Function",
                    "switch_channel_perform_mark_answered"
                ),
                ("Event-Calling-Line-Number", "3848"),
                ("Event-Sequence", "9160"),
                ("Unique-ID", "a1b2c3d4-0000-4000-8000-000000000042"),
                ("Answer-State", "answered"),
            ])
        );
        assert_eq!(event.name(), EventName::ChannelAnswer);
        assert_eq!(event.body(), None);
        assert_eq!(
            Frame::event_json(&event).to_bytes(),
            reference::JSON_CHANNEL_ANSWER.as_bytes()
        );
    }

    #[test]
    fn a_log_line_decodes_like_the_reference() {
        let frame = decode_one(reference::LOG_DATA);
        assert_eq!(
            envelope(&frame),
            [
                ("Content-Type", "log/data"),
                ("Content-Length", "136"),
                ("Log-Level", "5"),
                ("Text-Channel", "3"),
                ("Log-File", "switch_channel.c"),
                ("Log-Func", "switch_channel_set_name"),
                ("Log-Line", "1150"),
                ("User-Data", "a1b2c3d4-0000-4000-8000-000000000042"),
            ]
        );
        let line = "2026-03-01 10:05:30.412233 [NOTICE] switch_channel.c:1150 New Channel sofia/external/15551234567 [a1b2c3d4-0000-4000-8000-000000000042]\n";
        assert_eq!(frame.body().map(|b| &b[..]), Some(line.as_bytes()));
        assert_eq!(encode_frame(&frame), reference::LOG_DATA.as_bytes());
        assert_eq!(
            Message::try_from(frame).unwrap(),
            Message::Log {
                level: Some(5),
                text: line.to_owned()
            }
        );
    }
}
