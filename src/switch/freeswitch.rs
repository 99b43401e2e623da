//! The FreeSWITCH backend: one node driven over its event socket. Calls are
//! originated with `bgapi` into an XML dialplan context, moved with
//! `uuid_transfer`, and followed through the node's event stream, which a
//! router task splits by call.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backend::{
    Backend, CallEvent, CallId, ChannelSnapshot, Claims, CollectedInput, MARK_VAR, OriginateSpec,
    SwitchClock, SwitchError, Timed,
};
use super::dial::{DialTemplate, VarName, VarValue};
use crate::esl::client::{Client, ClientStats, ConnectionState, EslError, Events};
use crate::esl::{Event, EventName, HangupCause};

/// The events a call is followed with.
pub const CALL_EVENTS: &[EventName] = &[
    EventName::ChannelProgress,
    EventName::ChannelProgressMedia,
    EventName::ChannelAnswer,
    EventName::ChannelPark,
    EventName::ChannelExecuteComplete,
    EventName::RecordStop,
    EventName::ChannelHangup,
    EventName::ChannelDestroy,
];

#[derive(Default)]
struct Routes {
    /// The clock the node stamps its events with.
    clock: SwitchClock,
    calls: HashMap<String, mpsc::UnboundedSender<Timed>>,
    jobs: HashMap<String, String>,
    /// The followed calls whose originate the node acknowledged (or may
    /// have: one that timed out).
    placed: HashSet<String>,
    /// Calls given up while their channel may still exist or come to exist
    /// (a node frozen with the originate in its socket runs it late), with
    /// when: such a channel is hung up as soon as it is seen.
    abandoned: HashMap<String, Abandoned>,
    /// When the last HEARTBEAT came.
    heartbeat: Option<Instant>,
    /// Its `Session-Count` and `Max-Sessions`.
    sessions: Option<(u32, u32)>,
    /// Events routed so far, by name (names FreeSWITCH does not define
    /// counted together as `OTHER`, so the set stays bounded).
    received: HashMap<&'static str, u64>,
}

/// A call given up while its channel may exist.
#[derive(Debug, Clone, Copy)]
struct Abandoned {
    since: Instant,
    /// Its hangup was asked for already.
    hung_up: bool,
}

/// How long an abandoned call is watched for: far longer than any
/// originate can wait in a frozen node's socket and then ring.
const ABANDONED_FOR: Duration = Duration::from_secs(15 * 60);

/// A FreeSWITCH node.
pub struct FreeSwitch {
    client: Client,
    context: String,
    dial: DialTemplate,
    routes: Arc<Mutex<Routes>>,
    /// A command timed out and the node has not answered one since.
    unresponsive: AtomicBool,
    /// Channels of abandoned calls hung up so far.
    orphans: Arc<AtomicU64>,
    /// Which calls some arsgate still wants, for the channels in the
    /// context this one follows none of.
    claims: Option<Arc<dyn Claims>>,
}

impl std::fmt::Debug for FreeSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreeSwitch")
            .field("context", &self.context)
            .field("dial", &self.dial)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// A `-ERR` reply as an error; FreeSWITCH's `uuid_*` commands answer
/// `-ERR No such channel!` for a call that is gone.
fn refusal(reply: &str) -> SwitchError {
    if reply.contains("No such channel") {
        SwitchError::NoSuchCall
    } else {
        SwitchError::Refused(reply.trim_end().to_owned())
    }
}

/// An ESL error as the backend reports it.
fn refused(error: EslError) -> SwitchError {
    match error {
        EslError::Timeout => SwitchError::Timeout,
        EslError::CommandFailed(text) => SwitchError::Refused(text),
        EslError::Protocol(error) => SwitchError::Refused(error.to_string()),
        _ => SwitchError::Disconnected,
    }
}

impl FreeSwitch {
    /// Drives the node behind `client` (subscribed to [`CALL_EVENTS`]),
    /// routing `events` to the calls it places in dialplan `context`,
    /// dialling numbers through `dial`.
    pub fn new(client: Client, events: Events, context: &str, dial: DialTemplate) -> FreeSwitch {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let orphans = Arc::new(AtomicU64::new(0));
        tokio::spawn(route(
            events,
            Arc::clone(&routes),
            client.clone(),
            Arc::clone(&orphans),
        ));
        FreeSwitch {
            client,
            context: context.to_owned(),
            dial,
            routes,
            unresponsive: AtomicBool::new(false),
            orphans,
            claims: None,
        }
    }

