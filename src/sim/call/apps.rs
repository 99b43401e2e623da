//! The dialplan applications the simulator runs, with the events and
//! channel variables FreeSWITCH's mod_dptools produces for them.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use super::digits;
use super::media::{self, Prompt};
use super::sched::{Scheduled, schedule_hangup};
use super::session::{Recording, Session, TICK, Wake, WakeOn};
use super::{QueuedAction, Target, channel::Channel};
use crate::esl::{Event, EventName, HangupCause};
use crate::sim::engine::origin;

/// The applications the simulator knows; any other is "Invalid
/// Application" and hangs the channel up as FreeSWITCH does.
const KNOWN: &[&str] = &[
    "answer",
    "pre_answer",
    "set",
    "export",
    "unset",
    "multiset",
    "log",
    "info",
    "sleep",
    "hangup",
    "park",
    "playback",
    "play_and_get_digits",
    "read",
    "speak",
    "say",
    "record_session",
    "stop_record_session",
    "transfer",
    "sched_hangup",
];

type Boxed<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Expands `${var}` references in an application argument against the
/// channel's variables.
fn expand(session: &Session, arg: &str) -> String {
    let channel = session.channel();
    crate::sim::dialplan::expand_variables(arg, &|name| channel.var(name).map(str::to_owned))
}

/// Runs one application as `switch_core_session_exec` does: the
/// `current_application*` variables, CHANNEL_EXECUTE, the application,
/// CHANNEL_EXECUTE_COMPLETE with the application's response.
pub(crate) fn execute<'a>(
    session: &'a mut Session,
    app: &'a str,
    arg: &'a str,
    app_uuid: &'a str,
) -> Boxed<'a> {
    Box::pin(async move {
        let Some(data) = begin(session, app, arg, app_uuid) else {
            return;
        };
        if !run_instant(session, app, &data) {
            run(session, app, &data).await;
        }
        complete(session, app, data, app_uuid);
    })
}

/// The start of `switch_core_session_exec`: an unknown application hangs
/// the channel up (`None`); a known one gets its variables and
/// CHANNEL_EXECUTE, and its argument expanded.
fn begin(session: &mut Session, app: &str, arg: &str, app_uuid: &str) -> Option<String> {
    if !KNOWN.contains(&app) {
        session.hang_up(HangupCause::DestinationOutOfOrder);
        return None;
    }
    let data = expand(session, arg);
    {
        let mut channel = session.channel();
        channel.set_var("current_application", app);
        channel.set_var("current_application_data", data.as_str());
        channel.unset_var("current_application_response");
    }
    let mut headers = vec![("Application", app.to_owned())];
    if !data.is_empty() {
        headers.push(("Application-Data", data.clone()));
    }
    headers.push(("Application-UUID", app_uuid.to_owned()));
    session.fire_with(
        EventName::ChannelExecute,
        origin("switch_core_session.c", "switch_core_session_exec", 2944),
        &headers,
    );
    // switch_core_session_exec sets it once more just before running
    // the application, which moves it after the application data.
    session.channel().set_var("current_application", app);
    Some(data)
}

/// The end of `switch_core_session_exec`: CHANNEL_EXECUTE_COMPLETE with the
/// application's response.
fn complete(session: &mut Session, app: &str, data: String, app_uuid: &str) {
    let response = session
        .channel()
        .var("current_application_response")
        .unwrap_or("_none_")
        .to_owned();
    let mut headers = vec![("Application", app.to_owned())];
    if !data.is_empty() {
        headers.push(("Application-Data", data));
    }
    headers.push(("Application-Response", response));
    headers.push(("Application-UUID", app_uuid.to_owned()));
    session.fire_with(
        EventName::ChannelExecuteComplete,
        origin("switch_core_session.c", "switch_core_session_exec", 2967),
        &headers,
    );
}

