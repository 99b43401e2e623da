//! One event-socket connection, served the way mod_event_socket serves it:
//! `auth/request` on accept, a 25-second window for the first command,
//! commands answered in order with FreeSWITCH's exact reply texts, and
//! queued events written only between commands — an `api` command holds
//! them back for as long as it runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::codec::FramedRead;
use tokio_util::task::TaskTracker;

use super::api;
use super::bus::{Kill, Listener};
use super::call::{Msg, Queued, QueuedAction};
use super::engine::{Engine, origin};
use crate::esl::frame::GOODBYE;
use crate::esl::{
    Command, Event, EventFormat, EventName, Frame, HangupCause, Headers, ServerCodec,
};

/// Whether the connection goes on after a command.
enum Flow {
    Continue,
    /// `exit`, a failed `auth`: reply written, goodbye to follow.
    Close,
}

/// Writes frames, honouring the write faults a test switched on.
struct Writer {
    half: OwnedWriteHalf,
    engine: Arc<Engine>,
}

impl Writer {
    async fn frame(&mut self, frame: &Frame) -> std::io::Result<()> {
        let mut buf = BytesMut::new();
        frame.encode_into(&mut buf);
        if self.engine.faults.byte_writes.load(Ordering::Relaxed) {
            for byte in buf.iter() {
                self.half.write_all(&[*byte]).await?;
                self.half.flush().await?;
            }
            Ok(())
        } else {
            self.half.write_all(&buf).await
        }
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        self.frame(&Frame::command_reply(text)).await
    }

    async fn event(&mut self, event: &Event, format: EventFormat) -> std::io::Result<()> {
        let frame = match format {
            EventFormat::Json => Frame::event_json(event),
            // The simulator does not produce XML events; plain is what
            // FreeSWITCH treats as primary.
            EventFormat::Plain | EventFormat::Xml => Frame::event_plain(event),
        };
        self.frame(&frame).await
    }

    /// The disconnect notice, naming the controlled channel if there is one,
    /// then the end of the stream.
    async fn goodbye(&mut self, text: &str, controlled: Option<&str>) {
        let body = Bytes::copy_from_slice(text.as_bytes());
        let notice = match controlled {
            Some(uuid) => Frame::session_disconnect_notice(uuid, body),
            None => Frame::disconnect_notice(body),
        };
        let _ = self.frame(&notice).await;
        let _ = self.half.shutdown().await;
    }

    /// Half of a frame, then the end of the stream.
    async fn cut_mid_frame(&mut self, engine: &Engine) {
        let event = engine.new_event(
            &EventName::Heartbeat,
            origin("switch_core.c", "send_heartbeat", 95),
        );
        let bytes = Frame::event_plain(&event).to_bytes();
        let _ = self.half.write_all(&bytes[..bytes.len() / 2]).await;
        let _ = self.half.shutdown().await;
    }
}

