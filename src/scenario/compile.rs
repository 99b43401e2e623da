//! A validated [`Scenario`] compiled into a [`Program`]: the dialplan
//! segments FreeSWITCH runs and, at the end of each, what the controller
//! decides.
//!
//! # Where segments split
//! The steps run in order inside a segment; a new segment starts
//! - at the first step (the entry, entered by originate);
//! - at every step some `goto` names;
//! - after a `collect` (after its `verify`, when one follows) and after a
//!   `menu`: their `play_and_get_digits` is followed by `park`, and the
//!   controller decides;
//! - in the entry only, before the first step that needs per-call data
//!   (`say_code`, `speak`, `record`): the entry is entered by originate,
//!   every other segment by the controller, which sets the data first;
//! - before every `result`, together with the `play`, `speak` and
//!   `record: stop` steps right before it: entering that segment is the
//!   moment the outcome is reached, and its prompts close the call.
//!
//! A target's inline steps (`record: stop`, `play`, `speak`) form a small
//! segment of their own, named `<step>__<role>`, ending with `park` (then
//! the goto's segment) or `hangup` (its result). A target without inline
//! steps leads straight to its goto's segment.
//!
//! # Names
//! The entry is always `start`, so a call always enters
//! `<scenario>__start`. Any other segment takes the id of its first step,
//! or without one `stepN` (`steps[N]`). Target segments are
//! `<owner>__<role>`: the collect's or menu's id, and `no_input`,
//! `invalid`, `wrong`, `exhausted` or `key_N` (`key_star`, `key_hash`).
//! The extension is `<scenario>__<segment>`.

use std::collections::{BTreeMap, BTreeSet};

use crate::switch::{MARK_VAR, PARKED_VAR};

use super::definition::{Check, Collect, Menu, Scenario, StepKind, Target, Then};
use super::model::RecordAction;
use super::outcome::Outcome;
use super::program::{
    Decision, DialplanAction, Dynamic, End, LocalizedText, Program, Segment, SegmentId, Verify,
};

/// The channel variable holding the `file_string://` that reads the code.
pub const CODE_DIGITS_VAR: &str = "ars_code_digits";

/// The channel variable set once the code has been read out in full.
pub const CODE_HEARD_VAR: &str = "ars_code_heard";
/// The channel variable holding the recording's path.
pub const RECORDING_PATH_VAR: &str = "ars_recording_path";
/// Prefix of the channel variables holding texts to speak (`ars_text_1` ...).
pub const TEXT_VAR_PREFIX: &str = "ars_text_";
/// Prefix of the channel variables collects and menus fill (`ars_in_<step>`).
pub const INPUT_VAR_PREFIX: &str = "ars_in_";
/// What `play_and_get_digits` plays after a failed try when the scenario
/// names no prompt (an argument cannot be empty).
const NO_PROMPT: &str = "silence_stream://250";

/// Compiles a validated scenario.
pub fn compile(scenario: &Scenario) -> Program {
    let starts = segment_starts(scenario);
    let mut compiler = Compiler {
        scenario,
        segments: Vec::new(),
        at_step: BTreeMap::new(),
        texts: 0,
    };
    // Every segment that starts at a step gets its id first, so that
    // decisions can point forward.
    let entry_parks = scenario.steps[0].kind.needs_call_data();
    if entry_parks {
        compiler.reserve("start".to_owned());
    }
    for &start in &starts {
        let name = match &scenario.steps[start].id {
            _ if start == 0 && !entry_parks => "start".to_owned(),
            Some(id) => id.clone(),
            None => format!("step{start}"),
        };
        let id = compiler.reserve(name);
        compiler.at_step.insert(start, id);
    }
    if entry_parks {
        let first = compiler.step_segment(0);
        compiler.fill(SegmentId(0), Vec::new(), Vec::new(), Ending::Next(first));
    }
    for &start in &starts {
        compiler.main_segment(start, &starts);
    }
    Program {
        scenario: scenario.name.clone(),
        secret: scenario.secret,
        fields: scenario.fields.iter().map(|f| f.name.clone()).collect(),
        max_duration: scenario.max_duration,
        entry: SegmentId(0),
        segments: compiler.segments,
    }
}

