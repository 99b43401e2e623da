//! The per-call controller: places one verification call, follows its
//! events, takes every decision the scenario leaves to arsgate (judging
//! codes and PINs, following menus, moving the call between segments),
//! enforces the call's deadline and produces exactly one outcome with its
//! timeline and, for consent calls, the evidence.
//!
//! Secrets never leave arsgate: the digits a customer keys are read from the
//! switch's events, compared here against a digest or hash, and never sent
//! back, logged or kept. The code to read out is set on the channel only
//! after the call is answered, just before the segment that speaks it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::birthdate::BirthdateDigests;
use super::compile::{CODE_DIGITS_VAR, CODE_HEARD_VAR};
use super::mark::{Mark, Tries};
use super::outcome::Outcome;
use super::program::{
    Decision, Dynamic, End, Language, Program, SecretKind, Segment, SegmentId, Verify,
};
use super::secret::{Code, CodeDigest, CodeKey, PinHash};
use super::timeline::{Entry, Happening, InputResult, Timeline};
use crate::esl::HangupCause;
use crate::switch::{
    Attempt, Backend, CallEvent, CallId, ChannelSnapshot, CollectedInput, DialNumber, MARK_VAR,
    OriginateSpec, PARKED_VAR, SwitchError, Timed, VarName, VarValue,
};

/// Where recordings go, as the switch sees them and as arsgate reads them.
#[derive(Debug, Clone)]
pub struct RecordingPaths {
    /// The directory the switch writes into.
    pub switch_dir: String,
    /// The same directory as arsgate reads it.
    pub local_dir: PathBuf,
}

/// Settings every call shares (from the configuration).
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// How long the phone may ring.
    pub ring_timeout: Duration,
    /// Where the switch finds the prompts (`ars_sounds`; languages below it).
    pub sounds: String,
    /// The TTS engine FreeSWITCH's `speak` uses.
    pub tts_engine: String,
    /// The TTS voice for each language.
    pub tts_voices: BTreeMap<Language, String>,
    /// Where recordings go.
    pub recordings: RecordingPaths,
    /// The key codes are digested with.
    pub code_key: Arc<CodeKey>,
    /// The caller id number customers see, if set.
    pub caller_id_number: Option<String>,
    /// The caller id name, if set.
    pub caller_id_name: Option<String>,
}

impl CallSettings {
    /// The settings the configuration describes, with the server's code key.
    pub fn from_config(calls: &crate::config::CallsConfig, code_key: Arc<CodeKey>) -> CallSettings {
        CallSettings {
            ring_timeout: calls.ring_timeout,
            sounds: calls.sounds.clone(),
            tts_engine: calls.tts.engine.clone(),
            tts_voices: calls.tts.voices.clone(),
            recordings: RecordingPaths {
                switch_dir: calls.recordings.switch_dir.clone(),
                local_dir: calls.recordings.local_dir.clone(),
            },
            code_key,
            caller_id_number: calls.caller_id_number.clone(),
            caller_id_name: calls.caller_id_name.clone(),
        }
    }
}

/// One verification call to make.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The call's id (the channel UUID).
    pub call: CallId,
    /// Who to call.
    pub number: DialNumber,
    /// The language prompts play in.
    pub language: Language,
    /// The request's fields, already validated, for texts the call speaks.
    pub fields: BTreeMap<String, VarValue>,
    /// The code in clear, for scenarios that read it out.
    pub code: Option<Code>,
    /// The code's digest, for scenarios that check a keyed code.
    pub code_digest: Option<CodeDigest>,
    /// The customer's PIN hash, for scenarios that check a PIN.
    pub pin: Option<PinHash>,
    /// The birth date's digests, for scenarios that check a birth date.
    pub birthdate: Option<BirthdateDigests>,
    /// Hears of each timeline entry as it happens (the answer, above all).
    pub progress: Option<UnboundedSender<Entry>>,
}

/// What a consent call leaves as evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentEvidence {
    /// The consent text as it was spoken.
    pub text: Option<String>,
    /// The key the customer pressed, if any.
    pub key: Option<char>,
    /// When the key was pressed.
    pub key_at: Option<SystemTime>,
    /// The recording as the switch named it.
    pub recording: Option<String>,
    /// The recording as arsgate reads it.
    pub local_recording: Option<PathBuf>,
    /// The recording's SHA-256 (hex), if the file could be read.
    pub recording_sha256: Option<String>,
    /// The recording's length.
    pub recording_duration: Option<Duration>,
}

/// How a verification call ended.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// The outcome.
    pub outcome: Outcome,
    /// Why, in words.
    pub reason: String,
    /// Whether the customer answered.
    pub answered: bool,
    /// What happened, in order.
    pub timeline: Timeline,
    /// For consent calls: what was said, pressed and recorded.
    pub evidence: Option<ConsentEvidence>,
    /// Whether the far end rang, sent early media or answered.
    pub progressed: bool,
    /// Whether the switch reported any event of the call's channel: it
    /// existed, so the far end was invited.
    pub channel: bool,
    /// Why the switch never took the originate, if it did not.
    pub not_accepted: Option<SwitchError>,
    /// The cause the call ended with, if the switch reported one.
    pub cause: Option<HangupCause>,
}

