//! The core's periodic work: HEARTBEAT, followed, as in FreeSWITCH, by the
//! scheduler's RE_SCHEDULE of the next one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::engine::{Engine, duration_text, origin};
use crate::esl::EventName;

/// Fires HEARTBEAT every `heartbeat_interval` (simulated) while heartbeats
/// are enabled, forever.
pub(crate) async fn heartbeats(engine: Arc<Engine>) {
    let interval = engine
        .config
        .heartbeat_interval
        .max(Duration::from_millis(1));
    loop {
        engine.clock.sleep(interval).await;
        if engine.faults.heartbeats.load(Ordering::Relaxed) {
            fire_heartbeat(&engine, interval);
        }
    }
}

fn fire_heartbeat(engine: &Engine, interval: Duration) {
    let stats = engine.sessions.stats();
    let uptime = engine.uptime_micros();
    let mut event = engine.new_event(
        &EventName::Heartbeat,
        origin("switch_core.c", "send_heartbeat", 95),
    );
    event.push("Event-Info", "System Ready");
    event.push("Up-Time", duration_text(uptime));
    event.push(
        "FreeSWITCH-Version",
        format!("{}~64bit", engine.config.identity.version),
    );
    event.push("Uptime-msec", (uptime / 1000).to_string());
    event.push("Session-Count", stats.current.to_string());
    event.push("Max-Sessions", stats.max_sessions.to_string());
    event.push("Session-Per-Sec", stats.sessions_per_second.to_string());
    event.push("Session-Per-Sec-Last", stats.last_second.to_string());
    event.push("Session-Per-Sec-Max", stats.peak_per_second.to_string());
    event.push("Session-Per-Sec-FiveMin", stats.peak_per_second.to_string());
    event.push("Session-Since-Startup", stats.since_startup.to_string());
    event.push("Session-Peak-Max", stats.peak.to_string());
    event.push("Session-Peak-FiveMin", stats.peak.to_string());
    event.push("Idle-CPU", "100.000000");
    engine.fire(event);

    let next_run = (engine.clock.now_micros() + interval.as_micros() as u64) / 1_000_000;
    let mut schedule = engine.new_event(
        &EventName::ReSchedule,
        origin("switch_scheduler.c", "switch_scheduler_execute", 73),
    );
    schedule.push("Task-ID", "1");
    schedule.push("Task-Desc", "heartbeat");
    schedule.push("Task-Group", "core");
    schedule.push("Task-Runtime", next_run.to_string());
    engine.fire(schedule);
}