/// Runs the applications the channel variables named `<prefix>*` hold
/// (`execute_on_answer`, ...), as switch_channel.c
/// `switch_channel_execute_on` and `switch_channel_execute_on_value` do:
/// each value is `<app> <arg>` (or `<app>:<arg>`), run at once on the
/// thread that marked the channel, with the usual EXECUTE events. The
/// simulator runs there only applications that take no time; one that
/// would play or wait, or one sent to the background (`<app>::<arg>`), is
/// left out with a warning.
pub(crate) fn execute_on(session: &mut Session, prefix: &str) {
    let values = session.channel().vars_with_prefix(prefix);
    for value in values {
        let Some((app, arg)) = split_execute_on(&value)
            .filter(|(app, _)| !KNOWN.contains(app) || INSTANT.contains(app))
        else {
            tracing::warn!(%value, "the simulator does not run this application from {prefix}");
            continue;
        };
        let app_uuid = uuid::Uuid::new_v4().to_string();
        let Some(data) = begin(session, app, arg, &app_uuid) else {
            return;
        };
        run_instant(session, app, &data);
        complete(session, app, data, &app_uuid);
    }
}

/// `<app> <arg>` or `<app>:<arg>` split at the first space or single colon;
/// `None` for a `::` met first (FreeSWITCH runs that one in the background).
fn split_execute_on(value: &str) -> Option<(&str, &str)> {
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' => return Some((&value[..i], &value[i + 1..])),
            ':' if chars.peek().is_some_and(|&(_, next)| next == ':') => return None,
            ':' => return Some((&value[..i], &value[i + 1..])),
            _ => {}
        }
    }
    Some((value, ""))
}

/// The applications that finish without waiting for media or time.
const INSTANT: &[&str] = &[
    "answer",
    "pre_answer",
    "set",
    "export",
    "unset",
    "multiset",
    "log",
    "info",
    "hangup",
    "sched_hangup",
];

/// Runs `app` if it is one of [`INSTANT`]; false when it is not.
fn run_instant(session: &mut Session, app: &str, data: &str) -> bool {
    match app {
        "set" | "export" => {
            if let Some((name, value)) = data.split_once('=') {
                session.channel().set_var(name.trim(), value);
            }
        }
        "unset" => session.channel().unset_var(data.trim()),
        "multiset" => {
            let mut channel = session.channel();
            for word in data.split_whitespace() {
                if let Some((name, value)) = word.split_once('=') {
                    channel.set_var(name, value);
                }
            }
        }
        "hangup" => {
            let cause = HangupCause::parse_lenient(data).unwrap_or(HangupCause::NormalClearing);
            session.hang_up(cause);
        }
        "sched_hangup" => sched_hangup(session, data),
        // answer, pre_answer, log, info: nothing to do on an answered
        // outbound channel without media.
        "answer" | "pre_answer" | "log" | "info" => {}
        _ => return false,
    }
    true
}

/// `sched_hangup [+]<time> [<cause>] [bleg]` (mod_dptools.c
/// `sched_hangup_function`): the hangup of this channel goes to the
/// switch's scheduler, or happens now for a zero delay.
fn sched_hangup(session: &mut Session, data: &str) {
    let words: Vec<&str> = data.split_whitespace().collect();
    let Some(scheduled) = words
        .first()
        .and_then(|time| Scheduled::parse(time, words.get(1).copied(), session.now()))
    else {
        return;
    };
    if scheduled.now {
        session.hang_up(scheduled.cause);
    } else if !words.get(2).is_some_and(|w| w.eq_ignore_ascii_case("bleg")) {
        // (`bleg` hangs up the bridged partner; no simulated channel has
        // one, so FreeSWITCH's task would find nothing to hang up.)
        let uuid = session.call.uuid.clone();
        schedule_hangup(&session.engine, &uuid, scheduled);
    }
}

