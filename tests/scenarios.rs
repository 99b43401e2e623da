//! Scenario definitions: the shipped files pass the checks, every rule
//! refuses a broken file with a message that points at the file, the step
//! and the field, the compiled programs have the segment graphs they
//! should, and the committed dialplan is a fresh render that FreeSWITCH
//! (here: the simulator) can run.

mod common;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arsgate::esl::{Event, Message};
use arsgate::scenario::load::parse_str;
use arsgate::scenario::program::Dynamic;
use arsgate::scenario::render::{self, CONTEXT, RenderedFile};
use arsgate::scenario::{
    Decision, End, FieldError, Language, Program, PromptCatalog, Scenario, SecretKind, compile,
    load_dir,
};
use arsgate::sim::dialplan::{Dialplan, HuntChannel};
use arsgate::sim::phone::{Answer, Digits, DtmfGroup, DtmfTrigger, PhoneScript};
use common::raw::RawPeer;
use common::repo;

/// The prompts the shipped scenarios play, each in every language (and
/// `digits/0` to `digits/9`, which `say_code` reads). The sounds manifest
/// must list them all; the tests that are not about the audio itself
/// check the scenarios against this list.
const PROMPTS: &[&str] = &[
    "consent_agreed",
    "consent_declined",
    "consent_intro",
    "consent_press",
    "enter_birthdate",
    "enter_code",
    "enter_pin",
    "event_declined",
    "event_details",
    "event_joined",
    "event_offer",
    "failed",
    "goodbye",
    "greeting",
    "invalid_input",
    "no_input",
    "press_1_to_repeat",
    "press_5_for_code",
    "repeat_code",
    "verified",
    "wrong_code",
    "wrong_key",
    "wrong_birthdate",
    "wrong_pin",
    "your_code_is",
];

fn prompt_names() -> impl Iterator<Item = String> {
    PROMPTS
        .iter()
        .map(|p| (*p).to_owned())
        .chain((0..10).map(|d| format!("digits/{d}")))
}

/// A catalog of [`PROMPTS`].
fn expected_catalog() -> PromptCatalog {
    PromptCatalog::from_names(
        "the prompts the tests expect",
        prompt_names().flat_map(|name| Language::ALL.map(|l| (l, name.clone()))),
    )
}

/// A sounds directory whose manifest lists [`PROMPTS`], for the command
/// line.
fn expected_sounds() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = String::from("prompts:\n");
    for name in prompt_names() {
        manifest.push_str(&format!("  {name}:\n    ko: 가\n    en: a\n"));
    }
    std::fs::write(dir.path().join("manifest.yaml"), manifest).unwrap();
    dir
}

/// The prompts the repository's sounds manifest lists.
fn shipped_catalog() -> PromptCatalog {
    PromptCatalog::load(&repo("sounds"))
        .unwrap_or_else(|e| panic!("the prompt manifest the scenarios are checked against: {e}"))
}

fn shipped() -> Vec<Scenario> {
    load_dir(&repo("config/scenarios"), &expected_catalog()).unwrap_or_else(|e| panic!("{e}"))
}

fn shipped_program(name: &str) -> Program {
    let scenarios = shipped();
    let scenario = scenarios
        .iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no scenario {name}"));
    compile(scenario)
}

// ---------------------------------------------------------------------------
// The shipped scenarios.