impl CallReport {
    /// How far the call got, for the failover rules
    /// ([`crate::switch::failover::classify`]); `None` when the switch
    /// reported no end at all.
    pub fn attempt(&self) -> Option<Attempt<'_>> {
        if let Some(error) = &self.not_accepted {
            return Some(Attempt::NotAccepted(error));
        }
        self.cause.as_ref().map(|cause| Attempt::Ended {
            cause,
            progressed: self.progressed || self.answered,
            channel: self.channel,
        })
    }
}

/// How long a call being ended (canceled, past its deadline) waits for
/// the switch to confirm; past it the call is given up, so that a node
/// that never comes back cannot keep a verification open.
const ENDING_GRACE: Duration = Duration::from_secs(30);

/// How long past `max_duration` after its answer the switch itself hangs a
/// call up (ALLOTTED_TIMEOUT), whatever happened to arsgate. arsgate's own
/// deadline is `max_duration` after the originate, so before the answer:
/// while it runs it always ends the call first, with a `timeout` outcome,
/// and the margin only has to cover its hangup reaching the switch and the
/// switch's scheduler firing up to a second early (it counts whole
/// seconds).
pub const WATCHDOG_MARGIN: Duration = Duration::from_secs(10);

/// How often, and how far apart, a call taken over is looked at again
/// while it seems to wait for a move the switch has not made.
const SETTLING_LOOKS: u32 = 10;
const SETTLING_PAUSE: Duration = Duration::from_millis(100);

/// Places and drives one call until it ends. `cancel` cancels it.
pub async fn run<B: Backend>(
    backend: &B,
    program: &Program,
    request: CallRequest,
    settings: &CallSettings,
    cancel: CancellationToken,
) -> CallReport {
    let mut call = Call::new(backend, program, request, settings);
    call.run(cancel).await;
    call.report()
}

/// Takes over a call an earlier run of arsgate placed `elapsed` ago and
/// drives it on until it ends: the channel's mark says which segment it is
/// in and which tries are spent; a call found parked gets the decision the
/// earlier run never took. A call the switch no longer carries ends at
/// once, lost.
pub async fn take_over<B: Backend>(
    backend: &B,
    program: &Program,
    request: CallRequest,
    settings: &CallSettings,
    cancel: CancellationToken,
    elapsed: Duration,
) -> CallReport {
    let mut call = Call::new(backend, program, request, settings);
    call.take_over(cancel, elapsed).await;
    call.report()
}

/// The state of one call.
struct Call<'a, B: Backend> {
    backend: &'a B,
    program: &'a Program,
    request: CallRequest,
    settings: &'a CallSettings,
    timeline: Timeline,
    current: SegmentId,
    /// The outcome once decided, with its reason.
    decided: Option<(Outcome, String)>,
    answered: bool,
    hung_up: bool,
    /// What the current segment's collect or menu gathered.
    input: Option<CollectedInput>,
    input_at: SystemTime,
    /// Collect tries so far, by step.
    tries: BTreeMap<String, Tries>,
    /// How many times the call was moved (the mark's sequence).
    seq: u32,
    /// The mark sequence of the last park handled.
    parked: Option<u32>,
    evidence: Option<ConsentEvidence>,
    /// Whether a segment that reads the code out has played to its end.
    code_delivered: bool,
    progressed: bool,
    /// Whether any event of the call's channel arrived.
    channel: bool,
    /// Whether the switch confirmed the channel gone (or never made).
    gone: bool,
    /// Whether events may have been missed since the current segment
    /// began (the node's connection dropped, or events were dropped).
    gap: bool,
    /// A move asked for that the node never confirmed: made again, or
    /// found made, once the node answers.
    pending: Option<SegmentId>,
    /// The cause arsgate hung the call up with, if it did: asked again of
    /// a node that may not have heard it.
    hanging_up: Option<HangupCause>,
    not_accepted: Option<SwitchError>,
    cause: Option<HangupCause>,
}