/// Runs the applications that take time.
async fn run(session: &mut Session, app: &str, data: &str) {
    match app {
        "sleep" => {
            let millis = data.trim().parse::<u64>().unwrap_or(0);
            serve_while(session, Some(Duration::from_millis(millis)), false).await;
            if is_true(session.channel().var("sleep_eat_digits")) {
                session.digits.clear();
            }
        }
        "park" => park(session).await,
        "playback" => {
            let outcome = play(session, data, Barge::Terminators).await;
            // switch_ivr_play_file (switch_ivr_play_say.c) reports an error
            // when its loop finds the channel no longer ready, as after the
            // far end's BYE (arsgate-sessions/X4_hangup_during_prompt, the
            // record_bye capture); a hangup of our own (uuid_kill) fails
            // its next frame read first, which ends the loop with the last
            // write's success: FILE PLAYED (arsgate-sessions/X7_cancel_in_call).
            let response = match outcome {
                Played::NotFound => "FILE NOT FOUND",
                Played::HungUp if session.hung_up_by_far_end() => "PLAYBACK ERROR",
                Played::HungUp | Played::Done | Played::Interrupted(_) => "FILE PLAYED",
            };
            session
                .channel()
                .set_var("current_application_response", response);
        }
        "play_and_get_digits" => digits::play_and_get_digits(session, data).await,
        "read" => digits::read_app(session, data).await,
        "speak" => speak(session, data).await,
        "say" => say(session, data).await,
        "record_session" => record_session(session, data),
        "stop_record_session" => stop_record_session(session, data),
        "transfer" => {
            let words: Vec<&str> = data.split_whitespace().collect();
            let context = session.channel().profile.context.clone();
            if let Some(target) = Target::parse(&words, &context) {
                session.transfer_to(target, false);
            }
        }
        // Every other known application is instant (`run_instant`).
        _ => {}
    }
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
}

/// Waits `duration` (or forever), running queued messages as they come
/// unless the queue is held. Returns why it stopped: the time ran out, the
/// channel hung up, a transfer is pending, or (when `digits`) a key came.
pub(super) async fn serve_while(
    session: &mut Session,
    duration: Option<Duration>,
    digits: bool,
) -> Wake {
    let deadline = duration.map(|d| session.now() + d.as_micros() as u64);
    loop {
        let remaining = deadline.map(|d| Duration::from_micros(d.saturating_sub(session.now())));
        let wake = session
            .wait(
                remaining,
                WakeOn {
                    digits,
                    messages: true,
                },
            )
            .await;
        match wake {
            Wake::Message if session.transfer.is_none() => serve_queue(session).await,
            other => return other,
        }
    }
}

/// Processes queued messages (nested inside whatever application is
/// running), each followed by its PRIVATE_COMMAND.
pub(crate) fn serve_queue(session: &mut Session) -> Boxed<'_> {
    Box::pin(async move {
        while session.locked == 0 && !session.hung_up && session.transfer.is_none() {
            let Some(queued) = session.queue.pop_front() else {
                break;
            };
            // Queued work is picked up on the next media frame.
            if session.wait(Some(TICK), WakeOn::default()).await == Wake::Hangup {
                break;
            }
            match &queued.action {
                QueuedAction::Execute {
                    app,
                    arg,
                    event_lock,
                    app_uuid,
                    loops,
                    lead,
                } => {
                    if !lead.is_zero()
                        && session.wait(Some(*lead), WakeOn::default()).await == Wake::Hangup
                    {
                        break;
                    }
                    if *event_lock {
                        session.locked += 1;
                    }
                    let total = (*loops).max(1);
                    for current in 1..=total {
                        {
                            let mut channel = session.channel();
                            channel.set_var("current_loop", current.to_string());
                            channel.set_var("total_loops", total.to_string());
                        }
                        execute(session, app, arg, app_uuid).await;
                        if session.hung_up {
                            break;
                        }
                    }
                    {
                        let mut channel = session.channel();
                        channel.unset_var("current_loop");
                        channel.unset_var("total_loops");
                    }
                    if *event_lock {
                        session.locked -= 1;
                    }
                }
                QueuedAction::Hangup(cause) => session.hang_up(cause.clone()),
                QueuedAction::Other => {}
            }
            let mut event = Event::empty();
            for (name, value) in &queued.echo {
                event.push(name.as_str(), value.as_str());
            }
            session.engine.stamp(
                &mut event,
                &EventName::PrivateCommand,
                origin("switch_ivr.c", "switch_ivr_parse_next_event", 804),
            );
            session.channel().add_data(&mut event, false);
            session.engine.fire(event);
        }
    })
}

