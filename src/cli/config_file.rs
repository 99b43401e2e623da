//! The configuration file a command reads and the `ARSGATE_...` variables
//! laid over it: which variables are overrides and which belong to the
//! command line or the test suite, the admin token's one name, and errors
//! that say which flag or variable to use.

use std::path::Path;

use crate::config::{Config, ConfigError, YamlError};

/// Where the commands look for the configuration without `--config`.
pub const DEFAULT_CONFIG: &str = "config/arsgate.yaml";

/// The configuration file, for every command that takes `--config`.
pub const CONFIG_VAR: &str = "ARSGATE_CONFIG";

/// The admin token: `admin.token` of `serve`, and the token `arsgate
/// nodes` sends. One name for both, so one `export` serves the server and
/// the operator's shell.
pub const ADMIN_TOKEN_VAR: &str = "ARSGATE_ADMIN__TOKEN";

/// The name `arsgate nodes` read the admin token from before it had one
/// name with the server's; still read, with a warning.
pub const DEPRECATED_ADMIN_TOKEN_VAR: &str = "ARSGATE_ADMIN_TOKEN";

/// The running server `arsgate nodes` talks to.
pub const URL_VAR: &str = "ARSGATE_URL";

/// Variables of the test suite (`ARSGATE_TEST_POSTGRES`,
/// `ARSGATE_TEST_PG_BIN`): never configuration.
const TEST_PREFIX: &str = "ARSGATE_TEST_";

/// What every configuration override starts with.
const PREFIX: &str = "ARSGATE_";

/// The configuration overrides among a process's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The variables the configuration reads, as (name, value).
    pub vars: Vec<(String, String)>,
    /// What the operator should change (a deprecated name in use).
    pub warnings: Vec<String>,
}

impl Overrides {
    /// The variables' names, for reports that must not show their values.
    pub fn names(&self) -> Vec<&str> {
        self.vars.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// Picks the configuration overrides out of `env`: every `ARSGATE_`
/// variable but the command line's own ([`CONFIG_VAR`], [`URL_VAR`]) and
/// the test suite's (`ARSGATE_TEST_...`), with
/// [`DEPRECATED_ADMIN_TOKEN_VAR`] read as [`ADMIN_TOKEN_VAR`] when that is
/// not set.
pub fn overrides(env: impl IntoIterator<Item = (String, String)>) -> Overrides {
    let mut out = Overrides::default();
    let mut deprecated_token = None;
    for (name, value) in env {
        if !name.starts_with(PREFIX)
            || name.starts_with(TEST_PREFIX)
            || name == CONFIG_VAR
            || name == URL_VAR
        {
            continue;
        }
        if name == DEPRECATED_ADMIN_TOKEN_VAR {
            deprecated_token = Some(value);
            continue;
        }
        out.vars.push((name, value));
    }
    if let Some(value) = deprecated_token {
        if out.vars.iter().any(|(name, _)| name == ADMIN_TOKEN_VAR) {
            out.warnings.push(format!(
                "{DEPRECATED_ADMIN_TOKEN_VAR} is ignored: {ADMIN_TOKEN_VAR} is set (unset the old name)"
            ));
        } else {
            out.warnings.push(format!(
                "{DEPRECATED_ADMIN_TOKEN_VAR} is deprecated: rename it {ADMIN_TOKEN_VAR}"
            ));
            out.vars.push((ADMIN_TOKEN_VAR.to_owned(), value));
        }
    }
    out
}

/// The admin token `arsgate nodes` sends: `--token` or [`ADMIN_TOKEN_VAR`]
/// (`given`), else [`DEPRECATED_ADMIN_TOKEN_VAR`] with a warning.
pub fn admin_token(given: Option<String>) -> anyhow::Result<String> {
    if let Some(token) = given {
        return Ok(token);
    }
    if let Ok(token) = std::env::var(DEPRECATED_ADMIN_TOKEN_VAR) {
        tracing::warn!("{DEPRECATED_ADMIN_TOKEN_VAR} is deprecated: rename it {ADMIN_TOKEN_VAR}");
        return Ok(token);
    }
    anyhow::bail!(
        "the admin token is required: --token TOKEN or {ADMIN_TOKEN_VAR} (the server's admin.token)"
    )
}

/// Loads the configuration at `path` with the overrides of this process's
/// environment (warning of deprecated names); the overrides applied come
/// back with it. A file that cannot be read is reported with the ways to
/// name another.
pub fn load(path: &Path) -> anyhow::Result<(Config, Overrides)> {
    let env = overrides(std::env::vars());
    for warning in &env.warnings {
        tracing::warn!("{warning}");
    }
    match Config::load(path, env.vars.iter().cloned()) {
        Ok(config) => Ok((config, env)),
        Err(error @ ConfigError::Yaml(YamlError::Read { .. })) => Err(anyhow::anyhow!(
            "{error}\n(name the configuration file with --config FILE or {CONFIG_VAR}=FILE; \
             `arsgate init` writes one to start from)"
        )),
        Err(error) => Err(anyhow::Error::new(error).context(format!("loading {}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_configuration_variables_are_overrides() {
        let env = overrides(vars(&[
            ("ARSGATE_SECRET", "s"),
            ("ARSGATE_TEST_POSTGRES", "postgres://x"),
            ("ARSGATE_TEST_PG_BIN", "/usr/lib/postgresql/bin"),
            ("ARSGATE_CONFIG", "a.yaml"),
            ("ARSGATE_URL", "http://x"),
            ("ARSGATE_NODES__FS1__PASSWORD", "p"),
            ("HOME", "/root"),
        ]));
        assert_eq!(
            env.vars,
            vars(&[
                ("ARSGATE_SECRET", "s"),
                ("ARSGATE_NODES__FS1__PASSWORD", "p")
            ])
        );
        assert!(env.warnings.is_empty());
        assert_eq!(
            env.names(),
            ["ARSGATE_SECRET", "ARSGATE_NODES__FS1__PASSWORD"]
        );
    }

    #[test]
    fn the_deprecated_admin_token_name_is_read_with_a_warning() {
        let env = overrides(vars(&[("ARSGATE_ADMIN_TOKEN", "t")]));
        assert_eq!(env.vars, vars(&[("ARSGATE_ADMIN__TOKEN", "t")]));
        assert_eq!(
            env.warnings,
            ["ARSGATE_ADMIN_TOKEN is deprecated: rename it ARSGATE_ADMIN__TOKEN"]
        );
        let env = overrides(vars(&[
            ("ARSGATE_ADMIN_TOKEN", "old"),
            ("ARSGATE_ADMIN__TOKEN", "new"),
        ]));
        assert_eq!(env.vars, vars(&[("ARSGATE_ADMIN__TOKEN", "new")]));
        assert!(env.warnings[0].contains("is ignored"), "{:?}", env.warnings);
    }
}
