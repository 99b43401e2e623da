//! The dialplan applications the simulator runs, with the events and
//! channel variables FreeSWITCH's mod_dptools produces for them.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use regex::Regex;

use super::media::{self, Prompt};
use super::session::{Recording, Session, TICK, Wake, WakeOn};
use super::{QueuedAction, channel::Channel};
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
        if !KNOWN.contains(&app) {
            session.hang_up(HangupCause::DestinationOutOfOrder);
            return;
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
        run(session, app, &data).await;
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
    })
}

async fn run(session: &mut Session, app: &str, data: &str) {
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
        "sleep" => {
            let millis = data.trim().parse::<u64>().unwrap_or(0);
            serve_while(session, Some(Duration::from_millis(millis)), false).await;
            if is_true(session.channel().var("sleep_eat_digits")) {
                session.digits.clear();
            }
        }
        "hangup" => {
            let cause = HangupCause::parse_lenient(data).unwrap_or(HangupCause::NormalClearing);
            session.hang_up(cause);
        }
        "park" => park(session).await,
        "playback" => {
            let outcome = play(session, data, Barge::Terminators).await;
            let response = match outcome {
                Played::NotFound => "FILE NOT FOUND",
                Played::HungUp => "PLAYBACK ERROR",
                Played::Done | Played::Interrupted(_) => "FILE PLAYED",
            };
            session
                .channel()
                .set_var("current_application_response", response);
        }
        "play_and_get_digits" => play_and_get_digits(session, data).await,
        "read" => read(session, data).await,
        "speak" => speak(session, data).await,
        "say" => say(session, data).await,
        "record_session" => record_session(session, data),
        "stop_record_session" => stop_record_session(session, data),
        "transfer" => {
            let words: Vec<&str> = data.split_whitespace().collect();
            if let Some(extension) = words.first() {
                let dialplan = words.get(1).copied().unwrap_or("XML");
                let context = words
                    .get(2)
                    .map(|c| (*c).to_owned())
                    .unwrap_or_else(|| session.channel().profile.context.clone());
                session.transfer = Some(((*extension).to_owned(), dialplan.to_owned(), context));
            }
        }
        // answer, pre_answer, log, info: nothing to do on an answered
        // outbound channel without media.
        _ => {}
    }
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
}

