//! Reading scenario files: YAML into the model, the model through
//! validation, every failure as a pointed [`Problem`].

use std::fs;
use std::path::Path;

use serde_norway::Value;

use super::definition::Scenario;
use super::model::ScenarioDef;
use super::problem::{Problem, Problems, StepRef};
use super::prompts::PromptCatalog;
use super::validate::validate;
use crate::config::YamlError;
use crate::config::yaml;

/// Reads and validates every `*.yaml` file directly in `dir`, in file-name
/// order. Any problem in any file fails the whole set, with every problem
/// found.
pub fn load_dir(dir: &Path, catalog: &PromptCatalog) -> Result<Vec<Scenario>, Problems> {
    let origin = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|error| {
        Problems(vec![whole_file(
            &origin,
            format!("cannot read the directory: {error}"),
        )])
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut scenarios = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") => match load_file(&path, catalog) {
                Ok(scenario) => scenarios.push(scenario),
                Err(Problems(found)) => problems.extend(found),
            },
            Some("yml") => problems.push(whole_file(
                &path.display().to_string(),
                "scenario files are named `<name>.yaml`; rename it",
            )),
            _ => {}
        }
    }
    if scenarios.is_empty() && problems.is_empty() {
        problems.push(whole_file(&origin, "holds no scenario files (`*.yaml`)"));
    }
    if problems.is_empty() {
        Ok(scenarios)
    } else {
        Err(Problems(problems))
    }
}

/// Reads and validates one scenario file.
pub fn load_file(path: &Path, catalog: &PromptCatalog) -> Result<Scenario, Problems> {
    let file = path.display().to_string();
    let text =
        yaml::read(path).map_err(|error| Problems(vec![whole_file(&file, error_text(error))]))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    parse_str(&text, &file, stem, catalog)
}

/// Validates a scenario given as YAML text; `file` names it in problems and
/// `stem` is the name it must have.
pub fn parse_str(
    text: &str,
    file: &str,
    stem: &str,
    catalog: &PromptCatalog,
) -> Result<Scenario, Problems> {
    let def: ScenarioDef = yaml::from_str(text, file)
        .map_err(|error| Problems(vec![yaml_problem(text, file, error)]))?;
    validate(def, file, stem, catalog).map_err(Problems)
}

fn whole_file(file: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_owned(),
        step: None,
        field: String::new(),
        message: message.into(),
    }
}

fn error_text(error: YamlError) -> String {
    match error {
        YamlError::Read { error, .. } => format!("cannot read: {error}"),
        YamlError::Field { message, .. } => message,
    }
}

/// A YAML or type error as a problem; inside `steps[N]` it names the step
/// and its id, read from the parts of the text that do parse.
fn yaml_problem(text: &str, file: &str, error: YamlError) -> Problem {
    let (path, message) = match error {
        YamlError::Field { path, message, .. } => (path, message),
        YamlError::Read { error, .. } => return whole_file(file, format!("cannot read: {error}")),
    };
    let path = if path == "." { String::new() } else { path };
    let step = path.strip_prefix("steps[").and_then(|rest| {
        let (index, rest) = rest.split_once(']')?;
        let index: usize = index.parse().ok()?;
        Some((index, rest.strip_prefix('.').unwrap_or(rest).to_owned()))
    });
    match step {
        Some((index, field)) => {
            let id = serde_norway::from_str::<Value>(text).ok().and_then(|doc| {
                doc.get("steps")?
                    .get(index)?
                    .get("id")?
                    .as_str()
                    .map(str::to_owned)
            });
            Problem {
                file: file.to_owned(),
                step: Some(StepRef { index, id }),
                field,
                message,
            }
        }
        None => Problem {
            file: file.to_owned(),
            step: None,
            field: path,
            message,
        },
    }
}
