//! Whether a node has loaded the FreeSWITCH modules arsgate's calls need.
//!
//! A node without `mod_xml_curl` never asks arsgate for the dialplan, and
//! one without the TTS module plays silence where a consent text should be
//! spoken: both only show once a customer is on the line. So each time
//! arsgate connects to a FreeSWITCH it has not checked yet (a new
//! `Core-UUID`: first start, or the switch restarted, perhaps with another
//! `modules.conf.xml`) it asks `module_exists` for each module needed, and
//! says loudly which are missing: an error line, `nodes status`, and the
//! `arsgate_node_module_missing` metric. The node still takes calls (a
//! scenario that needs nothing missing works).

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::backend::SwitchError;
use super::freeswitch::FreeSwitch;
use crate::esl::client::ConnectionState;

/// Modules every call needs: `mod_commands` (`originate`, the `uuid_*`
/// commands and `module_exists` itself) and `mod_dptools` (the dialplan's
/// applications: `playback`, `play_and_get_digits`, `park` ...).
const ALWAYS: [&str; 2] = ["mod_commands", "mod_dptools"];

/// What arsgate is configured to do that needs modules on every node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The nodes fetch the dialplan from arsgate (`xml_curl.enabled`).
    pub xml_curl: bool,
    /// The TTS engine `speak` uses, when a scenario speaks.
    pub tts_engine: Option<String>,
}

impl Needs {
    /// The modules a node dialling through `dial_string` needs:
    /// [`ALWAYS`], the endpoint module of the dial string (`sofia/...`
    /// needs mod_sofia, `loopback/...` mod_loopback), `mod_xml_curl` when
    /// the nodes fetch the dialplan from arsgate, and the TTS engine's
    /// module (FreeSWITCH's naming, `mod_<engine>`: `tts_commandline` is
    /// mod_tts_commandline, `flite` mod_flite).
    pub fn of_node(&self, dial_string: &str) -> Vec<String> {
        let name_ok = |name: &&str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        let mut modules: Vec<String> = ALWAYS.iter().map(|m| (*m).to_owned()).collect();
        let mut add = |module: String| {
            if !modules.contains(&module) {
                modules.push(module);
            }
        };
        // `user/` and `group/` are mod_dptools' own endpoints; `error/`
        // is the core's.
        if let Some(endpoint) = dial_string
            .split('/')
            .next()
            .filter(name_ok)
            .filter(|e| !matches!(*e, "user" | "group" | "error"))
        {
            add(format!("mod_{endpoint}"));
        }
        if self.xml_curl {
            add("mod_xml_curl".to_owned());
        }
        if let Some(engine) = self.tts_engine.as_deref().filter(name_ok) {
            add(format!("mod_{engine}"));
        }
        modules
    }
}

/// What a node was last found to lack.
#[derive(Debug, Default)]
pub struct ModulesCell {
    required: Vec<String>,
    missing: Mutex<Option<Vec<String>>>,
}

impl ModulesCell {
    /// A cell for a node that needs `required`, not checked yet.
    pub fn new(required: Vec<String>) -> ModulesCell {
        ModulesCell {
            required,
            missing: Mutex::new(None),
        }
    }

    /// The modules the node needs.
    pub fn required(&self) -> &[String] {
        &self.required
    }

    /// Of [`ModulesCell::required`], those the node lacked when last
    /// checked; `None` before the first check.
    pub fn missing(&self) -> Option<Vec<String>> {
        self.lock().clone()
    }

    fn set(&self, missing: Vec<String>) {
        *self.lock() = Some(missing);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<String>>> {
        self.missing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `module_exists <module>` answered: `true` or `false`, without a
/// newline (mod_commands.c, `module_exists_function`); with mod_commands
/// itself not loaded, `-ERR module_exists Command not found!`.
fn exists(reply: &str) -> Result<bool, String> {
    match reply.trim_end() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(other.to_owned()),
    }
}

/// Of `required`, the modules `switch` has not loaded.
async fn missing(switch: &FreeSwitch, required: &[String]) -> Result<Vec<String>, SwitchError> {
    let mut missing = Vec::new();
    for module in required {
        let reply = switch.module_exists(module).await?;
        match exists(&reply) {
            Ok(true) => {}
            Ok(false) => missing.push(module.clone()),
            // No `module_exists` at all: mod_commands is missing, and with
            // it nothing else can be asked.
            Err(other) if other.contains("Command not found") => {
                return Ok(vec!["mod_commands".to_owned()]);
            }
            Err(other) => {
                return Err(SwitchError::Refused(format!(
                    "module_exists {module} answered {other:?}"
                )));
            }
        }
    }
    Ok(missing)
}

/// Checks the node's modules on each connection to a FreeSWITCH not
/// checked yet (a new `Core-UUID`), until `stop`.
pub(super) async fn watch(
    switch: Arc<FreeSwitch>,
    cell: Arc<ModulesCell>,
    node: String,
    stop: CancellationToken,
) {
    let mut state = switch.connection();
    let mut checked: Option<String> = None;
    loop {
        let core = match &*state.borrow_and_update() {
            ConnectionState::Connected { core_uuid, .. } => Some(core_uuid.clone()),
            _ => None,
        };
        if let Some(core) = core.filter(|core| checked.as_ref() != Some(core)) {
            match missing(&switch, cell.required()).await {
                Ok(lacking) => {
                    if lacking.is_empty() {
                        tracing::info!(%node, modules = %cell.required().join(","), "the node has the FreeSWITCH modules arsgate needs");
                    } else {
                        tracing::error!(
                            %node,
                            missing = %lacking.join(","),
                            "THE NODE LACKS FREESWITCH MODULES ARSGATE NEEDS: load them \
                             (modules.conf.xml) and restart FreeSWITCH, or calls that need \
                             them fail"
                        );
                    }
                    cell.set(lacking);
                    checked = Some(core);
                }
                Err(error) => {
                    tracing::warn!(%node, %error, "could not ask the node for its modules; asking again on its next connection");
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = state.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_node_needs_follows_the_configuration() {
        let all = Needs {
            xml_curl: true,
            tts_engine: Some("tts_commandline".to_owned()),
        };
        assert_eq!(
            all.of_node("sofia/gateway/kt/{number}"),
            [
                "mod_commands",
                "mod_dptools",
                "mod_sofia",
                "mod_xml_curl",
                "mod_tts_commandline"
            ]
        );
        assert_eq!(
            Needs::default().of_node("user/{number}"),
            ["mod_commands", "mod_dptools"]
        );
        let flite = Needs {
            xml_curl: false,
            tts_engine: Some("flite".to_owned()),
        };
        assert_eq!(
            flite.of_node("loopback/{number}/default"),
            ["mod_commands", "mod_dptools", "mod_loopback", "mod_flite"]
        );
        let odd = Needs {
            xml_curl: false,
            tts_engine: Some("bad engine\napi status".to_owned()),
        };
        assert_eq!(
            odd.of_node("sofia/x/{number}"),
            ["mod_commands", "mod_dptools", "mod_sofia"],
            "a name that is no module's is never sent"
        );
    }

    #[test]
    fn module_exists_answers_true_or_false() {
        assert_eq!(exists("true"), Ok(true));
        assert_eq!(exists("false"), Ok(false));
        assert!(exists("-ERR module_exists Command not found!\n").is_err());
    }
}
