//! The simulated switch's shared state: its identity and clock, the event
//! counter and the bus, session statistics, and the faults tests inject.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use chrono::{DateTime, Local, Utc};

use super::bus::Bus;
use super::call::Calls;
use super::clock::SimClock;
use super::config::SimConfig;
use super::dialplan::{Dialplan, HuntChannel};
use super::faults::Faults;
use super::phone::{PhoneBook, PhoneScript};
use super::sessions::Sessions;
use crate::esl::{Command, Event, EventName};

/// Where FreeSWITCH's source fires an event: it shows up as
/// `Event-Calling-File`, `-Function` and `-Line-Number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub file: &'static str,
    pub function: &'static str,
    pub line: u32,
}

/// Shorthand for an [`Origin`].
pub(crate) const fn origin(file: &'static str, function: &'static str, line: u32) -> Origin {
    Origin {
        file,
        function,
        line,
    }
}

/// The step of a real switch's event clock, microseconds.
const EVENT_TIME_STEP_MICROS: u64 = 20_000;

/// State that a restart replaces.
#[derive(Debug)]
struct Boot {
    core_uuid: String,
    started_micros: u64,
}

/// The switch.
#[derive(Debug)]
pub(crate) struct Engine {
    pub config: SimConfig,
    pub clock: SimClock,
    pub bus: Bus,
    pub faults: Faults,
    /// A graceful shutdown has begun: the endpoint modules are going or
    /// gone, so every originate is refused (see [`SimHandle::shutdown`](super::SimHandle::shutdown)).
    pub shutting_down: AtomicBool,
    pub sessions: Sessions,
    pub calls: Calls,
    phones: RwLock<PhoneBook>,
    dialplan: RwLock<Option<Dialplan>>,
    boot: RwLock<Boot>,
    sequence: AtomicU64,
    /// What `speak` said, by channel.
    spoken: Recent<(String, String)>,
    /// The destination of every outbound channel created.
    dialled: Recent<String>,
    /// Every command an authenticated connection sent: what the switch
    /// was told, for tests that check what a client may never send.
    commands: Recent<Command>,
}

/// The latest things of a kind the simulator remembers for tests to read,
/// oldest first, up to a bound (the oldest go first).
#[derive(Debug)]
struct Recent<T> {
    kept: std::sync::Mutex<std::collections::VecDeque<T>>,
    bound: usize,
}

impl<T: Clone> Recent<T> {
    fn new(bound: usize) -> Recent<T> {
        Recent {
            kept: std::sync::Mutex::new(std::collections::VecDeque::new()),
            bound,
        }
    }

    fn push(&self, item: T) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() == self.bound {
            kept.pop_front();
        }
        kept.push_back(item);
    }

    fn all(&self) -> Vec<T> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter().cloned().collect()
    }
}

impl Engine {
    /// Freezes or thaws the switch (see `SimHandle::freeze`).
    pub fn set_frozen(&self, frozen: bool) {
        self.faults.frozen.set(frozen);
    }

    /// Cuts every connection off, and those made meanwhile, until
    /// [`Engine::heal`] (see `SimHandle::partition`).
    pub fn partition(&self) {
        self.faults.partitioned.set(true);
        self.bus.blackhole_all();
    }

    /// Ends a partition: the cut-off connections are closed.
    pub fn heal(&self) {
        self.faults.partitioned.set(false);
        self.bus.close_blackholed();
    }

    pub fn new(config: SimConfig) -> Arc<Engine> {
        let clock = match config.start_time {
            Some(start) => SimClock::starting_at(config.speed, start),
            None => SimClock::new(config.speed),
        };
        let boot = Boot {
            core_uuid: uuid::Uuid::new_v4().to_string(),
            started_micros: clock.now_micros(),
        };
        let sessions = Sessions::new(
            config.max_sessions,
            config.sessions_per_second,
            clock.clone(),
        );
        let phones = RwLock::new(config.phones.clone());
        Arc::new(Engine {
            config,
            clock,
            bus: Bus::default(),
            faults: Faults::default(),
            shutting_down: AtomicBool::new(false),
            sessions,
            calls: Calls::default(),
            phones,
            dialplan: RwLock::new(None),
            boot: RwLock::new(boot),
            sequence: AtomicU64::new(0),
            spoken: Recent::new(1000),
            dialled: Recent::new(100_000),
            commands: Recent::new(10_000),
        })
    }

    /// The `Core-UUID` of the running instance.
    pub fn core_uuid(&self) -> String {
        self.boot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .core_uuid
            .clone()
    }

