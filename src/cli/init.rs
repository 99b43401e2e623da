//! `arsgate init [DIR]`: writes what an installation edits, out of the
//! binary: the commented example configuration, the scenarios, the
//! sandbox's phones, the prompts and the dialplan rendered from the
//! scenarios, each with its guide. Nothing is replaced unless asked.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::assets;
use crate::scenario::render;
use crate::scenario::{self, PromptCatalog};

/// Options of `arsgate init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// The directory to set up (created if missing); the commands then run
    /// from there, where the configuration's relative paths point.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Replace files that exist (without it, nothing is written if any
    /// does).
    #[arg(long)]
    pub force: bool,
}

/// The files `init` writes at the top of the directory, and what each is,
/// for the report.
const WHAT: &[(&str, &str)] = &[
    (
        "config/arsgate.yaml",
        "the configuration, every setting explained",
    ),
    (
        "config/scenarios/",
        "the scenarios A-F, README.md documents the format",
    ),
    (
        "config/sim-phones.yaml",
        "the sandbox's phones (magic numbers)",
    ),
    (
        "sounds/",
        "the prompts (ko, en), manifest.yaml and generate.sh",
    ),
    (
        "dialplan/",
        "FreeSWITCH dialplan rendered from the scenarios, README.md to install it",
    ),
];

/// Runs `arsgate init`, writing its report to `out`.
pub fn run(args: InitArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let files = files()?;
    if !args.force {
        let existing: Vec<String> = files
            .iter()
            .map(|(path, _)| args.dir.join(path))
            .filter(|path| path.exists())
            .map(|path| path.display().to_string())
            .collect();
        if let Some(first) = existing.first() {
            anyhow::bail!(
                "{first} exists{}: nothing written (--force replaces them)",
                match existing.len() {
                    1 => String::new(),
                    n => format!(" and {} other file(s) would be replaced", n - 1),
                }
            );
        }
    }
    for (path, data) in &files {
        let path = args.dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        if path.extension().is_some_and(|e| e == "sh") {
            executable(&path)?;
        }
    }
    writeln!(
        out,
        "wrote {} files under {}:",
        files.len(),
        args.dir.display()
    )?;
    for (path, what) in WHAT {
        writeln!(out, "  {path:<24}{what}")?;
    }
    let cd = if args.dir == Path::new(".") {
        String::new()
    } else {
        format!("  cd {}\n", args.dir.display())
    };
    writeln!(
        out,
        "\nnext:\n{cd}  \
         export ARSGATE_SECRET=$(openssl rand -hex 32)   # keep it: codes derive from it\n  \
         edit config/arsgate.yaml (nodes: your FreeSWITCH nodes; store)\n  \
         arsgate config check\n  \
         arsgate serve"
    )?;
    Ok(())
}

/// Every file to write, relative to the directory: the built-in starter
/// files and the dialplan rendered from the built-in scenarios.
fn files() -> anyhow::Result<Vec<(PathBuf, Cow<'static, [u8]>)>> {
    let mut files = assets::starter_files();
    let builtin = tempfile::tempdir().context("creating a temporary directory")?;
    let scenarios = assets::scenarios_or_builtin(&builtin.path().join("none"), builtin.path())?;
    let sounds = assets::sounds_or_builtin(&builtin.path().join("none"), builtin.path())?;
    let prompts = PromptCatalog::load(&sounds.path).context("loading the built-in prompts")?;
    let scenarios = scenario::load_dir(&scenarios.path, &prompts)
        .map_err(|problems| anyhow::anyhow!("the built-in scenarios are invalid:\n{problems}"))?;
    for file in render::render(&scenarios) {
        files.push((
            Path::new("dialplan").join(file.path),
            Cow::Owned(file.text.into_bytes()),
        ));
    }
    Ok(files)
}

#[cfg(unix)]
fn executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(not(unix))]
fn executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_the_repository_files_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let args = InitArgs {
            dir: dir.path().join("site"),
            force: false,
        };
        let mut report = Vec::new();
        run(args.clone(), &mut report).unwrap();
        let report = String::from_utf8(report).unwrap();
        assert!(report.contains("arsgate config check"), "{report}");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for path in [
            "config/arsgate.yaml",
            "config/scenarios/enter_pin.yaml",
            "dialplan/arsgate.xml",
            "dialplan/arsgate/enter_pin.xml",
            "sounds/ko/greeting.wav",
        ] {
            assert_eq!(
                std::fs::read(args.dir.join(path)).unwrap(),
                std::fs::read(repo.join(path)).unwrap(),
                "{path}"
            );
        }

        let edited = args.dir.join("config/arsgate.yaml");
        std::fs::write(&edited, "mine").unwrap();
        let error = run(args.clone(), &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("--force"), "{error}");
        assert_eq!(std::fs::read_to_string(&edited).unwrap(), "mine");
        run(
            InitArgs {
                force: true,
                ..args
            },
            &mut Vec::new(),
        )
        .unwrap();
        assert_ne!(std::fs::read_to_string(&edited).unwrap(), "mine");
    }
}
