//! The prompts that exist: the names the sounds manifest
//! (`sounds/manifest.yaml`) lists for each language. A scenario may only
//! play prompts the manifest has in every language.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::program::Language;
use crate::config::YamlError;
use crate::config::yaml;

/// The manifest's file name inside the sounds directory.
pub const MANIFEST: &str = "manifest.yaml";

/// The prompt names available in each language.
#[derive(Debug, Clone, Default)]
pub struct PromptCatalog {
    origin: String,
    names: BTreeMap<Language, BTreeSet<String>>,
}

impl PromptCatalog {
    /// Reads `<sounds_dir>/manifest.yaml`.
    pub fn load(sounds_dir: &Path) -> Result<PromptCatalog, YamlError> {
        let path = sounds_dir.join(MANIFEST);
        let origin = path.display().to_string();
        let text = yaml::read(&path)?;
        let manifest: Manifest = yaml::from_str(&text, &origin)?;
        Ok(PromptCatalog::from_names(
            origin,
            manifest.prompts.into_iter().flat_map(|(name, texts)| {
                texts
                    .into_keys()
                    .map(move |language| (language, name.clone()))
            }),
        ))
    }

    /// A catalog of these `(language, name)` pairs; `origin` names it in
    /// messages.
    pub fn from_names(
        origin: impl Into<String>,
        names: impl IntoIterator<Item = (Language, String)>,
    ) -> PromptCatalog {
        let mut catalog = PromptCatalog {
            origin: origin.into(),
            names: BTreeMap::new(),
        };
        for (language, name) in names {
            catalog.names.entry(language).or_default().insert(name);
        }
        catalog
    }

    /// Whether the prompt `name` exists in `language`.
    pub fn has(&self, language: Language, name: &str) -> bool {
        self.names.get(&language).is_some_and(|n| n.contains(name))
    }

    /// Where the catalog comes from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The part of the manifest the catalog reads.
#[derive(Deserialize)]
struct Manifest {
    prompts: BTreeMap<String, BTreeMap<Language, serde_norway::Value>>,
}