    /// Simulated microseconds since this instance started.
    pub fn uptime_micros(&self) -> u64 {
        let started = self
            .boot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .started_micros;
        self.clock.now_micros().saturating_sub(started)
    }

    /// Starts a new instance: a new Core-UUID, uptime from zero, event
    /// numbering from the start.
    pub fn reboot(&self) {
        let mut boot = self.boot.write().unwrap_or_else(|e| e.into_inner());
        boot.core_uuid = uuid::Uuid::new_v4().to_string();
        boot.started_micros = self.clock.now_micros();
        self.sequence.store(0, Ordering::Relaxed);
        self.sessions.reset();
        self.calls.clear();
    }

    /// Remembers that `speak` said `text` on channel `uuid`.
    pub fn record_speech(&self, uuid: &str, text: &str) {
        self.spoken.push((uuid.to_owned(), text.to_owned()));
    }

    /// What `speak` said on channel `uuid`, in order.
    pub fn spoken(&self, uuid: &str) -> Vec<String> {
        self.spoken
            .all()
            .into_iter()
            .filter(|(u, _)| u == uuid)
            .map(|(_, t)| t)
            .collect()
    }

    /// Notes that an outbound channel to `destination` was created: the
    /// far end was invited (its phone may ring).
    pub fn record_dial(&self, destination: &str) {
        self.dialled.push(destination.to_owned());
    }

    /// Every destination dialled, oldest first.
    pub fn dialled(&self) -> Vec<String> {
        self.dialled.all()
    }

    /// Remembers a command an authenticated connection sent.
    pub fn record_command(&self, command: &Command) {
        self.commands.push(command.clone());
    }

    /// Every command received, oldest first.
    pub fn commands(&self) -> Vec<Command> {
        self.commands.all()
    }

    /// The phone book, to read.
    pub fn phones(&self) -> RwLockReadGuard<'_, PhoneBook> {
        self.phones.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Scripts the phone reached as `key`.
    pub fn set_phone(&self, key: &str, script: PhoneScript) {
        self.phones
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set(key, script);
    }

    /// (Re)reads the dialplan directory, as `reloadxml` does. A directory
    /// that fails to load leaves the previous dialplan in place.
    pub fn reload_dialplan(&self) -> Result<(), String> {
        let Some(dir) = &self.config.dialplan_dir else {
            return Ok(());
        };
        let dialplan = Dialplan::load_dir(dir).map_err(|e| e.to_string())?;
        *self.dialplan.write().unwrap_or_else(|e| e.into_inner()) = Some(dialplan);
        Ok(())
    }

    /// Hunts `context` for a channel: the applications to run with their
    /// arguments, or `None` for no route.
    pub fn hunt(
        &self,
        context: &str,
        channel: &mut dyn HuntChannel,
    ) -> Option<Vec<(String, String)>> {
        let dialplan = self.dialplan.read().unwrap_or_else(|e| e.into_inner());
        let actions = dialplan.as_ref()?.hunt(context, channel).ok()?;
        Some(
            actions
                .into_iter()
                .map(|a| (a.application, a.data))
                .collect(),
        )
    }

    /// Creates an event with the headers FreeSWITCH puts on every event.
    /// Like FreeSWITCH, the sequence number and date are taken at creation,
    /// not when the event is fired.
    pub fn new_event(&self, name: &EventName, origin: Origin) -> Event {
        let mut event = Event::empty();
        self.stamp(&mut event, name, origin);
        event
    }

    /// Adds `Event-Name` and the standard headers after whatever the event
    /// already holds, as FreeSWITCH's `switch_event_prep_for_delivery` does
    /// (so an event built from a command's headers starts with them).
    pub fn stamp(&self, event: &mut Event, name: &EventName, origin: Origin) {
        let micros = self.event_micros();
        let identity = &self.config.identity;
        event.push("Event-Name", name.as_str());
        event.push("Core-UUID", self.core_uuid());
        event.push("FreeSWITCH-Hostname", identity.hostname.as_str());
        event.push("FreeSWITCH-Switchname", identity.hostname.as_str());
        event.push("FreeSWITCH-IPv4", identity.ipv4.as_str());
        event.push("FreeSWITCH-IPv6", identity.ipv6.as_str());
        let (local, gmt) = event_dates(micros);
        event.push("Event-Date-Local", local);
        event.push("Event-Date-GMT", gmt);
        event.push("Event-Date-Timestamp", micros.to_string());
        event.push("Event-Calling-File", origin.file);
        event.push("Event-Calling-Function", origin.function);
        event.push("Event-Calling-Line-Number", origin.line.to_string());
        event.push(
            "Event-Sequence",
            (self.sequence.fetch_add(1, Ordering::Relaxed) + 1).to_string(),
        );
    }

