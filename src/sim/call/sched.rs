//! Hangups scheduled on the switch's own clock: the `sched_hangup`
//! application and API command.
//!
//! FreeSWITCH keeps them in its core scheduler (`switch_scheduler.c`), not on
//! the channel: `switch_ivr_schedule_hangup` (switch_ivr_async.c) adds a task
//! that only knows the channel's UUID, so it outlives whatever the channel
//! runs — parks, transfers, queued applications — and when it is due,
//! `sch_hangup_callback` hangs the channel up by UUID if it still exists
//! and does nothing otherwise. The scheduler dies with the process: a
//! restarted switch has none of the earlier tasks.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::session::kill;
use crate::esl::HangupCause;
use crate::sim::engine::Engine;

/// A hangup asked for by `sched_hangup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scheduled {
    /// When it is due, simulated microseconds since the epoch.
    pub at_micros: u64,
    /// Hang up at once instead of scheduling (a zero delay).
    pub now: bool,
    /// The cause it hangs up with.
    pub cause: HangupCause,
}

/// C's `atol`: optional leading spaces and sign, then digits up to the first
/// other character; 0 when there are none.
fn atol(text: &str) -> i64 {
    let text = text.trim_start();
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    sign * value
}

/// `switch_channel_str2cause`: a number, or a cause name in any case;
/// anything else is NORMAL_CLEARING.
fn cause(text: &str) -> HangupCause {
    HangupCause::parse_lenient(text).unwrap_or(HangupCause::NormalClearing)
}

impl Scheduled {
    /// `[+]<time> [<cause>]` as mod_dptools' `sched_hangup_function` and
    /// mod_commands' API of the same name read it (both in
    /// mod_dptools.c/mod_commands.c `sched_hangup_function`): `+N` is N
    /// seconds from now, a bare number an epoch second; the cause defaults
    /// to ALLOTTED_TIMEOUT. Both take "the seconds" as the number after the
    /// first character, whatever it is, and hang up at once when that is 0.
    /// `None` without a time.
    pub fn parse(time: &str, cause_text: Option<&str>, now_micros: u64) -> Option<Scheduled> {
        if time.is_empty() {
            return None;
        }
        let seconds = atol(time.get(1..).unwrap_or(""));
        let epoch_second = if time.starts_with('+') {
            (now_micros / 1_000_000) as i64 + seconds
        } else {
            atol(time)
        };
        Some(Scheduled {
            // The scheduler compares whole epoch seconds
            // (switch_scheduler.c `task_thread_loop`): a task is due at the
            // start of its second, up to a second before `now + N`.
            at_micros: epoch_second.max(0) as u64 * 1_000_000,
            now: seconds == 0,
            cause: cause_text.map_or(HangupCause::AllottedTimeout, cause),
        })
    }
}

/// Adds the hangup of channel `uuid` to the switch's scheduler.
pub(crate) fn schedule_hangup(engine: &Arc<Engine>, uuid: &str, scheduled: Scheduled) {
    let weak: Weak<Engine> = Arc::downgrade(engine);
    let boot = engine.core_uuid();
    let clock = engine.clock.clone();
    let wait = Duration::from_micros(scheduled.at_micros.saturating_sub(clock.now_micros()));
    let uuid = uuid.to_owned();
    tokio::spawn(async move {
        clock.sleep(wait).await;
        let Some(engine) = weak.upgrade() else {
            return;
        };
        if engine.core_uuid() != boot {
            return;
        }
        if let Some(call) = engine.calls.get(&uuid) {
            kill(&engine, &call, scheduled.cause);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_400_000;

    #[test]
    fn relative_times_count_whole_seconds_from_now() {
        let scheduled = Scheduled::parse("+70", None, NOW).unwrap();
        assert_eq!(scheduled.at_micros, 1_700_000_070_000_000);
        assert!(!scheduled.now);
        assert_eq!(scheduled.cause, HangupCause::AllottedTimeout);
    }

    #[test]
    fn causes_are_names_or_numbers_and_unknown_ones_normal_clearing() {
        let cause_of = |text| Scheduled::parse("+5", Some(text), NOW).unwrap().cause;
        assert_eq!(cause_of("user_busy"), HangupCause::UserBusy);
        assert_eq!(cause_of("17"), HangupCause::UserBusy);
        assert_eq!(cause_of("NO_SUCH_THING"), HangupCause::NormalClearing);
    }

    #[test]
    fn a_zero_delay_hangs_up_at_once_and_absolute_times_are_epoch_seconds() {
        assert!(Scheduled::parse("+0", None, NOW).unwrap().now);
        let absolute = Scheduled::parse("1700000100", None, NOW).unwrap();
        assert_eq!(absolute.at_micros, 1_700_000_100_000_000);
        assert!(!absolute.now);
        assert!(Scheduled::parse("", None, NOW).is_none());
        assert_eq!(atol("  -12x"), -12);
        assert_eq!(atol("x"), 0);
    }
}
