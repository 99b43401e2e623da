//! Event delivery to the simulator's connections, as mod_event_socket does
//! it: each event is matched against every connection's subscription when it
//! is fired and queued for the ones that want it; a full queue drops the
//! event, and a connection that lost more than 500 in a row is killed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::faults::Switch;
use super::subscription::Subscription;
use crate::esl::Event;

/// Consecutive drops after which FreeSWITCH kills a listener.
const MAX_MISSED: u32 = 500;

/// The notice FreeSWITCH sends when it kills a listener for lost events.
pub(crate) const LOST_EVENTS_NOTICE: &str = "killed listener because of lost events\n";

/// Why a connection must end now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kill {
    /// Send a disconnect notice with this text, then close.
    Notice(String),
    /// Close without a word (a crash, a cut cable).
    Abrupt,
    /// Write part of a frame, then close.
    MidFrame,
}

/// One connection as the bus sees it.
#[derive(Debug)]
pub(crate) struct Listener {
    subscription: Mutex<Subscription>,
    queue: mpsc::Sender<Arc<Event>>,
    lost: AtomicU32,
    kill: mpsc::UnboundedSender<Kill>,
    /// Cut off by a partition: its events are lost on the way and it
    /// reads nothing, until the partition heals and it is closed.
    pub blackholed: Switch,
}

impl Listener {
    /// The connection's subscription state, to change or consult.
    pub fn subscription(&self) -> MutexGuard<'_, Subscription> {
        self.subscription.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the connection to end.
    pub fn kill(&self, how: Kill) {
        let _ = self.kill.send(how);
    }

    fn offer(&self, event: &Arc<Event>) {
        if self.blackholed.is_on() || !self.subscription().wants(event) {
            return;
        }
        match self.queue.try_send(Arc::clone(event)) {
            Ok(()) => self.lost.store(0, Ordering::Relaxed),
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.lost.fetch_add(1, Ordering::Relaxed) + 1 > MAX_MISSED {
                    self.kill(Kill::Notice(LOST_EVENTS_NOTICE.to_owned()));
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// What a connection keeps of its registration.
pub(crate) struct Registration {
    /// The shared part, also held by the bus.
    pub listener: Arc<Listener>,
    /// Events queued for the connection.
    pub events: mpsc::Receiver<Arc<Event>>,
    /// Requests to end the connection.
    pub kills: mpsc::UnboundedReceiver<Kill>,
}

/// Every live connection.
#[derive(Debug, Default)]
pub(crate) struct Bus {
    listeners: Mutex<Vec<Arc<Listener>>>,
}

impl Bus {
    fn listeners(&self) -> MutexGuard<'_, Vec<Arc<Listener>>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection with a queue of `capacity` events,
    /// `blackholed` if it is made during a partition.
    pub fn register(&self, capacity: usize, blackholed: bool) -> Registration {
        let (queue, events) = mpsc::channel(capacity.max(1));
        let (kill, kills) = mpsc::unbounded_channel();
        let listener = Arc::new(Listener {
            subscription: Mutex::new(Subscription::default()),
            queue,
            lost: AtomicU32::new(0),
            kill,
            blackholed: Switch::default(),
        });
        listener.blackholed.set(blackholed);
        self.listeners().push(Arc::clone(&listener));
        Registration {
            listener,
            events,
            kills,
        }
    }

    /// Forgets a connection that ended.
    pub fn unregister(&self, listener: &Arc<Listener>) {
        self.listeners().retain(|l| !Arc::ptr_eq(l, listener));
    }

    /// Offers an event to every connection.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        for listener in self.listeners().iter() {
            listener.offer(&event);
        }
    }

    /// Asks every connection to end.
    pub fn kill_all(&self, how: &Kill) {
        for listener in self.listeners().iter() {
            listener.kill(how.clone());
        }
    }

    /// Cuts every connection off, as a partition does.
    pub fn blackhole_all(&self) {
        for listener in self.listeners().iter() {
            listener.blackholed.set(true);
        }
    }

    /// Closes every connection a partition cut off: by the time it heals
    /// their clients have given them up.
    pub fn close_blackholed(&self) {
        for listener in self.listeners().iter() {
            if listener.blackholed.is_on() {
                listener.kill(Kill::Abrupt);
            }
        }
    }

    /// How many connections are registered.
    pub fn len(&self) -> usize {
        self.listeners().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_subscribers() {
        let bus = Bus::default();
        let mut a = bus.register(8, false);
        let mut b = bus.register(8, false);
        a.listener.subscription().subscribe("plain HEARTBEAT");
        bus.publish(Event::empty().with("Event-Name", "HEARTBEAT"));
        assert!(a.events.try_recv().is_ok());
        assert!(b.events.try_recv().is_err());
    }

    #[test]
    fn a_listener_losing_too_many_events_is_killed() {
        let bus = Bus::default();
        let mut reg = bus.register(1, false);
        reg.listener.subscription().subscribe("plain ALL");
        for _ in 0..=MAX_MISSED + 1 {
            bus.publish(Event::empty().with("Event-Name", "HEARTBEAT"));
        }
        assert_eq!(
            reg.kills.try_recv().ok(),
            Some(Kill::Notice(LOST_EVENTS_NOTICE.to_owned()))
        );
        assert_eq!(
            reg.events.try_recv().map(|_| ()).ok(),
            Some(()),
            "the first event was queued"
        );
    }

    #[test]
    fn a_blackholed_listener_loses_its_events_and_is_closed_on_heal() {
        let bus = Bus::default();
        let mut cut = bus.register(8, false);
        let mut late = bus.register(8, true);
        for reg in [&cut, &late] {
            reg.listener.subscription().subscribe("plain ALL");
        }
        bus.blackhole_all();
        bus.publish(Event::empty().with("Event-Name", "HEARTBEAT"));
        assert!(cut.events.try_recv().is_err(), "lost on the way");
        assert!(late.events.try_recv().is_err());
        bus.close_blackholed();
        assert_eq!(cut.kills.try_recv().ok(), Some(Kill::Abrupt));
        assert_eq!(late.kills.try_recv().ok(), Some(Kill::Abrupt));
    }

    #[test]
    fn unregistered_listeners_get_nothing() {
        let bus = Bus::default();
        let reg = bus.register(4, false);
        assert_eq!(bus.len(), 1);
        bus.unregister(&reg.listener);
        assert_eq!(bus.len(), 0);
    }
}
