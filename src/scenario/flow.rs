//! The rules about paths through a scenario's steps: every step can run,
//! every path ends with a result, a recording started is stopped on every
//! path before the call ends, and no loop repeats without waiting for the
//! customer.

use std::collections::{BTreeSet, VecDeque};

use super::definition::{Scenario, StepKind, Target, Then};
use super::model::RecordAction;
use super::outcome::Outcome;
use super::problem::{Problem, StepRef};

/// Where a path goes from a step.
#[derive(Clone, Copy)]
enum Dest {
    Step(usize),
    Result(Outcome),
    /// Past the last step.
    OffEnd,
}

/// One way out of a step: through a target (with its field path) or straight.
struct Edge<'a> {
    via: Option<(&'a Target, String)>,
    to: Dest,
}

/// Every way out of step `i`.
fn edges(scenario: &Scenario, i: usize) -> Vec<Edge<'_>> {
    let next = || Edge {
        via: None,
        to: if i + 1 < scenario.steps.len() {
            Dest::Step(i + 1)
        } else {
            Dest::OffEnd
        },
    };
    fn through(target: &Target, path: String) -> Edge<'_> {
        Edge {
            to: match target.then {
                Then::Goto(j) => Dest::Step(j),
                Then::Result(outcome) => Dest::Result(outcome),
            },
            via: Some((target, path)),
        }
    }
    match &scenario.steps[i].kind {
        StepKind::Play(_) | StepKind::SayCode | StepKind::Speak(_) | StepKind::Record(_) => {
            vec![next()]
        }
        StepKind::Collect(c) => vec![
            through(&c.no_input, "collect.no_input".to_owned()),
            through(&c.invalid_input, "collect.invalid_input".to_owned()),
            next(),
        ],
        StepKind::Verify(v) => vec![
            through(&v.wrong, "verify.wrong".to_owned()),
            through(&v.exhausted, "verify.exhausted".to_owned()),
            next(),
        ],
        StepKind::Menu(m) => m
            .options
            .iter()
            .map(|(key, target)| through(target, format!("menu.options.{key}")))
            .chain([
                through(&m.no_input, "menu.no_input".to_owned()),
                through(&m.invalid_input, "menu.invalid_input".to_owned()),
            ])
            .collect(),
        StepKind::Goto(j) => vec![Edge {
            via: None,
            to: Dest::Step(*j),
        }],
        StepKind::Result(outcome) => vec![Edge {
            via: None,
            to: Dest::Result(*outcome),
        }],
    }
}

/// Checks the paths of a scenario whose steps are otherwise valid.
pub(crate) fn check(scenario: &Scenario, file: &str) -> Vec<Problem> {
    let mut flow = Flow {
        scenario,
        file,
        problems: Vec::new(),
        seen: BTreeSet::new(),
    };
    let reached = flow.walk();
    flow.unreachable(&reached);
    flow.loops();
    flow.problems
}

struct Flow<'a> {
    scenario: &'a Scenario,
    file: &'a str,
    problems: Vec<Problem>,
    /// (step, field, message) already reported.
    seen: BTreeSet<(usize, String, String)>,
}

