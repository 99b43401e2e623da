//! What calls tell about the nodes that carry them, and the channels held.

use std::time::Instant;

use metrics::{counter, gauge, histogram};

use super::{
    CALL_DURATION, CALLS_ANSWERED, CALLS_FAILED, CALLS_ORIGINATED, HANGUPS, MERCHANT_LIVE_CHANNELS,
    MERCHANT_MAX_CHANNELS, NODE_LIVE_CHANNELS, POST_DIAL_DELAY,
};
use crate::scenario::timeline::{Entry, Happening};

/// Follows one call attempt's timeline as it happens and counts it
/// against its node. Delays are measured on this process's clock as the
/// entries arrive: the entries' own times come from two clocks (arsgate's
/// for the originate, the switch's for what the switch reported).
#[derive(Debug)]
pub struct CallWatch {
    node: String,
    originated: Option<Instant>,
    answered: Option<Instant>,
    /// A call can be reported hung up twice (the originate's failure, then
    /// the channel's hangup); it is counted once.
    hung_up: bool,
}

impl CallWatch {
    /// Watches a call placed on `node`.
    pub fn new(node: &str) -> CallWatch {
        CallWatch {
            node: node.to_owned(),
            originated: None,
            answered: None,
            hung_up: false,
        }
    }

    /// Counts what `entry` says.
    pub fn saw(&mut self, entry: &Entry) {
        let node = self.node.clone();
        let now = Instant::now();
        match &entry.what {
            Happening::Originated => {
                self.originated = Some(now);
                counter!(CALLS_ORIGINATED, "node" => node).increment(1);
            }
            Happening::Answered => {
                self.answered = Some(now);
                counter!(CALLS_ANSWERED, "node" => node.clone()).increment(1);
                if let Some(originated) = self.originated {
                    let delay = now.duration_since(originated);
                    histogram!(POST_DIAL_DELAY, "node" => node).record(delay.as_secs_f64());
                }
            }
            Happening::HungUp { cause } if !self.hung_up => {
                self.hung_up = true;
                counter!(HANGUPS, "node" => node.clone(), "cause" => cause.clone()).increment(1);
                match self.answered {
                    Some(answered) => {
                        let held = now.duration_since(answered);
                        histogram!(CALL_DURATION, "node" => node).record(held.as_secs_f64());
                    }
                    None => counter!(CALLS_FAILED, "node" => node).increment(1),
                }
            }
            _ => {}
        }
    }
}

/// A channel held on a node: counted in the node's live channels until
/// dropped.
#[derive(Debug)]
pub struct NodeChannel {
    node: String,
}

impl NodeChannel {
    /// Counts a channel on `node`.
    pub fn hold(node: &str) -> NodeChannel {
        gauge!(NODE_LIVE_CHANNELS, "node" => node.to_owned()).increment(1.0);
        NodeChannel {
            node: node.to_owned(),
        }
    }
}

impl Drop for NodeChannel {
    fn drop(&mut self) {
        gauge!(NODE_LIVE_CHANNELS, "node" => self.node.clone()).decrement(1.0);
    }
}

/// A channel of a merchant's plan held by one call: counted in the
/// merchant's live channels until dropped.
#[derive(Debug)]
pub struct MerchantChannel {
    merchant: String,
}

impl MerchantChannel {
    /// Counts a channel of `merchant`, whose plan allows `max`.
    pub fn hold(merchant: &str, max: u32) -> MerchantChannel {
        gauge!(MERCHANT_MAX_CHANNELS, "merchant" => merchant.to_owned()).set(f64::from(max));
        gauge!(MERCHANT_LIVE_CHANNELS, "merchant" => merchant.to_owned()).increment(1.0);
        MerchantChannel {
            merchant: merchant.to_owned(),
        }
    }
}

impl Drop for MerchantChannel {
    fn drop(&mut self) {
        gauge!(MERCHANT_LIVE_CHANNELS, "merchant" => self.merchant.clone()).decrement(1.0);
    }
}
