//! The scenarios a running arsgate offers: each definition with the program
//! it compiles to, by name.

use std::collections::BTreeMap;

use super::compile::compile;
use super::definition::Scenario;
use super::program::{Decision, Dynamic, End, Program, SecretKind, Verify};

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Runnable {
    /// Its definition (fields, secret).
    pub scenario: Scenario,
    /// What the controller runs.
    pub program: Program,
}

impl Runnable {
    /// Whether the call reads the verification's code out, so that the
    /// merchant checks what the customer heard (`read_code`,
    /// `press_then_read`).
    pub fn reads_code(&self) -> bool {
        self.program.segments.iter().any(|segment| {
            segment
                .needs
                .iter()
                .any(|need| matches!(need, Dynamic::CodeDigits { .. }))
        })
    }

    /// Whether the customer keys in a code that the call checks.
    fn verifies_code(&self) -> bool {
        self.program.segments.iter().any(|segment| {
            matches!(
                &segment.end,
                End::Park(Decision::Collect {
                    verify: Some(Verify {
                        against: SecretKind::Code,
                        ..
                    }),
                    ..
                })
            )
        })
    }

    /// Whether the customer keys in a code shown by the merchant
    /// (`enter_code`): the code goes back in the create response. A code
    /// the call reads out is never shown.
    pub fn shows_code(&self) -> bool {
        self.verifies_code() && !self.reads_code()
    }

    /// Whether the call needs a one-time code at all.
    pub fn uses_code(&self) -> bool {
        self.program.secret == SecretKind::Code
    }

    /// Whether the customer keys in a registered PIN (`enter_pin`).
    pub fn checks_pin(&self) -> bool {
        self.program.secret == SecretKind::Pin
    }

    /// Whether the customer keys in the birth date the request gave
    /// (`enter_birthdate`).
    pub fn checks_birthdate(&self) -> bool {
        self.program.secret == SecretKind::Birthdate
    }

    /// Whether the call is recorded (`consent_record`): plans may not
    /// include recording.
    pub fn records(&self) -> bool {
        self.program.segments.iter().any(|segment| {
            segment
                .needs
                .iter()
                .any(|need| matches!(need, Dynamic::RecordingPath { .. }))
        })
    }
}

/// Every scenario offered, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    scenarios: BTreeMap<String, Runnable>,
}

impl Catalog {
    /// The catalog of validated scenarios, each compiled.
    pub fn new(scenarios: Vec<Scenario>) -> Catalog {
        Catalog {
            scenarios: scenarios
                .into_iter()
                .map(|scenario| {
                    let program = compile(&scenario);
                    (scenario.name().to_owned(), Runnable { scenario, program })
                })
                .collect(),
        }
    }

    /// A scenario by name.
    pub fn get(&self, name: &str) -> Option<&Runnable> {
        self.scenarios.get(name)
    }

    /// Every scenario, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Runnable> {
        self.scenarios.values()
    }

    /// The scenarios' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.scenarios.keys().map(String::as_str)
    }

    /// The definitions, for rendering the dialplan.
    pub fn definitions(&self) -> Vec<Scenario> {
        self.scenarios
            .values()
            .map(|r| r.scenario.clone())
            .collect()
    }
}
