//! Events: what FreeSWITCH reports about calls and about itself.
//!
//! A plain event arrives as a header block whose values are percent-encoded,
//! then an optional body. [`Event::parse_plain`] only indexes where each line's
//! name and value lie; a value is decoded when it is asked for, so a reader
//! that looks at five headers of a 170-header event pays for five.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::event_name::EventName;
use super::hangup_cause::HangupCause;
use super::percent;

/// Prefix FreeSWITCH gives channel variables among event headers.
pub const VARIABLE_PREFIX: &str = "variable_";

/// How multi-valued headers are serialized: `ARRAY::v1|:v2`.
const ARRAY_PREFIX: &str = "ARRAY::";
const ARRAY_SEPARATOR: &str = "|:";

/// Why an event body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The inner `Content-Length` is not a decimal number.
    #[error("invalid inner Content-Length {0:?}")]
    InvalidLength(String),
    /// The inner `Content-Length` promises more bytes than the event holds.
    #[error("event body truncated: Content-Length {expected}, {available} bytes present")]
    TruncatedBody {
        /// Bytes the inner `Content-Length` announced.
        expected: usize,
        /// Bytes actually present after the header block.
        available: usize,
    },
    /// A JSON event that is not one JSON object of strings.
    #[error("invalid JSON event: {0}")]
    Json(String),
    /// The event is too large to index (over 4 GiB).
    #[error("event of {0} bytes is too large")]
    TooLarge(usize),
}

/// Where one header line's name and value lie in a plain event's bytes.
#[derive(Debug, Clone, Copy)]
struct Span {
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
}

#[derive(Clone)]
enum Repr {
    /// A plain event as received: values still percent-encoded in `raw`,
    /// header lines in `raw[..headers_end]`, indexed on first need.
    Encoded {
        raw: Bytes,
        headers_end: usize,
        spans: OnceLock<Vec<Span>>,
    },
    /// Headers with decoded values (from JSON, or built in process).
    Decoded(Vec<(String, String)>),
}

/// One event: ordered headers (names may repeat) and an optional body.
#[derive(Clone)]
pub struct Event {
    repr: Repr,
    body: Option<Bytes>,
}

impl Event {
    /// Starts an event of type `name`, with its `Event-Name` header.
    pub fn new(name: &EventName) -> Event {
        Event {
            repr: Repr::Decoded(vec![("Event-Name".to_owned(), name.as_str().to_owned())]),
            body: None,
        }
    }

    /// An event with no header at all, for callers that control every line
    /// (FreeSWITCH puts other headers before `Event-Name` in a few events).
    pub fn empty() -> Event {
        Event {
            repr: Repr::Decoded(Vec::new()),
            body: None,
        }
    }

    /// Indexes a plain event body (the bytes inside a `text/event-plain`
    /// frame): header lines up to the first empty line, then, if the block
    /// carries a `Content-Length`, exactly that many bytes of event body.
    pub fn parse_plain(raw: Bytes) -> Result<Event, EventError> {
        if u32::try_from(raw.len()).is_err() {
            return Err(EventError::TooLarge(raw.len()));
        }
        // The block ends at the first empty line (LF LF, or CRLF CRLF).
        let (block_end, body_start) = if raw.first() == Some(&b'\n') {
            (0, 1)
        } else if let Some(i) = memchr::memmem::find(&raw, b"\n\n") {
            (i + 1, i + 2)
        } else if let Some(i) = memchr::memmem::find(&raw, b"\n\r\n") {
            (i + 1, i + 3)
        } else {
            (raw.len(), raw.len())
        };
        // FreeSWITCH writes the inner Content-Length as the block's last line.
        let last_start = match block_end.checked_sub(1) {
            Some(last_lf) => memchr::memrchr(b'\n', &raw[..last_lf]).map_or(0, |i| i + 1),
            None => 0,
        };
        let last = strip_cr(&raw[last_start..block_end.saturating_sub(1).max(last_start)]);
        let mut headers_end = block_end;
        let mut body = None;
        if let Some(value) = last
            .get(..15)
            .filter(|n| n.eq_ignore_ascii_case(b"Content-Length:"))
            .map(|_| &last[15..])
        {
            let text = String::from_utf8_lossy(value);
            let expected = text
                .trim()
                .parse::<usize>()
                .map_err(|_| EventError::InvalidLength(text.clone().into_owned()))?;
            let available = raw.len().saturating_sub(body_start);
            if available < expected {
                return Err(EventError::TruncatedBody {
                    expected,
                    available,
                });
            }
            headers_end = last_start;
            body = Some(raw.slice(body_start..body_start + expected));
        }
        Ok(Event {
            repr: Repr::Encoded {
                raw,
                headers_end,
                spans: OnceLock::new(),
            },
            body,
        })
    }

