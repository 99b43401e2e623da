//! `arsgate dialplan render`: writes the scenarios as FreeSWITCH XML
//! dialplan (see `dialplan/README.md` for installing it).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::scenarios::Sources;
use crate::scenario::render::{self, write_dir};

/// Options of `arsgate dialplan`.
#[derive(Debug, Clone, clap::Args)]
pub struct DialplanArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: DialplanAction,
}

/// The things `arsgate dialplan` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DialplanAction {
    /// Renders every scenario (after checking them all) into `arsgate.xml`
    /// and `arsgate/<scenario>.xml` under the output directory, removing
    /// generated files of scenarios that no longer exist.
    Render {
        /// The output directory (the repository keeps it in `dialplan/`).
        #[arg(short, long)]
        out: PathBuf,
        /// The directory of scenario files. Default `config/scenarios`,
        /// else the scenarios built into arsgate.
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// The prompt audio directory (its `manifest.yaml`). Default
        /// `sounds`, else the prompts built into arsgate.
        #[arg(long)]
        sounds: Option<PathBuf>,
    },
}

/// Runs `arsgate dialplan`, writing its report to `out`.
pub fn run(args: DialplanArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.action {
        DialplanAction::Render {
            out: dir,
            scenarios,
            sounds,
        } => {
            let scenarios =
                Sources::find(scenarios.as_deref(), sounds.as_deref(), out)?.checked(out)?;
            let files = render::render(&scenarios);
            let done = write_dir(&dir, &files).context("writing the dialplan")?;
            for path in &done.written {
                writeln!(out, "wrote {}", dir.join(path).display())?;
            }
            for path in &done.removed {
                writeln!(out, "removed {}", dir.join(path).display())?;
            }
            Ok(())
        }
    }
}