/// The step indices where segments start (see the module docs).
fn segment_starts(scenario: &Scenario) -> BTreeSet<usize> {
    let steps = &scenario.steps;
    let mut starts = BTreeSet::from([0]);
    let goto = |target: &Target, starts: &mut BTreeSet<usize>| {
        if let Then::Goto(j) = target.then {
            starts.insert(j);
        }
    };
    for (i, step) in steps.iter().enumerate() {
        match &step.kind {
            StepKind::Goto(j) => {
                starts.insert(*j);
            }
            StepKind::Collect(c) => {
                goto(&c.no_input, &mut starts);
                goto(&c.invalid_input, &mut starts);
                let verified =
                    matches!(steps.get(i + 1).map(|s| &s.kind), Some(StepKind::Verify(_)));
                if !verified && i + 1 < steps.len() {
                    starts.insert(i + 1);
                }
            }
            StepKind::Verify(v) => {
                goto(&v.wrong, &mut starts);
                goto(&v.exhausted, &mut starts);
                if i + 1 < steps.len() {
                    starts.insert(i + 1);
                }
            }
            StepKind::Menu(m) => {
                for (_, target) in &m.options {
                    goto(target, &mut starts);
                }
                goto(&m.no_input, &mut starts);
                goto(&m.invalid_input, &mut starts);
            }
            _ => {}
        }
    }
    // A result takes the closing steps right before it into its segment.
    for (r, step) in steps.iter().enumerate() {
        if let StepKind::Result(_) = step.kind {
            let mut k = r;
            while k > 0 && !starts.contains(&k) && steps[k - 1].kind.is_closing() {
                k -= 1;
            }
            starts.insert(k);
        }
    }
    // The entry runs before arsgate could set any per-call data.
    let entry_end = starts.range(1..).next().copied().unwrap_or(steps.len());
    if let Some(first) = (1..entry_end).find(|&j| steps[j].kind.needs_call_data()) {
        starts.insert(first);
    }
    starts
}

/// How a segment being built ends.
enum Ending {
    Next(SegmentId),
    Decide(Decision),
    Finish(Outcome),
}

struct Compiler<'a> {
    scenario: &'a Scenario,
    segments: Vec<Segment>,
    /// The segment starting at each step that starts one.
    at_step: BTreeMap<usize, SegmentId>,
    /// Texts numbered so far (`ars_text_N`).
    texts: usize,
}

