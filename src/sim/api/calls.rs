//! Commands about channels: `uuid_*`, `hupall`, `sched_hangup`, `show
//! channels`. (`originate` completes asynchronously and is dispatched in the
//! parent module.)

use std::sync::Arc;

use crate::esl::{EventName, HangupCause};
use crate::sim::call::sched::{Scheduled, schedule_hangup};
use crate::sim::call::session::{TICK, kill};
use crate::sim::call::{CallHandle, Msg, Queued, QueuedAction, Target};
use crate::sim::engine::{Engine, event_dates, origin};

const NO_SUCH_CHANNEL: &str = "-ERR No such channel!\n";

/// Runs a channel command; `None` when the name is not one of these.
pub(super) async fn run(engine: &Arc<Engine>, command: &str, arg: &str) -> Option<String> {
    let words: Vec<&str> = arg.split_whitespace().collect();
    let call = words.first().and_then(|uuid| engine.calls.get(uuid));
    Some(match command {
        "uuid_exists" => if call.is_some() { "true" } else { "false" }.to_owned(),
        "uuid_kill" => match (words.first(), call) {
            (None, _) => "-USAGE: <uuid> [cause]\n".to_owned(),
            (Some(_), None) => NO_SUCH_CHANNEL.to_owned(),
            (Some(_), Some(call)) => {
                let cause = words
                    .get(1)
                    .and_then(|c| HangupCause::parse_lenient(c))
                    .unwrap_or(HangupCause::NormalClearing);
                kill(engine, &call, cause);
                "+OK\n".to_owned()
            }
        },
        "hupall" => {
            let cause = words
                .first()
                .and_then(|c| HangupCause::parse_lenient(c))
                .unwrap_or(HangupCause::ManagerRequest);
            hang_up_all(engine, &cause);
            format!("+OK hangup all channels with cause {cause}\n")
        }
        "uuid_getvar" => match (words.get(1), call) {
            (None, _) => "-USAGE: <uuid> <var>\n".to_owned(),
            (Some(_), None) => NO_SUCH_CHANNEL.to_owned(),
            (Some(name), Some(call)) => call.channel().var(name).unwrap_or("_undef_").to_owned(),
        },
        "uuid_setvar" => match (words.get(1), call) {
            (None, _) => "-USAGE: <uuid> <var> [value]\n".to_owned(),
            (Some(_), None) => NO_SUCH_CHANNEL.to_owned(),
            (Some(name), Some(call)) => {
                let value = arg
                    .splitn(3, char::is_whitespace)
                    .nth(2)
                    .unwrap_or("")
                    .trim_start();
                call.channel().set_var(name, value);
                "+OK\n".to_owned()
            }
        },
        "uuid_setvar_multi" => match (words.get(1), call) {
            (None, _) => "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n".to_owned(),
            (Some(_), None) => NO_SUCH_CHANNEL.to_owned(),
            (Some(pairs), Some(call)) => {
                let mut channel = call.channel();
                for pair in pairs.split(';') {
                    if let Some((name, value)) = pair.split_once('=') {
                        channel.set_var(name, value);
                    }
                }
                "+OK\n".to_owned()
            }
        },
        "uuid_transfer" => {
            let mut rest: Vec<&str> = words.iter().skip(1).copied().collect();
            if rest.first().is_some_and(|w| w.starts_with('-')) {
                rest.remove(0);
            }
            match (rest.first(), call) {
                (None, _) => "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
                    .to_owned(),
                (Some(_), None) => NO_SUCH_CHANNEL.to_owned(),
                (Some(_), Some(call)) => {
                    let context = call.channel().profile.context.clone();
                    if let Some(target) = Target::parse(&rest, &context) {
                        call.send(Msg::Transfer(target));
                    }
                    "+OK\n".to_owned()
                }
            }
        }
        "uuid_broadcast" => match (words.get(1), call) {
            (None, _) => "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n".to_owned(),
            (Some(_), None) => "-ERR invalid uuid\n".to_owned(),
            (Some(path), Some(call)) => {
                broadcast(engine, &call, path);
                "+OK Message sent\n".to_owned()
            }
        },
        "uuid_dump" => match call {
            None => NO_SUCH_CHANNEL.to_owned(),
            Some(call) => {
                let mut event = engine.new_event(
                    &EventName::ChannelData,
                    origin("mod_commands.c", "uuid_dump_function", 6509),
                );
                call.channel().add_data(&mut event, true);
                if words.get(1) == Some(&"json") {
                    event.to_json()
                } else {
                    String::from_utf8_lossy(&event.to_plain()).into_owned()
                }
            }
        },
        "sched_hangup" => sched_hangup(engine, &words),
        "show" => show(engine, arg),
        _ => return None,
    })
}

/// Hangs every channel up from outside (`hupall`, shutdown).
pub(crate) fn hang_up_all(engine: &Engine, cause: &HangupCause) {
    for call in engine.calls.all() {
        kill(engine, &call, cause.clone());
    }
}

