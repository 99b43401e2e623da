//! What is wrong with a scenario file, pointed at the file, the step and
//! the field.

use std::fmt;

/// The step a problem is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    /// Its position in `steps` (0-based, as in `steps[2]`).
    pub index: usize,
    /// Its `id`, when it has one.
    pub id: Option<String>,
}

/// One thing wrong with a scenario file. Shown as
/// `file: steps[2] (id ask): collect.tries: must be at least 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the caller named it.
    pub file: String,
    /// The step, when the problem is inside one.
    pub step: Option<StepRef>,
    /// The field's path inside the step (or the document, outside steps),
    /// as `collect.no_input.goto`; empty when the step or file as a whole
    /// is wrong.
    pub field: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(step) = &self.step {
            write!(f, "steps[{}]", step.index)?;
            if let Some(id) = &step.id {
                write!(f, " (id {id})")?;
            }
            f.write_str(": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one or more scenario files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