impl<'a, B: Backend> Call<'a, B> {
    fn new(
        backend: &'a B,
        program: &'a Program,
        request: CallRequest,
        settings: &'a CallSettings,
    ) -> Call<'a, B> {
        let progress = request.progress.clone();
        let records = program.segments.iter().any(|s| {
            s.needs
                .iter()
                .any(|d| matches!(d, Dynamic::RecordingPath { .. }))
        });
        Call {
            backend,
            program,
            request,
            settings,
            timeline: Timeline::observed(progress, backend.clock()),
            current: program.entry,
            decided: None,
            answered: false,
            hung_up: false,
            input: None,
            input_at: SystemTime::now(),
            tries: BTreeMap::new(),
            seq: 0,
            parked: None,
            evidence: records.then(ConsentEvidence::default),
            code_delivered: false,
            progressed: false,
            channel: false,
            gone: false,
            gap: false,
            pending: None,
            hanging_up: None,
            not_accepted: None,
            cause: None,
        }
    }

    fn decide(&mut self, outcome: Outcome, reason: impl Into<String>) {
        if self.decided.is_none() {
            let reason = reason.into();
            tracing::info!(call = %self.request.call, %outcome, %reason, "verification decided");
            let now = self.timeline.now();
            self.timeline.push(
                now,
                Happening::Decided {
                    outcome,
                    reason: reason.clone(),
                },
            );
            self.decided = Some((outcome, reason));
        }
    }

    /// The code was read out to its end: recorded once, so that the
    /// merchant's checks of it are let through.
    fn code_heard(&mut self, at: SystemTime) {
        if !self.code_delivered {
            self.code_delivered = true;
            self.timeline.push(at, Happening::CodeHeard);
        }
    }

    /// Where the call stands, to keep on its channel.
    fn mark(&self) -> Mark {
        let evidence = self.evidence.as_ref();
        Mark {
            seq: self.seq,
            segment: self.current,
            code_delivered: self.code_delivered,
            text_spoken: evidence.is_some_and(|e| e.text.is_some()),
            recording: evidence.is_some_and(|e| e.recording.is_some()),
            tries: self.tries.clone(),
            key: evidence.and_then(|e| Some((e.key?, e.key_at?))),
        }
    }

    /// Picks up where `mark` says the call stands (a call taken over).
    fn restore(&mut self, mark: Mark) -> Result<(), String> {
        if mark.segment.0 >= self.program.segments.len() {
            return Err(format!(
                "the channel's mark names segment {} of a scenario with {}",
                mark.segment.0,
                self.program.segments.len()
            ));
        }
        self.seq = mark.seq;
        self.current = mark.segment;
        if mark.code_delivered {
            self.code_heard(self.timeline.now());
        }
        self.tries = mark.tries;
        // What the earlier run set on the channel is rebuilt as it was:
        // both values follow from the request alone.
        let needs: Vec<Dynamic> = self
            .program
            .segments
            .iter()
            .flat_map(|s| s.needs.iter().cloned())
            .filter(|need| match need {
                Dynamic::Text { .. } => mark.text_spoken,
                Dynamic::RecordingPath { .. } => mark.recording,
                Dynamic::CodeDigits { .. } => false,
            })
            .collect();
        for need in &needs {
            self.dynamic_value(need)?;
        }
        if let Some(evidence) = &mut self.evidence {
            evidence.key = mark.key.map(|(key, _)| key);
            evidence.key_at = mark.key.map(|(_, at)| at);
        }
        Ok(())
    }

    fn var(name: &str, value: &str) -> Option<(VarName, VarValue)> {
        Some((VarName::parse(name).ok()?, VarValue::parse(value).ok()?))
    }

    fn originate_spec(&self) -> Option<OriginateSpec> {
        let language = self.request.language;
        let voice = self
            .settings
            .tts_voices
            .get(&language)
            .map_or(language.code(), String::as_str);
        let vars = [
            Self::var("ars_scenario", &self.program.scenario)?,
            Self::var("ars_lang", language.code())?,
            Self::var("ars_sounds", &self.settings.sounds)?,
            Self::var("ars_tts_engine", &self.settings.tts_engine)?,
            Self::var("ars_tts_voice", voice)?,
            // FreeSWITCH's default lets `*` cut a prompt short, the code included.
            Self::var("playback_terminators", "none")?,
            Self::var(MARK_VAR, &self.mark().encode())?,
        ];
        let mut vars = Vec::from(vars);
        if self.program.secret != SecretKind::None {
            // Keys typed for a secret raise no DTMF events and are masked in
            // FreeSWITCH's logs; arsgate reads them from the collect's result.
            vars.push(Self::var("sensitive_dtmf", "true")?);
        }
        if let Some(number) = &self.settings.caller_id_number {
            vars.push(Self::var("origination_caller_id_number", number)?);
        }
        if let Some(name) = &self.settings.caller_id_name {
            vars.push(Self::var("origination_caller_id_name", name)?);
        }
        Some(OriginateSpec {
            call: self.request.call.clone(),
            number: self.request.number.clone(),
            extension: self.program.segment(self.program.entry).extension.clone(),
            ring_timeout: self.settings.ring_timeout,
            // The switch hangs up by itself if arsgate dies mid-call.
            watchdog: self.program.max_duration + WATCHDOG_MARGIN,
            vars,
        })
    }

    async fn run(&mut self, cancel: CancellationToken) {
        let call = self.request.call.clone();
        let events = self.backend.follow(&call);
        let Some(spec) = self.originate_spec() else {
            self.decide(
                Outcome::Error,
                "the call's settings hold characters a switch would interpret",
            );
            self.backend.forget(&call);
            return;
        };
        if cancel.is_cancelled() {
            // Canceled before it was placed (between two attempts, say):
            // no phone rings for it.
            self.decide(Outcome::Canceled, "canceled by the merchant");
            self.backend.forget(&call);
            return;
        }
        let now = self.timeline.now();
        self.timeline.push(now, Happening::Originated);
        match self.backend.originate(&spec).await {
            Ok(()) => {}
            // Written but never acknowledged: a frozen node runs it when it
            // runs again, so the call may yet ring. It is followed as
            // unknown, never concluded as failed while it may come to be.
            Err(SwitchError::Timeout) => {
                tracing::warn!(call = %call, "the node did not acknowledge the originate; the call is unknown");
                let now = self.timeline.now();
                self.timeline.push(now, Happening::Unknown);
                self.gap = true;
            }
            Err(error) => {
                self.decide(Outcome::NetworkError, format!("originate failed: {error}"));
                self.not_accepted = Some(error);
                self.backend.forget(&call);
                return;
            }
        }
        self.follow(events, cancel, self.program.max_duration).await;
    }

    /// Takes over a call an earlier run placed `elapsed` ago.
    async fn take_over(&mut self, cancel: CancellationToken, elapsed: Duration) {
        let call = self.request.call.clone();
        let events = self.backend.follow(&call);
        let vars = self.described_vars();
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        let now = self.timeline.now();
        let snapshot = match self.inspect_settled(&call, &vars).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => {
                self.decide(
                    Outcome::Error,
                    "lost: arsgate restarted during the call, which ended before it was back",
                );
                self.backend.forget(&call);
                return;
            }
            Err(error) => {
                self.decide(
                    Outcome::Error,
                    format!("lost: arsgate restarted during the call and its node could not describe it: {error}"),
                );
                self.hang_up(&HangupCause::NormalTemporaryFailure).await;
                self.backend.forget(&call);
                return;
            }
        };
        self.timeline.push(now, Happening::TakenOver);
        let mark = snapshot.vars.get(MARK_VAR).map(|m| Mark::decode(m));
        let restored = match mark {
            Some(Some(mark)) => self.restore(mark),
            Some(None) => Err("the channel's mark is unreadable".to_owned()),
            None => Err("the channel carries no mark".to_owned()),
        };
        if let Err(reason) = restored {
            self.decide(
                Outcome::Error,
                format!("arsgate restarted during the call and could not take it over: {reason}"),
            );
            self.hang_up(&HangupCause::NormalTemporaryFailure).await;
        } else if snapshot.answered {
            self.answered = true;
            self.progressed = true;
            if snapshot.vars.contains_key(CODE_HEARD_VAR) {
                self.code_heard(now);
            }
            let segment = self.program.segment(self.current);
            if let End::Finish(outcome) = segment.end {
                self.decide(outcome, format!("scenario reached '{}'", segment.name));
            }
            if Self::unmoved(&snapshot, &segment.extension) {
                // The earlier run marked a move it never made.
                self.enter(self.current).await;
            } else if snapshot.parked {
                // The park the earlier run never handled.
                if let Some(var) = segment.input_var() {
                    self.input = Some(snapshot.collected(var));
                    self.input_at = now;
                }
                self.parked = Some(self.seq);
                self.on_parked(now).await;
            }
        }
        let remaining = self.program.max_duration.saturating_sub(elapsed);
        self.follow(events, cancel, remaining).await;
        // A recording that stopped while no run listened is read from its
        // file.
        let unread = self
            .evidence
            .as_ref()
            .filter(|e| e.recording_duration.is_none())
            .and_then(|e| e.recording.clone());
        if let Some(path) = unread {
            let duration = self.local_recording(&path).and_then(|file| {
                let wav = hound::WavReader::open(file).ok()?;
                let rate = u64::from(wav.spec().sample_rate.max(1));
                Some(Duration::from_millis(
                    u64::from(wav.duration()) * 1000 / rate,
                ))
            });
            if let Some(duration) = duration {
                self.recording_stopped(path, duration);
            }
        }
    }

    /// The channel variables that say where a call stands: its mark, where
    /// it parked, whether the code was heard, what each collect gathered.
    fn described_vars(&self) -> Vec<String> {
        let mut vars = vec![
            MARK_VAR.to_owned(),
            PARKED_VAR.to_owned(),
            CODE_HEARD_VAR.to_owned(),
        ];
        for var in self.program.segments.iter().filter_map(Segment::input_var) {
            vars.extend(CollectedInput::vars(var));
        }
        vars
    }

    /// Brings the call in line with its channel after events may have been
    /// missed (the node's connection dropped and came back, or events were
    /// dropped): an answer not heard of, a move never confirmed, above all
    /// a park — a key pressed meanwhile — that nobody decided on. True
    /// when the call is over.
    async fn resync(&mut self) -> bool {
        let call = self.request.call.clone();
        let vars = self.described_vars();
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        let now = self.timeline.now();
        let snapshot = match self.backend.inspect(&call, &vars).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => {
                self.gone = true;
                self.decide(
                    Outcome::NetworkError,
                    "lost: the call ended while the node's events were missed",
                );
                return true;
            }
            Err(error) => {
                // Left to the next reconciliation, the node's loss or the
                // deadline.
                tracing::warn!(call = %call, %error, "the call could not be looked at again");
                return false;
            }
        };
        if let Some(cause) = self.hanging_up.clone() {
            // Being ended (canceled, past its deadline): the hangup may
            // have gone to the dead connection.
            self.hang_up(&cause).await;
            return false;
        }
        if snapshot.answered && !self.answered {
            self.answered = true;
            self.progressed = true;
            self.timeline.push(now, Happening::Answered);
            self.reached(self.current, now);
        }
        if snapshot.vars.contains_key(CODE_HEARD_VAR) {
            self.code_heard(now);
        }
        if let Some(next) = self.pending.take() {
            let extension = &self.program.segment(next).extension;
            if snapshot.extension.as_deref() == Some(extension.as_str()) {
                // The move was made; only its confirmation was lost.
                self.current = next;
                self.gap = false;
                self.reached(next, now);
            } else {
                self.enter(next).await;
                return false;
            }
        }
        let mark = snapshot.vars.get(MARK_VAR);
        let parked_here = snapshot.parked
            && mark.is_some()
            && snapshot.vars.get(PARKED_VAR) == mark
            && mark.and_then(|m| Mark::decode(m)).map(|m| m.seq) == Some(self.seq);
        if self.answered && parked_here && self.parked != Some(self.seq) {
            if let Some(var) = self.program.segment(self.current).input_var() {
                self.input = Some(snapshot.collected(var));
                self.input_at = now;
            }
            self.parked = Some(self.seq);
            self.on_parked(now).await;
        }
        false
    }

    /// The call is in `segment` now: noted, and decided if the segment
    /// ends the scenario.
    fn reached(&mut self, segment: SegmentId, at: SystemTime) {
        let segment = self.program.segment(segment);
        self.timeline.push(
            at,
            Happening::Segment {
                name: segment.name.clone(),
            },
        );
        if let End::Finish(outcome) = segment.end {
            self.decide(outcome, format!("scenario reached '{}'", segment.name));
        }
    }

    /// Whether `snapshot` is of a channel parked at the end of a segment
    /// before the one its mark names (`extension`): marked for a move the
    /// switch has not made.
    fn unmoved(snapshot: &ChannelSnapshot, extension: &str) -> bool {
        snapshot.parked
            && snapshot.vars.get(PARKED_VAR) != snapshot.vars.get(MARK_VAR)
            && snapshot.extension.as_deref() != Some(extension)
    }

    /// Inspects the call; one that looks marked for a move the switch has
    /// not made is looked at again for a while, as a move just asked for
    /// takes the switch a moment.
    async fn inspect_settled(
        &self,
        call: &CallId,
        vars: &[&str],
    ) -> Result<Option<ChannelSnapshot>, SwitchError> {
        let marked = |snapshot: &ChannelSnapshot| {
            let mark = snapshot.vars.get(MARK_VAR).and_then(|m| Mark::decode(m))?;
            let segment = self.program.segments.get(mark.segment.0)?;
            Some(segment.extension.clone())
        };
        let mut snapshot = self.backend.inspect(call, vars).await?;
        for _ in 0..SETTLING_LOOKS {
            match &snapshot {
                Some(now) if marked(now).is_some_and(|ext| Self::unmoved(now, &ext)) => {
                    tokio::time::sleep(SETTLING_PAUSE).await;
                    snapshot = self.backend.inspect(call, vars).await?;
                }
                _ => break,
            }
        }
        Ok(snapshot)
    }

    /// Follows the call's events until it ends, ending it when `cancel`
    /// fires or `limit` passes.
    async fn follow(
        &mut self,
        mut events: tokio::sync::mpsc::UnboundedReceiver<Timed>,
        cancel: CancellationToken,
        limit: Duration,
    ) {
        let call = self.request.call.clone();
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        let mut ending = false;
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled(), if !ending => {
                    ending = true;
                    deadline.as_mut().reset(tokio::time::Instant::now() + ENDING_GRACE);
                    self.decide(Outcome::Canceled, "canceled by the merchant");
                    self.hang_up(&HangupCause::OriginatorCancel).await;
                }
                () = &mut deadline => {
                    if ending {
                        tracing::warn!(call = %call, "the switch never confirmed the end; giving the call up");
                        break;
                    }
                    ending = true;
                    deadline.as_mut().reset(tokio::time::Instant::now() + ENDING_GRACE);
                    self.decide(Outcome::Timeout, format!("no outcome within {:?}", self.program.max_duration));
                    self.hang_up(&HangupCause::AllottedTimeout).await;
                }
                timed = events.recv() => {
                    let Some(timed) = timed else {
                        self.decide(Outcome::Error, "the switch stopped reporting the call");
                        break;
                    };
                    if self.on_event(timed.at, timed.event).await {
                        break;
                    }
                }
            }
        }
        if self.gone {
            self.backend.forget(&call);
        } else {
            // Given up without the switch confirming the end: should the
            // channel be there (or turn up), it is hung up on sight.
            self.backend.abandon(&call);
        }
        if self.decided.is_none() {
            self.decide(Outcome::Error, "the call ended without an outcome");
        }
    }

    /// Removes `vars` from the channel. A failure is only logged: the
    /// call goes on, and the values go with the channel at its end.
    async fn clear(&self, vars: &[String]) {
        let names: Vec<VarName> = vars
            .iter()
            .filter_map(|var| VarName::parse(var).ok())
            .collect();
        if names.is_empty() {
            return;
        }
        if let Err(error) = self.backend.unset_vars(&self.request.call, &names).await {
            tracing::warn!(call = %self.request.call, %error, "channel variables not cleared");
        }
    }

    async fn hang_up(&mut self, cause: &HangupCause) {
        self.hanging_up = Some(cause.clone());
        if let Err(error) = self.backend.hangup(&self.request.call, cause).await {
            tracing::warn!(call = %self.request.call, %error, "hangup refused");
        }
    }

    /// Handles one event; true when the call is over.
    async fn on_event(&mut self, at: SystemTime, event: CallEvent) -> bool {
        // Everything but the job's verdict and arsgate's own notes about the
        // connection comes from the channel itself.
        self.channel |= !matches!(
            event,
            CallEvent::Originated(_)
                | CallEvent::Unknown
                | CallEvent::Lost { .. }
                | CallEvent::Reconciled { .. }
        );
        self.gone |= matches!(
            event,
            CallEvent::Originated(Err(_)) | CallEvent::HungUp { .. } | CallEvent::Ended
        );
        match event {
            CallEvent::Originated(Ok(())) => {}
            CallEvent::Originated(Err(cause)) => {
                let outcome = Outcome::from_hangup(&cause, false);
                self.cause.get_or_insert_with(|| cause.clone());
                // A channel that existed reported its hangup already.
                if !self.hung_up {
                    self.timeline.push(
                        at,
                        Happening::HungUp {
                            cause: cause.name().to_owned(),
                        },
                    );
                }
                self.decide(outcome, cause.name());
                // A refused originate may leave no channel to report its end.
                return true;
            }
            CallEvent::Ringing => {
                self.progressed = true;
                self.timeline.push(at, Happening::Ringing);
            }
            CallEvent::EarlyMedia => {
                self.progressed = true;
                self.timeline.push(at, Happening::EarlyMedia);
            }
            CallEvent::Answered => {
                self.progressed = true;
                self.answered = true;
                self.timeline.push(at, Happening::Answered);
                // A scenario with no decision at all ends in its first segment.
                self.reached(self.current, at);
            }
            CallEvent::Collected { var, input } => {
                if self.collects_into(&var) {
                    self.input = Some(input);
                    self.input_at = at;
                }
            }
            CallEvent::Parked { mark } if !self.hung_up => {
                if self.fresh_park(mark.as_deref()) {
                    self.on_parked(at).await;
                }
            }
            CallEvent::Parked { .. } => {}
            CallEvent::RecordingStopped { path, duration } => {
                self.timeline.push(
                    at,
                    Happening::Recorded {
                        millis: duration.as_millis() as u64,
                    },
                );
                self.recording_stopped(path, duration);
            }
            CallEvent::HungUp { cause } => {
                self.hung_up = true;
                self.cause.get_or_insert_with(|| cause.clone());
                self.timeline.push(
                    at,
                    Happening::HungUp {
                        cause: cause.name().to_owned(),
                    },
                );
                let segment = self.program.segment(self.current).name.clone();
                let by_customer = self.answered
                    && matches!(
                        cause,
                        HangupCause::NormalClearing | HangupCause::NormalUnspecified
                    );
                if by_customer && self.code_delivered {
                    // The code was read out in full: the call did its job,
                    // and the check happens on the merchant's page.
                    self.decide(
                        Outcome::Completed,
                        format!("the customer hung up during '{segment}', after hearing the code"),
                    );
                } else if by_customer {
                    self.decide(
                        Outcome::CustomerHungUp,
                        format!("the customer hung up during '{segment}'"),
                    );
                } else {
                    let outcome = Outcome::from_hangup(&cause, self.answered);
                    self.decide(outcome, cause.name());
                }
            }
            CallEvent::VarSet { name } => {
                if name == CODE_HEARD_VAR {
                    self.code_heard(at);
                    // Played in full: the digits' file list has no more use
                    // on the channel, where every later event would show it.
                    self.clear(&[CODE_DIGITS_VAR.to_owned()]).await;
                }
            }
            CallEvent::Ended => return true,
            CallEvent::Unknown => {
                self.gap = true;
                self.timeline.push(at, Happening::Unknown);
            }
            CallEvent::Lost { after } => {
                self.decide(
                    Outcome::NetworkError,
                    format!(
                        "lost: the node was unreachable for {}s",
                        after.as_secs_f64().round()
                    ),
                );
                return true;
            }
            CallEvent::Reconciled { up } => {
                self.timeline.push(at, Happening::Reconciled { up });
                if !up {
                    self.gone = true;
                    self.decide(
                        Outcome::NetworkError,
                        "lost: the node's connection dropped and the call was gone when it came back",
                    );
                    return true;
                }
                return self.resync().await;
            }
        }
        false
    }

    /// Whether a park carrying `mark` is one to decide on: not one from
    /// before the call's last move, nor one already handled (a call taken
    /// over sees the park it found again as an event).
    fn fresh_park(&mut self, mark: Option<&str>) -> bool {
        let Some(seq) = mark.and_then(Mark::decode).map(|m| m.seq) else {
            return true;
        };
        if seq != self.seq || self.parked == Some(seq) {
            return false;
        }
        self.parked = Some(seq);
        true
    }

    /// Whether the current segment's collect or menu fills `var`.
    fn collects_into(&self, var: &str) -> bool {
        self.program.segment(self.current).input_var() == Some(var)
    }

    /// The call parked at the end of the current segment: decide.
    async fn on_parked(&mut self, at: SystemTime) {
        let segment = self.program.segment(self.current);
        if self.gap
            && self.input.is_none()
            && let Some(var) = segment.input_var()
        {
            // The collect's result may be among the events missed: the
            // channel still holds it.
            let names = CollectedInput::vars(var);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            match self.backend.inspect(&self.request.call, &names).await {
                Ok(Some(snapshot)) => self.input = Some(snapshot.collected(var)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(call = %self.request.call, %error, "the collect's result could not be read");
                }
            }
        }
        let next = match segment.end.clone() {
            End::Finish(_) => return,
            End::Park(Decision::Next(next)) => next,
            End::Park(Decision::Collect {
                step,
                verify,
                on_input,
                on_no_input,
                on_invalid,
                ..
            }) => self.judge(
                at,
                &step,
                verify.as_ref(),
                on_input,
                on_no_input,
                on_invalid,
            ),
            End::Park(Decision::Menu {
                step,
                options,
                on_no_input,
                on_invalid,
                ..
            }) => {
                let input = self.input.take();
                let key = input
                    .as_ref()
                    .and_then(|i| i.digits.as_deref())
                    .and_then(|d| d.chars().next())
                    .filter(|k| options.iter().any(|(o, _)| o == k));
                self.timeline.push(at, Happening::Key { step, key });
                if let Some(evidence) = &mut self.evidence {
                    evidence.key = key;
                    evidence.key_at = key.map(|_| self.input_at);
                }
                match key {
                    Some(key) => options
                        .iter()
                        .find(|(o, _)| *o == key)
                        .map_or(on_invalid, |(_, s)| *s),
                    None if input.is_some_and(|i| i.invalid) => on_invalid,
                    None => on_no_input,
                }
            }
        };
        self.enter(next).await;
    }

    /// Judges collected digits against the secret.
    fn judge(
        &mut self,
        at: SystemTime,
        step: &str,
        verify: Option<&Verify>,
        on_input: SegmentId,
        on_no_input: SegmentId,
        on_invalid: SegmentId,
    ) -> SegmentId {
        let input = self.input.take();
        let attempt = {
            let tries = self.tries.entry(step.to_owned()).or_default();
            tries.attempts += 1;
            tries.attempts
        };
        let record = |result: InputResult, digits: usize, timeline: &mut Timeline| {
            timeline.push(
                at,
                Happening::Input {
                    step: step.to_owned(),
                    attempt,
                    digits,
                    result,
                },
            );
        };
        let Some(digits) = input.as_ref().and_then(|i| i.digits.clone()) else {
            let invalid = input.is_some_and(|i| i.invalid);
            let result = if invalid {
                InputResult::Invalid
            } else {
                InputResult::Missing
            };
            record(result, 0, &mut self.timeline);
            return if invalid { on_invalid } else { on_no_input };
        };
        let Some(verify) = verify else {
            record(InputResult::Accepted, digits.len(), &mut self.timeline);
            return on_input;
        };
        let correct = match verify.against {
            SecretKind::Code => self
                .request
                .code_digest
                .as_ref()
                .is_some_and(|digest| self.settings.code_key.matches(digest, &digits)),
            SecretKind::Pin => self
                .request
                .pin
                .as_ref()
                .is_some_and(|pin| pin.matches(&digits)),
            SecretKind::Birthdate => self
                .request
                .birthdate
                .as_ref()
                .is_some_and(|date| date.matches(&self.settings.code_key, &digits)),
            SecretKind::None => false,
        };
        if correct {
            record(InputResult::Accepted, digits.len(), &mut self.timeline);
            return on_input;
        }
        record(InputResult::Wrong, digits.len(), &mut self.timeline);
        let wrong = {
            let tries = self.tries.entry(step.to_owned()).or_default();
            tries.wrong += 1;
            tries.wrong
        };
        if wrong >= verify.attempts {
            verify.exhausted
        } else {
            verify.wrong
        }
    }

    /// Moves the call into `next`: sets the data it needs, transfers.
    async fn enter(&mut self, next: SegmentId) {
        let segment = self.program.segment(next);
        let mut vars = Vec::new();
        for need in &segment.needs {
            match self.dynamic_value(need) {
                Ok(var) => vars.push(var),
                Err(reason) => {
                    self.decide(Outcome::Error, reason);
                    self.hang_up(&HangupCause::NormalClearing).await;
                    return;
                }
            }
        }
        // The mark goes with the data: a call taken over from here on
        // finds it in `next`.
        self.seq += 1;
        let mark = Mark {
            segment: next,
            ..self.mark()
        };
        match VarName::parse(MARK_VAR).and_then(|name| Ok((name, VarValue::parse(&mark.encode())?)))
        {
            Ok(var) => vars.push(var),
            Err(error) => {
                self.decide(
                    Outcome::Error,
                    format!("the call's mark is invalid: {error}"),
                );
                self.hang_up(&HangupCause::NormalClearing).await;
                return;
            }
        }
        // What the segment being left collected was read when it parked;
        // it goes once the mark names the next one (a call taken over
        // before then still finds it).
        let stale: Vec<String> = self
            .program
            .segment(self.current)
            .input_var()
            .map(|var| CollectedInput::keyed(var).to_vec())
            .unwrap_or_default();
        let call = self.request.call.clone();
        self.pending = Some(next);
        if let Err(error) = self.backend.set_vars(&call, &vars).await {
            self.move_failed(error, "could not set the call's data")
                .await;
            return;
        }
        self.clear(&stale).await;
        if let Err(error) = self.backend.transfer(&call, &segment.extension).await {
            let what = format!("could not move the call to {}", segment.extension);
            self.move_failed(error, &what).await;
            return;
        }
        self.pending = None;
        self.current = next;
        self.gap = false;
        self.reached(next, self.timeline.now());
    }

    /// A move (see [`Call::enter`]) failed with `error`.
    async fn move_failed(&mut self, error: SwitchError, what: &str) {
        match error {
            // The node is unreachable or did not answer: the move stays
            // pending, made (or found made) once the node is back.
            SwitchError::Disconnected | SwitchError::Timeout => {
                tracing::warn!(call = %self.request.call, %error, "{what}; the move waits for the node");
            }
            // A call that hung up meanwhile is decided by its hangup event.
            SwitchError::NoSuchCall => self.pending = None,
            SwitchError::Refused(_) => {
                self.pending = None;
                self.decide(Outcome::Error, format!("{what}: {error}"));
                self.hang_up(&HangupCause::NormalClearing).await;
            }
        }
    }

    /// The value a segment needs on the channel.
    fn dynamic_value(&mut self, need: &Dynamic) -> Result<(VarName, VarValue), String> {
        let (var, value) = match need {
            Dynamic::CodeDigits { var } => {
                let code = self
                    .request
                    .code
                    .as_ref()
                    .ok_or("the scenario reads a code, but the request has none")?;
                let language = self.request.language.code();
                let files: Vec<String> = code
                    .expose()
                    .chars()
                    .map(|d| format!("{}/{language}/digits/{d}.wav", self.settings.sounds))
                    .collect();
                (var.clone(), format!("file_string://{}", files.join("!")))
            }
            Dynamic::Text { var, text } => {
                let fields = &self.request.fields;
                let spoken = text
                    .fill(self.request.language, |name| {
                        fields.get(name).map(VarValue::as_str)
                    })
                    .map_err(|e| e.to_string())?;
                if let Some(evidence) = &mut self.evidence {
                    evidence.text = Some(spoken.clone());
                }
                (var.clone(), spoken)
            }
            Dynamic::RecordingPath { var } => {
                let path = format!(
                    "{}/{}.wav",
                    self.settings.recordings.switch_dir, self.request.call
                );
                if let Some(evidence) = &mut self.evidence {
                    evidence.recording = Some(path.clone());
                }
                (var.clone(), path)
            }
        };
        let name = VarName::parse(&var).map_err(|e| e.to_string())?;
        let value = VarValue::parse(&value).map_err(|e| e.to_string())?;
        Ok((name, value))
    }

    /// Where arsgate reads a recording the switch wrote at `path`.
    fn local_recording(&self, path: &str) -> Option<PathBuf> {
        let switch_dir = self.settings.recordings.switch_dir.trim_end_matches('/');
        path.strip_prefix(switch_dir).map(|rest| {
            self.settings
                .recordings
                .local_dir
                .join(rest.trim_start_matches('/'))
        })
    }

    fn recording_stopped(&mut self, path: String, duration: Duration) {
        let local = self.local_recording(&path);
        let Some(evidence) = &mut self.evidence else {
            return;
        };
        evidence.recording = Some(path);
        evidence.recording_duration = Some(duration);
        evidence.recording_sha256 = local
            .as_ref()
            .and_then(|file| std::fs::read(file).ok())
            .map(|bytes| hex::encode(Sha256::digest(&bytes)));
        evidence.local_recording = local;
    }

    fn report(self) -> CallReport {
        let (outcome, reason) = self
            .decided
            .unwrap_or((Outcome::Error, "no outcome".to_owned()));
        CallReport {
            outcome,
            reason,
            answered: self.answered,
            timeline: self.timeline,
            evidence: self.evidence,
            progressed: self.progressed,
            channel: self.channel,
            not_accepted: self.not_accepted,
            cause: self.cause,
        }
    }
}