/// `park`: wait for commands until hangup, transfer or `park_timeout`.
/// switch_ivr.c `switch_ivr_park` reads `park_timeout` and then removes it
/// (and `park_after_bridge`) from the channel before CHANNEL_PARK: a
/// timeout given in the originate string covers the first park only, and a
/// later park waits for ever.
async fn park(session: &mut Session) {
    let (timeout, cause) = {
        let mut channel = session.channel();
        let timeout = park_timeout(&channel);
        if channel.var("park_timeout").is_some() {
            channel.unset_var("park_timeout");
            channel.unset_var("park_after_bridge");
        }
        timeout
    };
    session.fire(
        EventName::ChannelPark,
        origin("switch_ivr.c", "switch_ivr_park", 1002),
    );
    let deadline = timeout.map(|t| session.now() + t.as_micros() as u64);
    loop {
        // Digits reaching a parked channel are read and dropped.
        session.digits.clear();
        let remaining = deadline.map(|d| Duration::from_micros(d.saturating_sub(session.now())));
        match serve_while(session, remaining, true).await {
            Wake::Digit => continue,
            Wake::Elapsed => {
                session.hang_up(cause.clone());
                break;
            }
            Wake::Hangup | Wake::Message => break,
        }
    }
    session.fire(
        EventName::ChannelUnpark,
        origin("switch_ivr.c", "switch_ivr_park", 1213),
    );
}

/// `park_timeout=<seconds>[:<CAUSE>]`.
fn park_timeout(channel: &Channel) -> (Option<Duration>, HangupCause) {
    let Some(value) = channel.var("park_timeout") else {
        return (None, HangupCause::NormalClearing);
    };
    let (seconds, cause) = value.split_once(':').unwrap_or((value, ""));
    let timeout = seconds
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    let cause = HangupCause::parse_lenient(cause).unwrap_or(HangupCause::NormalClearing);
    (timeout, cause)
}

/// Which digits stop a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Barge {
    /// Digits in `playback_terminators` (default `*`) stop it; others are
    /// dropped.
    Terminators,
    /// Any digit stops it and stays in the buffer for the reader.
    AnyDigit,
    /// Digits are not looked at: they stay in the buffer.
    Never,
}

/// How a prompt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Played {
    Done,
    Interrupted(char),
    HungUp,
    NotFound,
}

/// Plays a file string with PLAYBACK_START/STOP and the `playback_*`
/// variables.
pub(super) async fn play(session: &mut Session, file: &str, barge: Barge) -> Played {
    let sounds = session.engine.config.sounds_dir.clone();
    let prompt = media::prompt(file, sounds.as_deref());
    if !prompt.found {
        return Played::NotFound;
    }
    let path_headers = |prompt: &Prompt| {
        let mut headers = Vec::new();
        if let Some(kind) = prompt.file_type {
            headers.push(("Playback-File-Type", kind.to_owned()));
        }
        headers.push(("Playback-File-Path", file.to_owned()));
        headers
    };
    session.fire_with(
        EventName::PlaybackStart,
        origin("switch_ivr_play_say.c", "switch_ivr_play_file", 1646),
        &path_headers(&prompt),
    );
    session.prompt_started();
    let started = session.now();
    let deadline = prompt.duration.map(|d| started + d.as_micros() as u64);
    let outcome = loop {
        let remaining = deadline.map(|d| Duration::from_micros(d.saturating_sub(session.now())));
        match serve_while(session, remaining, barge != Barge::Never).await {
            Wake::Elapsed => break Played::Done,
            Wake::Hangup => break Played::HungUp,
            Wake::Message => break Played::Done,
            Wake::Digit => {
                let Some(&digit) = session.digits.front() else {
                    continue;
                };
                match barge {
                    // (A prompt that does not listen is never woken by a key.)
                    Barge::AnyDigit | Barge::Never => break Played::Interrupted(digit),
                    Barge::Terminators => {
                        session.digits.pop_front();
                        if is_terminator(&session.channel(), digit) {
                            session
                                .channel()
                                .set_var("playback_terminator_used", digit.to_string());
                            break Played::Interrupted(digit);
                        }
                    }
                }
            }
        }
    };
    let played = session.now().saturating_sub(started) / 1000;
    let played = prompt
        .duration
        .map_or(played, |d| played.min(d.as_millis() as u64));
    session.played_millis += played;
    {
        let mut channel = session.channel();
        let samples = played * 8;
        channel.set_var("playback_last_offset_pos", samples.to_string());
        channel.set_var("playback_seconds", (played / 1000).to_string());
        channel.set_var("playback_ms", played.to_string());
        channel.set_var("playback_samples", samples.to_string());
    }
    let mut headers = path_headers(&prompt);
    let status = if matches!(outcome, Played::Interrupted(_)) {
        "break"
    } else {
        "done"
    };
    headers.push(("Playback-Status", status.to_owned()));
    session.fire_with(
        EventName::PlaybackStop,
        origin("switch_ivr_play_say.c", "switch_ivr_play_file", 2020),
        &headers,
    );
    outcome
}