/// Serves one accepted connection until it ends.
pub(crate) async fn serve(engine: Arc<Engine>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let mut out = Writer {
        half: write_half,
        engine: Arc::clone(&engine),
    };
    if let Some(acl) = &engine.config.acl
        && !acl.contains(&peer.ip())
    {
        let _ = out.frame(&Frame::rude_rejection()).await;
        out.goodbye(GOODBYE, None).await;
        return;
    }
    let mut registration = engine
        .bus
        .register(engine.config.event_queue, engine.faults.partitioned.is_on());
    let listener = Arc::clone(&registration.listener);
    let mut commands = FramedRead::new(
        read_half,
        ServerCodec::with_max_frame(engine.config.max_command),
    );
    let mut session = Session {
        engine: Arc::clone(&engine),
        listener: Arc::clone(&listener),
        authed: false,
        logging: false,
        jobs: TaskTracker::new(),
        controlled: None,
        linger: None,
    };

    let ending = async {
        if let Some(kill) = held(&engine, &listener, &mut registration.kills).await {
            return Some(kill);
        }
        if out.frame(&Frame::auth_request()).await.is_err() {
            return None;
        }
        let window = engine.clock.to_real(engine.config.auth_timeout);
        let first = tokio::select! {
            kill = registration.kills.recv() => return kill,
            first = tokio::time::timeout(window, commands.next()) => first,
        };
        match first {
            Ok(Some(Ok(command))) => {
                if let Flow::Close = session.handle(command, &mut out).await {
                    return Some(Kill::Notice(GOODBYE.to_owned()));
                }
            }
            Ok(_) => return None,
            Err(_) => return Some(Kill::Notice(GOODBYE.to_owned())),
        }
        // Once a lingering connection's channel is gone: until when it stays
        // (`Some(None)`: until `exit`).
        let mut lingering: Option<Option<tokio::time::Instant>> = None;
        loop {
            if let Some(kill) = held(&engine, &listener, &mut registration.kills).await {
                return Some(kill);
            }
            let linger_wait = async {
                match lingering {
                    Some(Some(deadline)) => tokio::time::sleep_until(deadline).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                kill = registration.kills.recv() => return kill,
                // Frozen or cut off from now on: held at the top of the loop.
                () = engine.faults.frozen.on() => continue,
                () = listener.blackholed.on() => continue,
                () = linger_wait => return Some(Kill::Notice(GOODBYE.to_owned())),
                command = commands.next() => match command {
                    Some(Ok(command)) => {
                        if let Flow::Close = session.handle(command, &mut out).await {
                            return Some(Kill::Notice(GOODBYE.to_owned()));
                        }
                    }
                    // A malformed command or EOF ends the connection, as
                    // FreeSWITCH drops a socket it cannot parse.
                    _ => return None,
                },
                Some(event) = registration.events.recv(), if session.authed => {
                    let format = listener.subscription().format;
                    if out.event(&event, format).await.is_err() {
                        return None;
                    }
                    if lingering.is_none() && session.is_controlled_hangup(&event) {
                        // mod_event_socket notices its channel went down.
                        let Some(linger) = session.linger else {
                            return Some(Kill::Notice(GOODBYE.to_owned()));
                        };
                        let (uuid, name) = session.controlled.clone().unwrap_or_default();
                        let seconds = linger.map_or(-1, |s| s as i64);
                        if out.frame(&Frame::linger_notice(&uuid, &name, seconds)).await.is_err() {
                            return None;
                        }
                        lingering = Some(linger.map(|seconds| engine.clock.deadline(Duration::from_secs(seconds))));
                    }
                }
            }
        }
    };
    let ending = ending.await;
    engine.bus.unregister(&listener);
    match ending {
        Some(Kill::Notice(text)) => {
            // Like FreeSWITCH, the goodbye waits for this connection's
            // background jobs; their results are never delivered.
            session.jobs.close();
            session.jobs.wait().await;
            let controlled = session.controlled.as_ref().map(|(uuid, _)| uuid.as_str());
            out.goodbye(&text, controlled).await;
        }
        Some(Kill::MidFrame) => out.cut_mid_frame(&engine).await,
        Some(Kill::Abrupt) | None => {}
    }
}

/// Waits while the switch is frozen or the connection cut off by a
/// partition; a kill ends the wait (a stopped process can still be killed).
async fn held(
    engine: &Engine,
    listener: &Listener,
    kills: &mut tokio::sync::mpsc::UnboundedReceiver<Kill>,
) -> Option<Kill> {
    loop {
        if listener.blackholed.is_on() {
            // Until the partition heals and the connection is closed.
            return kills.recv().await;
        }
        if !engine.faults.frozen.is_on() {
            return None;
        }
        tokio::select! {
            kill = kills.recv() => return kill,
            () = engine.faults.frozen.off() => {}
        }
    }
}

/// A connection's command state.
struct Session {
    engine: Arc<Engine>,
    listener: Arc<Listener>,
    authed: bool,
    logging: bool,
    jobs: TaskTracker,
    /// `myevents <uuid>`: the channel this connection controls (uuid, name).
    controlled: Option<(String, String)>,
    /// `linger [seconds]`: keep the connection after the channel hangs up
    /// (`Some(None)`: until `exit`).
    linger: Option<Option<u64>>,
}

impl Session {
    async fn handle(&mut self, command: Command, out: &mut Writer) -> Flow {
        // Before authentication a command is at most a password attempt:
        // not something a test asks about, and not worth keeping.
        if self.authed {
            self.engine.record_command(&command);
        }
        let line = command.line().trim_end_matches(['\r', '\n']);
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("exit") || lower.starts_with("...") {
            let _ = out.reply("+OK bye").await;
            return Flow::Close;
        }
        if !self.authed {
            if let Some(password) = line
                .strip_prefix("auth ")
                .or_else(|| lower.starts_with("auth ").then(|| &line[5..]))
            {
                if password == self.engine.config.password {
                    self.authed = true;
                    let _ = out.reply("+OK accepted").await;
                    return Flow::Continue;
                }
                let _ = out.reply("-ERR invalid").await;
                return Flow::Close;
            }
            let _ = out.reply("-ERR command not found").await;
            return Flow::Continue;
        }
        let reply = if lower.starts_with("filter ") {
            self.listener.subscription().filter(&line[7..])
        } else if lower.starts_with("sendevent") {
            self.sendevent(&line[9..], &command)
        } else if lower.starts_with("api ") {
            let (name, arg) = api::split(line[4..].trim_start());
            let (tx, rx) = tokio::sync::oneshot::channel();
            let done = Box::new(move |output: String| {
                let _ = tx.send(output);
            });
            api::execute(&self.engine, name, arg, done).await;
            let mut output = rx.await.unwrap_or_default();
            if output.is_empty() {
                output = "-ERR no reply\n".to_owned();
            }
            let _ = out.frame(&Frame::api_response(output)).await;
            return Flow::Continue;
        } else if lower.starts_with("bgapi ") {
            self.bgapi(line[6..].trim_start(), &command, out).await;
            return Flow::Continue;
        } else if lower.starts_with("log") {
            let reply = log_reply(&line[3..]);
            self.logging |= reply.starts_with("+OK");
            reply
        } else if lower.starts_with("linger") {
            self.set_linger(line[6..].trim())
        } else if lower.starts_with("nolinger") {
            if self.controlled.is_some() {
                self.linger = None;
                "+OK will not linger".to_owned()
            } else {
                "-ERR not controlling a session".to_owned()
            }
        } else if lower.starts_with("nolog") {
            if std::mem::take(&mut self.logging) {
                "+OK no longer logging".to_owned()
            } else {
                "-ERR not loging".to_owned()
            }
        } else if lower.starts_with("event") {
            self.listener
                .subscription()
                .subscribe(line.get(5..).unwrap_or("").trim_start())
        } else if lower.starts_with("nixevent") {
            self.listener
                .subscription()
                .unsubscribe(line.get(8..).unwrap_or("").trim_start())
        } else if lower.starts_with("noevents") {
            self.listener.subscription().clear()
        } else if lower.starts_with("myevents") {
            self.myevents(line[8..].trim())
        } else if lower.starts_with("sendmsg") {
            self.sendmsg(line, &command)
        } else if lower.starts_with("divert_events") {
            let value = line[13..].trim();
            match (&self.controlled, value.to_ascii_lowercase().as_str()) {
                (None, _) => "-ERR not controlling a session.".to_owned(),
                (Some(_), "") => "-ERR missing value.".to_owned(),
                (Some(_), "on") => "+OK events diverted".to_owned(),
                (Some(_), _) => "+OK events not diverted".to_owned(),
            }
        } else {
            "-ERR command not found".to_owned()
        };
        let _ = out.reply(&reply).await;
        Flow::Continue
    }

    /// `bgapi`: `+OK Job-UUID` at once, the result later as BACKGROUND_JOB.
    async fn bgapi(&mut self, rest: &str, command: &Command, out: &mut Writer) {
        let job = command
            .headers()
            .get("Job-UUID")
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let (name, arg) = api::split(rest);
        let (name, arg) = (name.to_owned(), arg.map(str::to_owned));
        let reply = Frame::command_reply_with(
            &format!("+OK Job-UUID: {job}"),
            Headers::new().with("Job-UUID", job.as_str()),
        );
        let _ = out.frame(&reply).await;
        let engine = Arc::clone(&self.engine);
        self.jobs.spawn(async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let fire_engine = Arc::clone(&engine);
            let (job_name, job_arg) = (name.clone(), arg.clone());
            // Created and fired from wherever the command completes, so that
            // it is numbered and lands in the event stream exactly where
            // FreeSWITCH puts it: after the command's API event.
            let done = Box::new(move |output: String| {
                let mut event = fire_engine.new_event(
                    &EventName::BackgroundJob,
                    origin("mod_event_socket.c", "api_exec", 1572),
                );
                event.push("Job-UUID", job);
                event.push("Job-Command", job_name);
                if let Some(arg) = job_arg {
                    event.push("Job-Command-Arg", arg);
                }
                event.set_body(output);
                fire_engine.fire(event);
                let _ = tx.send(());
            });
            api::execute(&engine, &name, arg.as_deref(), done).await;
            let _ = rx.await;
        });
    }

    /// `myevents <uuid> [<format>]`: binds the connection to one channel.
    fn myevents(&mut self, args: &str) -> String {
        if self.controlled.is_some() {
            return "-ERR aready enabled.".to_owned();
        }
        let mut words = args.split_whitespace();
        let uuid = words.next().unwrap_or("");
        let format = words.next().and_then(EventFormat::parse);
        let call = self.engine.calls.get(uuid);
        if call.is_none() && format.is_some() {
            return "-ERR invalid uuid".to_owned();
        }
        let controlled = call.map(|call| (call.uuid.clone(), call.channel().name.clone()));
        self.listener
            .subscription()
            .control(controlled.as_ref().map(|(uuid, _)| uuid.clone()), format);
        self.controlled = controlled;
        "+OK Events Enabled".to_owned()
    }

    /// `linger [<seconds>]`.
    fn set_linger(&mut self, seconds: &str) -> String {
        if self.controlled.is_none() {
            return "-ERR not controlling a session".to_owned();
        }
        match seconds.parse::<u64>() {
            Ok(seconds) => {
                self.linger = Some(Some(seconds));
                format!("+OK will linger {seconds} seconds")
            }
            Err(_) => {
                self.linger = Some(None);
                "+OK will linger".to_owned()
            }
        }
    }

    /// Whether `event` says the controlled channel went down.
    fn is_controlled_hangup(&self, event: &Event) -> bool {
        self.controlled.as_ref().is_some_and(|(uuid, _)| {
            event.name() == EventName::ChannelHangup
                && event.unique_id().as_deref() == Some(uuid.as_str())
        })
    }

    /// `sendmsg [<uuid>]`: queues the message on the channel (the controlled
    /// one when no uuid is given).
    fn sendmsg(&self, line: &str, command: &Command) -> String {
        let uuid = line[7..].trim();
        let uuid = if !uuid.is_empty() {
            uuid
        } else if let Some(session_id) = command.headers().get("session-id") {
            session_id
        } else {
            self.controlled
                .as_ref()
                .map_or("", |(uuid, _)| uuid.as_str())
        };
        let Some(call) = self.engine.calls.get(uuid) else {
            return format!("-ERR invalid session id [{uuid}]");
        };
        let mut echo = vec![("Command".to_owned(), line.to_owned())];
        echo.extend(
            command
                .headers()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        call.send(Msg::Queued(Queued {
            echo,
            action: queued_action(command),
        }));
        "+OK".to_owned()
    }

    /// `sendevent <NAME>`: the command's headers and body become an event.
    fn sendevent(&self, rest: &str, command: &Command) -> String {
        let event_uuid = uuid::Uuid::new_v4().to_string();
        let word = rest.trim();
        let name = EventName::from_subscription(word).unwrap_or(EventName::Custom);
        let mut event = Event::empty().with("Command", command.line());
        for (header, value) in command.headers().iter() {
            if !header.eq_ignore_ascii_case("Content-Length") {
                event.push(header, value);
            }
        }
        event.push("Event-UUID", event_uuid.as_str());
        self.engine.stamp(
            &mut event,
            &name,
            origin("mod_event_socket.c", "parse_command", 1983),
        );
        if let Some(body) = command.body_bytes() {
            event.set_body(body.clone());
        }
        self.engine.fire(event);
        format!("+OK {event_uuid}")
    }
}

/// What a `sendmsg`'s headers ask the channel to do.
fn queued_action(command: &Command) -> QueuedAction {
    let headers = command.headers();
    match headers
        .get("call-command")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("execute") => {
            let app = headers.get("execute-app-name").unwrap_or("").to_owned();
            let arg = match headers.get("execute-app-arg") {
                Some(arg) => arg.to_owned(),
                None => command
                    .body_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            };
            let on = |name: &str| {
                headers
                    .get(name)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            };
            QueuedAction::Execute {
                app,
                arg,
                event_lock: on("event-lock") || on("event-lock-pri"),
                app_uuid: headers
                    .get("Event-UUID")
                    .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
                loops: headers
                    .get("loops")
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(1),
                lead: std::time::Duration::ZERO,
            }
        }
        Some("hangup") => QueuedAction::Hangup(
            headers
                .get("hangup-cause")
                .and_then(HangupCause::parse_lenient)
                .unwrap_or(HangupCause::NormalClearing),
        ),
        _ => QueuedAction::Other,
    }
}

/// `log [<level>]`: the simulator has no log stream to offer, but answers the
/// command as FreeSWITCH does for a valid level.
fn log_reply(rest: &str) -> String {
    let level = rest.trim_start().split(' ').next().unwrap_or("");
    let number = match level.to_ascii_lowercase().as_str() {
        "" | "debug" | "7" => 7,
        "info" | "6" => 6,
        "notice" | "5" => 5,
        "warning" | "4" => 4,
        "err" | "error" | "3" => 3,
        "crit" | "2" => 2,
        "alert" | "1" => 1,
        "console" | "0" => 0,
        _ => return "-ERR invalid log level".to_owned(),
    };
    format!("+OK log level {level} [{number}]")
}