    /// Reads a JSON event (`text/event-json` body): one object whose members
    /// are header names with string values (arrays for multi-valued headers),
    /// plus `_body` for the event body. Repeated keys are kept.
    pub fn parse_json(text: &[u8]) -> Result<Event, EventError> {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let members = deserializer
            .deserialize_map(MembersVisitor)
            .map_err(|err| EventError::Json(err.to_string()))?;
        deserializer
            .end()
            .map_err(|err| EventError::Json(err.to_string()))?;
        let mut body = None;
        let mut headers = Vec::with_capacity(members.len());
        for (name, value) in members {
            if name == "_body" {
                body = Some(Bytes::from(value.into_bytes()));
            } else {
                headers.push((name, value));
            }
        }
        if body.is_some() {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case("Content-Length"));
        }
        Ok(Event {
            repr: Repr::Decoded(headers),
            body,
        })
    }

    /// Appends a header line (value unencoded; encoding happens on output).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.decoded_mut().push((name.into(), value.into()));
    }

    /// Builder form of [`Event::push`].
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Event {
        self.push(name, value);
        self
    }

    /// Replaces the event body.
    pub fn set_body(&mut self, body: impl Into<Bytes>) {
        self.body = Some(body.into());
    }

    fn decoded_mut(&mut self) -> &mut Vec<(String, String)> {
        if let Repr::Encoded { .. } = self.repr {
            let lines = self
                .headers()
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            self.repr = Repr::Decoded(lines);
        }
        match &mut self.repr {
            Repr::Decoded(lines) => lines,
            Repr::Encoded { .. } => unreachable!("converted above"),
        }
    }

    /// The headers in wire order, values decoded.
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            event: self,
            index: 0,
        }
    }

    /// The raw header block and its index, for an event as received.
    fn encoded(&self) -> Option<(&[u8], &[Span])> {
        match &self.repr {
            Repr::Encoded {
                raw,
                headers_end,
                spans,
            } => {
                let block = &raw[..*headers_end];
                Some((block, spans.get_or_init(|| index(block))))
            }
            Repr::Decoded(_) => None,
        }
    }

    /// How many header lines the event has.
    pub fn len(&self) -> usize {
        match (&self.repr, self.encoded()) {
            (_, Some((_, spans))) => spans.len(),
            (Repr::Decoded(lines), None) => lines.len(),
            (Repr::Encoded { .. }, None) => 0,
        }
    }

    /// Whether the event has no header line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of header `name`, decoded: the first line named exactly
    /// so, else the first whose name matches ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        match &self.repr {
            Repr::Encoded {
                raw, headers_end, ..
            } => {
                // Most lookups name a header as FreeSWITCH spells it: search
                // the raw block for it without indexing the event.
                if let Some(value) = find_exact(&raw[..*headers_end], name) {
                    return Some(percent::decode_str(value));
                }
                let (block, spans) = self.encoded()?;
                spans
                    .iter()
                    .find(|s| {
                        block[s.name_start as usize..s.name_end as usize]
                            .eq_ignore_ascii_case(name.as_bytes())
                    })
                    .map(|s| {
                        percent::decode_str(&block[s.value_start as usize..s.value_end as usize])
                    })
            }
            Repr::Decoded(lines) => lines
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| Cow::Borrowed(v.as_str())),
        }
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<Cow<'_, str>> {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// A multi-valued header (`ARRAY::a|:b`) split into its values; a plain
    /// value comes back as a single element.
    pub fn header_array(&self, name: &str) -> Option<Vec<String>> {
        let value = self.header(name)?;
        Some(match value.strip_prefix(ARRAY_PREFIX) {
            Some(items) => items.split(ARRAY_SEPARATOR).map(str::to_owned).collect(),
            None => vec![value.into_owned()],
        })
    }

    /// The event type (`Event-Name`); an event without one reads as
    /// `EventName::Other("")`.
    pub fn name(&self) -> EventName {
        self.header("Event-Name").map_or_else(
            || EventName::Other(String::new()),
            |n| EventName::from_wire(&n),
        )
    }

    /// `Event-Subclass` of a CUSTOM event (`sofia::register`).
    pub fn subclass(&self) -> Option<Cow<'_, str>> {
        self.header("Event-Subclass")
    }

    /// The channel the event is about (`Unique-ID`).
    pub fn unique_id(&self) -> Option<Cow<'_, str>> {
        self.header("Unique-ID")
    }

    /// The background job a `BACKGROUND_JOB` event reports on (`Job-UUID`).
    pub fn job_uuid(&self) -> Option<Cow<'_, str>> {
        self.header("Job-UUID")
    }

    /// The `Event-UUID` given with `sendmsg execute`, echoed on
    /// `CHANNEL_EXECUTE`/`CHANNEL_EXECUTE_COMPLETE` (`Application-UUID`).
    pub fn application_uuid(&self) -> Option<Cow<'_, str>> {
        self.header("Application-UUID")
    }

    /// The application of an execute event (`Application`).
    pub fn application(&self) -> Option<Cow<'_, str>> {
        self.header("Application")
    }

    /// The FreeSWITCH instance that sent the event (`Core-UUID`; it changes
    /// when FreeSWITCH restarts).
    pub fn core_uuid(&self) -> Option<Cow<'_, str>> {
        self.header("Core-UUID")
    }

    /// A channel variable (`variable_<name>`).
    pub fn variable(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut key = String::with_capacity(VARIABLE_PREFIX.len() + name.len());
        key.push_str(VARIABLE_PREFIX);
        key.push_str(name);
        self.header(&key)
    }

    /// The hangup cause (`Hangup-Cause`), once the channel has one.
    pub fn hangup_cause(&self) -> Option<HangupCause> {
        self.header("Hangup-Cause")
            .map(|c| HangupCause::from_name(&c))
    }

    /// `Event-Sequence`: creation order inside FreeSWITCH (not delivery
    /// order; gaps are normal).
    pub fn sequence(&self) -> Option<u64> {
        self.header("Event-Sequence")?.parse().ok()
    }

    /// `Event-Date-Timestamp`, microseconds since the Unix epoch.
    pub fn timestamp_micros(&self) -> Option<u64> {
        self.header("Event-Date-Timestamp")?.parse().ok()
    }

    /// The event body (`BACKGROUND_JOB` result text, for example), unencoded.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The event body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Option<Cow<'_, str>> {
        self.body.as_deref().map(String::from_utf8_lossy)
    }

    /// Serializes the event as FreeSWITCH writes a plain event body: one
    /// `Name: value` line per header with the value percent-encoded, an inner
    /// `Content-Length` last when there is a body, an empty line, the body.
    pub fn to_plain(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.len() * 40 + self.body.as_ref().map_or(0, Bytes::len) + 32);
        match &self.repr {
            Repr::Encoded { .. } => {
                if let Some((block, spans)) = self.encoded() {
                    for s in spans {
                        out.extend_from_slice(&block[s.name_start as usize..s.name_end as usize]);
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(&block[s.value_start as usize..s.value_end as usize]);
                        out.push(b'\n');
                    }
                }
            }
            Repr::Decoded(lines) => {
                for (name, value) in lines {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b": ");
                    percent::encode_into(value.as_bytes(), &mut out);
                    out.push(b'\n');
                }
            }
        }
        if let Some(body) = &self.body {
            out.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        } else {
            out.push(b'\n');
        }
        out
    }

    /// Serializes the event as FreeSWITCH writes a JSON event: one object,
    /// string values, `ARRAY::` headers as arrays, repeated keys kept, and
    /// `Content-Length` + `_body` members when there is a body.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.len() * 48 + 2);
        out.push('{');
        let mut first = true;
        let mut member = |out: &mut String, name: &str, value: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            push_json_string(out, name);
            out.push(':');
            match value.strip_prefix(ARRAY_PREFIX) {
                Some(items) => {
                    out.push('[');
                    for (i, item) in items.split(ARRAY_SEPARATOR).enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        push_json_string(out, item);
                    }
                    out.push(']');
                }
                None => push_json_string(out, value),
            }
        };
        for (name, value) in self.headers() {
            member(&mut out, &name, &value);
        }
        if let Some(body) = &self.body {
            member(&mut out, "Content-Length", &body.len().to_string());
            member(&mut out, "_body", &String::from_utf8_lossy(body));
        }
        out.push('}');
        out
    }
}

