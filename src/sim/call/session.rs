//! A channel's own task — FreeSWITCH's session thread. It places the call
//! (ringing, early media, answer or failure as the phone is scripted),
//! routes it to an application or the dialplan, runs queued `sendmsg`
//! messages, feeds the phone's DTMF, and tears the channel down with the
//! event sequence FreeSWITCH produces.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::channel::{CallState, Channel, Profile, RunState};
use super::dial::{Destination, Endpoint, ORIGINATE_USAGE, Originate, parse_originate};
use super::sofia::{self, Leg, early_media_ok};
use super::{CallHandle, Msg, Queued, Target, apps};
use crate::esl::{Event, EventName, HangupCause};
use crate::sim::config::DtmfTransport;
use crate::sim::engine::{Engine, Origin, origin};
use crate::sim::phone::{Answer, DtmfTrigger, PhoneScript};

/// What a finished API command does with its output: fire the API event
/// and hand the text to whoever waits (the `api` reply, or BACKGROUND_JOB).
pub(crate) type Completion = Box<dyn FnOnce(String) + Send>;

/// One media tick: FreeSWITCH's session threads act on queued work on the
/// next 20 ms frame.
pub(crate) const TICK: Duration = Duration::from_millis(20);

/// How long sofia waits for any reply to an INVITE (timer B).
const SIP_TIMER_B: Duration = Duration::from_secs(32);

/// Event types that carry the channel variables (`variable_*`).
fn carries_variables(name: &EventName) -> bool {
    !matches!(
        name,
        EventName::ChannelState
            | EventName::ChannelCallstate
            | EventName::ChannelOutgoing
            | EventName::Codec
            | EventName::Dtmf
            | EventName::RecvInfo
            | EventName::PrivateCommand
    )
}

/// When an originate started at `start_micros` gives up waiting for an
/// answer: FreeSWITCH compares `originate_timeout` with whole seconds of
/// the wall clock (`switch_epoch_time_now`), so it stops at the timeout-th
/// second boundary after the start, up to a second early.
fn originate_deadline(start_micros: u64, timeout: Duration) -> u64 {
    (start_micros / 1_000_000 + timeout.as_secs()) * 1_000_000
}

/// Starts an `originate`; `done` gets the result text (`+OK <uuid>\n`,
/// `-ERR <CAUSE>\n` or the usage text) at the moment FreeSWITCH reports it.
pub(crate) fn originate(engine: &Arc<Engine>, args: &str, done: Completion) {
    let Some(request) = parse_originate(args) else {
        done(ORIGINATE_USAGE.to_owned());
        return;
    };
    let engine = Arc::clone(engine);
    tokio::spawn(async move { place_call(engine, request, done).await });
}

fn variable<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a channel variable reads as true, as `switch_true` has it.
pub(crate) fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
}

async fn place_call(engine: Arc<Engine>, request: Originate, done: Completion) {
    let vars = request.dial.vars.clone();
    let refuse = |cause: HangupCause| format!("-ERR {cause}\n");
    if engine.shutting_down.load(Ordering::Relaxed) {
        // mod_sofia is unloaded before mod_event_socket: the endpoint is
        // gone, and switch_core_session_outgoing_channel (switch_core_session.c)
        // answers "Could not locate channel type" with CHAN_NOT_IMPLEMENTED
        // before any channel exists.
        done(refuse(HangupCause::ChanNotImplemented));
        return;
    }
    let (profile_name, user, host, port) = match &request.dial.endpoint {
        Endpoint::Sofia {
            profile,
            user,
            host,
            port,
        } => (profile.clone(), user.clone(), host.clone(), *port),
        Endpoint::Gateway { number, .. } => {
            ("external".to_owned(), number.clone(), String::new(), 5060)
        }
        Endpoint::Error(cause) => {
            done(refuse(cause.clone()));
            return;
        }
        Endpoint::Unsupported(_) => {
            done(refuse(HangupCause::ChanNotImplemented));
            return;
        }
    };
    let uuid = variable(&vars, "origination_uuid")
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    if engine.sessions.admit().is_err() {
        engine.clock.sleep(Duration::from_millis(2)).await;
        done(refuse(HangupCause::DestinationOutOfOrder));
        return;
    }
    let now = engine.clock.now_micros();
    let profile = Profile {
        logical_direction: "outbound",
        caller_id_name: variable(&vars, "origination_caller_id_name")
            .map(str::to_owned)
            .or_else(|| request.caller_id_name.clone())
            .unwrap_or_default(),
        caller_id_number: variable(&vars, "origination_caller_id_number")
            .map(str::to_owned)
            .or_else(|| request.caller_id_number.clone())
            .unwrap_or_else(|| "0000000000".to_owned()),
        orig_caller_id_number: "0000000000".to_owned(),
        callee_id_name: "Outbound Call".to_owned(),
        callee_id_number: user.clone(),
        ani: "0000000000".to_owned(),
        destination_number: user.clone(),
        source: "src/switch_ivr_originate.c",
        context: "default".to_owned(),
        index: 1,
        times: super::channel::Times {
            profile_created: now,
            created: now,
            ..Default::default()
        },
        ..Profile::default()
    };
    let name = format!("sofia/{}", request.dial.target.trim_start_matches("sofia/"));
    let channel = Channel::new(&uuid, &name, profile);
    let Some((call, rx)) = engine.calls.insert(channel) else {
        engine.sessions.release();
        done(refuse(HangupCause::DestinationOutOfOrder));
        return;
    };
    engine.record_dial(&user);
    let keys = request.dial.endpoint.phone_keys();
    let script = {
        let phones = engine.phones();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        phones.lookup(&keys).clone()
    };
    let leg = Leg::new(
        &profile_name,
        &user,
        &host,
        port,
        &engine.config.identity.ipv4,
    );
    let mut session = Session::new(Arc::clone(&engine), call, rx, leg);
    session.run(request, script, done).await;
    engine.calls.remove(&uuid);
    engine.sessions.release();
}

