//! `arsgate scenarios check`: validates the scenario files and says, one
//! line each, what is wrong.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::assets::{self, Found};
use crate::scenario::{self, PromptCatalog, Scenario, compile};

/// Where the scenarios are looked for when no directory is named.
pub const DEFAULT_SCENARIOS: &str = "config/scenarios";

/// Where the prompts are looked for when no directory is named.
pub const DEFAULT_SOUNDS: &str = "sounds";

/// Options of `arsgate scenarios`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScenariosArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ScenariosAction,
}

/// The things `arsgate scenarios` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ScenariosAction {
    /// Validates every scenario file: one line per problem and exit status
    /// 1 on any, else a summary.
    Check {
        /// The directory of scenario files (`*.yaml`). Default
        /// `config/scenarios`, else the scenarios built into arsgate.
        dir: Option<PathBuf>,
        /// The prompt audio directory; its `manifest.yaml` lists the
        /// prompts scenarios may play. Default `sounds`, else the prompts
        /// built into arsgate.
        #[arg(long)]
        sounds: Option<PathBuf>,
    },
}

/// Runs `arsgate scenarios`, writing its report to `out`.
pub fn run(args: ScenariosArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        ScenariosAction::Check { dir, sounds } => {
            let sources = Sources::find(dir.as_deref(), sounds.as_deref(), out)?;
            let scenarios = sources.checked(out)?;
            for scenario in &scenarios {
                let program = compile(scenario);
                writeln!(
                    out,
                    "{}: {} segments, entry {} ({})",
                    scenario.name(),
                    program.segments.len(),
                    program.segment(program.entry).extension,
                    scenario.title()
                )?;
            }
            if sources.scenarios.builtin {
                writeln!(
                    out,
                    "{} scenarios built into arsgate are valid",
                    scenarios.len()
                )?;
            } else {
                writeln!(
                    out,
                    "{} scenarios in {} are valid",
                    scenarios.len(),
                    sources.scenarios.path.display()
                )?;
            }
            Ok(())
        }
    }
}

/// The scenarios and prompts a command works on: the directories named on
/// its command line (which must exist), else the default ones if they
/// exist, else the copies built into arsgate.
pub(crate) struct Sources {
    /// The scenario directory.
    pub scenarios: Found,
    /// The prompt directory.
    pub sounds: Found,
    /// Where the built-in copies were written, removed with it.
    _builtin: tempfile::TempDir,
}

impl Sources {
    /// Finds them, saying on `out` which built-in copies stand in for
    /// missing defaults.
    pub fn find(
        scenarios: Option<&Path>,
        sounds: Option<&Path>,
        out: &mut dyn Write,
    ) -> anyhow::Result<Sources> {
        if let Some(dir) = scenarios {
            anyhow::ensure!(dir.is_dir(), "{}: no such directory", dir.display());
        }
        if let Some(dir) = sounds {
            let manifest = dir.join("manifest.yaml");
            anyhow::ensure!(
                manifest.is_file(),
                "{}: no such file (--sounds names a prompt directory)",
                manifest.display()
            );
        }
        let builtin = tempfile::tempdir().context("creating a temporary directory")?;
        let scenarios = assets::scenarios_or_builtin(
            scenarios.unwrap_or(Path::new(DEFAULT_SCENARIOS)),
            builtin.path(),
        )?;
        let sounds =
            assets::sounds_or_builtin(sounds.unwrap_or(Path::new(DEFAULT_SOUNDS)), builtin.path())?;
        if scenarios.builtin {
            writeln!(
                out,
                "no {DEFAULT_SCENARIOS} here: using the scenarios built into arsgate"
            )?;
        }
        if sounds.builtin {
            writeln!(
                out,
                "no {DEFAULT_SOUNDS}/manifest.yaml here: using the prompts built into arsgate"
            )?;
        }
        Ok(Sources {
            scenarios,
            sounds,
            _builtin: builtin,
        })
    }

    /// Loads and validates the scenarios against the prompts; on problems,
    /// writes one line each to `out` and fails.
    pub fn checked(&self, out: &mut dyn Write) -> anyhow::Result<Vec<Scenario>> {
        checked(&self.scenarios.path, &self.sounds.path, out)
    }
}

/// Loads and validates the scenarios in `dir` against the prompts of
/// `sounds`; on problems, writes one line each to `out` and fails.
fn checked(dir: &Path, sounds: &Path, out: &mut dyn Write) -> anyhow::Result<Vec<Scenario>> {
    let catalog = PromptCatalog::load(sounds).context("loading the prompt manifest")?;
    match scenario::load_dir(dir, &catalog) {
        Ok(scenarios) => Ok(scenarios),
        Err(problems) => {
            for problem in &problems.0 {
                writeln!(out, "{problem}")?;
            }
            let count = problems.0.len();
            let noun = if count == 1 { "problem" } else { "problems" };
            bail!("{count} {noun} in {}", dir.display())
        }
    }
}
