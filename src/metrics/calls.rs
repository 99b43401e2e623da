//! What calls tell about the nodes that carry them, and the channels held.

use std::time::Instant;

use metrics::{counter, gauge, histogram};

use super::{
    CALL_DURATION, CALLS_ANSWERED, CALLS_EFFECTIVE, CALLS_FAILED, CALLS_ORIGINATED, HANGUPS,
    MERCHANT_LIVE_CHANNELS, MERCHANT_MAX_CHANNELS, NODE_LIVE_CHANNELS, POST_DIAL_DELAY,
    TIME_TO_ANSWER,
};
use crate::scenario::timeline::{Entry, Happening};

/// The hangup causes of an unanswered call that the customer's side
/// decided, not the network (ITU-T E.425: the network effectiveness ratio
/// counts a seizure that ends in user busy, ring no answer or the
/// terminal's rejection or absence as effective, like an answer). Q.850
/// 17 user busy, 18 no user response (SIP 480), 19 no answer (the ring
/// timeout), 20 subscriber absent (a mobile switched off), 21 call
/// rejected (SIP 603).
const USER_CAUSES: &[&str] = &[
    "USER_BUSY",
    "NO_USER_RESPONSE",
    "NO_ANSWER",
    "SUBSCRIBER_ABSENT",
    "CALL_REJECTED",
];

/// arsgate's own cancel (the merchant's, or the call's deadline): the
/// customer's side once the phone rang, else nobody's.
const ORIGINATOR_CANCEL: &str = "ORIGINATOR_CANCEL";

/// Whether an unanswered call that ended with `cause` reached the
/// customer's phone (`progressed`: it rang or sent early media).
fn reached_the_phone(cause: &str, progressed: bool) -> bool {
    USER_CAUSES.contains(&cause) || (progressed && cause == ORIGINATOR_CANCEL)
}

/// Follows one call attempt's timeline as it happens and counts it
/// against its node. Delays are measured on this process's clock as the
/// entries arrive, the same for every node whatever its event clock.
#[derive(Debug)]
pub struct CallWatch {
    node: String,
    originated: Option<Instant>,
    /// The first ringing or early media.
    progressed: Option<Instant>,
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
            progressed: None,
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
            Happening::Ringing | Happening::EarlyMedia if self.progressed.is_none() => {
                self.progressed = Some(now);
                if let Some(originated) = self.originated {
                    let delay = now.duration_since(originated);
                    histogram!(POST_DIAL_DELAY, "node" => node).record(delay.as_secs_f64());
                }
            }
            Happening::Answered if self.answered.is_none() => {
                self.answered = Some(now);
                counter!(CALLS_ANSWERED, "node" => node.clone()).increment(1);
                counter!(CALLS_EFFECTIVE, "node" => node.clone()).increment(1);
                if let Some(originated) = self.originated {
                    let delay = now.duration_since(originated);
                    histogram!(TIME_TO_ANSWER, "node" => node).record(delay.as_secs_f64());
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
                    None => {
                        counter!(CALLS_FAILED, "node" => node.clone()).increment(1);
                        if reached_the_phone(cause, self.progressed.is_some()) {
                            counter!(CALLS_EFFECTIVE, "node" => node).increment(1);
                        }
                    }
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
/// merchant's live channels of its mode until dropped. Each mode has
/// channels of its own, so sandbox calls never show against the live plan.
#[derive(Debug)]
pub struct MerchantChannel {
    merchant: String,
    mode: &'static str,
}

impl MerchantChannel {
    /// Counts a channel of `merchant` in `mode` (`live`, `test`), whose
    /// plan allows `max` in each mode.
    pub fn hold(merchant: &str, mode: &'static str, max: u32) -> MerchantChannel {
        gauge!(MERCHANT_MAX_CHANNELS, "merchant" => merchant.to_owned(), "mode" => mode)
            .set(f64::from(max));
        gauge!(MERCHANT_LIVE_CHANNELS, "merchant" => merchant.to_owned(), "mode" => mode)
            .increment(1.0);
        MerchantChannel {
            merchant: merchant.to_owned(),
            mode,
        }
    }
}

impl Drop for MerchantChannel {
    fn drop(&mut self) {
        gauge!(MERCHANT_LIVE_CHANNELS, "merchant" => self.merchant.clone(), "mode" => self.mode)
            .decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customers_side_is_told_from_the_networks() {
        for cause in USER_CAUSES {
            assert!(reached_the_phone(cause, false), "{cause}");
        }
        for cause in [
            "NORMAL_TEMPORARY_FAILURE",
            "UNALLOCATED_NUMBER",
            "RECOVERY_ON_TIMER_EXPIRE",
            "DESTINATION_OUT_OF_ORDER",
        ] {
            assert!(!reached_the_phone(cause, true), "{cause}");
        }
        // arsgate gave up: on a phone that rang, as a ring with no answer.
        assert!(reached_the_phone(ORIGINATOR_CANCEL, true));
        assert!(!reached_the_phone(ORIGINATOR_CANCEL, false));
    }
}
