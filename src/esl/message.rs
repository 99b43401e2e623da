//! What a frame from FreeSWITCH means, by its `Content-Type`.

use bytes::Bytes;

use super::event::{Event, EventError};
use super::frame::{Frame, content_type};
use super::headers::Headers;

/// A frame from FreeSWITCH, classified. Only [`Message::Reply`] and
/// [`Message::ApiResponse`] answer commands (oldest pending first); everything
/// else arrives unsolicited and may come between a command and its reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The server waits for `auth`.
    AuthRequest,
    /// The reply to a command other than `api`.
    Reply(Reply),
    /// The output of an `api` command.
    ApiResponse(Bytes),
    /// An event (plain or JSON).
    Event(Event),
    /// FreeSWITCH is about to close the connection (or, when `linger` is
    /// true, a controlled channel hung up and the connection lingers).
    Disconnect {
        /// `Content-Disposition: linger`: not the end of the stream.
        linger: bool,
        /// The notice text.
        text: String,
    },
    /// The ACL refused this client.
    RudeRejection(String),
    /// A log line (after `log <level>`).
    Log {
        /// `Log-Level`.
        level: Option<u8>,
        /// The line.
        text: String,
    },
    /// A frame of a type this library does not interpret (XML events among
    /// them), kept whole.
    Other(Frame),
}

/// A `command/reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    headers: Headers,
}

impl Reply {
    /// `Reply-Text`, verbatim (never percent-decoded: it may contain `%`).
    pub fn text(&self) -> &str {
        self.headers.get("Reply-Text").unwrap_or("")
    }

    /// Whether the reply starts with `+OK`.
    pub fn is_ok(&self) -> bool {
        self.text().starts_with("+OK")
    }

    /// The `Job-UUID` line of a `bgapi` reply.
    pub fn job_uuid(&self) -> Option<&str> {
        self.headers.get("Job-UUID")
    }

    /// Every header of the reply.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl TryFrom<Frame> for Message {
    type Error = EventError;

    /// Classifies a frame. Fails only for an event frame whose body is not a
    /// valid event; the stream itself is still in step after such a frame.
    fn try_from(frame: Frame) -> Result<Message, EventError> {
        let kind = match frame.content_type().unwrap_or("") {
            content_type::AUTH_REQUEST => Kind::AuthRequest,
            content_type::COMMAND_REPLY => Kind::Reply,
            content_type::API_RESPONSE => Kind::ApiResponse,
            content_type::EVENT_PLAIN => Kind::EventPlain,
            content_type::EVENT_JSON => Kind::EventJson,
            content_type::DISCONNECT_NOTICE => Kind::Disconnect,
            content_type::RUDE_REJECTION => Kind::RudeRejection,
            content_type::LOG_DATA => Kind::Log,
            _ => Kind::Other,
        };
        let (headers, body) = frame.into_parts();
        let body_text = |body: Option<Bytes>| {
            body.as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned()
        };
        Ok(match kind {
            Kind::AuthRequest => Message::AuthRequest,
            Kind::Reply => Message::Reply(Reply { headers }),
            Kind::ApiResponse => Message::ApiResponse(body.unwrap_or_default()),
            Kind::EventPlain => Message::Event(Event::parse_plain(body.unwrap_or_default())?),
            Kind::EventJson => Message::Event(Event::parse_json(&body.unwrap_or_default())?),
            Kind::Disconnect => Message::Disconnect {
                linger: headers
                    .get("Content-Disposition")
                    .is_some_and(|d| d.eq_ignore_ascii_case("linger")),
                text: body_text(body),
            },
            Kind::RudeRejection => Message::RudeRejection(body_text(body)),
            Kind::Log => Message::Log {
                level: headers.get("Log-Level").and_then(|l| l.trim().parse().ok()),
                text: body_text(body),
            },
            Kind::Other => Message::Other(Frame::new(headers, body)),
        })
    }
}

/// A frame's `Content-Type`, read before the frame is taken apart.
enum Kind {
    AuthRequest,
    Reply,
    ApiResponse,
    EventPlain,
    EventJson,
    Disconnect,
    RudeRejection,
    Log,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esl::event_name::EventName;
    use crate::esl::frame::GOODBYE;

    #[test]
    fn classifies_every_content_type() {
        assert_eq!(
            Message::try_from(Frame::auth_request()).unwrap(),
            Message::AuthRequest
        );
        let Message::Reply(reply) =
            Message::try_from(Frame::command_reply("-ERR invalid")).unwrap()
        else {
            panic!("not a reply");
        };
        assert!(!reply.is_ok());
        assert_eq!(reply.text(), "-ERR invalid");
        assert_eq!(
            Message::try_from(Frame::api_response("true")).unwrap(),
            Message::ApiResponse(Bytes::from_static(b"true"))
        );
        let event = Event::new(&EventName::Heartbeat);
        assert_eq!(
            Message::try_from(Frame::event_plain(&event)).unwrap(),
            Message::Event(event.clone())
        );
        assert_eq!(
            Message::try_from(Frame::event_json(&event)).unwrap(),
            Message::Event(event)
        );
        assert_eq!(
            Message::try_from(Frame::disconnect_notice(GOODBYE)).unwrap(),
            Message::Disconnect {
                linger: false,
                text: GOODBYE.to_owned()
            }
        );
        assert!(matches!(
            Message::try_from(Frame::rude_rejection()).unwrap(),
            Message::RudeRejection(text) if text == "Access Denied, go away.\n"
        ));
        let log = Frame::new(
            Headers::new()
                .with("Content-Type", "log/data")
                .with("Content-Length", "6")
                .with("Log-Level", "7"),
            Some(Bytes::from_static(b"hello\n")),
        );
        assert_eq!(
            Message::try_from(log).unwrap(),
            Message::Log {
                level: Some(7),
                text: "hello\n".to_owned()
            }
        );
    }

    #[test]
    fn linger_notices_are_not_the_end() {
        let headers = Headers::new()
            .with("Content-Type", "text/disconnect-notice")
            .with("Content-Disposition", "linger")
            .with("Content-Length", "0");
        let message = Message::try_from(Frame::new(headers, Some(Bytes::new()))).unwrap();
        assert!(matches!(message, Message::Disconnect { linger: true, .. }));
    }

    #[test]
    fn unknown_types_are_kept_and_bad_events_are_errors() {
        let xml = Frame::new(Headers::new().with("Content-Type", "text/event-xml"), None);
        assert!(matches!(Message::try_from(xml).unwrap(), Message::Other(_)));
        let bad = Frame::new(
            Headers::new()
                .with("Content-Type", "text/event-json")
                .with("Content-Length", "1"),
            Some(Bytes::from_static(b"{")),
        );
        assert!(Message::try_from(bad).is_err());
    }
}
