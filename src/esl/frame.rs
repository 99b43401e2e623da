//! Frames: the unit FreeSWITCH writes on an event socket (a header block, an
//! empty line, then `Content-Length` bytes of body when announced).

use bytes::{BufMut, Bytes, BytesMut};

use super::event::Event;
use super::headers::Headers;

/// The `Content-Type` values FreeSWITCH sends.
pub mod content_type {
    /// Sent right after accept: the server waits for `auth`.
    pub const AUTH_REQUEST: &str = "auth/request";
    /// Reply to every command except `api`.
    pub const COMMAND_REPLY: &str = "command/reply";
    /// Reply to `api`; the body is the command's output.
    pub const API_RESPONSE: &str = "api/response";
    /// An event in plain (percent-encoded header lines) form.
    pub const EVENT_PLAIN: &str = "text/event-plain";
    /// An event as one JSON object.
    pub const EVENT_JSON: &str = "text/event-json";
    /// An event as an XML document.
    pub const EVENT_XML: &str = "text/event-xml";
    /// Sent before FreeSWITCH closes the connection (or, with
    /// `Content-Disposition: linger`, when a controlled channel hangs up).
    pub const DISCONNECT_NOTICE: &str = "text/disconnect-notice";
    /// Sent when the ACL refuses the peer.
    pub const RUDE_REJECTION: &str = "text/rude-rejection";
    /// A log line, after `log <level>`.
    pub const LOG_DATA: &str = "log/data";
}

/// The goodbye FreeSWITCH sends after `exit` (67 bytes).
pub const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// The body of an ACL rejection.
pub const ACCESS_DENIED: &str = "Access Denied, go away.\n";

/// One frame: envelope headers in wire order and the body they announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    headers: Headers,
    body: Option<Bytes>,
}

impl Frame {
    /// A frame from its parts. When there is a body, `headers` should carry
    /// its `Content-Length` (the constructors below do).
    pub fn new(headers: Headers, body: Option<Bytes>) -> Frame {
        Frame { headers, body }
    }

    /// `Content-Type: auth/request`, no body.
    pub fn auth_request() -> Frame {
        Frame::new(
            Headers::new().with("Content-Type", content_type::AUTH_REQUEST),
            None,
        )
    }

    /// A `command/reply` with its `Reply-Text`.
    pub fn command_reply(text: &str) -> Frame {
        Frame::command_reply_with(text, Headers::new())
    }

    /// A `command/reply` with extra header lines after `Reply-Text` (bgapi
    /// adds `Job-UUID`).
    pub fn command_reply_with(text: &str, extra: Headers) -> Frame {
        let mut headers = Headers::new()
            .with("Content-Type", content_type::COMMAND_REPLY)
            .with("Reply-Text", text);
        for (name, value) in extra.iter() {
            headers.push(name, value);
        }
        Frame::new(headers, None)
    }

    /// An `api/response` (Content-Type first, then Content-Length).
    pub fn api_response(body: impl Into<Bytes>) -> Frame {
        Frame::typed_first(content_type::API_RESPONSE, body.into())
    }

    /// A plain event frame (Content-Length first, as FreeSWITCH writes it).
    pub fn event_plain(event: &Event) -> Frame {
        Frame::length_first(content_type::EVENT_PLAIN, Bytes::from(event.to_plain()))
    }

    /// A JSON event frame.
    pub fn event_json(event: &Event) -> Frame {
        Frame::length_first(content_type::EVENT_JSON, Bytes::from(event.to_json()))
    }

    /// A disconnect notice with `body` as its text.
    pub fn disconnect_notice(body: impl Into<Bytes>) -> Frame {
        Frame::typed_first(content_type::DISCONNECT_NOTICE, body.into())
    }

