//! Faults between the switch and its clients that tests inject: a frozen
//! process, a network partition, and the smaller ones (silent heartbeats,
//! byte-by-byte writes).

use std::sync::atomic::AtomicBool;

use tokio::sync::watch;

/// Faults a test can switch on.
#[derive(Debug)]
pub(crate) struct Faults {
    /// HEARTBEAT events are sent (the default).
    pub heartbeats: AtomicBool,
    /// Every frame is written one byte per write.
    pub byte_writes: AtomicBool,
    /// The process is stopped (SIGSTOP): connections neither read nor
    /// write, and new ones are accepted by the kernel but never greeted.
    /// What a client wrote meanwhile waits in the socket and is read and
    /// executed on thaw, even if the client has closed its end since.
    pub frozen: Switch,
    /// The network between the switch and its clients drops everything
    /// (a silent firewall): the calls go on, but the connections open at
    /// the time, and those made meanwhile, neither read nor hear anything.
    pub partitioned: Switch,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            heartbeats: AtomicBool::new(true),
            byte_writes: AtomicBool::new(false),
            frozen: Switch::default(),
            partitioned: Switch::default(),
        }
    }
}

/// A fault that is on or off, with a way to wait until it is off.
#[derive(Debug)]
pub(crate) struct Switch {
    on: watch::Sender<bool>,
}

impl Default for Switch {
    fn default() -> Switch {
        Switch {
            on: watch::Sender::new(false),
        }
    }
}

impl Switch {
    /// Turns the fault on or off.
    pub fn set(&self, on: bool) {
        self.on.send_replace(on);
    }

    /// Whether the fault is on.
    pub fn is_on(&self) -> bool {
        *self.on.borrow()
    }

    /// Returns once the fault is off (at once if it is).
    pub async fn off(&self) {
        let mut on = self.on.subscribe();
        let _ = on.wait_for(|on| !on).await;
    }

    /// Returns once the fault is on (at once if it is).
    pub async fn on(&self) {
        let mut on = self.on.subscribe();
        let _ = on.wait_for(|on| *on).await;
    }
}
