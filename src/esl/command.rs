//! Commands: what a client writes on an event socket — a command line,
//! optional header lines, an empty line, and an optional body announced by
//! `Content-Length`.

use std::fmt;

use bytes::Bytes;

use super::event_name::EventName;
use super::hangup_cause::HangupCause;
use super::headers::Headers;

/// The serialization FreeSWITCH uses for the events a connection subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EventFormat {
    /// Percent-encoded header lines (FreeSWITCH's primary format).
    #[default]
    Plain,
    /// One JSON object per event.
    Json,
    /// An XML document per event.
    Xml,
}

impl EventFormat {
    /// The keyword used in `event <format> ...`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Plain => "plain",
            EventFormat::Json => "json",
            EventFormat::Xml => "xml",
        }
    }

    /// Reads a format keyword (case-insensitive).
    pub fn parse(word: &str) -> Option<EventFormat> {
        match word.to_ascii_lowercase().as_str() {
            "plain" => Some(EventFormat::Plain),
            "json" => Some(EventFormat::Json),
            "xml" => Some(EventFormat::Xml),
            _ => None,
        }
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command as it travels on the wire. The client builds them with the
/// constructors below; the simulator receives them from its codec.
///
/// Nothing here is escaped: the codec refuses to write a command whose line or
/// headers contain CR or LF, so text from outside can never smuggle a second
/// command onto the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    line: String,
    headers: Headers,
    body: Option<Bytes>,
}

impl Command {
    /// A command from its first line (`api status`).
    pub fn new(line: impl Into<String>) -> Command {
        Command {
            line: line.into(),
            headers: Headers::new(),
            body: None,
        }
    }

    /// A command from all its parts, as a server decodes it.
    pub fn from_parts(line: String, headers: Headers, body: Option<Bytes>) -> Command {
        Command {
            line,
            headers,
            body,
        }
    }

    /// Adds a header line.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Command {
        self.headers.push(name, value);
        self
    }

    /// Attaches a body; the codec announces it with `Content-Length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Command {
        self.body = Some(body.into());
        self
    }

    /// `auth <password>`.
    pub fn auth(password: &str) -> Command {
        Command::new(format!("auth {password}"))
    }

    /// `api <command>`: runs synchronously on the connection's thread.
    pub fn api(command: &str) -> Command {
        Command::new(format!("api {command}"))
    }

    /// `bgapi <command>` with the client-chosen `Job-UUID`.
    pub fn bgapi(command: &str, job_uuid: &str) -> Command {
        Command::new(format!("bgapi {command}")).header("Job-UUID", job_uuid)
    }

    /// `event <format> <names...>`.
    pub fn event(format: EventFormat, names: &[EventName]) -> Command {
        let words: Vec<&str> = names.iter().map(EventName::as_str).collect();
        Command::event_words(format, &words)
    }

    /// `event <format> <words...>`, for subscriptions that name CUSTOM
    /// subclasses (`CUSTOM sofia::register`).
    pub fn event_words(format: EventFormat, words: &[&str]) -> Command {
        Command::new(format!("event {format} {}", words.join(" ")))
    }

    /// `nixevent <names...>`.
    pub fn nixevent(names: &[EventName]) -> Command {
        let words: Vec<&str> = names.iter().map(EventName::as_str).collect();
        Command::new(format!("nixevent {}", words.join(" ")))
    }

    /// `noevents`.
    pub fn noevents() -> Command {
        Command::new("noevents")
    }

    /// `filter <header> <value>`.
    pub fn filter(header: &str, value: &str) -> Command {
        Command::new(format!("filter {header} {value}"))
    }

    /// `filter delete <header> [<value>]`.
    pub fn filter_delete(header: &str, value: Option<&str>) -> Command {
        match value {
            Some(value) => Command::new(format!("filter delete {header} {value}")),
            None => Command::new(format!("filter delete {header}")),
        }
    }

    /// `sendmsg <uuid>` carrying `message`.
    pub fn sendmsg(uuid: &str, message: SendMsg) -> Command {
        Command {
            line: format!("sendmsg {uuid}"),
            headers: message.headers,
            body: message.body,
        }
    }

    /// `log <level>`.
    pub fn log(level: &str) -> Command {
        Command::new(format!("log {level}"))
    }

    /// `exit`: FreeSWITCH replies `+OK bye`, sends a disconnect notice, closes.
    pub fn exit() -> Command {
        Command::new("exit")
    }

    /// The command line.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The header lines.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The body.
    pub fn body_bytes(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The first word of the command line, lower-cased (`api`, `sendmsg`).
    pub fn verb(&self) -> String {
        self.line
            .split_ascii_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    /// What follows the first word of the command line.
    pub fn args(&self) -> &str {
        let line = self.line.trim_start();
        match line.find(|c: char| c.is_ascii_whitespace()) {
            Some(i) => line[i..].trim_start(),
            None => "",
        }
    }
}

/// The message of a `sendmsg`: what to do to one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMsg {
    headers: Headers,
    body: Option<Bytes>,
}