/// A digit the phone will press.
#[derive(Debug, Clone, Copy)]
struct Press {
    at_micros: u64,
    digit: char,
    tone: Duration,
}

fn presses(start_micros: u64, group: &crate::sim::phone::DtmfGroup) -> Vec<Press> {
    group
        .digits
        .as_str()
        .chars()
        .enumerate()
        .map(|(i, digit)| Press {
            at_micros: start_micros + i as u64 * group.gap.as_micros() as u64,
            digit,
            tone: group.tone,
        })
        .collect()
}

/// How an origination failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The far end refused with this SIP status.
    Status(u16),
    /// The far end could not be reached at all (a local 503).
    Unreachable,
    /// Nobody answered before `originate_timeout`.
    Timeout,
    /// The channel was killed while ringing.
    Killed,
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The time ran out.
    Elapsed,
    /// A digit is waiting in the buffer.
    Digit,
    /// A queued message or a transfer is waiting.
    Message,
    /// The channel was hung up.
    Hangup,
}

/// What may end a wait early (hangup always does).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WakeOn {
    pub digits: bool,
    pub messages: bool,
}

/// A recording started by `record_session`.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    pub path: PathBuf,
    pub started_micros: u64,
    /// When its `+<max_seconds>` limit stops it, if it has one.
    pub stop_micros: Option<u64>,
}

/// Hangs a channel up with `cause` and fires CHANNEL_HANGUP — from the
/// channel's own task or, for `uuid_kill`/`hupall`, from the API. Returns
/// false when the channel was already hung up.
pub(crate) fn hang_up(engine: &Engine, call: &CallHandle, cause: HangupCause) -> bool {
    let event = {
        let mut channel = call.channel();
        if channel.hangup_cause.is_some() {
            return false;
        }
        channel.hangup_cause = Some(cause);
        channel.answer_state = "hangup";
        channel.request_state(RunState::Hangup);
        let mut event = engine.new_event(
            &EventName::ChannelHangup,
            origin("switch_channel.c", "switch_channel_perform_hangup", 3445),
        );
        channel.add_data(&mut event, true);
        event
    };
    engine.fire(event);
    true
}

/// Hangs a channel up from outside its task (`uuid_kill`, `hupall`, a
/// scheduled hangup) and tells the task.
pub(crate) fn kill(engine: &Engine, call: &CallHandle, cause: HangupCause) {
    if hang_up(engine, call, cause) {
        call.send(Msg::HungUp);
    }
}

/// Swaps caller and callee id as FreeSWITCH does when an outbound call's
/// far end is known (`switch_channel_flip_cid`).
fn flip_caller_id(channel: &mut Channel) {
    if channel.var("channel_cid_flipped").is_some() {
        return;
    }
    let profile = &mut channel.profile;
    let caller_number = std::mem::take(&mut profile.caller_id_number);
    let caller_name = std::mem::take(&mut profile.caller_id_name);
    profile.caller_id_number = std::mem::take(&mut profile.callee_id_number);
    profile.caller_id_name = std::mem::take(&mut profile.callee_id_name);
    profile.callee_id_number = caller_number.clone();
    profile.callee_id_name = caller_name;
    channel.set_var("pre_transfer_caller_id_number", caller_number);
    channel.set_var("channel_cid_flipped", "yes");
}

/// The channel's task.
pub(crate) struct Session {
    pub engine: Arc<Engine>,
    pub call: Arc<CallHandle>,
    rx: mpsc::UnboundedReceiver<Msg>,
    pub leg: Leg,
    pub queue: VecDeque<Queued>,
    /// A transfer waiting for the channel to route again.
    pub transfer: Option<Target>,
    pub hung_up: bool,
    pub digits: VecDeque<char>,
    presses: Vec<Press>,
    script: Option<Answer>,
    prompts_started: u32,
    answer_at: Option<u64>,
    bye_at: Option<u64>,
    remote_bye: bool,
    pub played_millis: u64,
    pub recordings: Vec<Recording>,
    pub digits_dialed: String,
    /// How many running applications hold the queue (`event-lock`).
    pub locked: u32,
}

