//! FreeSWITCH's API commands (`api`/`bgapi`), as far as the simulator
//! implements them. Each returns the text FreeSWITCH would write to the
//! command's output stream, byte for byte (trailing newlines included or
//! not, as the real commands do).

mod system;

use std::sync::Arc;

use super::engine::{Engine, origin};
use crate::esl::EventName;

/// Runs `command` with `arg` and returns its output; an unknown command
/// yields FreeSWITCH's `-ERR <cmd> Command not found!`. Fires the `API`
/// event FreeSWITCH fires for every API call (created first, fired last).
pub(crate) async fn execute(engine: &Arc<Engine>, command: &str, arg: Option<&str>) -> String {
    let mut event = engine.new_event(
        &EventName::Api,
        origin("switch_loadable_module.c", "switch_api_execute", 2954),
    );
    let output = match system::run(engine, command, arg).await {
        Some(output) => output,
        None => format!("-ERR {command} Command not found!\n"),
    };
    event.push("API-Command", command);
    if let Some(arg) = arg.filter(|a| !a.is_empty()) {
        event.push("API-Command-Argument", arg);
    }
    engine.fire(event);
    output
}

/// Splits an `api`/`bgapi` line's arguments into the command and the rest,
/// as mod_event_socket does (at the first space).
pub(crate) fn split(line: &str) -> (&str, Option<&str>) {
    match line.split_once(' ') {
        Some((command, arg)) => (command, Some(arg)),
        None => (line, None),
    }
}