/// Text from bytes that are almost always valid UTF-8, replacing what is not.
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Finds where each header line's name and value lie. FreeSWITCH
/// percent-encodes `:` in values, so the first colon of a line ends its
/// name; lines without one are ignored, as FreeSWITCH ignores them.
fn index(block: &[u8]) -> Vec<Span> {
    let mut spans = Vec::with_capacity(block.len() / 36);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', block).chain(std::iter::once(block.len())) {
        if start >= block.len() {
            break;
        }
        let line_end = start + strip_cr(&block[start..end]).len();
        if let Some(colon) = memchr::memchr(b':', &block[start..line_end]) {
            let name_end = start + colon;
            let mut value_start = name_end + 1;
            while value_start < line_end && block[value_start] == b' ' {
                value_start += 1;
            }
            spans.push(Span {
                name_start: start as u32,
                name_end: name_end as u32,
                value_start: value_start as u32,
                value_end: line_end as u32,
            });
        }
        start = end + 1;
    }
    spans
}

/// The value of the first line named exactly `name`, found by searching the
/// raw block rather than indexing it.
fn find_exact<'a>(block: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    for at in memchr::memmem::find_iter(block, name) {
        let after = at + name.len();
        if (at == 0 || block[at - 1] == b'\n') && block.get(after) == Some(&b':') {
            let rest = &block[after + 1..];
            let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
            let line = strip_cr(line);
            let skip = line.iter().take_while(|&&b| b == b' ').count();
            return Some(&line[skip..]);
        }
    }
    None
}

