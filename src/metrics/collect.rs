//! What `/metrics` reads from the running parts when it is scraped: the
//! event socket statistics and capacity of every node, the webhook
//! outbox backlog and whether the store answers. The ESL client and the node pool keep their own
//! counters and know nothing of metrics; they are read here instead.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use metrics::{counter, gauge};

use super::{
    ESL_CONNECTED, ESL_EVENT_QUEUE_DEPTH, ESL_EVENTS_DROPPED, ESL_EVENTS_RECEIVED,
    ESL_HEARTBEAT_AGE, ESL_RECONNECTS, NODE_MAX_CHANNELS, NODE_MODULE_MISSING, ORPHANS_HUNG_UP,
    STORE_UP, WEBHOOK_BACKLOG,
};
use crate::domain::Mode;
use crate::service::Service;
use crate::switch::Node;

/// Reads one arsgate's nodes and outbox into the recorder. Counters the
/// nodes keep are added by what they grew since the last scrape, so
/// several arsgates in one process (tests) add up rather than overwrite.
#[derive(Debug, Default)]
pub struct Collector {
    /// The last value seen of each (node, counter) pair.
    seen: Mutex<HashMap<(String, String), u64>>,
    /// The nodes the last scrape read.
    nodes: Mutex<HashSet<String>>,
}

impl Collector {
    /// Records what `service`'s nodes and store report now.
    pub async fn collect(&self, service: &Service) {
        let mut now = HashSet::new();
        for mode in [Mode::Live, Mode::Test] {
            for node in service.pool(mode).nodes() {
                self.node(&node);
                now.insert(node.name().to_owned());
            }
        }
        let gone: Vec<String> = {
            let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
            let gone = nodes.difference(&now).cloned().collect();
            *nodes = now;
            gone
        };
        for name in gone {
            // A node a reload removed has no state any more: its gauges
            // read NaN (no value, which no comparison matches) rather than
            // their last value, so no alert fires for a node that is gone.
            // The recorder cannot drop a series before the next start.
            for gauge in [
                ESL_CONNECTED,
                ESL_HEARTBEAT_AGE,
                ESL_EVENT_QUEUE_DEPTH,
                NODE_MAX_CHANNELS,
            ] {
                gauge!(gauge, "node" => name.clone()).set(f64::NAN);
            }
        }
        // The same question `/readyz` asks of the store.
        match service.store().pending_deliveries().await {
            Ok(backlog) => {
                gauge!(WEBHOOK_BACKLOG).set(backlog as f64);
                gauge!(STORE_UP).set(1.0);
            }
            Err(_) => gauge!(STORE_UP).set(0.0),
        }
    }

    fn node(&self, node: &Node) {
        let name = node.name().to_owned();
        let report = node.report();
        // An unlimited node (the sandbox) has no capacity to chart.
        if report.max_channels != u32::MAX {
            gauge!(NODE_MAX_CHANNELS, "node" => name.clone()).set(f64::from(report.max_channels));
        }
        gauge!(ESL_CONNECTED, "node" => name.clone()).set(if report.connected { 1.0 } else { 0.0 });
        if let Some(age) = report.heartbeat_age {
            gauge!(ESL_HEARTBEAT_AGE, "node" => name.clone()).set(age.as_secs_f64());
        }
        if let Some(missing) = &report.missing_modules {
            for module in node.required_modules() {
                let lacking = if missing.contains(module) { 1.0 } else { 0.0 };
                gauge!(NODE_MODULE_MISSING, "node" => name.clone(), "module" => module.clone())
                    .set(lacking);
            }
        }
        let Some(switch) = node.switch() else {
            return;
        };
        let stats = switch.stats();
        gauge!(ESL_EVENT_QUEUE_DEPTH, "node" => name.clone()).set(stats.queue_depth as f64);
        let grown = self.grown(&name, "reconnects", stats.reconnects);
        counter!(ESL_RECONNECTS, "node" => name.clone()).increment(grown);
        let grown = self.grown(&name, "dropped", stats.events_dropped);
        counter!(ESL_EVENTS_DROPPED, "node" => name.clone()).increment(grown);
        let grown = self.grown(&name, "orphans", switch.orphans_hung_up());
        counter!(ORPHANS_HUNG_UP, "node" => name.clone()).increment(grown);
        for (kind, count) in switch.events_received() {
            let grown = self.grown(&name, kind, count);
            counter!(ESL_EVENTS_RECEIVED, "node" => name.clone(), "type" => kind).increment(grown);
        }
    }

    /// How much `now` grew since the last scrape saw `what` of `node`.
    fn grown(&self, node: &str, what: &str, now: u64) -> u64 {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let last = seen.insert((node.to_owned(), what.to_owned()), now);
        // A smaller value is a new client's count, started from zero.
        match last {
            Some(last) if last <= now => now - last,
            _ => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_by_what_they_gained_since_the_last_scrape() {
        let collector = Collector::default();
        assert_eq!(collector.grown("fs1", "reconnects", 2), 2);
        assert_eq!(collector.grown("fs1", "reconnects", 2), 0);
        assert_eq!(collector.grown("fs1", "reconnects", 5), 3);
        // Another node's count is its own.
        assert_eq!(collector.grown("fs2", "reconnects", 1), 1);
        // A new client counts from zero again: all of it is new.
        assert_eq!(collector.grown("fs1", "reconnects", 1), 1);
        assert_eq!(collector.grown("fs1", "reconnects", 4), 3);
    }
}