    /// The disconnect notice of a connection controlling one channel
    /// (`myevents <uuid>`, outbound sockets): it names the channel.
    pub fn session_disconnect_notice(uuid: &str, body: impl Into<Bytes>) -> Frame {
        let body = body.into();
        let headers = Headers::new()
            .with("Content-Type", content_type::DISCONNECT_NOTICE)
            .with("Controlled-Session-UUID", uuid)
            .with("Content-Disposition", "disconnect")
            .with("Content-Length", body.len().to_string());
        Frame::new(headers, Some(body))
    }

    /// The notice a lingering connection gets when its channel hangs up:
    /// events keep coming for `linger_time` seconds (-1: until `exit`).
    pub fn linger_notice(uuid: &str, channel_name: &str, linger_time: i64) -> Frame {
        let headers = Headers::new()
            .with("Content-Type", content_type::DISCONNECT_NOTICE)
            .with("Controlled-Session-UUID", uuid)
            .with("Content-Disposition", "linger")
            .with("Channel-Name", channel_name)
            .with("Linger-Time", linger_time.to_string())
            .with("Content-Length", "0");
        Frame::new(headers, Some(Bytes::new()))
    }

    /// The ACL rejection frame.
    pub fn rude_rejection() -> Frame {
        Frame::typed_first(
            content_type::RUDE_REJECTION,
            Bytes::from_static(ACCESS_DENIED.as_bytes()),
        )
    }

    fn typed_first(content_type: &str, body: Bytes) -> Frame {
        let headers = Headers::new()
            .with("Content-Type", content_type)
            .with("Content-Length", body.len().to_string());
        Frame::new(headers, Some(body))
    }

    fn length_first(content_type: &str, body: Bytes) -> Frame {
        let headers = Headers::new()
            .with("Content-Length", body.len().to_string())
            .with("Content-Type", content_type);
        Frame::new(headers, Some(body))
    }

    /// The envelope headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// One envelope header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// The body, exactly as many bytes as `Content-Length` announced.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// Takes the frame apart.
    pub fn into_parts(self) -> (Headers, Option<Bytes>) {
        (self.headers, self.body)
    }

    /// Writes the frame as bytes: header lines, an empty line, the body.
    pub fn encode_into(&self, dst: &mut BytesMut) {
        let body_len = self.body.as_ref().map_or(0, Bytes::len);
        dst.reserve(self.headers.len() * 32 + body_len + 1);
        for (name, value) in self.headers.iter() {
            dst.put_slice(name.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(value.as_bytes());
            dst.put_u8(b'\n');
        }
        dst.put_u8(b'\n');
        if let Some(body) = &self.body {
            dst.put_slice(body);
        }
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_into(&mut out);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esl::event_name::EventName;
    use crate::esl::reference;

    #[test]
    fn api_response_bytes_match_the_reference() {
        let frame = Frame::api_response("+OK a1b2c3d4-0000-4000-8000-000000000042\n");
        assert_eq!(frame.to_bytes(), reference::API_RESPONSE.as_bytes());
    }

    #[test]
    fn bgapi_reply_bytes_match_the_reference() {
        let job = "0d8b6a3e-61c2-4c47-8f1e-3f9a2b7c5d01";
        let frame = Frame::command_reply_with(
            &format!("+OK Job-UUID: {job}"),
            Headers::new().with("Job-UUID", job),
        );
        assert_eq!(frame.to_bytes(), reference::BGAPI_REPLY.as_bytes());
    }

    #[test]
    fn goodbye_notice_is_67_bytes_of_body() {
        assert_eq!(GOODBYE.len(), 67);
        let bytes = Frame::disconnect_notice(GOODBYE).to_bytes();
        assert!(bytes.starts_with(b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"));
    }

    #[test]
    fn event_frames_put_content_length_first() {
        let event = Event::new(&EventName::Heartbeat);
        let bytes = Frame::event_plain(&event).to_bytes();
        assert_eq!(
            &bytes[..],
            b"Content-Length: 23\nContent-Type: text/event-plain\n\nEvent-Name: HEARTBEAT\n\n"
        );
    }
}