    /// The time an event fired now carries (see `SimConfig::event_time_lag`).
    fn event_micros(&self) -> u64 {
        let now = self.clock.now_micros();
        match self.config.event_time_lag {
            None => now,
            Some(lag) => {
                let lagged = now.saturating_sub(lag.as_micros() as u64);
                lagged - lagged % EVENT_TIME_STEP_MICROS
            }
        }
    }

    /// Delivers an event to every connection that wants it.
    pub fn fire(&self, event: Event) {
        self.bus.publish(event);
    }
}

/// `Event-Date-Local` (`2026-11-29 04:16:10`) and `Event-Date-GMT`
/// (`Sun, 29 Nov 2026 04:16:10 GMT`) for a timestamp in microseconds.
pub(crate) fn event_dates(micros: u64) -> (String, String) {
    let utc = DateTime::<Utc>::from_timestamp_micros(micros as i64).unwrap_or_default();
    let local = utc.with_timezone(&Local);
    (
        local.format("%Y-%m-%d %H:%M:%S").to_string(),
        utc.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A duration as FreeSWITCH spells uptimes: `0 years, 0 days, 0 hours,
/// 7 minutes, 12 seconds, 676 milliseconds, 913 microseconds`.
pub(crate) fn duration_text(micros: u64) -> String {
    let (mut rest, us) = (micros / 1000, micros % 1000);
    let ms = rest % 1000;
    rest /= 1000;
    let (sec, min, hr) = (rest % 60, (rest / 60) % 60, (rest / 3600) % 24);
    let days = rest / 86_400;
    let (yr, day) = (days / 365, days % 365);
    format!(
        "{yr} year{}, {day} day{}, {hr} hour{}, {min} minute{}, {sec} second{}, {ms} millisecond{}, {us} microsecond{}",
        plural(yr),
        plural(day),
        plural(hr),
        plural(min),
        plural(sec),
        plural(ms),
        plural(us)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_spelled_like_freeswitch_uptimes() {
        assert_eq!(
            duration_text(432_676_913),
            "0 years, 0 days, 0 hours, 7 minutes, 12 seconds, 676 milliseconds, 913 microseconds"
        );
        assert_eq!(
            duration_text(1_000_000 + 60_000_000 + 3_600_000_000 + 86_400_000_000 + 1001),
            "0 years, 1 day, 1 hour, 1 minute, 1 second, 1 millisecond, 1 microsecond"
        );
    }

    use super::*;

    #[test]
    fn events_carry_the_standard_headers_in_freeswitch_order() {
        let engine = Engine::new(SimConfig::for_tests());
        let event = engine.new_event(
            &EventName::Heartbeat,
            origin("switch_core.c", "send_heartbeat", 95),
        );
        let names: Vec<String> = event.headers().map(|(n, _)| n.into_owned()).collect();
        assert_eq!(
            names,
            [
                "Event-Name",
                "Core-UUID",
                "FreeSWITCH-Hostname",
                "FreeSWITCH-Switchname",
                "FreeSWITCH-IPv4",
                "FreeSWITCH-IPv6",
                "Event-Date-Local",
                "Event-Date-GMT",
                "Event-Date-Timestamp",
                "Event-Calling-File",
                "Event-Calling-Function",
                "Event-Calling-Line-Number",
                "Event-Sequence"
            ]
        );
        assert_eq!(event.sequence(), Some(1));
        assert_eq!(
            engine
                .new_event(&EventName::Api, origin("a", "b", 1))
                .sequence(),
            Some(2)
        );
    }

    #[test]
    fn reboot_changes_the_core_uuid_and_restarts_numbering() {
        let engine = Engine::new(SimConfig::for_tests());
        let before = engine.core_uuid();
        engine.new_event(&EventName::Api, origin("a", "b", 1));
        engine.reboot();
        assert_ne!(engine.core_uuid(), before);
        assert_eq!(
            engine
                .new_event(&EventName::Api, origin("a", "b", 1))
                .sequence(),
            Some(1)
        );
    }

    #[test]
    fn dates_are_formatted_like_freeswitch() {
        let (_, gmt) = event_dates(1_795_925_761_643_897);
        assert_eq!(gmt, "Sun, 29 Nov 2026 04:16:01 GMT");
    }
}