fn is_terminator(channel: &Channel, digit: char) -> bool {
    match channel.var("playback_terminators").unwrap_or("*") {
        "any" => true,
        "none" => false,
        set => set.contains(digit),
    }
}

/// `speak <engine>|<voice>|<text>` (or `<voice>|<text>`, or the text alone
/// with `tts_engine`/`tts_voice`): no PLAYBACK events, as with FreeSWITCH.
async fn speak(session: &mut Session, data: &str) {
    // `engine|voice|text`, `voice|text` or the text alone; the text keeps
    // any further `|`, as mod_dptools splits into at most three parts.
    let parts: Vec<&str> = data.splitn(3, '|').collect();
    let text = parts.last().copied().unwrap_or(data);
    session.engine.record_speech(&session.call.uuid, text);
    session.prompt_started();
    let duration = Duration::from_millis(media::tts_millis(text));
    let started = session.now();
    let deadline = started + duration.as_micros() as u64;
    loop {
        let remaining = Duration::from_micros(deadline.saturating_sub(session.now()));
        match serve_while(session, Some(remaining), true).await {
            Wake::Digit => {
                if let Some(digit) = session.digits.pop_front()
                    && is_terminator(&session.channel(), digit)
                {
                    break;
                }
            }
            _ => break,
        }
    }
    // Audio sent: the speech, or what of it went out before it stopped.
    let spoken = session.now().saturating_sub(started) / 1000;
    session.played_millis += spoken.min(duration.as_millis() as u64);
}

/// `say <module>[:<lang>] <type> <method> [<gender>] <text>`: plays one
/// sound file per character (`digits/N.wav`), each with its PLAYBACK events.
async fn say(session: &mut Session, data: &str) {
    let words: Vec<&str> = data.split_whitespace().collect();
    if words.len() < 4 {
        return;
    }
    let text = words[words.len() - 1];
    for c in text.chars().filter(char::is_ascii_alphanumeric) {
        let file = format!("digits/{}.wav", c.to_ascii_lowercase());
        let sounds = session.engine.config.sounds_dir.clone();
        let found = media::prompt(&file, sounds.as_deref()).found;
        let target = if found {
            file
        } else {
            "silence_stream://400".to_owned()
        };
        if play(session, &target, Barge::Terminators).await == Played::HungUp {
            return;
        }
    }
}

/// Where a recording's file really goes: in the simulator's recordings
/// folder (see [`media::recording_file`]), or nowhere.
fn recording_target(session: &Session, path: &str) -> Option<PathBuf> {
    let root = session.engine.config.recordings_dir.as_ref()?;
    Some(media::recording_file(root, std::path::Path::new(path)))
}

/// `record_session <path> [+<max_seconds>] [{vars}]`: starts a recording
/// that runs until stopped, until its time limit, or until hangup.
fn record_session(session: &mut Session, data: &str) {
    let mut words = data.split_whitespace();
    let path = words.next().unwrap_or("").to_owned();
    if path.is_empty() {
        return;
    }
    let limit = words
        .next()
        .and_then(|w| w.strip_prefix('+'))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n > 0);
    session.fire_with(
        EventName::RecordStart,
        origin("switch_ivr_async.c", "record_callback", 1481),
        &[("Record-File-Path", path.clone())],
    );
    let bug = session.event(
        EventName::MediaBugStart,
        origin("switch_core_media_bug.c", "switch_core_media_bug_add", 1014),
        &[
            ("Media-Bug-Function", "session_record".to_owned()),
            ("Media-Bug-Target", path.clone()),
        ],
        &[],
    );
    session.engine.fire(bug);
    let started_micros = session.now();
    session.recordings.push(Recording {
        path: PathBuf::from(path),
        started_micros,
        stop_micros: limit.map(|seconds| started_micros + seconds * 1_000_000),
    });
}