impl Session {
    fn new(
        engine: Arc<Engine>,
        call: Arc<CallHandle>,
        rx: mpsc::UnboundedReceiver<Msg>,
        leg: Leg,
    ) -> Session {
        Session {
            engine,
            call,
            rx,
            leg,
            queue: VecDeque::new(),
            transfer: None,
            hung_up: false,
            digits: VecDeque::new(),
            presses: Vec::new(),
            script: None,
            prompts_started: 0,
            answer_at: None,
            bye_at: None,
            remote_bye: false,
            played_millis: 0,
            recordings: Vec::new(),
            digits_dialed: String::new(),
            locked: 0,
        }
    }

    /// The channel, locked.
    pub fn channel(&self) -> std::sync::MutexGuard<'_, Channel> {
        self.call.channel()
    }

    /// Simulated now, microseconds.
    pub fn now(&self) -> u64 {
        self.engine.clock.now_micros()
    }

    /// An event about this channel: `before` headers, the channel data,
    /// then `after` headers.
    pub fn event(
        &self,
        name: EventName,
        origin: Origin,
        before: &[(&str, String)],
        after: &[(&str, String)],
    ) -> Event {
        let mut event = self.engine.new_event(&name, origin);
        for (header, value) in before {
            event.push(*header, value.as_str());
        }
        self.channel()
            .add_data(&mut event, carries_variables(&name));
        for (header, value) in after {
            event.push(*header, value.as_str());
        }
        event
    }

    /// Fires an event about this channel with no extra headers.
    pub fn fire(&self, name: EventName, origin: Origin) {
        self.engine.fire(self.event(name, origin, &[], &[]));
    }

    /// Fires an event with extra headers after the channel data.
    pub fn fire_with(&self, name: EventName, origin: Origin, after: &[(&str, String)]) {
        self.engine.fire(self.event(name, origin, &[], after));
    }

    fn set_state(&self, state: RunState) {
        self.channel().set_state(state);
        self.fire(
            EventName::ChannelState,
            origin(
                "switch_channel.c",
                "switch_channel_perform_set_running_state",
                2408,
            ),
        );
    }

    /// Enters a state whose standard handler (routing, execute) stamps the
    /// channel's `call_uuid` again, moving it after later variables.
    fn set_handled_state(&self, state: RunState) {
        self.set_state(state);
        let mut channel = self.channel();
        let uuid = channel.uuid.clone();
        channel.set_var("call_uuid", uuid);
    }

    fn set_call_state(&self, state: CallState) {
        let old = {
            let mut channel = self.channel();
            std::mem::replace(&mut channel.call_state, state)
        };
        let event = self.event(
            EventName::ChannelCallstate,
            origin(
                "switch_channel.c",
                "switch_channel_perform_set_callstate",
                301,
            ),
            &[
                ("Original-Channel-Call-State", old.name().to_owned()),
                ("Channel-Call-State-Number", state.number().to_string()),
            ],
            &[],
        );
        self.engine.fire(event);
    }

    /// Hangs this channel up from its own task.
    pub fn hang_up(&mut self, cause: HangupCause) {
        hang_up(&self.engine, &self.call, cause);
        self.hung_up = true;
    }

    /// Waits up to `duration` (forever when `None`), serving the phone's
    /// DTMF, answer and hangup and the channel's messages meanwhile.
    pub async fn wait(&mut self, duration: Option<Duration>, wake: WakeOn) -> Wake {
        let deadline = duration.map(|d| self.now() + d.as_micros() as u64);
        loop {
            if self.hung_up {
                return Wake::Hangup;
            }
            if wake.digits && !self.digits.is_empty() {
                return Wake::Digit;
            }
            if wake.messages
                && self.locked == 0
                && (!self.queue.is_empty() || self.transfer.is_some())
            {
                return Wake::Message;
            }
            let now = self.now();
            if deadline.is_some_and(|d| now >= d) {
                return Wake::Elapsed;
            }
            let next = [
                deadline,
                self.presses.first().map(|p| p.at_micros),
                self.answer_at,
                self.bye_at,
                self.recordings.iter().filter_map(|r| r.stop_micros).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = next.map_or(Duration::from_secs(3600), |at| {
                Duration::from_micros(at.saturating_sub(now))
            });
            tokio::select! {
                _ = self.engine.clock.sleep(sleep) => self.due(),
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.receive(msg),
                    // Every handle is gone: the switch restarted.
                    None => self.hung_up = true,
                },
            }
        }
    }

    /// Handles what is due now: the phone's answer, key presses and hangup.
    fn due(&mut self) {
        let now = self.now();
        if self.answer_at.is_some_and(|at| at <= now) {
            self.answer_at = None;
            self.mark_answered(true);
        }
        while self.presses.first().is_some_and(|p| p.at_micros <= now) {
            let press = self.presses.remove(0);
            self.receive_dtmf(press.digit, press.tone);
        }
        apps::stop_due_recordings(self);
        if self.bye_at.is_some_and(|at| at <= now) {
            self.bye_at = None;
            self.remote_bye = true;
            self.leg.on_remote_bye(&mut self.channel());
            self.hang_up(HangupCause::NormalClearing);
            self.leg.on_remote_bye_done(&mut self.channel());
        }
    }

    /// Whether the far end hung up (BYE), rather than this side.
    pub(super) fn hung_up_by_far_end(&self) -> bool {
        self.remote_bye
    }

    fn receive(&mut self, msg: Msg) {
        match msg {
            Msg::Queued(queued) => self.queue.push_back(queued),
            Msg::HungUp => self.hung_up = true,
            Msg::Transfer(target) => self.transfer_to(target, false),
        }
    }

    fn receive_dtmf(&mut self, digit: char, tone: Duration) {
        let transport = self.engine.config.dtmf_transport;
        if transport == DtmfTransport::Info {
            let mut event = self.event(
                EventName::RecvInfo,
                origin("sofia.c", "create_info_event", 9721),
                &[
                    ("SIP-Content-Type", "application/dtmf-relay".to_owned()),
                    ("SIP-From-User", self.leg.user.clone()),
                    ("SIP-From-Host", self.leg.host.clone()),
                    ("SIP-To-User", "0000000000".to_owned()),
                    ("SIP-To-Host", self.leg.local_ip.clone()),
                    ("SIP-Contact-Host", self.leg.host.clone()),
                ],
                &[],
            );
            event.set_body(format!(
                "Signal={digit}\r\nDuration={}\r\n",
                tone.as_millis()
            ));
            self.engine.fire(event);
        }
        let sensitive = is_true(self.channel().var("sensitive_dtmf"));
        if !sensitive {
            let samples = (tone.as_millis() as u64 * 8).clamp(400, 192_000);
            let source = match transport {
                DtmfTransport::Info => "ENDPOINT",
                DtmfTransport::Rfc2833 => "RTP",
            };
            self.fire_with(
                EventName::Dtmf,
                origin("switch_channel.c", "switch_channel_dequeue_dtmf", 677),
                &[
                    ("DTMF-Digit", digit.to_string()),
                    ("DTMF-Duration", samples.to_string()),
                    ("DTMF-Source", source.to_owned()),
                ],
            );
        }
        self.digits.push_back(digit);
    }

    /// A prompt (playback, speak, say) starts: the phone may react to it.
    pub fn prompt_started(&mut self) {
        self.prompts_started += 1;
        let Some(script) = &self.script else {
            return;
        };
        let now = self.now();
        let mut new = Vec::new();
        for group in &script.dtmf {
            if let DtmfTrigger::OnPrompt { prompt, delay } = group.trigger
                && prompt.get() == self.prompts_started
            {
                new.extend(presses(now + delay.as_micros() as u64, group));
            }
        }
        self.schedule(new);
    }

    fn schedule(&mut self, new: Vec<Press>) {
        self.presses.extend(new);
        self.presses.sort_by_key(|p| p.at_micros);
    }

    /// Runs the whole life of the channel.
    async fn run(&mut self, request: Originate, script: PhoneScript, done: Completion) {
        {
            let mut channel = self.channel();
            channel.set_state(RunState::None);
            channel.request_state(RunState::Init);
        }
        self.fire(
            EventName::ChannelOutgoing,
            origin(
                "switch_core_session.c",
                "switch_core_session_outgoing_channel",
                768,
            ),
        );
        let session_id = self.engine.calls.next_session_id();
        self.leg
            .on_create(&mut self.channel(), session_id, &request.dial.vars);
        self.set_state(RunState::Init);
        // The originate asks for routing while the channel initializes.
        self.channel().request_state(RunState::Routing);
        self.fire(
            EventName::ChannelCreate,
            origin(
                "switch_core_state_machine.c",
                "switch_core_session_run",
                626,
            ),
        );
        self.fire(
            EventName::ChannelOriginate,
            origin(
                "switch_core_state_machine.c",
                "switch_core_session_run",
                632,
            ),
        );
        self.set_state(RunState::Routing);
        self.set_state(RunState::ConsumeMedia);

        let vars = &request.dial.vars;
        let timeout = variable(vars, "originate_timeout")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(u64::from(request.timeout));
        let ignore_early_media = !early_media_ok(vars);
        let mut report = Reporter {
            done: Some(done),
            pending: None,
        };
        if let PhoneScript::Answer(answer) = &script {
            self.script = Some(answer.clone());
        }
        match self
            .ring(&script, Duration::from_secs(timeout), ignore_early_media)
            .await
        {
            Ok(Connected::Answered { early }) => {
                self.mark_answered(early);
                self.connected(&request.destination, &mut report).await;
            }
            Ok(Connected::EarlyMedia { answer_at }) => {
                self.answer_at = answer_at;
                self.connected(&request.destination, &mut report).await;
            }
            Err(failure) => self.fail(failure, &mut report).await,
        }
    }

    /// Rings the phone until it answers, sends early media (when that
    /// counts as success) or fails.
    async fn ring(
        &mut self,
        script: &PhoneScript,
        timeout: Duration,
        ignore_early_media: bool,
    ) -> Result<Connected, Failure> {
        let start = self.now();
        let deadline = originate_deadline(start, timeout);
        let at = |offset: Duration| start + offset.as_micros() as u64;
        match script {
            PhoneScript::Answer(answer) => {
                let answer_at = at(answer.after);
                let mut early = false;
                if let Some(early_at) = answer.early_media.map(at).filter(|&t| t <= deadline) {
                    self.sleep_until(early_at).await?;
                    self.early_media(ignore_early_media);
                    early = true;
                    if !ignore_early_media {
                        self.engine.clock.sleep(TICK).await;
                        return Ok(Connected::EarlyMedia {
                            answer_at: (answer_at <= deadline).then_some(answer_at),
                        });
                    }
                } else {
                    self.sleep_until(start + TICK.as_micros() as u64).await?;
                    self.ringing();
                }
                if answer_at > deadline {
                    self.sleep_until(deadline).await?;
                    return Err(Failure::Timeout);
                }
                self.sleep_until(answer_at).await?;
                Ok(Connected::Answered { early })
            }
            PhoneScript::RingForever => {
                self.sleep_until(start + TICK.as_micros() as u64).await?;
                self.ringing();
                self.sleep_until(deadline).await?;
                Err(Failure::Timeout)
            }
            PhoneScript::SipTimeout => {
                let give_up = at(SIP_TIMER_B);
                self.sleep_until(give_up.min(deadline)).await?;
                Err(if give_up < deadline {
                    Failure::Status(408)
                } else {
                    Failure::Timeout
                })
            }
            PhoneScript::Unreachable => {
                self.sleep_until(start + TICK.as_micros() as u64).await?;
                Err(Failure::Unreachable)
            }
            refused => {
                self.sleep_until(start + TICK.as_micros() as u64).await?;
                Err(Failure::Status(
                    refused.failure_status().map_or(500, |s| s.code()),
                ))
            }
        }
    }

    /// Sleeps until `at_micros`; `Err(Killed)` if the channel is hung up
    /// meanwhile.
    async fn sleep_until(&mut self, at_micros: u64) -> Result<(), Failure> {
        let wait = Duration::from_micros(at_micros.saturating_sub(self.now()));
        match self.wait(Some(wait), WakeOn::default()).await {
            Wake::Hangup => Err(Failure::Killed),
            _ => Ok(()),
        }
    }

    fn ringing(&mut self) {
        {
            let mut channel = self.channel();
            channel.profile.times.progress = self.engine.clock.now_micros();
            channel.profile.network_addr = self.leg.host.clone();
            self.leg.on_ringing(&mut channel);
        }
        self.fire(
            EventName::ChannelProgress,
            origin(
                "switch_channel.c",
                "switch_channel_perform_mark_ring_ready_value",
                3505,
            ),
        );
        self.set_call_state(CallState::Ringing);
    }

    fn early_media(&mut self, ignore_early_media: bool) {
        {
            let mut channel = self.channel();
            channel.profile.times.progress_media = self.engine.clock.now_micros();
            channel.profile.network_addr = self.leg.host.clone();
            channel.answer_state = "early";
            self.leg.on_early_media(&mut channel);
        }
        self.fire(
            EventName::ChannelProgressMedia,
            origin(
                "switch_channel.c",
                "switch_channel_perform_mark_pre_answered",
                3560,
            ),
        );
        self.set_call_state(CallState::Early);
        self.codec_events();
        let mut channel = self.channel();
        if !ignore_early_media {
            // Early media that answers the originate: sofia takes the
            // 183's SDP as the session's answer before starting RTP.
            self.leg.on_remote_sdp(&mut channel);
        }
        self.leg.on_early_media_session(&mut channel);
    }

    fn codec_events(&self) {
        self.channel().codec = true;
        self.fire_with(
            EventName::Codec,
            origin(
                "switch_core_codec.c",
                "switch_core_session_set_real_read_codec",
                168,
            ),
            &[
                ("channel-read-codec-name", "PCMU".to_owned()),
                ("channel-read-codec-rate", "8000".to_owned()),
                ("channel-read-codec-bit-rate", "64000".to_owned()),
            ],
        );
        self.fire_with(
            EventName::Codec,
            origin(
                "switch_core_codec.c",
                "switch_core_session_set_write_codec",
                450,
            ),
            &[
                ("Channel-Write-Codec-Name", "PCMU".to_owned()),
                ("Channel-Write-Codec-Rate", "8000".to_owned()),
                ("Channel-Write-codec-bit-rate", "64000".to_owned()),
            ],
        );
    }

    /// CALL_UPDATE: the caller id flips now that the far end is known.
    fn call_update(&self) {
        flip_caller_id(&mut self.channel());
        let event = self.event(
            EventName::CallUpdate,
            origin("switch_channel.c", "switch_channel_flip_cid", 3277),
            &[("Direction", "RECV".to_owned())],
            &[],
        );
        self.engine.fire(event);
    }

    /// The far end answered: CHANNEL_ANSWER, call state ACTIVE, and the
    /// phone's script (keys, hangup) starts counting.
    fn mark_answered(&mut self, after_early_media: bool) {
        if !after_early_media {
            self.codec_events();
        }
        let now = self.now();
        {
            let mut channel = self.channel();
            channel.profile.times.answered = now;
            if channel.hangup_cause.is_none() {
                channel.answer_state = "answered";
            }
            self.leg.on_answer(&mut channel, after_early_media);
        }
        self.fire(
            EventName::ChannelAnswer,
            origin(
                "switch_channel.c",
                "switch_channel_perform_mark_answered",
                3846,
            ),
        );
        self.channel().set_var("endpoint_disposition", "ANSWER");
        // switch_channel.c `switch_channel_perform_mark_answered` runs the
        // `execute_on_answer*` applications between the ANSWER event and
        // the ACTIVE call state.
        apps::execute_on(self, "execute_on_answer");
        self.set_call_state(CallState::Active);
        if let Some(script) = &self.script {
            let mut new = Vec::new();
            for group in &script.dtmf {
                if let DtmfTrigger::AfterAnswer(after) = group.trigger {
                    new.extend(presses(now + after.as_micros() as u64, group));
                }
            }
            self.bye_at = script
                .hangup_after
                .map(|after| now + after.as_micros() as u64);
            self.schedule(new);
        }
    }

    /// The call is up (answered, or early media that counts): run its
    /// destination, follow transfers, then tear down.
    async fn connected(&mut self, destination: &Destination, report: &mut Reporter) {
        match destination {
            Destination::App { app, arg } => {
                // The originate gives the channel its one-application
                // extension, and the far end is known.
                self.channel().hit_dialplan = true;
                self.call_update();
                report.send(format!("+OK {}\n", self.call.uuid));
                self.set_handled_state(RunState::Execute);
                let app_uuid = uuid::Uuid::new_v4().to_string();
                apps::execute(self, app, arg, &app_uuid).await;
            }
            Destination::Extension(target) => {
                report.send(format!("+OK {}\n", self.call.uuid));
                self.transfer_to(target.clone(), true);
            }
        }
        loop {
            if self.hung_up {
                break;
            }
            match self.transfer.take() {
                Some(target) => self.route(&target).await,
                // The extension ran out of actions.
                None => self.hang_up(HangupCause::NormalClearing),
            }
        }
        self.teardown(report, false).await;
    }

    /// Transfers the channel, as `switch_ivr_session_transfer` does at
    /// once, from whatever thread asks: a new caller profile for the
    /// target, the transfer variables, and a pending route the channel
    /// takes as soon as its current application lets go.
    pub fn transfer_to(&mut self, target: Target, from_originate: bool) {
        let now = self.now();
        let mut channel = self.channel();
        let source = format!(
            "{}:{}:bl_xfer:{}/{}/{}",
            now / 1_000_000,
            uuid::Uuid::new_v4(),
            target.extension,
            target.context,
            target.dialplan
        );
        let previous = std::mem::replace(
            &mut channel.profile.destination_number,
            target.extension.clone(),
        );
        let profile = &mut channel.profile;
        profile.rdnis = previous;
        profile.dialplan = target.dialplan.clone();
        profile.context = target.context.clone();
        profile.transfer_source = source.clone();
        profile.index += 1;
        profile.times.profile_created = now;
        if !from_originate {
            profile.logical_direction = "inbound";
        }
        let forwards = channel
            .var("max_forwards")
            .and_then(|v| v.parse::<u32>().ok());
        channel.set_var(
            "max_forwards",
            forwards.map_or(70, |f| f.saturating_sub(1)).to_string(),
        );
        channel.push_var("transfer_history", &source);
        channel.set_var("transfer_source", source);
        channel.request_state(RunState::Routing);
        drop(channel);
        self.transfer = Some(target);
    }

    /// Routes the channel through the dialplan to `target` and runs what it
    /// finds there.
    async fn route(&mut self, target: &Target) {
        let context = target.context.as_str();
        self.set_handled_state(RunState::Routing);
        let actions = self
            .engine
            .hunt(context, &mut DialplanChannel { call: &self.call });
        let Some(actions) = actions else {
            self.hang_up(HangupCause::NoRouteDestination);
            return;
        };
        self.channel().hit_dialplan = true;
        if self.channel().var("channel_cid_flipped").is_none() {
            self.call_update();
        }
        self.set_handled_state(RunState::Execute);
        for (app, data) in actions {
            if self.hung_up || self.transfer.is_some() {
                break;
            }
            let app_uuid = uuid::Uuid::new_v4().to_string();
            apps::execute(self, &app, &data, &app_uuid).await;
        }
    }

    /// A call that never connected.
    async fn fail(&mut self, failure: Failure, report: &mut Reporter) {
        let cause = match failure {
            Failure::Status(status) => {
                let mut channel = self.channel();
                channel.profile.network_addr = self.leg.host.clone();
                self.leg.on_refused(&mut channel, status);
                sofia::cause_for_status(status)
            }
            Failure::Unreachable => {
                self.leg.on_unreachable(&mut self.channel());
                HangupCause::NormalTemporaryFailure
            }
            Failure::Timeout => HangupCause::NoAnswer,
            Failure::Killed => self
                .channel()
                .hangup_cause
                .clone()
                .unwrap_or(HangupCause::NormalClearing),
        };
        self.hang_up(cause.clone());
        let result = format!("-ERR {cause}\n");
        if matches!(failure, Failure::Timeout | Failure::Killed) {
            // We gave up: the originate reports at once.
            report.send(result);
        } else {
            report.pending = Some(result);
        }
        self.teardown(report, failure == Failure::Unreachable).await;
    }

    /// From hangup to destruction, as the state machine does it.
    async fn teardown(&mut self, report: &mut Reporter, slow_destroy: bool) {
        self.set_state(RunState::Hangup);
        // The hangup state's handler stamps the hangup time.
        self.channel().profile.times.hangup = self.now();
        let recordings = std::mem::take(&mut self.recordings);
        for recording in recordings {
            apps::stop_recording(self, recording, apps::STOPPED_BY_HANGUP);
        }
        self.set_call_state(CallState::Hangup);
        self.set_state(RunState::Reporting);
        self.hangup_variables();
        let cause = self
            .channel()
            .hangup_cause
            .clone()
            .unwrap_or(HangupCause::NormalClearing);
        let event = self.event(
            EventName::ChannelHangupComplete,
            origin(
                "switch_core_state_machine.c",
                "switch_core_session_reporting_state",
                943,
            ),
            &[("Hangup-Cause", cause.name().to_owned())],
            &[],
        );
        self.engine.fire(event);
        if let Some(result) = report.pending.take() {
            report.send(result);
        }
        if slow_destroy {
            self.engine.clock.sleep(TICK).await;
        }
        self.channel().request_state(RunState::Destroy);
        self.fire(
            EventName::ChannelDestroy,
            origin(
                "switch_core_session.c",
                "switch_core_session_perform_destroy",
                1584,
            ),
        );
        self.set_state(RunState::Destroy);
    }

    /// The variables FreeSWITCH computes when a channel is reported.
    fn hangup_variables(&mut self) {
        let now = self.now();
        let answered_media = {
            let channel = self.channel();
            let t = channel.profile.times;
            (t.answered != 0).then(|| now.saturating_sub(t.answered))
        };
        let mut channel = self.channel();
        let cause = channel
            .hangup_cause
            .clone()
            .unwrap_or(HangupCause::NormalClearing);
        let t = channel.profile.times;
        channel.set_var("hangup_cause", cause.name());
        channel.set_var("hangup_cause_q850", cause.q850().to_string());
        let dialed = if self.digits_dialed.is_empty() {
            "none"
        } else {
            self.digits_dialed.as_str()
        };
        channel.set_var("digits_dialed", dialed);
        let stamp = |micros: u64| crate::sim::engine::event_dates(micros).0;
        channel.set_var("start_stamp", stamp(t.created));
        channel.set_var("profile_start_stamp", stamp(t.profile_created));
        if t.answered != 0 {
            channel.set_var("answer_stamp", stamp(t.answered));
        }
        if t.progress != 0 {
            channel.set_var("progress_stamp", stamp(t.progress));
        }
        if t.progress_media != 0 {
            channel.set_var("progress_media_stamp", stamp(t.progress_media));
        }
        channel.set_var("end_stamp", stamp(now));
        let epochs = [
            ("start", t.created),
            ("profile_start", t.profile_created),
            ("answer", t.answered),
            ("bridge", 0),
            ("last_hold", 0),
        ];
        for (name, micros) in epochs {
            channel.set_var(&format!("{name}_epoch"), (micros / 1_000_000).to_string());
            channel.set_var(&format!("{name}_uepoch"), micros.to_string());
        }
        channel.set_var("hold_accum_seconds", "0");
        channel.set_var("hold_accum_usec", "0");
        channel.set_var("hold_accum_ms", "0");
        for (name, micros) in [
            ("resurrect", 0),
            ("progress", t.progress),
            ("progress_media", t.progress_media),
            ("end", now),
        ] {
            channel.set_var(&format!("{name}_epoch"), (micros / 1_000_000).to_string());
            channel.set_var(&format!("{name}_uepoch"), micros.to_string());
        }
        let last_app = channel.var("current_application").map(str::to_owned);
        if let Some(app) = last_app {
            channel.set_var("last_app", app);
            let arg = channel
                .var("current_application_data")
                .unwrap_or("")
                .to_owned();
            channel.set_var("last_arg", arg);
        }
        let caller_id = if channel.profile.caller_id_name.is_empty() {
            channel.profile.caller_id_number.clone()
        } else {
            format!(
                "\"{}\" <{}>",
                channel.profile.caller_id_name, channel.profile.caller_id_number
            )
        };
        channel.set_var("caller_id", caller_id);
        let since = |from: u64, to: u64| if from == 0 || to < from { 0 } else { to - from };
        let bill = since(t.answered, now);
        let progress = since(t.created, t.progress);
        let answer = since(t.created, t.answered);
        let progress_media = since(t.created, t.progress_media);
        let duration = since(t.created, now);
        let spans = [
            ("duration", "mduration", "uduration", duration),
            ("billsec", "billmsec", "billusec", bill),
            ("progresssec", "progressmsec", "progressusec", progress),
            ("answersec", "answermsec", "answerusec", answer),
            ("waitsec", "waitmsec", "waitusec", 0),
            (
                "progress_mediasec",
                "progress_mediamsec",
                "progress_mediausec",
                progress_media,
            ),
            ("flow_billsec", "flow_billmsec", "flow_billusec", duration),
        ];
        for (seconds, _, _, micros) in spans {
            channel.set_var(seconds, ((micros + 500_000) / 1_000_000).to_string());
        }
        for (_, millis, _, micros) in spans {
            channel.set_var(millis, (micros / 1000).to_string());
        }
        for (_, _, micro_name, micros) in spans {
            channel.set_var(micro_name, micros.to_string());
        }
        // Sofia's own hangup handler runs after the core's: it sends a
        // BYE, or a CANCEL for a call still ringing, unless the far end
        // ended the dialog already.
        if !self.remote_bye && channel.var("sip_hangup_disposition").is_none() {
            if answered_media.is_some() {
                self.leg.on_local_bye(&mut channel);
            } else {
                self.leg.on_cancelled(&mut channel);
            }
        }
        if let Some(media) = answered_media {
            sofia::rtp_statistics(&mut channel, media / 1000, self.played_millis);
        }
    }
}