    /// Lets the node hang up the channels in its context that no
    /// verification wants any more (see [`FreeSwitch::hang_up_strangers`]).
    pub fn with_claims(mut self, claims: Arc<dyn Claims>) -> FreeSwitch {
        self.claims = Some(claims);
        self
    }

    /// A node whose events are stamped by `clock` (the sandbox's
    /// simulator, whose clock runs faster than the wall clock).
    pub fn with_clock(self, clock: SwitchClock) -> FreeSwitch {
        self.routes().clock = clock;
        self
    }

    /// Runs `api <command>`, noting whether the node answered in time.
    async fn api(&self, command: &str) -> Result<String, SwitchError> {
        let result = self.client.api(command).await;
        self.answered(result)
    }

    /// Notes whether a command was answered in time: a node that let one
    /// time out takes no new calls until it answers again.
    fn answered<T>(&self, result: Result<T, EslError>) -> Result<T, SwitchError> {
        match result {
            Ok(value) => {
                self.unresponsive.store(false, Ordering::Relaxed);
                Ok(value)
            }
            Err(EslError::Timeout) => {
                if !self.unresponsive.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "a command to the node timed out; it takes no new calls until it answers"
                    );
                }
                Err(SwitchError::Timeout)
            }
            Err(error) => Err(refused(error)),
        }
    }

    /// Whether the node answered its last command in time (or none timed
    /// out since it last answered).
    pub fn is_responsive(&self) -> bool {
        !self.unresponsive.load(Ordering::Relaxed)
    }

    /// Channels of abandoned calls hung up so far (see
    /// [`Backend::abandon`]).
    pub fn orphans_hung_up(&self) -> u64 {
        self.orphans.load(Ordering::Relaxed)
    }

    /// Hangs up the channels in `carried` (UUID to context) that run in
    /// arsgate's context, that this process does not follow, and that no
    /// unfinished verification wants ([`Claims`]): calls whose arsgate gave
    /// them up or died. Another replica's calls are wanted and left alone.
    /// Returns how many were hung up.
    pub(super) async fn hang_up_strangers(&self, carried: &HashMap<String, String>) -> usize {
        let Some(claims) = &self.claims else {
            return 0;
        };
        let strangers: Vec<CallId> = {
            let routes = self.routes();
            carried
                .iter()
                .filter(|(call, context)| {
                    **context == self.context
                        && !routes.calls.contains_key(*call)
                        && !routes.abandoned.contains_key(*call)
                })
                .filter_map(|(call, _)| uuid::Uuid::parse_str(call).ok().map(CallId::from))
                .collect()
        };
        if strangers.is_empty() {
            return 0;
        }
        let wanted = match claims.wanted(&strangers).await {
            Ok(wanted) => wanted,
            Err(error) => {
                tracing::warn!(%error, "could not tell which of the node's channels are wanted");
                return 0;
            }
        };
        let mut hung_up = 0;
        for call in strangers.iter().filter(|call| !wanted.contains(*call)) {
            hang_up_orphan(&self.client, call.as_str(), &self.orphans).await;
            hung_up += 1;
        }
        hung_up
    }

    /// Hangs up the channels in `carried` that belong to abandoned calls;
    /// returns how many.
    pub(super) async fn hang_up_abandoned(&self, carried: &HashMap<String, String>) -> usize {
        let found: Vec<String> = {
            let mut routes = self.routes();
            prune(&mut routes.abandoned);
            routes
                .abandoned
                .iter_mut()
                .filter(|(call, abandoned)| !abandoned.hung_up && carried.contains_key(*call))
                .map(|(call, abandoned)| {
                    abandoned.hung_up = true;
                    call.clone()
                })
                .collect()
        };
        for call in &found {
            hang_up_orphan(&self.client, call, &self.orphans).await;
        }
        found.len()
    }

    /// Closes the event socket for good.
    pub async fn close(&self) {
        self.client.close().await;
    }

    /// Whether the event socket is connected right now.
    pub fn is_connected(&self) -> bool {
        matches!(
            *self.client.state().borrow(),
            ConnectionState::Connected { .. }
        )
    }

    /// Whether the node still carries `call` (`uuid_exists`).
    pub async fn exists(&self, call: &CallId) -> Result<bool, SwitchError> {
        let reply = self.api(&format!("uuid_exists {call}")).await?;
        Ok(reply.trim_end() == "true")
    }

    /// What `module_exists <module>` answers (`true` or `false`).
    pub async fn module_exists(&self, module: &str) -> Result<String, SwitchError> {
        self.api(&format!("module_exists {module}")).await
    }

    /// The node's `status` text.
    pub async fn status(&self) -> Result<String, SwitchError> {
        self.api("status").await
    }

    /// Time since the node's last HEARTBEAT, if one came.
    pub fn heartbeat_age(&self) -> Option<Duration> {
        self.routes().heartbeat.map(|at| at.elapsed())
    }

    /// The node's `Session-Count` and `Max-Sessions` from its last
    /// HEARTBEAT.
    pub fn heartbeat_sessions(&self) -> Option<(u32, u32)> {
        self.routes().sessions
    }

    /// The event socket client's counters.
    pub fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    /// Events routed so far, by event name.
    pub fn events_received(&self) -> Vec<(&'static str, u64)> {
        self.routes()
            .received
            .iter()
            .map(|(name, count)| (*name, *count))
            .collect()
    }

    /// The connection state, to follow.
    pub fn connection(&self) -> tokio::sync::watch::Receiver<ConnectionState> {
        self.client.state()
    }

    /// The followed calls whose originate the node acknowledged.
    pub fn placed_calls(&self) -> Vec<CallId> {
        self.routes()
            .placed
            .iter()
            .filter_map(|call| uuid::Uuid::parse_str(call).ok().map(CallId::from))
            .collect()
    }

    /// Tells a followed call something arsgate learnt about it.
    pub fn tell(&self, call: &CallId, event: CallEvent) {
        let mut routes = self.routes();
        if let Some(sender) = routes.calls.get(call.as_str()) {
            let _ = sender.send(Timed {
                at: routes.clock.now(),
                event: event.clone(),
            });
        }
        if event == (CallEvent::Reconciled { up: false }) {
            routes.calls.remove(call.as_str());
            routes.placed.remove(call.as_str());
        }
    }

    /// Every channel the node carries (`show channels as json`): its UUID
    /// and the dialplan context it runs in (empty before it is routed).
    pub async fn channels(&self) -> Result<HashMap<String, String>, SwitchError> {
        let reply = self.api("show channels as json").await?;
        let listing: serde_json::Value = serde_json::from_str(&reply)
            .map_err(|_| SwitchError::Refused(reply.trim_end().to_owned()))?;
        Ok(listing["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| {
                let uuid = row["uuid"].as_str()?.to_owned();
                let context = row["context"].as_str().unwrap_or_default().to_owned();
                Some((uuid, context))
            })
            .collect())
    }

    fn routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for FreeSwitch {
    fn clock(&self) -> SwitchClock {
        self.routes().clock.clone()
    }

    fn follow(&self, call: &CallId) -> mpsc::UnboundedReceiver<Timed> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes().calls.insert(call.as_str().to_owned(), tx);
        rx
    }

    fn forget(&self, call: &CallId) {
        let mut routes = self.routes();
        routes.calls.remove(call.as_str());
        routes.placed.remove(call.as_str());
        routes.jobs.retain(|_, c| c != call.as_str());
    }

    fn abandon(&self, call: &CallId) {
        self.forget(call);
        let mut routes = self.routes();
        prune(&mut routes.abandoned);
        let abandoned = Abandoned {
            since: Instant::now(),
            hung_up: false,
        };
        routes.abandoned.insert(call.as_str().to_owned(), abandoned);
    }

    async fn originate(&self, spec: &OriginateSpec) -> Result<(), SwitchError> {
        let args = originate_args(spec, &self.dial, &self.context)?;
        let job = uuid::Uuid::new_v4().to_string();
        self.routes()
            .jobs
            .insert(job.clone(), spec.call.as_str().to_owned());
        let submitted = self
            .client
            .bgapi_submit(&format!("originate {args}"), &job)
            .await;
        let submitted = self.answered(submitted);
        let mut routes = self.routes();
        match submitted {
            Ok(()) => {
                routes.placed.insert(spec.call.as_str().to_owned());
                Ok(())
            }
            // Written but not acknowledged: the node may still run it (a
            // frozen node does, once it runs again), so the call is
            // followed as placed and its job's verdict still awaited.
            Err(SwitchError::Timeout) => {
                routes.placed.insert(spec.call.as_str().to_owned());
                Err(SwitchError::Timeout)
            }
            Err(error) => {
                routes.jobs.remove(&job);
                Err(error)
            }
        }
    }

    async fn set_vars(
        &self,
        call: &CallId,
        vars: &[(VarName, VarValue)],
    ) -> Result<(), SwitchError> {
        for (name, value) in vars {
            let reply = self
                .api(&format!(
                    "uuid_setvar {call} {} {}",
                    name.as_str(),
                    value.as_str()
                ))
                .await?;
            if !reply.starts_with("+OK") {
                return Err(refusal(&reply));
            }
        }
        Ok(())
    }

    async fn unset_vars(&self, call: &CallId, vars: &[VarName]) -> Result<(), SwitchError> {
        for name in vars {
            // `uuid_setvar` with no value removes the variable
            // (mod_commands.c, uuid_setvar_function: an empty value is NULL).
            let reply = self
                .api(&format!("uuid_setvar {call} {}", name.as_str()))
                .await?;
            if !reply.starts_with("+OK") {
                return Err(refusal(&reply));
            }
        }
        Ok(())
    }

    async fn transfer(&self, call: &CallId, extension: &str) -> Result<(), SwitchError> {
        let reply = self
            .api(&format!(
                "uuid_transfer {call} {extension} XML {}",
                self.context
            ))
            .await?;
        if reply.starts_with("+OK") {
            Ok(())
        } else {
            Err(refusal(&reply))
        }
    }

    async fn inspect(
        &self,
        call: &CallId,
        vars: &[&str],
    ) -> Result<Option<ChannelSnapshot>, SwitchError> {
        // One command for the whole channel: its state and every variable.
        // The reply may hold digits the customer keyed; it is never logged.
        let reply = self.api(&format!("uuid_dump {call} json")).await?;
        if reply.starts_with("-ERR") {
            return match refusal(&reply) {
                SwitchError::NoSuchCall => Ok(None),
                other => Err(other),
            };
        }
        let dump: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&reply)
            .map_err(|_| SwitchError::Refused("uuid_dump answered no JSON object".to_owned()))?;
        let text = |name: &str| dump.get(name).and_then(serde_json::Value::as_str);
        let snapshot = ChannelSnapshot {
            answered: text("Answer-State") == Some("answered"),
            parked: text("variable_current_application") == Some("park"),
            extension: text("Caller-Destination-Number").map(str::to_owned),
            vars: vars
                .iter()
                .filter_map(|name| {
                    let value = text(&format!("variable_{name}"))?;
                    Some(((*name).to_owned(), value.to_owned()))
                })
                .collect(),
        };
        self.routes().placed.insert(call.as_str().to_owned());
        Ok(Some(snapshot))
    }

    async fn hangup(&self, call: &CallId, cause: &HangupCause) -> Result<(), SwitchError> {
        let reply = self
            .api(&format!("uuid_kill {call} {}", cause.name()))
            .await?;
        if reply.starts_with("+OK") {
            Ok(())
        } else {
            Err(refusal(&reply))
        }
    }
}