impl SendMsg {
    /// Runs dialplan application `app` with `arg` on the channel. An argument
    /// with line breaks travels as a body, since header values cannot hold
    /// them.
    pub fn execute(app: &str, arg: &str) -> SendMsg {
        let headers = Headers::new()
            .with("call-command", "execute")
            .with("execute-app-name", app);
        if arg.contains(['\r', '\n']) {
            SendMsg {
                headers: headers.with("content-type", "text/plain"),
                body: Some(Bytes::copy_from_slice(arg.as_bytes())),
            }
        } else {
            SendMsg {
                headers: headers.with("execute-app-arg", arg),
                body: None,
            }
        }
    }

    /// Hangs the channel up with `cause`.
    pub fn hangup(cause: &HangupCause) -> SendMsg {
        SendMsg {
            headers: Headers::new()
                .with("call-command", "hangup")
                .with("hangup-cause", cause.name()),
            body: None,
        }
    }

    /// Holds the channel's command queue while the application runs, so the
    /// next queued message waits for it instead of running nested inside it.
    pub fn event_lock(mut self) -> SendMsg {
        self.headers.push("event-lock", "true");
        self
    }

    /// Our id for this execution; FreeSWITCH echoes it as `Application-UUID`
    /// on the matching `CHANNEL_EXECUTE` and `CHANNEL_EXECUTE_COMPLETE`.
    pub fn event_uuid(mut self, uuid: &str) -> SendMsg {
        self.headers.push("Event-UUID", uuid);
        self
    }

    /// Runs the application `count` times.
    pub fn loops(mut self, count: u32) -> SendMsg {
        self.headers.push("loops", count.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verb_and_args_split_the_line() {
        let command = Command::api("originate {a=1}null/x &park()");
        assert_eq!(command.verb(), "api");
        assert_eq!(command.args(), "originate {a=1}null/x &park()");
        assert_eq!(Command::new("  EXIT ").verb(), "exit");
        assert_eq!(Command::noevents().args(), "");
    }

    #[test]
    fn execute_with_line_breaks_uses_a_body() {
        let message = SendMsg::execute("speak", "line one\nline two").event_lock();
        let command = Command::sendmsg("u1", message);
        assert_eq!(command.headers().get("execute-app-arg"), None);
        assert_eq!(command.headers().get("content-type"), Some("text/plain"));
        assert_eq!(command.body_bytes().map(|b| b.len()), Some(17));
    }

    #[test]
    fn hangup_names_the_cause() {
        let command = Command::sendmsg("u1", SendMsg::hangup(&HangupCause::NormalClearing));
        assert_eq!(
            command.headers().get("hangup-cause"),
            Some("NORMAL_CLEARING")
        );
        assert_eq!(command.line(), "sendmsg u1");
    }

    #[test]
    fn formats_round_trip() {
        for format in [EventFormat::Plain, EventFormat::Json, EventFormat::Xml] {
            assert_eq!(
                EventFormat::parse(&format.as_str().to_uppercase()),
                Some(format)
            );
        }
        assert_eq!(EventFormat::parse("yaml"), None);
    }
}