/// `sched_hangup [+]<time> <uuid> [<cause>]`, as mod_commands.c
/// `sched_hangup_function` answers it: the hangup goes to the switch's
/// scheduler (a zero delay hangs up at once), for a channel that exists now.
fn sched_hangup(engine: &Arc<Engine>, words: &[&str]) -> String {
    let now = engine.clock.now_micros();
    let Some(scheduled) = words
        .first()
        .and_then(|time| Scheduled::parse(time, words.get(2).copied(), now))
    else {
        return "-USAGE: [+]<time> <uuid> [<cause>]\n".to_owned();
    };
    let Some(call) = words.get(1).and_then(|uuid| engine.calls.get(uuid)) else {
        return NO_SUCH_CHANNEL.to_owned();
    };
    if scheduled.now {
        kill(engine, &call, scheduled.cause);
    } else {
        schedule_hangup(engine, &call.uuid, scheduled);
    }
    "+OK\n".to_owned()
}

/// `uuid_broadcast <uuid> <path>`: queues a playback on the channel, as
/// `switch_ivr_broadcast` does (with the COMMAND event that later opens the
/// PRIVATE_COMMAND).
fn broadcast(engine: &Engine, call: &CallHandle, path: &str) {
    let command = engine
        .new_event(
            &EventName::Command,
            origin("switch_ivr_async.c", "switch_ivr_broadcast", 5731),
        )
        .with("call-command", "execute")
        .with("execute-app-name", "playback")
        .with("execute-app-arg", path)
        .with("event-lock", "true")
        .with("lead-frames", "5");
    let echo = command
        .headers()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    call.send(Msg::Queued(Queued {
        echo,
        action: QueuedAction::Execute {
            app: "playback".to_owned(),
            arg: path.to_owned(),
            event_lock: true,
            app_uuid: uuid::Uuid::new_v4().to_string(),
            loops: 1,
            // lead-frames: wait for five media frames before playing.
            lead: TICK * 5,
        },
    }));
}

const SHOW_CHANNELS_COLUMNS: &[&str] = &[
    "uuid",
    "direction",
    "created",
    "created_epoch",
    "name",
    "state",
    "cid_name",
    "cid_num",
    "ip_addr",
    "dest",
    "application",
    "application_data",
    "dialplan",
    "context",
    "read_codec",
    "read_rate",
    "read_bit_rate",
    "write_codec",
    "write_rate",
    "write_bit_rate",
    "secure",
    "hostname",
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "sent_callee_name",
    "sent_callee_num",
    "initial_cid_name",
    "initial_cid_num",
    "initial_ip_addr",
    "initial_dest",
    "initial_dialplan",
    "initial_context",
];

/// One `show channels` row per live channel.
fn rows(engine: &Engine) -> Vec<Vec<String>> {
    engine
        .calls
        .all()
        .iter()
        .map(|call| {
            let channel = call.channel();
            let p = &channel.profile;
            let created = p.times.created;
            let codec = |s: &str| {
                if channel.codec {
                    s.to_owned()
                } else {
                    String::new()
                }
            };
            vec![
                channel.uuid.clone(),
                "outbound".to_owned(),
                event_dates(created).0,
                (created / 1_000_000).to_string(),
                channel.name.clone(),
                channel.state.name().to_owned(),
                p.caller_id_name.clone(),
                p.caller_id_number.clone(),
                p.network_addr.clone(),
                p.destination_number.clone(),
                channel.var("current_application").unwrap_or("").to_owned(),
                channel
                    .var("current_application_data")
                    .unwrap_or("")
                    .to_owned(),
                p.dialplan.clone(),
                p.context.clone(),
                codec("PCMU"),
                codec("8000"),
                codec("64000"),
                codec("PCMU"),
                codec("8000"),
                codec("64000"),
                String::new(),
                engine.config.identity.hostname.clone(),
                String::new(),
                String::new(),
                String::new(),
                channel.call_state.name().to_owned(),
                p.callee_id_name.clone(),
                p.callee_id_number.clone(),
                String::new(),
                channel.uuid.clone(),
                String::new(),
                String::new(),
                String::new(),
                p.orig_caller_id_number.clone(),
                String::new(),
                p.destination_number.clone(),
                String::new(),
                "default".to_owned(),
            ]
        })
        .collect()
}

/// `show channels [as json]` (and `show calls`, the same for unbridged
/// channels).
fn show(engine: &Engine, arg: &str) -> String {
    let words: Vec<String> = arg
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    if !matches!(
        words.first().map(String::as_str),
        Some("channels" | "calls")
    ) {
        return "-USAGE: codec|endpoint|application|api|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n".to_owned();
    }
    let rows = rows(engine);
    if words.get(1).map(String::as_str) == Some("as")
        && words.get(2).map(String::as_str) == Some("json")
    {
        if rows.is_empty() {
            return "{\"row_count\":0}".to_owned();
        }
        let rows: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|row| {
                let object: serde_json::Map<String, serde_json::Value> = SHOW_CHANNELS_COLUMNS
                    .iter()
                    .zip(row)
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v)))
                    .collect();
                serde_json::Value::Object(object)
            })
            .collect();
        let count = rows.len();
        return serde_json::json!({ "row_count": count, "rows": rows }).to_string();
    }
    if rows.is_empty() {
        return "\n0 total.\n".to_owned();
    }
    let mut out = SHOW_CHANNELS_COLUMNS.join(",");
    out.push('\n');
    for row in &rows {
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out.push_str(&format!("\n{} total.\n", rows.len()));
    out
}