/// The `originate` arguments for `spec`: a dial string with the call's
/// channel variables, then the extension in `context`. Every value was
/// checked by its type, so a request can carry no FreeSWITCH syntax here.
pub fn originate_args(
    spec: &OriginateSpec,
    dial: &DialTemplate,
    context: &str,
) -> Result<String, SwitchError> {
    let name_ok = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !name_ok(&spec.extension) || !name_ok(context) {
        return Err(SwitchError::Refused(format!(
            "invalid extension {:?} or context {context:?}",
            spec.extension
        )));
    }
    // The watchdog cannot be `park_timeout`: FreeSWITCH clears it at the
    // first park (switch_ivr.c `switch_ivr_park`). A hangup in the switch's
    // scheduler, added when the call is answered (switch_channel.c
    // `switch_channel_perform_mark_answered` runs `execute_on_answer`;
    // mod_dptools.c `sched_hangup_function`), is keyed by the channel's
    // UUID alone: parks and transfers leave it in place. Whole seconds,
    // rounded up, and never `+0` (which hangs up at once).
    let seconds = spec.watchdog.as_millis().div_ceil(1000).max(1);
    let guard = VarValue::parse(&format!(
        "sched_hangup +{seconds} {}",
        HangupCause::AllottedTimeout.name()
    ))
    .map_err(|error| SwitchError::Refused(error.to_string()))?;
    let mut vars = vec![
        format!("origination_uuid={}", spec.call),
        "ignore_early_media=true".to_owned(),
        format!("originate_timeout={}", spec.ring_timeout.as_secs().max(1)),
        format!("execute_on_answer={}", guard.in_dial_string()),
    ];
    vars.extend(
        spec.vars
            .iter()
            .map(|(name, value)| format!("{}={}", name.as_str(), value.in_dial_string())),
    );
    Ok(format!(
        "{{{}}}{} {} XML {context}",
        vars.join(","),
        dial.render(&spec.number),
        spec.extension
    ))
}