fn push_json_string(out: &mut String, value: &str) {
    // serde_json escapes exactly what cJSON escapes for our purposes: quotes,
    // backslashes and control characters; non-ASCII text stays raw.
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned()));
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name().as_str())
            .field("unique_id", &self.unique_id())
            .field("headers", &self.len())
            .field("body", &self.body.as_ref().map(Bytes::len))
            .finish()
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.body == other.body && self.headers().eq(other.headers())
    }
}

/// Iterator over an event's headers, values decoded.
pub struct Headers<'a> {
    event: &'a Event,
    index: usize,
}

impl<'a> Iterator for Headers<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let item = match &self.event.repr {
            Repr::Encoded { .. } => self.event.encoded().and_then(|(block, spans)| {
                spans.get(self.index).map(|s| {
                    (
                        utf8(&block[s.name_start as usize..s.name_end as usize]),
                        percent::decode_str(&block[s.value_start as usize..s.value_end as usize]),
                    )
                })
            }),
            Repr::Decoded(lines) => lines
                .get(self.index)
                .map(|(n, v)| (Cow::Borrowed(n.as_str()), Cow::Borrowed(v.as_str()))),
        };
        self.index += 1;
        item
    }
}

/// Collects a JSON object's members in order, keeping repeated keys, turning
/// arrays into FreeSWITCH's `ARRAY::` form and numbers into their text.
struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
            members.push((name, json_to_header_value(value)));
        }
        Ok(members)
    }
}

