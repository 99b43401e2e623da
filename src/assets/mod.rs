//! The files arsgate ships with, built into the binary: the scenario
//! definitions (`config/scenarios/`), the sandbox's phones
//! (`config/sim-phones.yaml`) and the prompts (`sounds/`). The installed
//! binary alone runs the demo and the sandbox; a file on disk where the
//! configuration points overrides the built-in copy.
//!
//! The built-in copies are written out under the data directory when they
//! are needed, because the loaders and the simulator read directories.

use std::io;
use std::path::{Path, PathBuf};

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "config/scenarios/"]
#[include = "*.yaml"]
struct Scenarios;

#[derive(RustEmbed)]
#[folder = "config/"]
#[include = "sim-phones.yaml"]
struct Phones;

#[derive(RustEmbed)]
#[folder = "sounds/"]
#[include = "manifest.yaml"]
#[include = "*.wav"]
struct Sounds;

/// Where each kind of asset was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDirs {
    /// The scenario definitions.
    pub scenarios: PathBuf,
    /// The prompts (with their `manifest.yaml`).
    pub sounds: PathBuf,
    /// The sandbox's phone book.
    pub phones: PathBuf,
    /// Which of them are the built-in copies.
    pub builtin: Vec<&'static str>,
}

/// Finds the assets: each configured path if it exists, otherwise the
/// built-in copy written under `<data_dir>/builtin/`.
pub fn resolve(
    scenarios: &Path,
    sounds: &Path,
    phones: &Path,
    data_dir: &Path,
) -> io::Result<AssetDirs> {
    let builtin_dir = data_dir.join("builtin");
    let mut builtin = Vec::new();
    let scenarios = if scenarios.is_dir() {
        scenarios.to_path_buf()
    } else {
        builtin.push("scenarios");
        extract::<Scenarios>(&builtin_dir.join("scenarios"))?
    };
    let sounds = if sounds.join("manifest.yaml").is_file() {
        sounds.to_path_buf()
    } else {
        builtin.push("sounds");
        extract::<Sounds>(&builtin_dir.join("sounds"))?
    };
    let phones = if phones.is_file() {
        phones.to_path_buf()
    } else {
        builtin.push("sim-phones.yaml");
        extract::<Phones>(&builtin_dir)?.join("sim-phones.yaml")
    };
    Ok(AssetDirs {
        scenarios,
        sounds,
        phones,
        builtin,
    })
}

/// Writes every file of `E` under `dir` (replacing what is there, so an
/// upgraded binary never runs an older copy) and returns `dir`.
fn extract<E: RustEmbed>(dir: &Path) -> io::Result<PathBuf> {
    for name in E::iter() {
        let Some(file) = E::get(&name) else {
            continue;
        };
        let path = dir.join(name.as_ref());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let unchanged = std::fs::read(&path).is_ok_and(|old| old == file.data.as_ref());
        if !unchanged {
            std::fs::write(&path, &file.data)?;
        }
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_copies_are_the_repository_files() {
        let data = tempfile::tempdir().unwrap();
        let missing = data.path().join("nowhere");
        let dirs = resolve(&missing, &missing, &missing, data.path()).unwrap();
        assert_eq!(dirs.builtin, ["scenarios", "sounds", "sim-phones.yaml"]);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["read_code.yaml", "consent_record.yaml", "event_optin.yaml"] {
            assert_eq!(
                std::fs::read(dirs.scenarios.join(name)).unwrap(),
                std::fs::read(repo.join("config/scenarios").join(name)).unwrap(),
                "{name}"
            );
        }
        assert!(!dirs.scenarios.join("README.md").exists(), "only scenarios");
        assert_eq!(
            std::fs::read(&dirs.phones).unwrap(),
            std::fs::read(repo.join("config/sim-phones.yaml")).unwrap()
        );
        assert_eq!(
            std::fs::read(dirs.sounds.join("ko/greeting.wav")).unwrap(),
            std::fs::read(repo.join("sounds/ko/greeting.wav")).unwrap()
        );
    }

    #[test]
    fn files_on_disk_override_the_built_in_copies() {
        let data = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dirs = resolve(
            &repo.join("config/scenarios"),
            &repo.join("sounds"),
            &repo.join("config/sim-phones.yaml"),
            data.path(),
        )
        .unwrap();
        assert!(dirs.builtin.is_empty());
        assert_eq!(dirs.scenarios, repo.join("config/scenarios"));
        assert!(!data.path().join("builtin").exists(), "nothing written");
    }
}