/// Forgets abandoned calls watched for long enough.
fn prune(abandoned: &mut HashMap<String, Abandoned>) {
    abandoned.retain(|_, call| call.since.elapsed() < ABANDONED_FOR);
}

/// Hangs up the channel of an abandoned call, counting it.
async fn hang_up_orphan(client: &Client, call: &str, orphans: &AtomicU64) {
    match client
        .api(&format!("uuid_kill {call} ALLOTTED_TIMEOUT"))
        .await
    {
        Ok(reply) if reply.starts_with("+OK") => {
            orphans.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(call, "hung up the channel of a call arsgate had given up");
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(call, %error, "the channel of a call given up could not be hung up")
        }
    }
}

/// Splits the node's event stream by call.
async fn route(
    mut events: Events,
    routes: Arc<Mutex<Routes>>,
    client: Client,
    orphans: Arc<AtomicU64>,
) {
    let mut dropped = client.stats().events_dropped;
    while let Some(event) = events.recv().await {
        let mut routes = routes.lock().unwrap_or_else(|e| e.into_inner());
        let now_dropped = client.stats().events_dropped;
        if now_dropped > dropped {
            // Events were dropped before this one: any call may have missed
            // some, so each learns it before its next event (a park whose
            // collect result was lost reads the result from the channel);
            // the recovery task then looks at every call again.
            dropped = now_dropped;
            let now = routes.clock.now();
            for sender in routes.calls.values() {
                let _ = sender.send(Timed {
                    at: now,
                    event: CallEvent::Unknown,
                });
            }
        }
        if let Some(call) = event.unique_id()
            && let Some(abandoned) = routes.abandoned.get_mut(call.as_ref())
        {
            // A channel arsgate gave up on came to exist after all, or is
            // still there: it goes at once.
            let call = call.into_owned();
            if event.name() == EventName::ChannelDestroy {
                routes.abandoned.remove(&call);
            } else if !abandoned.hung_up && event.name() != EventName::ChannelHangup {
                abandoned.hung_up = true;
                let (client, orphans) = (client.clone(), Arc::clone(&orphans));
                tokio::spawn(async move { hang_up_orphan(&client, &call, &orphans).await });
            }
            continue;
        }
        *routes
            .received
            .entry(known_name(&event.name()))
            .or_default() += 1;
        if event.name() == EventName::Heartbeat {
            routes.heartbeat = Some(Instant::now());
            let count = |name: &str| event.header(name).and_then(|v| v.trim().parse().ok());
            routes.sessions = count("Session-Count").zip(count("Max-Sessions"));
            continue;
        }
        let (call, translated) = if event.name() == EventName::BackgroundJob {
            let Some(call) = event
                .job_uuid()
                .and_then(|job| routes.jobs.remove(job.as_ref()))
            else {
                continue;
            };
            (call, Some(originate_verdict(&event)))
        } else {
            let Some(call) = event.unique_id() else {
                continue;
            };
            (call.into_owned(), translate(&event))
        };
        let Some(translated) = translated else {
            continue;
        };
        let ended = translated == CallEvent::Ended;
        if let Some(sender) = routes.calls.get(&call) {
            let _ = sender.send(Timed {
                at: timestamp(&event),
                event: translated,
            });
        }
        if ended {
            routes.calls.remove(&call);
            routes.placed.remove(&call);
        }
    }
}

