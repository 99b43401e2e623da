//! Collecting keys: the `read` and `play_and_get_digits` applications,
//! modelled on `switch_ivr_read`, `switch_ivr_collect_digits_count` and
//! `switch_play_and_get_digits`, so that they leave exactly FreeSWITCH's
//! result variables, in FreeSWITCH's order.

use std::time::Duration;

use regex::Regex;

use super::Target;
use super::apps::{Barge, Played, play, serve_while};
use super::dial::split_words;
use super::session::{Session, Wake, is_true};

/// How one read ended (the `switch_status_t` it returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Success,
    Timeout,
    /// Fewer keys than the minimum, or no terminator where one is required.
    TooSmall,
    /// An `x`-marked terminator: the caller starts over.
    Restart,
    /// The channel went away (or is being transferred) meanwhile.
    Failed,
}

/// The arguments of one `switch_ivr_read`.
struct Read<'a> {
    min: usize,
    max: usize,
    prompt: &'a str,
    var: &'a str,
    timeout: Duration,
    /// The terminator keys, as written: a leading `=` makes one required,
    /// and a `+` or `x` before a key keeps that key in the result.
    terminators: &'a str,
    digit_timeout: Duration,
}

/// C's `atoi`: leading blanks, an optional sign, digits; anything else 0.
fn atoi(word: Option<&String>) -> i64 {
    let word = word.map_or("", |w| w.trim_start());
    let (sign, digits) = match word.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, word.strip_prefix('+').unwrap_or(word)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    sign * digits[..end].parse::<i64>().unwrap_or(0)
}

/// A timeout argument in milliseconds, raised to the applications' floor
/// of one second.
fn timeout_ms(word: Option<&String>) -> Duration {
    let millis = word.map_or(1000, |w| atoi(Some(w)));
    Duration::from_millis(millis.max(1000) as u64)
}

/// The inter-digit timeout: the overall one unless given.
fn digit_timeout_ms(word: Option<&String>, timeout: Duration) -> Duration {
    match atoi(word) {
        millis if millis > 0 => Duration::from_millis(millis as u64),
        _ => timeout,
    }
}

fn word(words: &[String], index: usize) -> &str {
    words.get(index).map_or("", String::as_str)
}

fn terminators(words: &[String], index: usize) -> &str {
    match word(words, index) {
        "" => "#",
        given => given,
    }
}

/// `read <min> <max> <prompt> <var> <timeout> <terminators> [<digit_timeout>]`.
pub(super) async fn read_app(session: &mut Session, data: &str) {
    let words = split_words(data);
    if words.is_empty() {
        return;
    }
    let min = atoi(words.first()).max(1) as usize;
    let timeout = timeout_ms(words.get(4));
    let read = Read {
        min,
        max: (atoi(words.get(1)).max(0) as usize).max(min),
        prompt: word(&words, 2),
        var: word(&words, 3),
        timeout,
        terminators: terminators(&words, 5),
        digit_timeout: digit_timeout_ms(words.get(6), timeout),
    };
    ivr_read(session, &read).await;
}

/// `play_and_get_digits <min> <max> <tries> <timeout> <terminators> <prompt>
/// <invalid_prompt> <var> <regexp> [<digit_timeout>] ['<failure_ext>
/// [<dialplan> [<context>]]']`. Its result is only in channel variables:
/// `<var>` when the input passed, `<var>_invalid` when it failed the
/// regular expression, and `read_result` of the last attempt.
pub(super) async fn play_and_get_digits(session: &mut Session, data: &str) {
    let words = split_words(data);
    if words.is_empty() {
        return;
    }
    let min = atoi(words.first()).max(0) as usize;
    let timeout = timeout_ms(words.get(3));
    let read = Read {
        min,
        max: (atoi(words.get(1)).max(0) as usize).max(min),
        prompt: word(&words, 5),
        var: word(&words, 7),
        timeout,
        terminators: terminators(&words, 4),
        digit_timeout: digit_timeout_ms(words.get(9), timeout),
    };
    let invalid_prompt = word(&words, 6);
    let regex = word(&words, 8);
    let invalid_var = format!("{}_invalid", read.var);
    if !regex.is_empty() && !read.var.is_empty() {
        session.channel().unset_var(&invalid_var);
    }
    let mut tries = atoi(words.get(2));
    while !session.hung_up && tries > 0 {
        let (mut status, digits) = ivr_read(session, &read).await;
        if status == Status::Restart {
            return;
        }
        if status == Status::Timeout && digits.len() >= read.min {
            status = Status::Success;
        }
        if read.min == 0
            && digits.is_empty()
            && session.channel().var("read_terminator_used").is_some()
        {
            return;
        }
        if status == Status::Success && !digits.is_empty() {
            // A pattern that does not compile matches nothing, as with PCRE.
            if regex.is_empty() || Regex::new(regex).is_ok_and(|r| r.is_match(&digits)) {
                return;
            }
            let mut channel = session.channel();
            channel.unset_var(read.var);
            if !read.var.is_empty() {
                channel.set_var(&invalid_var, digits.as_str());
            }
        }
        if session.hung_up {
            break;
        }
        // The invalid-input prompt is played without listening for keys:
        // they wait in the buffer for the next attempt.
        play(session, invalid_prompt, Barge::Never).await;
        tries -= 1;
    }
    let context = session.channel().profile.context.clone();
    if let Some(target) = Target::parse(&split_words(word(&words, 10)), &context) {
        session.transfer_to(target, false);
    }
}

