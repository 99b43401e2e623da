//! `arsgate scenarios check`: validates the scenario files and says, one
//! line each, what is wrong.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::scenario::{self, PromptCatalog, Scenario, compile};

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
        /// The directory of scenario files (`*.yaml`).
        #[arg(default_value = "config/scenarios")]
        dir: PathBuf,
        /// The prompt audio directory; its `manifest.yaml` lists the
        /// prompts scenarios may play.
        #[arg(long, default_value = "sounds")]
        sounds: PathBuf,
    },
}

/// Runs `arsgate scenarios`, writing its report to `out`.
pub fn run(args: ScenariosArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        ScenariosAction::Check { dir, sounds } => {
            let scenarios = checked(&dir, &sounds, out)?;
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
            writeln!(
                out,
                "{} scenarios in {} are valid",
                scenarios.len(),
                dir.display()
            )?;
            Ok(())
        }
    }
}

/// Loads and validates the scenarios in `dir` against the prompts of
/// `sounds`; on problems, writes one line each to `out` and fails.
pub(crate) fn checked(
    dir: &Path,
    sounds: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<Vec<Scenario>> {
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
