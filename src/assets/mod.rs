//! The files arsgate ships with, built into the binary: the scenario
//! definitions (`config/scenarios/`), the sandbox's phones
//! (`config/sim-phones.yaml`), the prompts (`sounds/`), and for `arsgate
//! init` the example configuration and the guides that go with them. The
//! installed binary alone runs the demo, the sandbox and every command
//! that reads scenarios; a file on disk where the configuration (or the
//! command line) points overrides the built-in copy.
//!
//! The built-in copies are written out when they are needed, because the
//! loaders and the simulator read directories.

use std::borrow::Cow;
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

#[derive(RustEmbed)]
#[folder = "config/"]
#[include = "arsgate.yaml"]
struct ExampleConfig;

#[derive(RustEmbed)]
#[folder = "config/scenarios/"]
#[include = "README.md"]
struct ScenariosGuide;

#[derive(RustEmbed)]
#[folder = "sounds/"]
#[include = "README.md"]
#[include = "generate.sh"]
struct SoundsGuide;

#[derive(RustEmbed)]
#[folder = "dialplan/"]
#[include = "README.md"]
struct DialplanGuide;

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

/// Where one kind of asset is: on disk where asked, or the built-in copy
/// written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The directory (scenarios, prompts) or file (phones).
    pub path: PathBuf,
    /// Whether it is the built-in copy.
    pub builtin: bool,
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
    let found = [
        ("scenarios", scenarios_or_builtin(scenarios, &builtin_dir)?),
        ("sounds", sounds_or_builtin(sounds, &builtin_dir)?),
        ("sim-phones.yaml", phones_or_builtin(phones, &builtin_dir)?),
    ];
    let builtin = found
        .iter()
        .filter(|(_, f)| f.builtin)
        .map(|(name, _)| *name)
        .collect();
    let [(_, scenarios), (_, sounds), (_, phones)] = found;
    Ok(AssetDirs {
        scenarios: scenarios.path,
        sounds: sounds.path,
        phones: phones.path,
        builtin,
    })
}

/// The scenario directory `path` if it is one, else the built-in
/// scenarios written to `<builtin_dir>/scenarios`.
pub fn scenarios_or_builtin(path: &Path, builtin_dir: &Path) -> io::Result<Found> {
    if path.is_dir() {
        return Ok(on_disk(path));
    }
    extract::<Scenarios>(&builtin_dir.join("scenarios")).map(builtin)
}

/// The prompt directory `path` if it has a `manifest.yaml`, else the
/// built-in prompts written to `<builtin_dir>/sounds`.
pub fn sounds_or_builtin(path: &Path, builtin_dir: &Path) -> io::Result<Found> {
    if path.join("manifest.yaml").is_file() {
        return Ok(on_disk(path));
    }
    extract::<Sounds>(&builtin_dir.join("sounds")).map(builtin)
}

/// The phone book `path` if it is a file, else the built-in one written
/// to `<builtin_dir>/sim-phones.yaml`.
pub fn phones_or_builtin(path: &Path, builtin_dir: &Path) -> io::Result<Found> {
    if path.is_file() {
        return Ok(on_disk(path));
    }
    extract::<Phones>(builtin_dir)
        .map(|dir| dir.join("sim-phones.yaml"))
        .map(builtin)
}

/// The built-in phone book's text (the sandbox's magic numbers).
pub fn builtin_phones() -> String {
    Phones::get("sim-phones.yaml")
        .map(|file| String::from_utf8_lossy(&file.data).into_owned())
        .unwrap_or_default()
}

/// Everything `arsgate init` writes but the dialplan (rendered from the
/// scenarios), as paths relative to the directory it sets up: the example
/// configuration, the scenarios, the sandbox's phones, the prompts, the
/// script that regenerates them, and the guides to each.
pub fn starter_files() -> Vec<(PathBuf, Cow<'static, [u8]>)> {
    let mut files = Vec::new();
    files.extend(embedded::<ExampleConfig>("config"));
    files.extend(embedded::<Phones>("config"));
    files.extend(embedded::<Scenarios>("config/scenarios"));
    files.extend(embedded::<ScenariosGuide>("config/scenarios"));
    files.extend(embedded::<Sounds>("sounds"));
    files.extend(embedded::<SoundsGuide>("sounds"));
    files.extend(embedded::<DialplanGuide>("dialplan"));
    files
}

fn embedded<E: RustEmbed>(under: &str) -> Vec<(PathBuf, Cow<'static, [u8]>)> {
    E::iter()
        .filter_map(|name| {
            let file = E::get(&name)?;
            Some((Path::new(under).join(name.as_ref()), file.data))
        })
        .collect()
}

fn on_disk(path: &Path) -> Found {
    Found {
        path: path.to_path_buf(),
        builtin: false,
    }
}

fn builtin(path: PathBuf) -> Found {
    Found {
        path,
        builtin: true,
    }
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
            builtin_phones().as_bytes(),
            std::fs::read(&dirs.phones).unwrap()
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

    #[test]
    fn the_starter_files_are_the_repository_files_at_the_same_paths() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = starter_files();
        for (path, data) in &files {
            assert_eq!(
                std::fs::read(repo.join(path)).unwrap(),
                data.as_ref(),
                "{}",
                path.display()
            );
        }
        let has = |p: &str| files.iter().any(|(path, _)| path == Path::new(p));
        for path in [
            "config/arsgate.yaml",
            "config/sim-phones.yaml",
            "config/scenarios/read_code.yaml",
            "config/scenarios/README.md",
            "sounds/manifest.yaml",
            "sounds/en/digits/7.wav",
            "sounds/generate.sh",
            "dialplan/README.md",
        ] {
            assert!(has(path), "{path}");
        }
    }
}