impl Compiler<'_> {
    /// Adds a segment to be filled later.
    fn reserve(&mut self, name: String) -> SegmentId {
        let id = SegmentId(self.segments.len());
        self.segments.push(Segment {
            extension: format!("{}__{name}", self.scenario.name),
            name,
            needs: Vec::new(),
            actions: Vec::new(),
            end: End::Finish(Outcome::Error),
        });
        id
    }

    /// The segment starting at step `i`; validation and [`segment_starts`]
    /// make every step a decision or goto leads to start one.
    fn step_segment(&self, i: usize) -> SegmentId {
        self.at_step.get(&i).copied().unwrap_or(SegmentId(0))
    }

    /// Completes a reserved segment with its actions and end.
    fn fill(
        &mut self,
        id: SegmentId,
        mut actions: Vec<DialplanAction>,
        needs: Vec<Dynamic>,
        ending: Ending,
    ) {
        // The mark the call parks with, for a controller that takes it
        // over after a restart (see `crate::scenario::mark`).
        let parked = format!("{PARKED_VAR}=${{{MARK_VAR}}}");
        let end = match ending {
            Ending::Next(next) => {
                actions.push(action("set", &parked));
                actions.push(action("park", ""));
                End::Park(Decision::Next(next))
            }
            Ending::Decide(decision) => {
                actions.push(action("set", &parked));
                actions.push(action("park", ""));
                End::Park(decision)
            }
            Ending::Finish(outcome) => {
                actions.push(action("hangup", "NORMAL_CLEARING"));
                End::Finish(outcome)
            }
        };
        let segment = &mut self.segments[id.0];
        segment.actions = actions;
        segment.needs = needs;
        segment.end = end;
    }

    /// Builds the segment that starts at step `start`.
    fn main_segment(&mut self, start: usize, starts: &BTreeSet<usize>) {
        let scenario = self.scenario;
        let steps = &scenario.steps;
        let id = self.step_segment(start);
        let mut body = Body::default();
        let mut i = start;
        let ending = loop {
            if i != start && starts.contains(&i) {
                break Ending::Next(self.step_segment(i));
            }
            let Some(step) = steps.get(i) else {
                // Validation refuses paths that run past the last step.
                break Ending::Finish(Outcome::Error);
            };
            match &step.kind {
                StepKind::Play(prompts) => body.play(prompts),
                StepKind::SayCode => body.say_code(),
                StepKind::Speak(text) => body.speak(self.text_var(), text),
                StepKind::Record(action) => body.record(*action),
                StepKind::Collect(collect) => {
                    let owner = step.id.clone().unwrap_or_default();
                    let check = match steps.get(i + 1).map(|s| &s.kind) {
                        Some(StepKind::Verify(check)) => Some(check.as_ref()),
                        _ => None,
                    };
                    let after = if check.is_some() { i + 2 } else { i + 1 };
                    body.actions.push(collect_action(&owner, collect));
                    break Ending::Decide(self.collect(&owner, collect, check, after));
                }
                StepKind::Menu(menu) => {
                    let owner = step.id.clone().unwrap_or_default();
                    body.actions.push(menu_action(&owner, menu));
                    break Ending::Decide(self.menu(&owner, menu));
                }
                StepKind::Goto(j) => break Ending::Next(self.step_segment(*j)),
                StepKind::Result(outcome) => break Ending::Finish(*outcome),
                // Compiled with the collect right before it.
                StepKind::Verify(_) => {}
            }
            i += 1;
        };
        self.fill(id, body.actions, body.needs, ending);
    }

    fn collect(
        &mut self,
        owner: &str,
        collect: &Collect,
        check: Option<&Check>,
        after: usize,
    ) -> Decision {
        let verify = check.map(|check| Verify {
            against: check.against,
            attempts: check.attempts,
            wrong: self.target(&check.wrong, owner, "wrong"),
            exhausted: self.target(&check.exhausted, owner, "exhausted"),
        });
        Decision::Collect {
            step: owner.to_owned(),
            var: input_var(owner),
            verify,
            on_input: self.step_segment(after),
            on_no_input: self.target(&collect.no_input, owner, "no_input"),
            on_invalid: self.target(&collect.invalid_input, owner, "invalid"),
        }
    }

    fn menu(&mut self, owner: &str, menu: &Menu) -> Decision {
        let options = menu
            .options
            .iter()
            .map(|(key, target)| (*key, self.target(target, owner, &key_role(*key))))
            .collect();
        Decision::Menu {
            step: owner.to_owned(),
            var: input_var(owner),
            options,
            on_no_input: self.target(&menu.no_input, owner, "no_input"),
            on_invalid: self.target(&menu.invalid_input, owner, "invalid"),
        }
    }

    /// The segment a branch leads to.
    fn target(&mut self, target: &Target, owner: &str, role: &str) -> SegmentId {
        if let (false, Then::Goto(j)) = (target.has_inline_steps(), target.then) {
            return self.step_segment(j);
        }
        let id = self.reserve(format!("{owner}__{role}"));
        let mut body = Body::default();
        if target.record_stop {
            body.record(RecordAction::Stop);
        }
        body.play(&target.play);
        if let Some(text) = &target.speak {
            let var = self.text_var();
            body.speak(var, text);
        }
        let ending = match target.then {
            Then::Goto(j) => Ending::Next(self.step_segment(j)),
            Then::Result(outcome) => Ending::Finish(outcome),
        };
        self.fill(id, body.actions, body.needs, ending);
        id
    }

    fn text_var(&mut self) -> String {
        self.texts += 1;
        format!("{TEXT_VAR_PREFIX}{}", self.texts)
    }
}

/// The actions and per-call data of a segment being built.
#[derive(Default)]
struct Body {
    actions: Vec<DialplanAction>,
    needs: Vec<Dynamic>,
}

impl Body {
    fn need(&mut self, dynamic: Dynamic) {
        if !self.needs.contains(&dynamic) {
            self.needs.push(dynamic);
        }
    }