/// How `originate` ended up connected.
enum Connected {
    /// The far end answered (after early media or not).
    Answered { early: bool },
    /// Early media counted as success; the answer may come at `answer_at`.
    EarlyMedia { answer_at: Option<u64> },
}

/// Hands the originate result over once, possibly later than it is known.
struct Reporter {
    done: Option<Completion>,
    /// A result known now but reported later in the teardown.
    pending: Option<String>,
}

impl Reporter {
    fn send(&mut self, text: String) {
        if let Some(done) = self.done.take() {
            done(text);
        }
    }
}

/// The channel as the dialplan hunter sees it.
struct DialplanChannel<'a> {
    call: &'a CallHandle,
}

impl crate::sim::dialplan::HuntChannel for DialplanChannel<'_> {
    fn profile_field(&self, name: &str) -> Option<String> {
        let channel = self.call.channel();
        let p = &channel.profile;
        let value = match name {
            "destination_number" => p.destination_number.clone(),
            "caller_id_name" => p.caller_id_name.clone(),
            "caller_id_number" => p.caller_id_number.clone(),
            "callee_id_name" => p.callee_id_name.clone(),
            "callee_id_number" => p.callee_id_number.clone(),
            "ani" => p.ani.clone(),
            "rdnis" => p.rdnis.clone(),
            "source" => p.source.to_owned(),
            "context" => p.context.clone(),
            "dialplan" => p.dialplan.clone(),
            "network_addr" => p.network_addr.clone(),
            "uuid" => channel.uuid.clone(),
            "chan_name" => channel.name.clone(),
            _ => return None,
        };
        Some(value)
    }

    fn variable(&self, name: &str) -> Option<String> {
        let found = self.call.channel().var(name).map(str::to_owned);
        found.or_else(|| self.profile_field(name))
    }

    fn execute_inline(&mut self, application: &str, data: &str) -> bool {
        let data = {
            let channel = self.call.channel();
            crate::sim::dialplan::expand_variables(data, &|n| channel.var(n).map(str::to_owned))
        };
        let mut channel = self.call.channel();
        match application {
            "set" | "export" => {
                if let Some((name, value)) = data.split_once('=') {
                    channel.set_var(name.trim(), value);
                }
            }
            "unset" => channel.unset_var(data.trim()),
            "multiset" => {
                for word in data.split_whitespace() {
                    if let Some((name, value)) = word.split_once('=') {
                        channel.set_var(name, value);
                    }
                }
            }
            // Applications that cannot run inline are skipped, as FreeSWITCH
            // skips them.
            _ => {}
        }
        true
    }
}