impl Flow<'_> {
    fn at(&mut self, i: usize, field: impl Into<String>, message: impl Into<String>) {
        let (field, message) = (field.into(), message.into());
        if self.seen.insert((i, field.clone(), message.clone())) {
            self.problems.push(Problem {
                file: self.file.to_owned(),
                step: Some(StepRef {
                    index: i,
                    id: self.scenario.steps[i].id.clone(),
                }),
                field,
                message,
            });
        }
    }

    /// Follows every path from the first step, with whether a recording
    /// runs; returns the steps reached.
    fn walk(&mut self) -> Vec<bool> {
        let scenario = self.scenario;
        let steps = &scenario.steps;
        let mut reached = vec![false; steps.len()];
        let mut visited = BTreeSet::new();
        let mut queue = VecDeque::from([(0usize, false)]);
        while let Some((i, recording)) = queue.pop_front() {
            if i >= steps.len() || !visited.insert((i, recording)) {
                continue;
            }
            reached[i] = true;
            let mut recording = recording;
            match steps[i].kind {
                StepKind::Record(RecordAction::Start) if recording => self.at(
                    i,
                    "record",
                    "starts a recording while one is already running (on some path to here)",
                ),
                StepKind::Record(RecordAction::Stop) if !recording => self.at(
                    i,
                    "record",
                    "stops a recording, but on some path to here none is running",
                ),
                _ => {}
            }
            if let StepKind::Record(action) = steps[i].kind {
                recording = action == RecordAction::Start;
            }
            for edge in edges(scenario, i) {
                let mut recording = recording;
                let field = match &edge.via {
                    Some((target, path)) => {
                        if target.record_stop {
                            if !recording {
                                self.at(
                                    i,
                                    format!("{path}.record"),
                                    "stops a recording, but on some path to here none is running",
                                );
                            }
                            recording = false;
                        }
                        path.clone()
                    }
                    None => String::new(),
                };
                match edge.to {
                    Dest::Step(j) => queue.push_back((j, recording)),
                    Dest::Result(outcome) if recording => self.at(
                        i,
                        field,
                        format!(
                            "the call ends with `{outcome}` while the recording is still \
                             running; add `record: stop` before it"
                        ),
                    ),
                    Dest::Result(_) => {}
                    Dest::OffEnd => self.at(
                        i,
                        field,
                        "the call can run past the last step without a result; end every \
                         path with `result:` or `goto:`",
                    ),
                }
            }
        }
        reached
    }

    /// Reports the first step of every run of steps no path reaches.
    fn unreachable(&mut self, reached: &[bool]) {
        let mut i = 0;
        while i < reached.len() {
            if reached[i] {
                i += 1;
                continue;
            }
            let run = reached[i..].iter().take_while(|r| !**r).count();
            let others = match run {
                1 => String::new(),
                2 => " (nor can the step after it)".to_owned(),
                n => format!(" (nor can the {} steps after it)", n - 1),
            };
            self.at(
                i,
                "",
                format!(
                    "this step can never run{others}: no path leads to it; give it an id and \
                     `goto` it, or remove it"
                ),
            );
            i += run;
        }
    }

    /// Reports loops that repeat without a collect or menu in between: the
    /// call would go round until its deadline.
    fn loops(&mut self) {
        let scenario = self.scenario;
        let steps = &scenario.steps;
        let waits = |i: usize| {
            matches!(
                steps[i].kind,
                StepKind::Collect(_) | StepKind::Menu(_) | StepKind::Verify(_)
            )
        };
        // Outside collects and menus every step has at most one way on.
        let single_next = |i: usize| match edges(scenario, i).first().map(|e| e.to) {
            Some(Dest::Step(j)) => Some(j),
            _ => None,
        };
        let mut reported = BTreeSet::new();
        for start in 0..steps.len() {
            if waits(start) {
                continue;
            }
            let mut path = vec![start];
            let mut i = start;
            while let Some(j) = single_next(i).filter(|&j| !waits(j)) {
                if let Some(pos) = path.iter().position(|&p| p == j) {
                    let cycle: BTreeSet<usize> = path[pos..].iter().copied().collect();
                    let blame = cycle
                        .iter()
                        .copied()
                        .find(|&k| matches!(steps[k].kind, StepKind::Goto(_)))
                        .unwrap_or(i);
                    if reported.insert(cycle) {
                        let to = steps[j]
                            .id
                            .as_deref()
                            .map_or_else(|| format!("steps[{j}]"), |id| format!("`{id}`"));
                        self.at(
                            blame,
                            "goto",
                            format!(
                                "loops back to {to} with no collect or menu in between: the \
                                 call would repeat until max_duration"
                            ),
                        );
                    }
                    break;
                }
                path.push(j);
                i = j;
            }
        }
    }
}