/// `name`'s spelling if FreeSWITCH defines it, else `OTHER`.
fn known_name(name: &EventName) -> &'static str {
    EventName::KNOWN
        .iter()
        .find(|known| *known == name)
        .map_or("OTHER", |known| known.as_str())
}

fn timestamp(event: &Event) -> SystemTime {
    event
        .timestamp_micros()
        .map_or_else(SystemTime::now, |micros| {
            UNIX_EPOCH + Duration::from_micros(micros)
        })
}

/// A BACKGROUND_JOB for an originate: `+OK <uuid>` or `-ERR <CAUSE>`.
fn originate_verdict(event: &Event) -> CallEvent {
    let body = event.body_text().unwrap_or_default();
    let body = body.trim_end();
    if body.starts_with("+OK") {
        return CallEvent::Originated(Ok(()));
    }
    let cause = body
        .strip_prefix("-ERR ")
        .map_or(HangupCause::NormalUnspecified, HangupCause::from_name);
    CallEvent::Originated(Err(cause))
}

/// What a channel event means for arsgate's call, if anything.
pub fn translate(event: &Event) -> Option<CallEvent> {
    Some(match event.name() {
        EventName::ChannelProgress => CallEvent::Ringing,
        EventName::ChannelProgressMedia => CallEvent::EarlyMedia,
        EventName::ChannelAnswer => CallEvent::Answered,
        EventName::ChannelPark => CallEvent::Parked {
            mark: event.variable(MARK_VAR).map(|m| m.into_owned()),
        },
        EventName::ChannelExecuteComplete => match event.application().as_deref() {
            Some("set") => CallEvent::VarSet {
                name: event
                    .header("Application-Data")?
                    .split('=')
                    .next()?
                    .trim()
                    .to_owned(),
            },
            _ => collected(event)?,
        },
        EventName::RecordStop => CallEvent::RecordingStopped {
            path: event.header("Record-File-Path")?.into_owned(),
            duration: Duration::from_millis(
                event
                    .variable("record_ms")
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or(0),
            ),
        },
        EventName::ChannelHangup => CallEvent::HungUp {
            cause: event
                .hangup_cause()
                .unwrap_or(HangupCause::NormalUnspecified),
        },
        EventName::ChannelDestroy => CallEvent::Ended,
        _ => return None,
    })
}

