//! The scenarios a running arsgate offers: each definition with the program
//! it compiles to, by name.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

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

    /// Whether the call speaks a text (`speak`: the node needs a TTS
    /// module).
    pub fn speaks(&self) -> bool {
        self.program.segments.iter().any(|segment| {
            segment
                .needs
                .iter()
                .any(|need| matches!(need, Dynamic::Text { .. }))
        })
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

/// Every scenario offered, by name. Clones share one catalog, which a
/// reload replaces whole: a call keeps the [`Runnable`] it started with
/// (an `Arc`), so new verifications use the new definitions while live
/// calls finish on theirs.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    scenarios: Arc<RwLock<Arc<Scenarios>>>,
    /// Scenarios a reload removed, as they last were: their calls under
    /// way still move through their segments, so the dialplan arsgate
    /// serves keeps them (until the next start).
    retired: Arc<RwLock<BTreeMap<String, Scenario>>>,
}

type Scenarios = BTreeMap<String, Arc<Runnable>>;

/// What replacing a catalog's scenarios changed, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogChanges {
    /// Scenarios that are new.
    pub added: Vec<String>,
    /// Scenarios whose definition changed.
    pub changed: Vec<String>,
    /// Scenarios no longer offered.
    pub removed: Vec<String>,
}

impl CatalogChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

fn compiled(scenarios: Vec<Scenario>) -> Scenarios {
    scenarios
        .into_iter()
        .map(|scenario| {
            let program = compile(&scenario);
            let name = scenario.name().to_owned();
            (name, Arc::new(Runnable { scenario, program }))
        })
        .collect()
}

impl Catalog {
    /// The catalog of validated scenarios, each compiled.
    pub fn new(scenarios: Vec<Scenario>) -> Catalog {
        Catalog {
            scenarios: Arc::new(RwLock::new(Arc::new(compiled(scenarios)))),
            retired: Arc::default(),
        }
    }

    fn now(&self) -> Arc<Scenarios> {
        Arc::clone(&self.scenarios.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A scenario by name, as it is now.
    pub fn get(&self, name: &str) -> Option<Arc<Runnable>> {
        self.now().get(name).cloned()
    }

    /// Every scenario, in name order.
    pub fn iter(&self) -> Vec<Arc<Runnable>> {
        self.now().values().cloned().collect()
    }

    /// The scenarios' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.now().keys().cloned().collect()
    }

    /// The definitions, for rendering the dialplan.
    pub fn definitions(&self) -> Vec<Scenario> {
        self.now().values().map(|r| r.scenario.clone()).collect()
    }

    /// The definitions the dialplan arsgate serves must hold: those
    /// offered, and those a reload removed (calls of theirs may still be
    /// under way).
    pub fn dialplan_definitions(&self) -> Vec<Scenario> {
        let mut definitions = self.definitions();
        let retired = self.retired.read().unwrap_or_else(|e| e.into_inner());
        definitions.extend(
            retired
                .values()
                .filter(|old| !definitions.iter().any(|d| d.name() == old.name()))
                .cloned()
                .collect::<Vec<_>>(),
        );
        definitions
    }

    /// What replacing the scenarios with `scenarios` would change (a
    /// definition counts as changed when any of it differs).
    pub fn changes(&self, scenarios: &[Scenario]) -> CatalogChanges {
        let now = self.now();
        let mut changes = CatalogChanges::default();
        for scenario in scenarios {
            match now.get(scenario.name()) {
                None => changes.added.push(scenario.name().to_owned()),
                Some(old) if format!("{:?}", old.scenario) != format!("{scenario:?}") => {
                    changes.changed.push(scenario.name().to_owned());
                }
                Some(_) => {}
            }
        }
        changes.removed = now
            .keys()
            .filter(|name| !scenarios.iter().any(|s| s.name() == name.as_str()))
            .cloned()
            .collect();
        changes
    }

    /// Offers `scenarios` (validated) from now on, in place of the
    /// current ones; calls under way keep what they started with.
    pub fn replace(&self, scenarios: Vec<Scenario>) {
        let next = Arc::new(compiled(scenarios));
        let previous = std::mem::replace(
            &mut *self.scenarios.write().unwrap_or_else(|e| e.into_inner()),
            Arc::clone(&next),
        );
        let mut retired = self.retired.write().unwrap_or_else(|e| e.into_inner());
        for (name, old) in previous.iter() {
            if !next.contains_key(name) {
                retired.insert(name.clone(), old.scenario.clone());
            }
        }
        retired.retain(|name, _| !next.contains_key(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load::parse_str;
    use crate::scenario::program::Language;
    use crate::scenario::prompts::PromptCatalog;

    /// A scenario `name` that plays `prompt`.
    fn scenario(name: &str, prompt: &str) -> Scenario {
        let prompts = PromptCatalog::from_names(
            "test",
            ["a", "b"]
                .into_iter()
                .flat_map(|p| Language::ALL.map(|language| (language, p.to_owned()))),
        );
        let yaml = format!(
            "name: {name}\ntitle: t\nmax_duration: 1m\nsteps:\n  - play: [{prompt}]\n  - result: completed\n"
        );
        parse_str(&yaml, "t.yaml", name, &prompts).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_replaced_catalog_serves_new_calls_and_keeps_what_was_taken() {
        let catalog = Catalog::new(vec![scenario("one", "a"), scenario("two", "a")]);
        let taken = catalog.get("one").expect("offered");
        let next = vec![scenario("one", "b"), scenario("three", "a")];
        assert_eq!(
            catalog.changes(&next),
            CatalogChanges {
                added: vec!["three".into()],
                changed: vec!["one".into()],
                removed: vec!["two".into()],
            }
        );
        catalog.replace(next);
        assert!(catalog.get("two").is_none(), "no new call of it");
        assert_ne!(catalog.get("one").expect("offered").program, taken.program);
        // A call under way keeps the program it took.
        assert_eq!(taken.program, compile(&scenario("one", "a")));
        // The removed one stays in the dialplan for its calls under way,
        // until it comes back.
        let served = |c: &Catalog| {
            let mut names: Vec<String> = c
                .dialplan_definitions()
                .iter()
                .map(|s| s.name().to_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(served(&catalog), ["one", "three", "two"]);
        catalog.replace(vec![scenario("two", "b")]);
        assert_eq!(served(&catalog), ["one", "three", "two"]);
        assert!(catalog.changes(&catalog.definitions()).is_empty());
    }
}