/// Why a recording ended while the channel was still up: stopped by
/// `stop_record_session` or by its `+<max_seconds>` limit alike.
/// FreeSWITCH's `record_callback` (switch_ivr_async.c, the
/// SWITCH_ABC_TYPE_CLOSE case) sets `success-maxtime` whenever the channel
/// is not down, unless a cause was set before; the captures show it after
/// every `stop_record_session` (arsgate-sessions/E1_consent_press1.jsonl,
/// X9_no_input_consent.jsonl: `Record-Completion-Cause: success-maxtime`).
pub(crate) const STOPPED_UP: &str = "success-maxtime";

/// Why a recording ended with the hangup: `record_callback` treats it as
/// the end of speech (no silence detection is configured, so speech counts
/// as detected from the first frame; arsgate-sessions/E4_consent_hangup_during_text.jsonl).
pub(crate) const STOPPED_BY_HANGUP: &str = "success-silence";

/// `stop_record_session <path>|all`.
fn stop_record_session(session: &mut Session, data: &str) {
    let target = data.trim();
    let (stop, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut session.recordings)
        .into_iter()
        .partition(|r| target == "all" || r.path.to_string_lossy() == target);
    session.recordings = keep;
    for recording in stop {
        stop_recording(session, recording, STOPPED_UP);
    }
}

/// Stops the recordings whose time limit has come (FreeSWITCH removes the
/// media bug at its `stop_time`; the simulator stops at the exact limit
/// where FreeSWITCH, counting whole epoch seconds, may stop up to a second
/// early).
pub(crate) fn stop_due_recordings(session: &mut Session) {
    let now = session.now();
    let (stop, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut session.recordings)
        .into_iter()
        .partition(|r| r.stop_micros.is_some_and(|at| at <= now));
    session.recordings = keep;
    for recording in stop {
        stop_recording(session, recording, STOPPED_UP);
    }
}

/// Ends a recording: writes the file, sets the `record_*` variables, fires
/// RECORD_STOP and MEDIA_BUG_STOP.
pub(crate) fn stop_recording(session: &mut Session, recording: Recording, cause: &str) {
    let millis = session.now().saturating_sub(recording.started_micros) / 1000;
    let path = recording.path.to_string_lossy().into_owned();
    let (size, samples) = match recording_target(session, &path) {
        Some(file) => media::write_recording(&file, millis).unwrap_or_else(|error| {
            tracing::warn!(%error, file = %file.display(), "simulator could not write a recording");
            (0, 0)
        }),
        None => (44 + millis * 16, millis * 8),
    };
    {
        let mut channel = session.channel();
        channel.set_var("record_file_size", size.to_string());
        channel.set_var("record_samples", samples.to_string());
        channel.set_var("record_seconds", (millis / 1000).to_string());
        channel.set_var("record_ms", millis.to_string());
        channel.set_var("record_completion_cause", cause);
    }
    session.fire_with(
        EventName::RecordStop,
        origin("switch_ivr_async.c", "send_record_stop_event", 1240),
        &[
            ("Record-File-Path", path.clone()),
            ("Record-Completion-Cause", cause.to_owned()),
        ],
    );
    let bug = session.event(
        EventName::MediaBugStop,
        origin(
            "switch_core_media_bug.c",
            "switch_core_media_bug_destroy",
            84,
        ),
        &[
            ("Media-Bug-Function", "session_record".to_owned()),
            ("Media-Bug-Target", path),
        ],
        &[],
    );
    session.engine.fire(bug);
}

#[cfg(test)]
mod tests {
    use super::split_execute_on;

    #[test]
    fn execute_on_values_split_like_freeswitch() {
        assert_eq!(
            split_execute_on("sched_hangup +70 ALLOTTED_TIMEOUT"),
            Some(("sched_hangup", "+70 ALLOTTED_TIMEOUT"))
        );
        assert_eq!(split_execute_on("set:a=b c"), Some(("set", "a=b c")));
        assert_eq!(split_execute_on("answer"), Some(("answer", "")));
        assert_eq!(split_execute_on("playback::tone.wav"), None);
    }
}