#[test]
fn the_shipped_scenarios_pass_the_check() {
    let scenarios =
        load_dir(&repo("config/scenarios"), &shipped_catalog()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = scenarios.iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(
        names,
        [
            "consent_record",
            "enter_birthdate",
            "enter_code",
            "enter_pin",
            "event_optin",
            "press_then_read",
            "read_code"
        ]
    );
}

#[test]
fn scenarios_check_prints_a_summary_and_succeeds() {
    let sounds = expected_sounds();
    let output = Command::new(env!("CARGO_BIN_EXE_arsgate"))
        .args(["scenarios", "check", "--sounds"])
        .arg(sounds.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("arsgate runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.ends_with("7 scenarios in config/scenarios are valid\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("enter_code: 7 segments, entry enter_code__start"),
        "{stdout}"
    );
}

#[test]
fn scenarios_check_prints_one_line_per_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.yaml"),
        "name: one\ntitle: t\nmax_duration: 1m\nsteps:\n  - play: no_such_prompt\n  - goto: nowhere\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("two.yml"), "name: two\n").unwrap();
    let sounds = expected_sounds();
    let output = Command::new(env!("CARGO_BIN_EXE_arsgate"))
        .args(["scenarios", "check", "--sounds"])
        .arg(sounds.path())
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("arsgate runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].contains("one.yaml: steps[0]: play: unknown prompt `no_such_prompt` in ko, en")
    );
    assert!(lines[1].contains("one.yaml: steps[1]: goto: no step has the id `nowhere`"));
    assert!(lines[2].contains("two.yml: scenario files are named `<name>.yaml`"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 problems in"), "{stderr}");
}

// ---------------------------------------------------------------------------
// Every rule, with the message it gives.

/// Prompts the rule tests may use (in both languages, except `ko_only`).
fn test_catalog() -> PromptCatalog {
    let mut names = Vec::new();
    for name in [
        "greeting",
        "enter_code",
        "verified",
        "failed",
        "menu",
        "bye",
    ] {
        for language in Language::ALL {
            names.push((language, name.to_owned()));
        }
    }
    names.push((Language::Ko, "ko_only".to_owned()));
    PromptCatalog::from_names("test manifest", names)
}

/// The problems of `yaml` as a file `broken.yaml`, one line each.
fn problems(yaml: &str) -> Vec<String> {
    match parse_str(yaml, "broken.yaml", "broken", &test_catalog()) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.0.iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that `yaml` has exactly one problem, and that it reads `expected`.
fn refused(yaml: &str, expected: &str) {
    let found = problems(yaml);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(expected),
        "expected\n  {expected}\nfound\n  {}",
        found[0]
    );
}

const HEAD: &str = "name: broken\ntitle: a test\nsecret: code\nmax_duration: 1m\n";

/// A scenario with `HEAD` and these steps.
fn with_steps(steps: &str) -> String {
    format!("{HEAD}steps:\n{steps}")
}

const ASK: &str = "  - id: ask\n    collect: { prompt: enter_code, length: 6 }\n";
const CHECK: &str = "  - verify: { input: ask, against: code }\n";
const DONE: &str = "  - play: verified\n  - result: verified\n";

#[test]
fn a_valid_base_has_no_problems() {
    assert_eq!(
        problems(&with_steps(&format!("{ASK}{CHECK}{DONE}"))),
        Vec::<String>::new()
    );
}

#[test]
fn unknown_keys_are_errors() {
    refused(
        &with_steps(&format!(
            "  - play: greeting\n  - id: ask\n    collect: {{ prompt: enter_code, lenght: 6 }}\n{CHECK}{DONE}"
        )),
        "broken.yaml: steps[1] (id ask): collect.lenght: unknown field `lenght`, expected one of `prompt`, `length`,",
    );
    refused(
        &format!("{HEAD}colour: red\nsteps:\n{ASK}{CHECK}{DONE}"),
        "broken.yaml: colour: unknown field `colour`, expected one of `name`, `title`,",
    );
}

#[test]
fn values_of_the_wrong_type_are_errors() {
    refused(
        &with_steps(&format!(
            "  - id: ask\n    collect: {{ prompt: enter_code, length: six }}\n{CHECK}{DONE}"
        )),
        "broken.yaml: steps[0] (id ask): collect.length: invalid type: string \"six\", expected u32",
    );
}

#[test]
fn the_name_is_the_file_name() {
    refused(
        &format!(
            "name: other\ntitle: t\nsecret: code\nmax_duration: 1m\nsteps:\n{ASK}{CHECK}{DONE}"
        ),
        "broken.yaml: name: `other` must equal the file's name without `.yaml` (`broken`)",
    );
    let found = problems(&format!(
        "name: Bad__name\ntitle: t\nsecret: code\nmax_duration: 1m\nsteps:\n{ASK}{CHECK}{DONE}"
    ));
    assert!(
        found[0].contains("name: `Bad__name` is not a scenario name"),
        "{found:?}"
    );
}

#[test]
fn the_title_must_be_safe_in_a_comment() {
    refused(
        &format!(
            "name: broken\ntitle: \"<include>\"\nsecret: code\nmax_duration: 1m\nsteps:\n{ASK}{CHECK}{DONE}"
        ),
        "broken.yaml: title: must be one line of text without `<`",
    );
}

#[test]
fn max_duration_is_bounded() {
    refused(
        &format!(
            "name: broken\ntitle: t\nsecret: code\nmax_duration: 2h\nsteps:\n{ASK}{CHECK}{DONE}"
        ),
        "broken.yaml: max_duration: must be longer than zero and at most 1h, got 2h",
    );
}

#[test]
fn a_step_has_exactly_one_action() {
    refused(
        &with_steps(&format!("  - id: lonely\n{ASK}{CHECK}{DONE}")),
        "broken.yaml: steps[0] (id lonely): a step needs one action: one of play, say_code",
    );
    refused(
        &with_steps(&format!(
            "  - play: greeting\n    goto: ask\n{ASK}{CHECK}{DONE}"
        )),
        "broken.yaml: steps[0]: a step has exactly one action, this one has `play` and `goto`",
    );
}

#[test]
fn ids_are_unique_well_formed_and_not_reserved() {
    refused(
        &with_steps(&format!(
            "  - id: ask\n    play: greeting\n{ASK}{CHECK}{DONE}"
        )),
        "broken.yaml: steps[1] (id ask): id: `ask` is already the id of steps[0]",
    );
    refused(
        &with_steps(&format!(
            "  - id: step3\n    play: greeting\n{ASK}{CHECK}{DONE}"
        )),
        "broken.yaml: steps[0] (id step3): id: `step3` is reserved for generated segment names",
    );
    refused(
        &with_steps(&format!(
            "  - id: a__b\n    play: greeting\n{ASK}{CHECK}{DONE}"
        )),
        "broken.yaml: steps[0] (id a__b): id: `a__b` is not an id",
    );
}

#[test]
fn collects_and_menus_need_an_id() {
    refused(
        "name: broken\ntitle: t\nmax_duration: 1m\nsteps:\n  - collect: { prompt: enter_code, length: 6 }\n  - result: completed\n",
        "broken.yaml: steps[0]: id: a collect or menu step needs an id",
    );
}

#[test]
fn prompts_must_exist_in_every_language() {
    refused(
        &with_steps(&format!(
            "  - play: [greeting, ko_only]\n{ASK}{CHECK}{DONE}"
        )),
        "broken.yaml: steps[0]: play[1]: unknown prompt `ko_only` in en: the sounds manifest (test manifest) has no such prompt",
    );
    refused(
        &with_steps(&format!("  - play: Greeting.wav\n{ASK}{CHECK}{DONE}")),
        "broken.yaml: steps[0]: play: `Greeting.wav` is not a prompt name",
    );
}

#[test]
fn goto_must_name_an_existing_step() {
    refused(
        &with_steps(&format!(
            "  - id: ask\n    collect: {{ prompt: enter_code, length: 6, no_input: {{ goto: aks }} }}\n{CHECK}{DONE}"
        )),
        "broken.yaml: steps[0] (id ask): collect.no_input.goto: no step has the id `aks` (ids: ask)",
    );
}

#[test]
fn goto_may_not_enter_a_verify_step() {
    refused(
        &with_steps(&format!(
            "{ASK}  - id: judge\n    verify: {{ input: ask, against: code, wrong: {{ goto: judge }} }}\n{DONE}"
        )),
        "broken.yaml: steps[1] (id judge): verify.wrong.goto: `judge` is a verify step",
    );
}

#[test]
fn verify_comes_right_after_its_collect() {
    refused(
        &with_steps(&format!("{ASK}  - play: greeting\n{CHECK}{DONE}")),
        "broken.yaml: steps[2]: verify: must come right after the collect step whose digits it judges",
    );
    refused(
        &with_steps(&format!(
            "{ASK}  - verify: {{ input: greeting, against: code }}\n{DONE}"
        )),
        "broken.yaml: steps[1]: verify.input: `greeting` must name the collect step right before, `ask`",
    );
}

#[test]
fn verify_checks_the_scenarios_secret() {
    refused(
        &with_steps(&format!(
            "{ASK}  - verify: {{ input: ask, against: pin }}\n{DONE}"
        )),
        "broken.yaml: steps[1]: verify.against: verifies against `pin`, but the scenario's `secret` is `code`",
    );
    refused(
        &with_steps(&format!(
            "{ASK}  - verify: {{ input: ask, against: none }}\n{DONE}"
        )),
        "broken.yaml: steps[1]: verify.against: `none` cannot be verified: expected code, pin or birthdate",
    );
}

#[test]
fn the_secret_must_be_used() {
    refused(
        &with_steps("  - play: greeting\n  - result: completed\n"),
        "broken.yaml: secret: is `code` but no step uses it",
    );
    refused(
        "name: broken\ntitle: t\nmax_duration: 1m\nsteps:\n  - say_code: {}\n  - result: completed\n",
        "broken.yaml: steps[0]: say_code: reads the verification's code, but the scenario's `secret` is `none`",
    );
}

#[test]
fn menu_keys_are_dtmf_keys_given_once() {
    let menu = |options: &str| {
        with_steps(&format!(
            "{ASK}{CHECK}  - id: more\n    menu: {{ prompt: menu, options: {{ {options} }} }}\n  - result: verified\n"
        ))
    };
    refused(
        &menu("1: { result: verified }, \"a\": { result: verified }"),
        "broken.yaml: steps[2] (id more): menu.options.a: `a` is not a key: one of 0-9, \"*\" or \"#\"",
    );
    refused(
        &menu("1: { result: verified }, \"1\": { result: verified }"),
        "broken.yaml: steps[2] (id more): menu.options.1: key `1` is given twice",
    );
    refused(
        &menu(""),
        "broken.yaml: steps[2] (id more): menu.options: a menu needs at least one option",
    );
}

#[test]
fn results_are_scenario_results() {
    refused(
        &with_steps(&format!("{ASK}{CHECK}  - result: timeout\n")),
        "broken.yaml: steps[2]: result: `timeout` is not a scenario result (the call's fate decides it); expected one of verified, wrong_input, no_input, consented, declined, completed",
    );
    refused(
        &with_steps(&format!("{ASK}{CHECK}  - result: verifed\n")),
        "broken.yaml: steps[2]: result: `verifed` is not an outcome",
    );
}

#[test]
fn a_target_ends_with_goto_or_result() {
    let target = |target: &str| {
        with_steps(&format!(
            "  - id: ask\n    collect: {{ prompt: enter_code, length: 6, no_input: {target} }}\n{CHECK}{DONE}"
        ))
    };
    refused(
        &target("{ play: failed }"),
        "broken.yaml: steps[0] (id ask): collect.no_input: a target must end with `goto: <id>` or `result: <outcome>`",
    );
    refused(
        &target("{ goto: ask, result: no_input }"),
        "broken.yaml: steps[0] (id ask): collect.no_input: a target ends with either `goto` or `result`, not both",
    );
    refused(
        &target("{ record: start, result: no_input }"),
        "broken.yaml: steps[0] (id ask): collect.no_input.record: a target can only `record: stop`",
    );
}

#[test]
fn collect_settings_are_bounded() {
    let collect = |settings: &str| {
        with_steps(&format!(
            "  - id: ask\n    collect: {{ prompt: enter_code, {settings} }}\n{CHECK}{DONE}"
        ))
    };
    refused(
        &collect("length: 6, max: 8"),
        "broken.yaml: steps[0] (id ask): collect.length: give either `length` or `min`/`max`, not both",
    );
    refused(
        &collect("tries: 3"),
        "broken.yaml: steps[0] (id ask): collect: say how many digits to collect",
    );
    refused(
        &collect("min: 6, max: 4"),
        "broken.yaml: steps[0] (id ask): collect.max: digit counts must satisfy 1 <= min <= max <= 32, got min 6, max 4",
    );
    refused(
        &collect("length: 6, tries: 0"),
        "broken.yaml: steps[0] (id ask): collect.tries: must be between 1 and 10, got 0",
    );
    refused(
        &collect("length: 6, timeout: 500ms"),
        "broken.yaml: steps[0] (id ask): collect.timeout: must be between 1s and 60s",
    );
    refused(
        &collect("length: 6, terminator: x"),
        "broken.yaml: steps[0] (id ask): collect.terminator: `x` is not a terminator",
    );
    refused(
        &collect("length: 6, pattern: \"^(\\\\d{6}$\""),
        "broken.yaml: steps[0] (id ask): collect.pattern: is not a regular expression",
    );
    refused(
        &collect("length: 6, pattern: \"^\\\\d {6}$\""),
        "broken.yaml: steps[0] (id ask): collect.pattern: must be a regular expression without spaces",
    );
}

#[test]
fn speak_texts_use_declared_fields_in_every_language() {
    let speak = |fields: &str, speak: &str| {
        format!(
            "name: broken\ntitle: t\nmax_duration: 1m\nfields: [{fields}]\nsteps:\n  - speak: {speak}\n  - result: completed\n"
        )
    };
    refused(
        &speak(
            "{ name: bank, max_length: 10 }",
            "{ ko: \"{bank} {holder}\", en: \"{bank}\" }",
        ),
        "broken.yaml: steps[0]: speak.ko: unknown field `{holder}`: declare it under `fields` (declared: bank)",
    );
    refused(
        &speak("{ name: bank, max_length: 10 }", "{ ko: \"{bank}\" }"),
        "broken.yaml: steps[0]: speak: has no text in en: every language needs one",
    );
    refused(
        &speak(
            "{ name: bank, max_length: 10 }",
            "{ ko: \"{bank}, 동의\", en: \"{bank}\" }",
        ),
        "broken.yaml: steps[0]: speak.ko: `,` may not appear in a spoken text",
    );
    refused(
        &speak(
            "{ name: bank, max_length: 200 }",
            "{ ko: \"{bank} {bank}\", en: \"{bank}\" }",
        ),
        "broken.yaml: steps[0]: speak.ko: filled with the longest values the fields allow, the text could reach 1601 bytes",
    );
}

#[test]
fn fields_are_declared_once_used_and_well_formed() {
    let fields = |fields: &str| {
        format!(
            "name: broken\ntitle: t\nmax_duration: 1m\nfields: [{fields}]\nsteps:\n  - speak: {{ ko: \"{{bank}}\", en: \"{{bank}}\" }}\n  - result: completed\n"
        )
    };
    refused(
        &fields("{ name: bank, max_length: 10 }, { name: purpose, max_length: 10 }"),
        "broken.yaml: fields[1]: `purpose` is declared but no `speak` uses it",
    );
    refused(
        &fields("{ name: bank, max_length: 10 }, { name: bank, max_length: 10 }"),
        "broken.yaml: fields[1].name: `bank` is declared twice",
    );
    refused(
        &fields("{ name: bank, max_length: 0 }"),
        "broken.yaml: fields[0].max_length: must be between 1 and 200, got 0",
    );
    refused(
        &fields("{ name: bank, max_length: 10, pattern: \"[\" }"),
        "broken.yaml: fields[0].pattern: is not a regular expression",
    );
}

#[test]
fn every_step_can_run() {
    refused(
        &with_steps(&format!(
            "{ASK}{CHECK}{DONE}  - play: bye\n  - result: completed\n"
        )),
        "broken.yaml: steps[4]: this step can never run (nor can the step after it): no path leads to it",
    );
}

#[test]
fn every_path_ends_with_a_result() {
    refused(
        &with_steps(&format!("{ASK}{CHECK}  - play: verified\n")),
        "broken.yaml: steps[2]: the call can run past the last step without a result",
    );
    refused(
        &format!("name: broken\ntitle: t\nmax_duration: 1m\nsteps:\n{ASK}"),
        "broken.yaml: steps[0] (id ask): the call can run past the last step without a result",
    );
}

#[test]
fn a_recording_is_stopped_on_every_path() {
    let consent = |menu: &str| {
        format!(
            "name: broken\ntitle: t\nmax_duration: 1m\nsteps:\n  - record: start\n  - id: answer\n    menu: {{ prompt: menu, {menu} }}\n"
        )
    };
    let stopped = "no_input: { record: stop, result: no_input }, invalid_input: { record: stop, result: wrong_input }";
    refused(
        &consent(&format!(
            "options: {{ 1: {{ record: stop, result: consented }}, 2: {{ result: declined }} }}, {stopped}"
        )),
        "broken.yaml: steps[1] (id answer): menu.options.2: the call ends with `declined` while the recording is still running; add `record: stop` before it",
    );
    // The default targets end the call too.
    let found = problems(&consent(
        "options: { 1: { record: stop, result: consented }, 2: { record: stop, result: declined } }",
    ));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("menu.no_input: the call ends with `no_input` while the recording"));
    assert!(found[1].contains("menu.invalid_input: the call ends with `wrong_input` while"));
    refused(
        "name: broken\ntitle: t\nmax_duration: 1m\nsteps:\n  - record: stop\n  - result: completed\n",
        "broken.yaml: steps[0]: record: stops a recording, but on some path to here none is running",
    );
    refused(
        "name: broken\ntitle: t\nmax_duration: 1m\nsteps:\n  - record: start\n  - record: start\n  - record: stop\n  - result: completed\n",
        "broken.yaml: steps[1]: record: starts a recording while one is already running",
    );
}

#[test]
fn loops_must_wait_for_the_customer() {
    refused(
        &with_steps(&format!(
            "{ASK}{CHECK}  - id: again\n    play: verified\n  - goto: again\n"
        )),
        "broken.yaml: steps[3]: goto: loops back to `again` with no collect or menu in between",
    );
}

#[test]
fn files_and_directories_are_named_in_problems() {
    let dir = tempfile::tempdir().unwrap();
    let empty = load_dir(dir.path(), &test_catalog()).expect_err("empty");
    assert!(
        empty
            .to_string()
            .ends_with("holds no scenario files (`*.yaml`)"),
        "{empty}"
    );
    std::fs::write(dir.path().join("broken.yaml"), "name: [\n").unwrap();
    let broken = load_dir(dir.path(), &test_catalog()).expect_err("not YAML");
    let shown = broken.to_string();
    assert!(
        shown.starts_with(&dir.path().join("broken.yaml").display().to_string()),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------
// Compiled programs: the segment graph of each shipped scenario.

/// A program as lines `name [needs] -> end`, targets by segment name.
fn graph(program: &Program) -> Vec<String> {
    let name = |id| program.segment(id).name.clone();
    program
        .segments
        .iter()
        .map(|segment| {
            let needs: Vec<&str> = segment
                .needs
                .iter()
                .map(|n| match n {
                    Dynamic::CodeDigits { .. } => "code",
                    Dynamic::Text { .. } => "text",
                    Dynamic::RecordingPath { .. } => "recording",
                })
                .collect();
            let needs = if needs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", needs.join(", "))
            };
            let end = match &segment.end {
                End::Finish(outcome) => format!("finish {outcome}"),
                End::Park(Decision::Next(next)) => format!("next {}", name(*next)),
                End::Park(Decision::Collect {
                    var,
                    verify,
                    on_input,
                    on_no_input,
                    on_invalid,
                    ..
                }) => {
                    let verify = verify.as_ref().map_or(String::new(), |v| {
                        format!(
                            " verify {:?}x{} wrong {} exhausted {}",
                            v.against,
                            v.attempts,
                            name(v.wrong),
                            name(v.exhausted)
                        )
                    });
                    format!(
                        "collect {var}{verify} input {} none {} invalid {}",
                        name(*on_input),
                        name(*on_no_input),
                        name(*on_invalid)
                    )
                }
                End::Park(Decision::Menu {
                    var,
                    options,
                    on_no_input,
                    on_invalid,
                    ..
                }) => {
                    let options: Vec<String> = options
                        .iter()
                        .map(|(k, s)| format!("{k}:{}", name(*s)))
                        .collect();
                    format!(
                        "menu {var} {} none {} invalid {}",
                        options.join(" "),
                        name(*on_no_input),
                        name(*on_invalid)
                    )
                }
            };
            format!("{}{needs} -> {end}", segment.name)
        })
        .collect()
}

/// The applications of a segment, as `app data`.
fn actions(program: &Program, name: &str) -> Vec<String> {
    let segment = program
        .segments
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no segment {name}"));
    segment
        .actions
        .iter()
        .map(|a| format!("{} {}", a.app, a.data).trim_end().to_owned())
        .collect()
}

fn sound(name: &str) -> String {
    format!("playback ${{ars_sounds}}/${{ars_lang}}/{name}.wav")
}

#[test]
fn every_program_enters_without_call_data_and_names_extensions_after_itself() {
    for scenario in shipped() {
        let program = compile(&scenario);
        assert_eq!(program.scenario, scenario.name());
        let entry = program.segment(program.entry);
        assert_eq!(entry.name, "start");
        assert!(entry.needs.is_empty(), "{}", program.scenario);
        let mut names = BTreeSet::new();
        for segment in &program.segments {
            assert!(names.insert(segment.name.clone()), "{} twice", segment.name);
            assert_eq!(
                segment.extension,
                format!("{}__{}", program.scenario, segment.name)
            );
            let last = segment.actions.last().map(|a| a.app.as_str());
            match segment.end {
                End::Finish(_) => assert_eq!(last, Some("hangup")),
                End::Park(_) => assert_eq!(last, Some("park")),
            }
        }
    }
}

#[test]
fn read_code_reads_the_code_after_answer_and_offers_a_repeat() {
    let program = shipped_program("read_code");
    assert_eq!(program.secret, SecretKind::Code);
    assert_eq!(
        graph(&program),
        [
            "start -> next code",
            "code [code] -> menu ars_in_again 1:repeat none bye invalid bye",
            "repeat [code] -> next bye",
            "bye -> finish completed",
        ]
    );
    assert_eq!(
        actions(&program, "code"),
        [
            "playback ${ars_code_digits}".to_owned(),
            "set ars_code_heard=true".to_owned(),
            "play_and_get_digits 1 1 1 4000 none ${ars_sounds}/${ars_lang}/press_1_to_repeat.wav silence_stream://250 ars_in_again ^[1]$ 4000".to_owned(),
            "set ars_parked=${ars_state}".to_owned(),
            "park".to_owned(),
        ]
    );
}

#[test]
fn press_then_read_reads_the_code_only_after_the_key() {
    let program = shipped_program("press_then_read");
    assert_eq!(
        graph(&program),
        [
            "start -> menu ars_in_press 5:code none press__no_input invalid press__invalid",
            "code [code] -> next bye",
            "bye -> finish completed",
            "press__no_input -> finish no_input",
            "press__invalid -> finish wrong_input",
        ]
    );
    assert_eq!(
        actions(&program, "start")[1],
        "play_and_get_digits 1 1 3 5000 none ${ars_sounds}/${ars_lang}/press_5_for_code.wav ${ars_sounds}/${ars_lang}/wrong_key.wav ars_in_press ^[5]$ 5000"
    );
}

#[test]
fn enter_code_parks_for_the_verdict() {
    let program = shipped_program("enter_code");
    assert_eq!(program.secret, SecretKind::Code);
    assert_eq!(
        graph(&program),
        [
            "start -> next ask",
            "ask -> collect ars_in_ask verify Codex3 wrong ask__wrong exhausted ask__exhausted input verified none ask__no_input invalid ask__invalid",
            "verified -> finish verified",
            "ask__wrong -> next ask",
            "ask__exhausted -> finish wrong_input",
            "ask__no_input -> finish no_input",
            "ask__invalid -> finish wrong_input",
        ]
    );
    assert_eq!(
        actions(&program, "ask"),
        [
            r"play_and_get_digits 6 6 3 7000 # ${ars_sounds}/${ars_lang}/enter_code.wav ${ars_sounds}/${ars_lang}/invalid_input.wav ars_in_ask ^\d{6}$ 3000",
            "set ars_parked=${ars_state}",
            "park",
        ]
    );
    assert_eq!(
        actions(&program, "verified"),
        [sound("verified"), "hangup NORMAL_CLEARING".to_owned()]
    );
    assert_eq!(
        actions(&program, "ask__wrong"),
        [
            sound("wrong_code"),
            "set ars_parked=${ars_state}".to_owned(),
            "park".to_owned()
        ]
    );
}

#[test]
fn enter_pin_judges_a_pin_of_four_to_eight_digits() {
    let program = shipped_program("enter_pin");
    assert_eq!(program.secret, SecretKind::Pin);
    assert_eq!(
        graph(&program)[1],
        "ask -> collect ars_in_ask verify Pinx3 wrong ask__wrong exhausted ask__exhausted input verified none ask__no_input invalid ask__invalid"
    );
    assert!(actions(&program, "ask")[0].starts_with(r"play_and_get_digits 4 8 3 7000 # "));
    assert!(actions(&program, "ask")[0].contains(r" ars_in_ask ^\d{4,8}$ 3000"));
}

#[test]
fn enter_birthdate_judges_six_or_eight_digits_against_the_birthdate() {
    let program = shipped_program("enter_birthdate");
    assert_eq!(program.secret, SecretKind::Birthdate);
    assert!(program.fields.is_empty());
    assert_eq!(
        graph(&program)[1],
        "ask -> collect ars_in_ask verify Birthdatex3 wrong ask__wrong exhausted ask__exhausted input verified none ask__no_input invalid ask__invalid"
    );
    assert!(actions(&program, "ask")[0].starts_with(r"play_and_get_digits 6 8 3 7000 # "));
    assert!(actions(&program, "ask")[0].contains(r" ars_in_ask ^\d{6,8}$ 3000"));
    assert_eq!(
        actions(&program, "ask__wrong")[0],
        sound("wrong_birthdate"),
        "the wrong-entry prompt names the birth date"
    );
}

#[test]
fn consent_record_records_from_the_text_to_the_answer() {
    let program = shipped_program("consent_record");
    assert_eq!(program.secret, SecretKind::None);
    assert_eq!(
        program.fields,
        ["bank", "holder_name", "account_masked", "purpose"]
    );
    assert_eq!(
        graph(&program),
        [
            "start -> next consent",
            "consent [recording, text] -> menu ars_in_answer 1:answer__key_1 2:answer__key_2 none answer__no_input invalid answer__invalid",
            "answer__key_1 [recording] -> finish consented",
            "answer__key_2 [recording] -> finish declined",
            "answer__no_input [recording] -> finish no_input",
            "answer__invalid [recording] -> finish wrong_input",
        ]
    );
    assert_eq!(
        actions(&program, "consent")[..3],
        [
            "record_session ${ars_recording_path}".to_owned(),
            sound("consent_intro"),
            "speak ${ars_tts_engine}|${ars_tts_voice}|${ars_text_1}".to_owned(),
        ]
    );
    for key in [
        "answer__key_1",
        "answer__key_2",
        "answer__no_input",
        "answer__invalid",
    ] {
        assert_eq!(
            actions(&program, key)[0],
            "stop_record_session ${ars_recording_path}"
        );
    }
    let consent = program
        .segments
        .iter()
        .find(|s| s.name == "consent")
        .unwrap();
    let Some(Dynamic::Text { var, text }) = consent.needs.get(1) else {
        panic!("{:?}", consent.needs);
    };
    assert_eq!(var, "ars_text_1");
    let values = |field: &str| match field {
        "bank" => Some("OO은행"),
        "holder_name" => Some("홍길동"),
        "account_masked" => Some("000-1111-****-4444"),
        "purpose" => Some("자동이체 출금"),
        _ => None,
    };
    assert_eq!(
        text.fill(Language::Ko, values).unwrap(),
        "OO은행 예금주 홍길동 님의 계좌번호 000-1111-****-4444에서 자동이체 출금에 대한 동의를 요청합니다."
    );
}

#[test]
fn consent_record_takes_only_a_masked_account_number() {
    let scenarios = shipped();
    let consent = scenarios
        .iter()
        .find(|s| s.name() == "consent_record")
        .unwrap();
    // What a verification request's fields are checked with when it is
    // created.
    let account = consent
        .fields()
        .iter()
        .find(|f| f.name() == "account_masked")
        .expect("the account field");
    for masked in ["000-1111-**-22", "110-***-456789", "****-1234", "*"] {
        assert_eq!(account.check(masked), Ok(()), "{masked}");
    }
    for unmasked in ["000-1111-2222-33", "110123456789", "-", "000-1111-**-2a"] {
        assert_eq!(
            account.check(unmasked),
            Err(FieldError::Pattern {
                field: "account_masked".to_owned()
            }),
            "{unmasked}"
        );
    }
}

#[test]
fn event_optin_branches_and_comes_back() {
    let program = shipped_program("event_optin");
    assert_eq!(
        graph(&program),
        [
            "start -> next offer",
            "offer -> menu ars_in_offer 1:offer__key_1 2:offer__key_2 9:offer__key_9 none offer__no_input invalid offer__invalid",
            "offer__key_1 -> finish consented",
            "offer__key_2 -> finish declined",
            "offer__key_9 -> next offer",
            "offer__no_input -> finish no_input",
            "offer__invalid -> finish wrong_input",
        ]
    );
}

// ---------------------------------------------------------------------------
// The rendered dialplan.

/// The committed files under `dialplan/` that a render writes.
fn committed() -> Vec<RenderedFile> {
    let dir = repo("dialplan");
    let mut files = vec![PathBuf::from(format!("{CONTEXT}.xml"))];
    let mut scenario_files: Vec<PathBuf> = std::fs::read_dir(dir.join(CONTEXT))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| Path::new(CONTEXT).join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    scenario_files.sort();
    files.extend(scenario_files);
    files
        .into_iter()
        .map(|path| RenderedFile {
            text: std::fs::read_to_string(dir.join(&path)).unwrap_or_default(),
            path,
        })
        .collect()
}

#[test]
fn the_committed_dialplan_is_a_fresh_render() {
    let fresh = render::render(&shipped());
    let committed = committed();
    let paths = |files: &[RenderedFile]| files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    assert_eq!(
        paths(&committed),
        paths(&fresh),
        "dialplan/ is stale: run `arsgate dialplan render --out dialplan/`"
    );
    for (old, new) in committed.iter().zip(&fresh) {
        assert!(
            old.text == new.text,
            "dialplan/{} is stale: run `arsgate dialplan render --out dialplan/`",
            old.path.display()
        );
    }
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    assert_eq!(render::render(&shipped()), render::render(&shipped()));
}

/// A channel dialling one destination, for hunting.
struct Dialling(String);

impl HuntChannel for Dialling {
    fn profile_field(&self, name: &str) -> Option<String> {
        (name == "destination_number").then(|| self.0.clone())
    }

    fn variable(&self, _name: &str) -> Option<String> {
        None
    }

    fn execute_inline(&mut self, _application: &str, _data: &str) -> bool {
        true
    }
}

/// Prompt files an action plays, as `(path with ${ars_lang} left in)`.
fn prompt_files(data: &str) -> Vec<String> {
    let prefix = "${ars_sounds}/";
    let mut files = Vec::new();
    let mut rest = data;
    while let Some(start) = rest.find(prefix) {
        let tail = &rest[start + prefix.len()..];
        let end = tail.find([' ', '!']).unwrap_or(tail.len());
        files.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    files
}

#[test]
fn the_rendered_dialplan_is_well_formed_and_every_extension_is_reachable() {
    let dialplan = Dialplan::load_dir(&repo("dialplan")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dialplan.contexts().collect::<Vec<_>>(), [CONTEXT]);
    let mut extensions = 0;
    for file in committed() {
        roxmltree::Document::parse(&file.text)
            .unwrap_or_else(|e| panic!("dialplan/{}: {e}", file.path.display()));
        assert!(file.text.starts_with("<!-- Generated by arsgate"));
    }
    for scenario in shipped() {
        let program = compile(&scenario);
        for segment in &program.segments {
            let planned = dialplan
                .hunt(CONTEXT, &mut Dialling(segment.extension.clone()))
                .unwrap_or_else(|e| panic!("{}: {e}", segment.extension));
            assert!(
                planned.iter().all(|a| a.extension == segment.extension),
                "{} is shadowed: {planned:?}",
                segment.extension
            );
            let apps: Vec<(String, String)> = planned
                .into_iter()
                .map(|a| (a.application, a.data))
                .collect();
            let expected: Vec<(String, String)> = segment
                .actions
                .iter()
                .map(|a| (a.app.clone(), a.data.clone()))
                .collect();
            assert_eq!(apps, expected, "{}", segment.extension);
            extensions += 1;
        }
    }
    assert_eq!(extensions, 43);
    assert!(
        dialplan
            .hunt(CONTEXT, &mut Dialling("enter_code__nowhere".to_owned()))
            .is_err()
    );
}

#[test]
fn every_sound_the_dialplan_plays_exists_in_every_language() {
    let dialplan = Dialplan::load_dir(&repo("dialplan")).unwrap_or_else(|e| panic!("{e}"));
    let mut files = BTreeSet::new();
    for scenario in shipped() {
        for segment in compile(&scenario).segments {
            let planned = dialplan
                .hunt(CONTEXT, &mut Dialling(segment.extension))
                .unwrap_or_else(|e| panic!("{e}"));
            for action in planned {
                files.extend(prompt_files(&action.data));
                if action.data.contains("${ars_code_digits}") {
                    // arsgate reads the code from the digit prompts.
                    files.extend((0..10).map(|d| format!("${{ars_lang}}/digits/{d}.wav")));
                }
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    for file in &files {
        assert!(file.starts_with("${ars_lang}/"), "{file}");
        for language in Language::ALL {
            let path = repo("sounds").join(file.replace("${ars_lang}", language.code()));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
}

#[test]
fn dialplan_render_writes_the_files_and_removes_stale_ones() {
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(out.path().join(CONTEXT)).unwrap();
    std::fs::write(
        out.path().join(CONTEXT).join("gone.xml"),
        "<!-- Generated by arsgate from config/scenarios/gone.yaml -->\n",
    )
    .unwrap();
    std::fs::write(
        out.path().join(CONTEXT).join("mine.xml"),
        "<include>\n</include>\n",
    )
    .unwrap();
    let sounds = expected_sounds();
    let output = Command::new(env!("CARGO_BIN_EXE_arsgate"))
        .args(["dialplan", "render", "--out"])
        .arg(out.path())
        .arg("--sounds")
        .arg(sounds.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("arsgate runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("wrote ")).count(),
        8
    );
    assert!(stdout.contains("removed "), "{stdout}");
    assert!(!out.path().join(CONTEXT).join("gone.xml").exists());
    assert!(
        out.path().join(CONTEXT).join("mine.xml").exists(),
        "not generated: kept"
    );
    for file in render::render(&shipped()) {
        let written = std::fs::read_to_string(out.path().join(&file.path)).unwrap();
        assert_eq!(written, file.text, "{}", file.path.display());
    }
}

#[test]
fn dialplan_render_refuses_broken_scenarios() {
    let scenarios = tempfile::tempdir().unwrap();
    std::fs::write(
        scenarios.path().join("bad.yaml"),
        "name: bad\ntitle: t\nmax_duration: 1m\nsteps:\n  - play: greeting\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let sounds = expected_sounds();
    let output = Command::new(env!("CARGO_BIN_EXE_arsgate"))
        .args(["dialplan", "render", "-o"])
        .arg(out.path())
        .arg("--scenarios")
        .arg(scenarios.path())
        .arg("--sounds")
        .arg(sounds.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("arsgate runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("bad.yaml: steps[0]: the call can run past the last step"),
        "{stdout}"
    );
    assert!(!out.path().join("arsgate.xml").exists());
}

// ---------------------------------------------------------------------------
// The rendered dialplan running in the simulator.

fn keys_on_prompt(prompt: u32, digits: &str) -> DtmfGroup {
    DtmfGroup {
        trigger: DtmfTrigger::OnPrompt {
            prompt: NonZeroU32::new(prompt).unwrap(),
            delay: Duration::from_millis(200),
        },
        digits: Digits::try_from(digits.to_owned()).unwrap(),
        gap: Duration::from_millis(200),
        tone: Duration::from_millis(100),
    }
}

fn played(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Event(e) if e.name().as_str() == "PLAYBACK_START" => {
                e.header("Playback-File-Path").map(|p| p.to_string())
            }
            _ => None,
        })
        .collect()
}

fn event<'a>(messages: &'a [Message], name: &str) -> Option<&'a Event> {
    messages.iter().find_map(|m| match m {
        Message::Event(e) if e.name().as_str() == name => Some(e),
        _ => None,
    })
}

#[tokio::test]
async fn enter_code_runs_in_the_simulator_from_the_rendered_files() {
    let sounds = repo("sounds");
    let sim = common::start_sim(|c| {
        c.speed = 50.0;
        c.dialplan_dir = Some(repo("dialplan"));
    })
    .await;
    sim.set_phone(
        "01012345678",
        PhoneScript::Answer(Answer {
            after: Duration::from_millis(300),
            early_media: None,
            hangup_after: None,
            dtmf: vec![keys_on_prompt(2, "123456")],
        }),
    );
    let mut peer = RawPeer::authed(sim.addr(), "ClueCon").await;
    peer.send("event plain ALL\n\n").await;
    assert_eq!(peer.reply().await, "+OK event listener enabled plain");
    peer.send(&format!(
        "bgapi originate {{origination_uuid=sc-1,ars_sounds={},ars_lang=ko}}sofia/gateway/kt/01012345678 enter_code__start XML {CONTEXT}\n\n",
        sounds.display()
    ))
    .await;

    // The entry plays the greeting and parks: arsgate takes over.
    let seen = peer.collect_until("CHANNEL_PARK").await;
    let ko = |name: &str| {
        sounds
            .join("ko")
            .join(format!("{name}.wav"))
            .display()
            .to_string()
    };
    assert_eq!(played(&seen), [ko("greeting")]);
    let park = event(&seen, "CHANNEL_PARK").expect("parked");
    assert_eq!(
        park.header("Caller-Destination-Number").as_deref(),
        Some("enter_code__start")
    );

    // The controller moves the call to the collect segment.
    peer.send(&format!(
        "api uuid_transfer sc-1 enter_code__ask XML {CONTEXT}\n\n"
    ))
    .await;
    let seen = peer.collect_until("CHANNEL_PARK").await;
    assert_eq!(played(&seen), [ko("enter_code")]);
    let pagd = seen
        .iter()
        .find_map(|m| match m {
            Message::Event(e)
                if e.name().as_str() == "CHANNEL_EXECUTE_COMPLETE"
                    && e.application().as_deref() == Some("play_and_get_digits") =>
            {
                Some(e)
            }
            _ => None,
        })
        .expect("play_and_get_digits ran");
    assert_eq!(pagd.variable("ars_in_ask").as_deref(), Some("123456"));
    assert_eq!(pagd.variable("read_result").as_deref(), Some("success"));

    // Judged right: the result segment says so and hangs up.
    peer.send(&format!(
        "api uuid_transfer sc-1 enter_code__verified XML {CONTEXT}\n\n"
    ))
    .await;
    let seen = peer.collect_until("CHANNEL_HANGUP_COMPLETE").await;
    assert_eq!(played(&seen), [ko("verified")]);
    let hangup = event(&seen, "CHANNEL_HANGUP_COMPLETE").expect("hung up");
    assert_eq!(
        hangup
            .hangup_cause()
            .map(|c| c.name().to_owned())
            .as_deref(),
        Some("NORMAL_CLEARING")
    );
}

#[test]
fn the_catalog_knows_which_code_is_shown_read_or_checked() {
    let catalog = arsgate::scenario::Catalog::new(shipped());
    let kinds = |name: &str| {
        let r = catalog.get(name).unwrap();
        (
            r.reads_code(),
            r.shows_code(),
            r.uses_code(),
            r.checks_pin(),
            r.checks_birthdate(),
        )
    };
    assert_eq!(kinds("read_code"), (true, false, true, false, false));
    assert_eq!(kinds("press_then_read"), (true, false, true, false, false));
    assert_eq!(kinds("enter_code"), (false, true, true, false, false));
    assert_eq!(kinds("enter_pin"), (false, false, false, true, false));
    assert_eq!(kinds("enter_birthdate"), (false, false, false, false, true));
    assert_eq!(kinds("consent_record"), (false, false, false, false, false));
    assert_eq!(kinds("event_optin"), (false, false, false, false, false));
}
