//! A raw event-socket peer for byte-level tests: it writes whatever bytes it
//! is given and reads frames with the project's own codec.

use std::time::Duration;

use arsgate::esl::{ClientCodec, Frame, Message};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// How long a test waits for one frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A TCP connection speaking raw ESL.
pub struct RawPeer {
    stream: TcpStream,
    buf: BytesMut,
    codec: ClientCodec,
    /// Every byte received, for byte-exact assertions.
    pub received: Vec<u8>,
}

impl RawPeer {
    /// Connects to `addr`.
    pub async fn connect(addr: std::net::SocketAddr) -> RawPeer {
        RawPeer {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: BytesMut::new(),
            codec: ClientCodec::new(),
            received: Vec::new(),
        }
    }

    /// Connects and authenticates with `password`.
    pub async fn authed(addr: std::net::SocketAddr, password: &str) -> RawPeer {
        let mut peer = RawPeer::connect(addr).await;
        assert_eq!(peer.frame().await.content_type(), Some("auth/request"));
        peer.send(&format!("auth {password}\n\n")).await;
        assert_eq!(peer.reply().await, "+OK accepted");
        peer
    }

    /// Writes raw bytes.
    pub async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.expect("write");
    }

    /// The next frame, or `None` at EOF.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).expect("valid frames") {
                return Some(frame);
            }
            let before = self.buf.len();
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a frame within the wait")
                .expect("read");
            if n == 0 {
                return None;
            }
            self.received.extend_from_slice(&self.buf[before..]);
        }
    }

    /// The next frame; EOF fails the test.
    pub async fn frame(&mut self) -> Frame {
        self.next_frame().await.expect("a frame, not EOF")
    }

    /// The next frame that is not an event.
    pub async fn non_event(&mut self) -> Frame {
        loop {
            let frame = self.frame().await;
            if !frame.content_type().unwrap_or("").starts_with("text/event") {
                return frame;
            }
        }
    }

    /// The `Reply-Text` of the next command reply (events are skipped).
    pub async fn reply(&mut self) -> String {
        let frame = self.non_event().await;
        assert_eq!(frame.content_type(), Some("command/reply"), "{frame:?}");
        frame.header("Reply-Text").unwrap_or("").to_owned()
    }

    /// The body of the next api response (events are skipped).
    pub async fn api_body(&mut self) -> String {
        let frame = self.non_event().await;
        assert_eq!(frame.content_type(), Some("api/response"), "{frame:?}");
        String::from_utf8_lossy(frame.body().expect("body")).into_owned()
    }

    /// The next event named `name`, skipping others.
    pub async fn event_named(&mut self, name: &str) -> arsgate::esl::Event {
        loop {
            if let Ok(Message::Event(event)) = Message::try_from(self.frame().await)
                && event.name().as_str() == name
            {
                return event;
            }
        }
    }

    /// Every event up to and including the first one named `name`; replies
    /// and api responses met on the way are returned too, as non-events.
    pub async fn collect_until(&mut self, name: &str) -> Vec<Message> {
        let mut seen = Vec::new();
        loop {
            let message = Message::try_from(self.frame().await).expect("a valid message");
            let done = matches!(&message, Message::Event(e) if e.name().as_str() == name);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    /// Whether nothing at all arrives for `wait` (real time).
    pub async fn silent_for(&mut self, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        tokio::time::timeout(wait, self.stream.peek(&mut byte))
            .await
            .is_err()
    }

    /// Waits for the peer to close, returning what came before EOF.
    pub async fn until_eof(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame().await {
            frames.push(frame);
        }
        frames
    }
}