/// Waits `duration` (or forever), running queued messages as they come
/// unless the queue is held. Returns false when the channel hung up or a
/// transfer is pending.
async fn serve_while(session: &mut Session, duration: Option<Duration>, digits: bool) -> Wake {
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
                    session.channel().set_var("total_loops", total.to_string());
                    for current in 1..=total {
                        session
                            .channel()
                            .set_var("current_loop", current.to_string());
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
async fn park(session: &mut Session) {
    session.fire(
        EventName::ChannelPark,
        origin("switch_ivr.c", "switch_ivr_park", 1002),
    );
    let (timeout, cause) = park_timeout(&session.channel());
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
enum Barge {
    /// Digits in `playback_terminators` (default `*`) stop it; others are
    /// dropped.
    Terminators,
    /// Any digit stops it and stays in the buffer for the reader.
    AnyDigit,
}

/// How a prompt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Played {
    Done,
    Interrupted(char),
    HungUp,
    NotFound,
}

/// Plays a file string with PLAYBACK_START/STOP and the `playback_*`
/// variables.
async fn play(session: &mut Session, file: &str, barge: Barge) -> Played {
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
        match serve_while(session, remaining, true).await {
            Wake::Elapsed => break Played::Done,
            Wake::Hangup => break Played::HungUp,
            Wake::Message => break Played::Done,
            Wake::Digit => {
                let Some(&digit) = session.digits.front() else {
                    continue;
                };
                match barge {
                    Barge::AnyDigit => break Played::Interrupted(digit),
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

/// The arguments shared by `play_and_get_digits` and `read`.
struct Collect {
    min: usize,
    max: usize,
    timeout: Duration,
    digit_timeout: Duration,
    terminators: String,
    prompt: String,
    var: String,
}

impl Collect {
    fn new(
        min: &str,
        max: &str,
        timeout: &str,
        digit_timeout: Option<&str>,
        terminators: &str,
        prompt: &str,
        var: &str,
    ) -> Collect {
        let min = min.parse::<usize>().unwrap_or(0);
        let max = max.parse::<usize>().unwrap_or(min).max(min).max(1);
        let timeout = Duration::from_millis(timeout.parse::<u64>().unwrap_or(0).max(1000));
        let digit_timeout = digit_timeout
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(timeout, Duration::from_millis);
        let terminators = match terminators {
            "" => "#".to_owned(),
            "none" => String::new(),
            other => other.trim_start_matches(['=', '+', 'x']).to_owned(),
        };
        Collect {
            min,
            max,
            timeout,
            digit_timeout,
            terminators,
            prompt: prompt.to_owned(),
            var: var.to_owned(),
        }
    }
}

/// How one collection attempt ended.
struct Attempt {
    digits: String,
    terminator: Option<char>,
    timed_out: bool,
}

/// Plays the prompt (any digit barges in and counts) and collects digits
/// until `max`, a terminator, or a timeout.
async fn attempt(session: &mut Session, collect: &Collect) -> Option<Attempt> {
    let mut digits = String::new();
    let mut terminator = None;
    if play(session, &collect.prompt, Barge::AnyDigit).await == Played::HungUp {
        return None;
    }
    let mut wait = collect.timeout;
    loop {
        while let Some(digit) = session.digits.pop_front() {
            if collect.terminators.contains(digit) {
                terminator = Some(digit);
                break;
            }
            digits.push(digit);
            if digits.len() >= collect.max {
                break;
            }
        }
        if terminator.is_some() || digits.len() >= collect.max {
            return Some(Attempt {
                digits,
                terminator,
                timed_out: false,
            });
        }
        match serve_while(session, Some(wait), true).await {
            Wake::Digit | Wake::Message => wait = collect.digit_timeout,
            Wake::Elapsed => {
                return Some(Attempt {
                    digits,
                    terminator,
                    timed_out: true,
                });
            }
            Wake::Hangup => return None,
        }
    }
}

/// `play_and_get_digits <min> <max> <tries> <timeout> <terminators> <prompt>
/// <invalid_prompt> <var> <regexp> [<digit_timeout>] ['<failure_ext>
/// [<dialplan> [<context>]]']`, with the result variables of
/// `switch_play_and_get_digits`.
async fn play_and_get_digits(session: &mut Session, data: &str) {
    let words = super::dial::split_words(data);
    if words.len() < 9 {
        return;
    }
    let collect = Collect::new(
        &words[0],
        &words[1],
        &words[3],
        words.get(9).map(String::as_str),
        &words[4],
        &words[5],
        &words[7],
    );
    let tries = words[2].parse::<u32>().unwrap_or(1).max(1);
    let invalid = words[6].clone();
    let regex = Regex::new(&words[8]).ok();
    let failure_ext = words.get(10).cloned();
    for _ in 0..tries {
        session.channel().unset_var(&collect.var);
        let Some(result) = attempt(session, &collect).await else {
            return;
        };
        session.digits_dialed.push_str(&result.digits);
        let long_enough = result.digits.len() >= collect.min;
        let matches = regex.as_ref().is_none_or(|r| r.is_match(&result.digits));
        {
            let mut channel = session.channel();
            if let Some(t) = result.terminator {
                channel.set_var("read_terminator_used", t.to_string());
            }
            if long_enough && matches && (!result.digits.is_empty() || collect.min == 0) {
                if !result.digits.is_empty() {
                    channel.set_var(&collect.var, result.digits.as_str());
                }
                let status = if result.timed_out && result.terminator.is_none() {
                    "timeout"
                } else {
                    "success"
                };
                channel.set_var("read_result", status);
                return;
            }
            if long_enough && !result.digits.is_empty() {
                channel.set_var(&format!("{}_invalid", collect.var), result.digits.as_str());
                channel.set_var("read_result", "success");
            } else {
                if !result.digits.is_empty() {
                    channel.set_var(&collect.var, result.digits.as_str());
                }
                channel.set_var("read_result", "failure");
            }
        }
        if play(session, &invalid, Barge::AnyDigit).await == Played::HungUp {
            return;
        }
    }
    if let Some(target) = failure_ext {
        let words: Vec<&str> = target.split_whitespace().collect();
        if let Some(extension) = words.first() {
            let context = words
                .get(2)
                .map(|c| (*c).to_owned())
                .unwrap_or_else(|| session.channel().profile.context.clone());
            let dialplan = words.get(1).copied().unwrap_or("XML").to_owned();
            session.transfer = Some(((*extension).to_owned(), dialplan, context));
        }
    }
}

/// `read <min> <max> <prompt> <var> <timeout> <terminators> [<digit_timeout>]`:
/// one attempt, same variables.
async fn read(session: &mut Session, data: &str) {
    let words = super::dial::split_words(data);
    if words.len() < 6 {
        return;
    }
    let collect = Collect::new(
        &words[0],
        &words[1],
        &words[4],
        words.get(6).map(String::as_str),
        &words[5],
        &words[2],
        &words[3],
    );
    session.channel().unset_var(&collect.var);
    let Some(result) = attempt(session, &collect).await else {
        return;
    };
    session.digits_dialed.push_str(&result.digits);
    let mut channel = session.channel();
    if let Some(t) = result.terminator {
        channel.set_var("read_terminator_used", t.to_string());
    }
    if !result.digits.is_empty() {
        channel.set_var(&collect.var, result.digits.as_str());
    }
    let status =
        if result.digits.len() >= collect.min && (!result.digits.is_empty() || collect.min == 0) {
            if result.timed_out && result.terminator.is_none() {
                "timeout"
            } else {
                "success"
            }
        } else {
            "failure"
        };
    channel.set_var("read_result", status);
}

/// `speak <engine>|<voice>|<text>` (or `<voice>|<text>`, or the text alone
/// with `tts_engine`/`tts_voice`): no PLAYBACK events, as with FreeSWITCH.
async fn speak(session: &mut Session, data: &str) {
    let text = data.rsplit('|').next().unwrap_or(data);
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
    session.played_millis += session.now().saturating_sub(started) / 1000;
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

/// Where a recording's file really goes: under the simulator's recordings
/// folder (absolute paths are re-rooted there), or nowhere.
fn recording_target(session: &Session, path: &str) -> Option<PathBuf> {
    let root = session.engine.config.recordings_dir.as_ref()?;
    Some(root.join(path.trim_start_matches('/')))
}

/// `record_session <path> [+<max_seconds>] [{vars}]`: starts a recording
/// that runs until stopped or hangup.
fn record_session(session: &mut Session, data: &str) {
    let path = data.split_whitespace().next().unwrap_or("").to_owned();
    if path.is_empty() {
        return;
    }
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
    session.recordings.push(Recording {
        path: PathBuf::from(path),
        started_micros: session.now(),
    });
}

/// `stop_record_session <path>|all`.
fn stop_record_session(session: &mut Session, data: &str) {
    let target = data.trim();
    let (stop, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut session.recordings)
        .into_iter()
        .partition(|r| target == "all" || r.path.to_string_lossy() == target);
    session.recordings = keep;
    for recording in stop {
        stop_recording(session, recording, "success");
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
