//! FreeSWITCH's API commands (`api`/`bgapi`), as far as the simulator
//! implements them. Each produces the text FreeSWITCH would write to the
//! command's output stream, byte for byte (trailing newlines included or
//! not, as the real commands do).

pub(crate) mod calls;
mod system;

use std::sync::Arc;

use super::call::session::{self, Completion};
use super::engine::{Engine, origin};
use crate::esl::EventName;

/// Runs `command` with `arg`; `done` receives the output when the command
/// completes — for `originate`, when the call is up or has failed, which
/// can be long after this returns. An unknown command yields FreeSWITCH's
/// `-ERR <cmd> Command not found!`. The `API` event FreeSWITCH fires for
/// every API call is created now and fired just before `done` runs.
pub(crate) async fn execute(
    engine: &Arc<Engine>,
    command: &str,
    arg: Option<&str>,
    done: Completion,
) {
    let mut event = engine.new_event(
        &EventName::Api,
        origin("switch_loadable_module.c", "switch_api_execute", 2954),
    );
    event.push("API-Command", command);
    if let Some(arg) = arg.filter(|a| !a.is_empty()) {
        event.push("API-Command-Argument", arg);
    }
    let fire_engine = Arc::clone(engine);
    let finish: Completion = Box::new(move |output| {
        fire_engine.fire(event);
        done(output);
    });
    if command == "originate" {
        session::originate(engine, arg.unwrap_or(""), finish);
        return;
    }
    let output = match system::run(engine, command, arg).await {
        Some(output) => output,
        None => match calls::run(engine, command, arg.unwrap_or("")).await {
            Some(output) => output,
            None => format!("-ERR {command} Command not found!\n"),
        },
    };
    finish(output);
}

/// Splits an `api`/`bgapi` line's arguments into the command and the rest,
/// as mod_event_socket does (at the first space).
pub(crate) fn split(line: &str) -> (&str, Option<&str>) {
    match line.split_once(' ') {
        Some((command, arg)) => (command, Some(arg)),
        None => (line, None),
    }
}
