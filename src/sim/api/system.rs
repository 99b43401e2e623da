//! Commands about the switch itself: status, version, uptime, global
//! variables, loaded modules, fsctl, msleep, reloadxml.

use std::sync::Arc;
use std::time::Duration;

use crate::esl::EventName;
use crate::sim::engine::{Engine, duration_text, origin};

/// Runs a system command; `None` when the name is not one of these.
pub(super) async fn run(engine: &Arc<Engine>, command: &str, arg: Option<&str>) -> Option<String> {
    let arg = arg.unwrap_or("").trim();
    Some(match command {
        "status" => status(engine),
        "version" => format!(
            "FreeSWITCH Version {}~64bit ( 64bit)\n",
            engine.config.identity.version
        ),
        "uptime" => uptime(engine, arg),
        "hostname" | "switchname" => engine.config.identity.hostname.clone(),
        "global_getvar" => global_getvar(engine, arg),
        "msleep" => {
            let millis = arg.parse::<u64>().unwrap_or(0);
            engine.clock.sleep(Duration::from_millis(millis)).await;
            "+OK".to_owned()
        }
        "echo" => arg.to_owned(),
        "create_uuid" => uuid::Uuid::new_v4().to_string(),
        "reloadxml" => {
            if let Err(error) = engine.reload_dialplan() {
                return Some(format!("-ERR [{error}]\n"));
            }
            let event = engine.new_event(
                &EventName::Reloadxml,
                origin("switch_xml.c", "switch_xml_open_root", 2385),
            );
            engine.fire(event);
            "+OK [Success]\n".to_owned()
        }
        // "true" or "false" with no newline, nothing for no argument
        // (mod_commands.c, module_exists_function).
        "module_exists" if arg.is_empty() => String::new(),
        "module_exists" => engine.config.modules.contains(arg).to_string(),
        "fsctl" => fsctl(engine, arg),
        "sim_fault" => sim_fault(engine, arg),
        _ => return None,
    })
}

const SIM_FAULT_SYNTAX: &str = "freeze <seconds>|partition <seconds>";

/// `sim_fault freeze|partition <seconds>`: the simulator's own command (a
/// real FreeSWITCH has none; `kill -STOP` and a firewall do it there), so
/// that `arsgate sim` can be put through the faults tests use: frozen, or
/// cut off from every client, for that long (simulated), then back. The
/// reply goes out before the fault starts.
fn sim_fault(engine: &Arc<Engine>, arg: &str) -> String {
    let mut words = arg.split_whitespace();
    let (fault, seconds) = (
        words.next(),
        words.next().and_then(|w| w.parse::<f64>().ok()),
    );
    let Some(seconds) = seconds.filter(|s| s.is_finite() && *s > 0.0) else {
        return format!("-USAGE: {SIM_FAULT_SYNTAX}\n");
    };
    let span = std::time::Duration::from_secs_f64(seconds);
    let freeze = match fault {
        Some("freeze") => true,
        Some("partition") => false,
        _ => return format!("-USAGE: {SIM_FAULT_SYNTAX}\n"),
    };
    if freeze {
        engine.set_frozen(true);
    } else {
        engine.partition();
    }
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        engine.clock.sleep(span).await;
        if freeze {
            engine.set_frozen(false);
        } else {
            engine.heal();
        }
    });
    format!("+OK {} for {seconds}s\n", fault.unwrap_or_default())
}

fn status(engine: &Engine) -> String {
    let sessions = engine.sessions.stats();
    let identity = &engine.config.identity;
    format!(
        "UP {}\nFreeSWITCH (Version {}  64bit) is ready\n{} session(s) since startup\n{} session(s) - peak {}, last 5min {} \n{} session(s) per Sec out of max {}, peak {}, last 5min {} \n{} session(s) max\nmin idle cpu 0.00/100.00\nCurrent Stack Size/Max 240K/8192K\n",
        duration_text(engine.uptime_micros()),
        identity.version,
        sessions.since_startup,
        sessions.current,
        sessions.peak,
        sessions.peak,
        sessions.last_second,
        sessions.sessions_per_second,
        sessions.peak_per_second,
        sessions.peak_per_second,
        sessions.max_sessions,
    )
}

fn uptime(engine: &Engine, unit: &str) -> String {
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "seconds" | "s" => 1_000_000,
        "microseconds" | "us" => 1,
        "milliseconds" | "ms" => 1_000,
        "minutes" | "m" => 60_000_000,
        "hours" | "h" => 3_600_000_000,
        "days" | "d" => 86_400_000_000,
        _ => {
            return "-USAGE: [us|ms|s|m|h|d|microseconds|milliseconds|seconds|minutes|hours|days]\n"
                .to_owned();
        }
    };
    format!("{}", engine.uptime_micros() / scale)
}

fn global_getvar(engine: &Engine, name: &str) -> String {
    let identity = &engine.config.identity;
    let vars = [
        ("hostname", identity.hostname.clone()),
        ("switch_serial", identity.hostname.clone()),
        ("local_ip_v4", identity.ipv4.clone()),
        ("local_ip_v6", identity.ipv6.clone()),
        ("core_uuid", engine.core_uuid()),
    ];
    if name.is_empty() {
        return vars.iter().map(|(n, v)| format!("{n}={v}\n")).collect();
    }
    vars.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

const FSCTL_SYNTAX: &str = "[api_expansion [on|off]|recover|send_sighup|hupall|pause [inbound|outbound]|resume [inbound|outbound]|shutdown [cancel|elegant|asap|now|restart]|uuid_version [4|7]|sps|sps_peak_reset|sync_clock|sync_clock_when_idle|reclaim_mem|max_sessions|min_dtmf_duration [num]|max_dtmf_duration [num]|default_dtmf_duration [num]|min_idle_cpu|loglevel [level]|debug_level [level]|mdns_resolve [enable|disable]]";

fn fsctl(engine: &Engine, arg: &str) -> String {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let verb = words.next().unwrap_or("").to_ascii_lowercase();
    let value = words.next().and_then(|w| w.parse::<i64>().ok());
    match verb.as_str() {
        "max_sessions" => {
            let max = engine
                .sessions
                .set_max_sessions(value.map(|v| v.max(0) as u32));
            format!("+OK max sessions: {max}\n")
        }
        "sps" => {
            let sps = engine
                .sessions
                .set_sessions_per_second(value.map(|v| v.max(0) as u32));
            format!("+OK sessions per second: {sps}\n")
        }
        "last_sps" => format!(
            "+OK last sessions per second: {}\n",
            engine.sessions.stats().last_second
        ),
        "pause" | "resume" => {
            engine.sessions.set_paused(verb == "pause");
            "+OK\n".to_owned()
        }
        "" => format!("-USAGE: {FSCTL_SYNTAX}\n"),
        _ => format!("-ERR Invalid command\nUSAGE: fsctl {FSCTL_SYNTAX}\n"),
    }
}