    fn play(&mut self, prompts: &[String]) {
        for prompt in prompts {
            self.actions.push(action("playback", &prompt_path(prompt)));
        }
    }

    fn say_code(&mut self) {
        self.actions
            .push(action("playback", &format!("${{{CODE_DIGITS_VAR}}}")));
        // Tells arsgate the code was read to its end: a customer who hangs
        // up after hearing it has what the call was for.
        self.actions
            .push(action("set", &format!("{CODE_HEARD_VAR}=true")));
        self.need(Dynamic::CodeDigits {
            var: CODE_DIGITS_VAR.to_owned(),
        });
    }

    fn speak(&mut self, var: String, text: &LocalizedText) {
        self.actions.push(action(
            "speak",
            &format!("${{ars_tts_engine}}|${{ars_tts_voice}}|${{{var}}}"),
        ));
        self.need(Dynamic::Text {
            var,
            text: text.clone(),
        });
    }

    fn record(&mut self, what: RecordAction) {
        let app = match what {
            RecordAction::Start => "record_session",
            RecordAction::Stop => "stop_record_session",
        };
        self.actions
            .push(action(app, &format!("${{{RECORDING_PATH_VAR}}}")));
        self.need(Dynamic::RecordingPath {
            var: RECORDING_PATH_VAR.to_owned(),
        });
    }
}

fn action(app: &str, data: &str) -> DialplanAction {
    DialplanAction {
        app: app.to_owned(),
        data: data.to_owned(),
    }
}

/// Where the switch finds a prompt: `ars_sounds` and `ars_lang` are set at
/// originate.
fn prompt_path(name: &str) -> String {
    format!("${{ars_sounds}}/${{ars_lang}}/{name}.wav")
}

/// One file string for several prompts (`play_and_get_digits` takes one).
fn file_string(prompts: &[String]) -> String {
    match prompts {
        [] => NO_PROMPT.to_owned(),
        [one] => prompt_path(one),
        many => format!(
            "file_string://{}",
            many.iter()
                .map(|p| prompt_path(p))
                .collect::<Vec<_>>()
                .join("!")
        ),
    }
}

fn input_var(owner: &str) -> String {
    format!("{INPUT_VAR_PREFIX}{owner}")
}

/// `play_and_get_digits <min> <max> <tries> <timeout> <terminators>
/// <prompt> <invalid> <var> <regex> <digit_timeout>`.
fn collect_action(owner: &str, c: &Collect) -> DialplanAction {
    action(
        "play_and_get_digits",
        &format!(
            "{} {} {} {} {} {} {} {} {} {}",
            c.min,
            c.max,
            c.tries,
            c.timeout.as_millis(),
            c.terminators,
            file_string(&c.prompt),
            file_string(&c.invalid),
            input_var(owner),
            c.regex,
            c.digit_timeout.as_millis(),
        ),
    )
}

/// One key, no terminator (so `#` and `*` can be options), the regex a
/// class of the option keys.
fn menu_action(owner: &str, m: &Menu) -> DialplanAction {
    let keys: String = m.options.iter().map(|(k, _)| *k).collect();
    action(
        "play_and_get_digits",
        &format!(
            "1 1 {} {} none {} {} {} ^[{keys}]$ {}",
            m.tries,
            m.timeout.as_millis(),
            file_string(&m.prompt),
            file_string(&m.invalid),
            input_var(owner),
            m.timeout.as_millis(),
        ),
    )
}