/// One `switch_ivr_read`: the prompt (any key stops it and counts), then
/// keys until `max`, a terminator or a timeout; sets `read_result`, then
/// the variable.
async fn ivr_read(session: &mut Session, read: &Read<'_>) -> (Status, String) {
    {
        let mut channel = session.channel();
        channel.unset_var("read_result");
        if !read.var.is_empty() {
            channel.unset_var(read.var);
        }
    }
    let mut digits = String::new();
    let mut status = Status::Success;
    let prompted = if read.prompt.is_empty() || read.prompt.eq_ignore_ascii_case("silence") {
        Played::Done
    } else {
        play(session, read.prompt, Barge::AnyDigit).await
    };
    if !matches!(prompted, Played::HungUp | Played::NotFound) {
        let mut terminator = None;
        if read.min > 0 || read.max > 0 {
            (status, terminator) = collect(session, &mut digits, read).await;
        }
        status = settle(session, read, status, terminator, &mut digits);
        let result = match status {
            Status::Success => "success",
            Status::Timeout => "timeout",
            _ => "failure",
        };
        session.channel().set_var("read_result", result);
    }
    if status != Status::Restart
        && read.max == 1
        && digits.len() == 1
        && read.terminators.contains(digits.as_str())
    {
        digits.clear();
    }
    // FreeSWITCH builds `digits_dialed` from the keys it logs, and a key
    // that arrived with `sensitive_dtmf` set is never logged
    // (switch_channel.c, switch_channel_dequeue_dtmf skips the log queue
    // for DTMF_FLAG_SENSITIVE): arsgate-sessions/B1_press5_info.jsonl and
    // C1_enter_code_info.jsonl key with it set and read `none`.
    if !is_true(session.channel().var("sensitive_dtmf")) {
        session.digits_dialed.push_str(&digits);
    }
    if !read.var.is_empty() && !digits.is_empty() {
        session.channel().set_var(read.var, digits.as_str());
    }
    (status, digits)
}

/// What the terminator (or its absence) and the count make of a read.
fn settle(
    session: &Session,
    read: &Read<'_>,
    mut status: Status,
    terminator: Option<char>,
    digits: &mut String,
) -> Status {
    if let Some(key) = terminator {
        session
            .channel()
            .set_var("read_terminator_used", key.to_string());
        let before = read
            .terminators
            .find(key)
            .and_then(|at| read.terminators[..at].chars().last());
        if matches!(before, Some('+' | 'x')) {
            digits.push(key);
            if before == Some('x') {
                status = Status::Restart;
            }
        }
    } else if read.terminators.starts_with('=') {
        status = Status::TooSmall;
    }
    if read.min > 0 && digits.len() < read.min {
        status = Status::TooSmall;
    }
    status
}

/// `switch_ivr_collect_digits_count`: keys (the ones that stopped the
/// prompt first) until `max` or a terminator; the first key is awaited for
/// `timeout`, each next one for `digit_timeout` after the last.
async fn collect(
    session: &mut Session,
    digits: &mut String,
    read: &Read<'_>,
) -> (Status, Option<char>) {
    let mut wait = read.timeout;
    loop {
        while let Some(key) = session.digits.pop_front() {
            if read.terminators.contains(key) {
                return (Status::Success, Some(key));
            }
            digits.push(key);
            if digits.len() >= read.max {
                return (Status::Success, None);
            }
        }
        match serve_while(session, Some(wait), true).await {
            Wake::Digit => wait = read.digit_timeout,
            Wake::Elapsed => return (Status::Timeout, None),
            Wake::Hangup | Wake::Message => return (Status::Failed, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_like_c() {
        let a = |s: &str| atoi(Some(&s.to_owned()));
        assert_eq!(a("3000"), 3000);
        assert_eq!(a(" -2x"), -2);
        assert_eq!(a("x"), 0);
        assert_eq!(atoi(None), 0);
    }

    #[test]
    fn timeouts_have_a_one_second_floor_and_digit_timeouts_default() {
        let w = |s: &str| Some(s.to_owned());
        assert_eq!(timeout_ms(w("500").as_ref()), Duration::from_secs(1));
        assert_eq!(timeout_ms(None), Duration::from_secs(1));
        let timeout = timeout_ms(w("3000").as_ref());
        assert_eq!(digit_timeout_ms(None, timeout), Duration::from_secs(3));
        assert_eq!(
            digit_timeout_ms(w("2000").as_ref(), timeout),
            Duration::from_secs(2)
        );
    }
}