fn json_to_header_value(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.into_iter().map(json_to_header_value).collect();
            format!("{ARRAY_PREFIX}{}", parts.join(ARRAY_SEPARATOR))
        }
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DTMF: &str = "Event-Name: DTMF\nCore-UUID: 6f1c3a52-8a1e-4d8e-9c55-0b3e2d7f1a10\nFreeSWITCH-IPv6: %3A%3A1\nEvent-Date-Local: 2026-03-01%2010%3A05%3A41\nChannel-Name: sofia/external/15551234567%40203.0.113.5\nUnique-ID: a1b2c3d4-0000-4000-8000-000000000042\nCaller-Caller-ID-Name: Acme%20Bank\nCaller-Caller-ID-Number: %2B15550001111\nDTMF-Digit: 7\nDTMF-Duration: 1360\n\n";

    #[test]
    fn plain_events_decode_values_on_access() {
        let event = Event::parse_plain(Bytes::from_static(DTMF.as_bytes())).unwrap();
        assert_eq!(event.name(), EventName::Dtmf);
        assert_eq!(event.header("DTMF-Digit").as_deref(), Some("7"));
        assert_eq!(event.header("freeswitch-ipv6").as_deref(), Some("::1"));
        assert_eq!(
            event.header("Caller-Caller-ID-Number").as_deref(),
            Some("+15550001111")
        );
        assert_eq!(
            event.unique_id().as_deref(),
            Some("a1b2c3d4-0000-4000-8000-000000000042")
        );
        assert_eq!(event.body(), None);
        assert_eq!(event.len(), 10);
    }

    #[test]
    fn inner_content_length_delimits_the_body() {
        let raw = "Event-Name: BACKGROUND_JOB\nJob-UUID: 0d8b\nJob-Command: originate\nContent-Length: 15\n\n-ERR USER_BUSY\n";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(event.body_text().as_deref(), Some("-ERR USER_BUSY\n"));
        assert_eq!(event.job_uuid().as_deref(), Some("0d8b"));
        assert_eq!(
            event.header("Content-Length"),
            None,
            "the inner length is framing, not a header"
        );
    }

    #[test]
    fn a_body_may_contain_blank_lines_and_crlf() {
        let raw = "Event-Name: RECV_INFO\nContent-Length: 26\n\nSignal=1\r\n\r\nDuration=160\r\n";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(
            event.body_text().as_deref(),
            Some("Signal=1\r\n\r\nDuration=160\r\n")
        );
    }

    #[test]
    fn truncated_and_garbage_inner_lengths_are_errors() {
        let short = Event::parse_plain(Bytes::from_static(
            b"Event-Name: X\nContent-Length: 10\n\nabc",
        ));
        assert_eq!(
            short.unwrap_err(),
            EventError::TruncatedBody {
                expected: 10,
                available: 3
            }
        );
        let garbage = Event::parse_plain(Bytes::from_static(
            b"Event-Name: X\nContent-Length: ten\n\n",
        ));
        assert!(matches!(garbage, Err(EventError::InvalidLength(_))));
    }

    #[test]
    fn repeated_headers_keep_the_first_value_and_all_values() {
        let raw = "Event-Name: CHANNEL_HANGUP_COMPLETE\nHangup-Cause: NORMAL_CLEARING\nX: 1\nHangup-Cause: USER_BUSY\n\n";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(event.hangup_cause(), Some(HangupCause::NormalClearing));
        assert_eq!(event.header_all("Hangup-Cause").len(), 2);
    }

    #[test]
    fn variables_and_arrays() {
        let raw = "Event-Name: CHANNEL_EXECUTE_COMPLETE\nvariable_read_result: success\nvariable_transfer_history: ARRAY%3A%3A1%3Aa%7C%3A2%3Ab\n\n";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(event.variable("read_result").as_deref(), Some("success"));
        assert_eq!(event.variable("missing"), None);
        assert_eq!(
            event.header_array("variable_transfer_history"),
            Some(vec!["1:a".to_owned(), "2:b".to_owned()])
        );
    }

    #[test]
    fn lines_without_colon_are_ignored_and_names_with_odd_bytes_do_not_panic() {
        let raw: &[u8] = b"Event-Name: X\nno colon here\n\xff\xfe: v\n\n";
        let event = Event::parse_plain(Bytes::copy_from_slice(raw)).unwrap();
        assert_eq!(event.len(), 2);
    }

    #[test]
    fn built_events_serialize_like_freeswitch() {
        let mut event = Event::new(&EventName::BackgroundJob)
            .with("Job-UUID", "0d8b")
            .with("Job-Command-Arg", "{origination_uuid=a1}sofia/gw/1 &park()");
        event.set_body("+OK a1\n");
        let plain = String::from_utf8(event.to_plain()).unwrap();
        assert_eq!(
            plain,
            "Event-Name: BACKGROUND_JOB\nJob-UUID: 0d8b\nJob-Command-Arg: %7Borigination_uuid%3Da1%7Dsofia/gw/1%20%26park()\nContent-Length: 7\n\n+OK a1\n"
        );
        let reparsed = Event::parse_plain(Bytes::from(plain.into_bytes())).unwrap();
        assert_eq!(reparsed, event);
    }

    #[test]
    fn encoded_events_serialize_back_byte_for_byte() {
        let event = Event::parse_plain(Bytes::from_static(DTMF.as_bytes())).unwrap();
        assert_eq!(event.to_plain(), DTMF.as_bytes());
    }

    #[test]
    fn json_events_keep_order_duplicates_and_body() {
        let text = br#"{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":"USER_BUSY","Hangup-Cause":"USER_BUSY","Event-Sequence":"42","Content-Length":"15","_body":"-ERR USER_BUSY\n"}"#;
        let event = Event::parse_json(text).unwrap();
        assert_eq!(event.name(), EventName::ChannelHangupComplete);
        assert_eq!(event.header_all("Hangup-Cause").len(), 2);
        assert_eq!(event.sequence(), Some(42));
        assert_eq!(event.body_text().as_deref(), Some("-ERR USER_BUSY\n"));
        assert_eq!(event.header("Content-Length"), None);
        assert_eq!(event.to_json().as_bytes(), &text[..]);
    }

    #[test]
    fn json_arrays_become_array_headers_and_back() {
        let text = br#"{"Event-Name":"X","variable_h":["a","b"]}"#;
        let event = Event::parse_json(text).unwrap();
        assert_eq!(event.header("variable_h").as_deref(), Some("ARRAY::a|:b"));
        assert_eq!(event.to_json().as_bytes(), &text[..]);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(
            Event::parse_json(b"{\"a\":"),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            Event::parse_json(b"[1,2]"),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            Event::parse_json(b"{} trailing"),
            Err(EventError::Json(_))
        ));
    }

    #[test]
    fn exact_names_win_over_case_variants_and_case_variants_are_found() {
        let raw = "Event-Name: CODEC\nchannel-read-codec-name: pcmu\nChannel-Read-Codec-Name: PCMU\nX-Only-Lower: no\n\n";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(
            event.header("Channel-Read-Codec-Name").as_deref(),
            Some("PCMU")
        );
        assert_eq!(event.header("x-only-lower").as_deref(), Some("no"));
        assert_eq!(
            event.header("Read-Codec-Name"),
            None,
            "a name must match whole"
        );
    }

    #[test]
    fn a_content_length_line_that_is_not_last_is_an_ordinary_header() {
        let raw = "Event-Name: X\nContent-Length: 3\nY: 1\n\nabc";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(event.body(), None);
        assert_eq!(event.header("Content-Length").as_deref(), Some("3"));
    }

    #[test]
    fn crlf_blocks_parse() {
        let raw = "Event-Name: X\r\nContent-Length: 2\r\n\r\nok";
        let event = Event::parse_plain(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(event.header("Event-Name").as_deref(), Some("X"));
        assert_eq!(event.body_text().as_deref(), Some("ok"));
    }

    #[test]
    fn pushing_onto_a_received_event_keeps_its_headers() {
        let mut event = Event::parse_plain(Bytes::from_static(DTMF.as_bytes())).unwrap();
        event.push("Extra", "a b");
        assert_eq!(
            event.header("Caller-Caller-ID-Name").as_deref(),
            Some("Acme Bank")
        );
        assert_eq!(event.header("Extra").as_deref(), Some("a b"));
        assert_eq!(event.len(), 11);
    }
}