fn key_role(key: char) -> String {
    match key {
        '*' => "key_star".to_owned(),
        '#' => "key_hash".to_owned(),
        digit => format!("key_{digit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load::parse_str;
    use crate::scenario::program::Language;
    use crate::scenario::prompts::PromptCatalog;

    fn program(steps: &str) -> Program {
        let catalog = PromptCatalog::from_names(
            "test",
            ["a", "b", "c"]
                .into_iter()
                .flat_map(|name| Language::ALL.map(|language| (language, name.to_owned()))),
        );
        let fields = if steps.contains("{f}") {
            "fields: [{ name: f, max_length: 5 }]\n"
        } else {
            ""
        };
        let yaml = format!("name: t\ntitle: t\nmax_duration: 1m\n{fields}steps:\n{steps}");
        let scenario = parse_str(&yaml, "t.yaml", "t", &catalog).unwrap_or_else(|e| panic!("{e}"));
        compile(&scenario)
    }

    fn summary(program: &Program) -> Vec<String> {
        program
            .segments
            .iter()
            .map(|s| {
                let apps: Vec<&str> = s.actions.iter().map(|a| a.app.as_str()).collect();
                format!("{}: {}", s.name, apps.join(" "))
            })
            .collect()
    }

    const SPEAK: &str = "  - speak: { ko: \"{f}\", en: \"{f}\" }\n";

    #[test]
    fn an_entry_that_starts_with_call_data_parks_at_once() {
        let program = program(&format!("{SPEAK}  - result: completed\n"));
        assert_eq!(
            summary(&program),
            ["start: set park", "step0: speak hangup"]
        );
        assert_eq!(
            program.segment(program.entry).end,
            End::Park(Decision::Next(SegmentId(1)))
        );
        assert!(program.segment(program.entry).needs.is_empty());
    }

    #[test]
    fn the_entry_stops_before_call_data_and_results_take_their_closing_steps() {
        let program = program(&format!(
            "  - play: a\n{SPEAK}  - record: start\n  - play: b\n  - record: stop\n  - play: c\n  - result: completed\n"
        ));
        assert_eq!(
            summary(&program),
            [
                "start: playback set park",
                "step1: speak record_session set park",
                "step3: playback stop_record_session playback hangup",
            ]
        );
        assert_eq!(program.segments[2].end, End::Finish(Outcome::Completed));
        assert_eq!(
            program.segments[1].needs,
            [
                Dynamic::Text {
                    var: "ars_text_1".to_owned(),
                    text: LocalizedText {
                        templates: vec![
                            (Language::Ko, "{f}".to_owned()),
                            (Language::En, "{f}".to_owned())
                        ]
                    }
                },
                Dynamic::RecordingPath {
                    var: RECORDING_PATH_VAR.to_owned()
                }
            ]
        );
    }

    #[test]
    fn a_bare_goto_target_leads_straight_to_its_step() {
        let program = program(
            "  - id: m\n    menu: { prompt: [a, b], options: { 1: { goto: end }, \"#\": { play: c, goto: end } }, invalid: c }\n  - id: end\n    result: completed\n",
        );
        assert_eq!(
            summary(&program),
            [
                "start: play_and_get_digits set park",
                "end: hangup",
                "m__key_hash: playback set park",
                "m__no_input: hangup",
                "m__invalid: hangup",
            ]
        );
        let End::Park(Decision::Menu { options, .. }) = &program.segments[0].end else {
            panic!("{:?}", program.segments[0].end);
        };
        assert_eq!(options, &[('1', SegmentId(1)), ('#', SegmentId(2))]);
        assert_eq!(
            program.segments[0].actions[0].data,
            "1 1 3 5000 none file_string://${ars_sounds}/${ars_lang}/a.wav!${ars_sounds}/${ars_lang}/b.wav ${ars_sounds}/${ars_lang}/c.wav ars_in_m ^[1#]$ 5000"
        );
    }

    #[test]
    fn a_collect_without_verify_continues_with_the_next_step() {
        let program = program(
            "  - id: ask\n    collect: { prompt: a, min: 2, max: 4, terminator: none, timeout: 2s, digit_timeout: 1500ms }\n  - play: b\n  - result: completed\n",
        );
        assert_eq!(
            program.segments[0].actions[0].data,
            r"2 4 3 2000 none ${ars_sounds}/${ars_lang}/a.wav silence_stream://250 ars_in_ask ^\d{2,4}$ 1500"
        );
        assert_eq!(
            program.segments[0].end,
            End::Park(Decision::Collect {
                step: "ask".to_owned(),
                var: "ars_in_ask".to_owned(),
                verify: None,
                on_input: SegmentId(1),
                on_no_input: SegmentId(2),
                on_invalid: SegmentId(3),
            })
        );
        assert_eq!(program.segments[1].name, "step1");
    }
}