/// The result of `play_and_get_digits` ([`CollectedInput::read`]).
fn collected(event: &Event) -> Option<CallEvent> {
    if event.application().as_deref() != Some("play_and_get_digits") {
        return None;
    }
    let data = event.header("Application-Data")?;
    let var = data.split_whitespace().nth(7)?.to_owned();
    let input = CollectedInput::read(&var, |name| event.variable(name).map(|v| v.into_owned()));
    Some(CallEvent::Collected { var, input })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::DialNumber;

    fn spec(extension: &str, vars: Vec<(VarName, VarValue)>) -> OriginateSpec {
        OriginateSpec {
            call: CallId::from(uuid::Uuid::nil()),
            number: DialNumber::parse("01012345678").unwrap(),
            extension: extension.to_owned(),
            ring_timeout: Duration::from_secs(30),
            watchdog: Duration::from_secs(130),
            vars,
        }
    }

    #[test]
    fn originate_strings_are_built_from_checked_parts() {
        let dial = DialTemplate::parse("sofia/gateway/kt/{number}").unwrap();
        let vars = vec![(
            VarName::parse("ars_brand").unwrap(),
            VarValue::parse("Acme Bank").unwrap(),
        )];
        assert_eq!(
            originate_args(&spec("enter_code__start", vars), &dial, "arsgate").unwrap(),
            "{origination_uuid=00000000-0000-0000-0000-000000000000,ignore_early_media=true,originate_timeout=30,execute_on_answer='sched_hangup +130 ALLOTTED_TIMEOUT',ars_brand='Acme Bank'}sofia/gateway/kt/01012345678 enter_code__start XML arsgate"
        );
        for (watchdog, guard) in [(90_500, "+91 "), (0, "+1 ")] {
            let spec = OriginateSpec {
                watchdog: Duration::from_millis(watchdog),
                ..spec("x", Vec::new())
            };
            let args = originate_args(&spec, &dial, "arsgate").unwrap();
            assert!(args.contains(&format!("'sched_hangup {guard}")), "{args}");
        }
        assert!(originate_args(&spec("x &park()", Vec::new()), &dial, "arsgate").is_err());
        assert!(originate_args(&spec("x", Vec::new()), &dial, "arsgate default").is_err());
    }

    #[test]
    fn background_job_bodies_become_verdicts() {
        let job = |body: &str| {
            let mut event = Event::new(&EventName::BackgroundJob);
            event.set_body(body.to_owned());
            originate_verdict(&event)
        };
        assert_eq!(job("+OK 1234\n"), CallEvent::Originated(Ok(())));
        assert_eq!(
            job("-ERR USER_BUSY\n"),
            CallEvent::Originated(Err(HangupCause::UserBusy))
        );
        assert_eq!(
            job("-USAGE: ...\n"),
            CallEvent::Originated(Err(HangupCause::NormalUnspecified))
        );
    }
}
