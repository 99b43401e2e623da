//! From the file as written ([`model`](super::model)) to a [`Scenario`]:
//! every rule that one file must follow, each broken one reported as a
//! [`Problem`] that names the step and the field. The rules about paths
//! through the steps are in [`flow`](super::flow).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use regex::Regex;

use super::definition::{Check, Collect, Menu, Scenario, Step, StepKind, Target, Then};
use super::fields::{self, FieldSpec, MAX_TEXT_BYTES, Piece};
use super::flow;
use super::model::{
    CollectDef, FieldDef, MenuDef, Prompts, RecordAction, ScenarioDef, StepDef, TargetDef, Texts,
    VerifyDef,
};
use super::outcome::Outcome;
use super::problem::{Problem, StepRef};
use super::program::{Language, LocalizedText, SecretKind};
use super::prompts::PromptCatalog;

/// Tries a collect or menu gets when the file says nothing.
const DEFAULT_TRIES: u32 = 3;
/// Wait for the first digit of a collect.
const DEFAULT_COLLECT_TIMEOUT: Duration = Duration::from_secs(7);
/// Wait between digits of a collect.
const DEFAULT_DIGIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Wait for a menu's key.
const DEFAULT_MENU_TIMEOUT: Duration = Duration::from_secs(5);
/// What ends a collect's input early.
const DEFAULT_TERMINATOR: &str = "#";
/// Wrong entries a verify allows.
const DEFAULT_ATTEMPTS: u32 = 3;

/// The most digits one collect takes.
const MAX_DIGITS: u32 = 32;
/// The most tries of a collect or menu, and attempts of a verify.
const MAX_TRIES: u32 = 10;
/// FreeSWITCH raises shorter collect timeouts to one second.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest wait for a key.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest call a scenario may allow.
const MAX_CALL: Duration = Duration::from_secs(3600);
/// The longest value a request field may allow.
const MAX_FIELD_LENGTH: u32 = 200;
/// Bytes a UTF-8 character may take, to bound a filled text.
const MAX_CHAR_BYTES: usize = 4;

/// Step actions, in the order the README lists them.
const ACTIONS: &str = "play, say_code, speak, collect, menu, verify, record, goto, result";

/// Checks `def` (read from `file`, whose stem is `stem`) and builds the
/// scenario, or returns every problem found.
pub(crate) fn validate(
    def: ScenarioDef,
    file: &str,
    stem: &str,
    catalog: &PromptCatalog,
) -> Result<Scenario, Vec<Problem>> {
    let mut checker = Checker {
        file,
        catalog,
        problems: Vec::new(),
        refs: def
            .steps
            .iter()
            .enumerate()
            .map(|(index, s)| StepRef {
                index,
                id: s.id.clone(),
            })
            .collect(),
        ids: HashMap::new(),
        declared: BTreeMap::new(),
        used: BTreeSet::new(),
        secret: def.secret,
        secret_used: false,
        verify_steps: def
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.verify.is_some())
            .map(|(i, _)| i)
            .collect(),
    };
    checker.name(&def.name, stem);
    if !is_title(&def.title) {
        checker.at(
            None,
            "title",
            "must be one line of text without `<`, `>`, `&`, `$` or `X-PRE-PROCESS` \
             (it is copied into the dialplan's comments)",
        );
    }
    if def.max_duration.is_zero() || def.max_duration > MAX_CALL {
        checker.at(
            None,
            "max_duration",
            format!(
                "must be longer than zero and at most 1h, got {}",
                humantime::format_duration(def.max_duration)
            ),
        );
    }
    let declared = def.fields.len();
    let fields = checker.fields(def.fields);
    if def.steps.is_empty() {
        checker.at(None, "steps", "a scenario needs at least one step");
    }
    checker.ids(&def.steps);
    let previous: Vec<Option<(bool, Option<String>)>> = std::iter::once(None)
        .chain(
            def.steps
                .iter()
                .map(|s| Some((s.collect.is_some(), s.id.clone()))),
        )
        .collect();
    let mut steps = Vec::with_capacity(def.steps.len());
    for (index, step) in def.steps.into_iter().enumerate() {
        let id = step.id.clone();
        if let Some(kind) = checker.step(index, step, previous[index].as_ref()) {
            steps.push(Step { id, kind });
        }
    }
    if checker.secret != SecretKind::None && !checker.secret_used {
        checker.at(
            None,
            "secret",
            format!(
                "is `{}` but no step uses it (say_code or verify against {0}); set `secret: none`",
                secret_name(checker.secret)
            ),
        );
    }
    // With a broken declaration, indices would not match the file.
    let all_fields = fields.len() == declared;
    for (index, field) in fields.iter().enumerate().filter(|_| all_fields) {
        if !checker.used.contains(&field.name) {
            checker.at(
                None,
                format!("fields[{index}]"),
                format!("`{}` is declared but no `speak` uses it", field.name),
            );
        }
    }
    if !checker.problems.is_empty() {
        return Err(checker.problems);
    }
    let scenario = Scenario {
        name: def.name,
        title: def.title,
        secret: def.secret,
        fields,
        max_duration: def.max_duration,
        steps,
    };
    let problems = flow::check(&scenario, file);
    if problems.is_empty() {
        Ok(scenario)
    } else {
        Err(problems)
    }
}

struct Checker<'a> {
    file: &'a str,
    catalog: &'a PromptCatalog,
    problems: Vec<Problem>,
    refs: Vec<StepRef>,
    /// Valid ids and their step.
    ids: HashMap<String, usize>,
    /// Declared fields and their max_length.
    declared: BTreeMap<String, u32>,
    used: BTreeSet<String>,
    secret: SecretKind,
    secret_used: bool,
    verify_steps: BTreeSet<usize>,
}

impl Checker<'_> {
    fn at(&mut self, step: Option<usize>, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            step: step.and_then(|i| self.refs.get(i).cloned()),
            field: field.into(),
            message: message.into(),
        });
    }

    fn name(&mut self, name: &str, stem: &str) {
        if !is_name(name) {
            self.at(
                None,
                "name",
                format!(
                    "`{name}` is not a scenario name: 1 to 32 characters of a-z, 0-9 and `_`, \
                     starting with a letter, without `__`"
                ),
            );
        } else if name != stem {
            self.at(
                None,
                "name",
                format!("`{name}` must equal the file's name without `.yaml` (`{stem}`)"),
            );
        }
    }

    fn fields(&mut self, defs: Vec<FieldDef>) -> Vec<FieldSpec> {
        let mut specs: Vec<FieldSpec> = Vec::new();
        for (index, def) in defs.into_iter().enumerate() {
            let path = format!("fields[{index}]");
            let mut ok = true;
            if !fields::is_field_name(&def.name) {
                self.at(
                    None,
                    format!("{path}.name"),
                    format!(
                        "`{}` is not a field name: [a-z][a-z0-9_]*, at most 32 characters",
                        def.name
                    ),
                );
                ok = false;
            } else if self
                .declared
                .insert(def.name.clone(), def.max_length)
                .is_some()
            {
                self.at(
                    None,
                    format!("{path}.name"),
                    format!("`{}` is declared twice", def.name),
                );
                ok = false;
            }
            if def.max_length == 0 || def.max_length > MAX_FIELD_LENGTH {
                self.at(
                    None,
                    format!("{path}.max_length"),
                    format!(
                        "must be between 1 and {MAX_FIELD_LENGTH}, got {}",
                        def.max_length
                    ),
                );
                ok = false;
            }
            let pattern = match def
                .pattern
                .as_deref()
                .map(|p| Regex::new(&format!("^(?:{p})$")))
            {
                None => None,
                Some(Ok(regex)) => Some(regex),
                Some(Err(error)) => {
                    self.at(
                        None,
                        format!("{path}.pattern"),
                        format!("is not a regular expression: {error}"),
                    );
                    ok = false;
                    None
                }
            };
            if ok {
                specs.push(FieldSpec {
                    name: def.name,
                    max_length: def.max_length,
                    pattern,
                });
            }
        }
        specs
    }

    /// Checks every id and records the valid ones.
    fn ids(&mut self, steps: &[StepDef]) {
        for (index, step) in steps.iter().enumerate() {
            let Some(id) = &step.id else { continue };
            if !is_name(id) {
                self.at(
                    Some(index),
                    "id",
                    format!(
                        "`{id}` is not an id: 1 to 32 characters of a-z, 0-9 and `_`, \
                         starting with a letter, without `__`"
                    ),
                );
            } else if is_reserved(id) {
                self.at(
                    Some(index),
                    "id",
                    format!("`{id}` is reserved for generated segment names (`start`, `stepN`)"),
                );
            } else if let Some(first) = self.ids.get(id) {
                self.at(
                    Some(index),
                    "id",
                    format!("`{id}` is already the id of steps[{first}]"),
                );
            } else {
                self.ids.insert(id.clone(), index);
            }
        }
    }

    /// Checks one step; `previous` is (is a collect, id) of the step before.
    fn step(
        &mut self,
        i: usize,
        def: StepDef,
        previous: Option<&(bool, Option<String>)>,
    ) -> Option<StepKind> {
        let present: Vec<&str> = [
            ("play", def.play.is_some()),
            ("say_code", def.say_code.is_some()),
            ("speak", def.speak.is_some()),
            ("collect", def.collect.is_some()),
            ("menu", def.menu.is_some()),
            ("verify", def.verify.is_some()),
            ("record", def.record.is_some()),
            ("goto", def.goto.is_some()),
            ("result", def.result.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, here)| here.then_some(name))
        .collect();
        match present.as_slice() {
            [] => {
                self.at(
                    Some(i),
                    "",
                    format!("a step needs one action: one of {ACTIONS}"),
                );
                return None;
            }
            [_] => {}
            [first, rest @ ..] => {
                self.at(
                    Some(i),
                    "",
                    format!(
                        "a step has exactly one action, this one has `{first}` and `{}`; \
                         split it into several steps",
                        rest.join("`, `")
                    ),
                );
                return None;
            }
        }
        if (def.collect.is_some() || def.menu.is_some()) && def.id.is_none() {
            self.at(
                Some(i),
                "id",
                "a collect or menu step needs an id (it names the input in the call's timeline)",
            );
        }
        if let Some(prompts) = def.play {
            return self.prompts(i, "play", prompts).map(StepKind::Play);
        }
        if def.say_code.is_some() {
            if self.secret == SecretKind::Code {
                self.secret_used = true;
            } else {
                self.at(
                    Some(i),
                    "say_code",
                    format!(
                        "reads the verification's code, but the scenario's `secret` is `{}`; \
                         set `secret: code`",
                        secret_name(self.secret)
                    ),
                );
                return None;
            }
            return Some(StepKind::SayCode);
        }
        if let Some(texts) = def.speak {
            return self.texts(i, "speak", texts).map(StepKind::Speak);
        }
        if let Some(collect) = def.collect {
            let collect = self.collect(i, collect)?;
            return Some(StepKind::Collect(Box::new(collect)));
        }
        if let Some(menu) = def.menu {
            let menu = self.menu(i, menu)?;
            return Some(StepKind::Menu(Box::new(menu)));
        }
        if let Some(verify) = def.verify {
            let check = self.verify(i, verify, previous)?;
            return Some(StepKind::Verify(Box::new(check)));
        }
        if let Some(action) = def.record {
            return Some(StepKind::Record(action));
        }
        if let Some(goto) = def.goto {
            return self.goto(i, "goto", &goto).map(StepKind::Goto);
        }
        let result = def.result.unwrap_or_default();
        self.result(i, "result", &result).map(StepKind::Result)
    }

    fn prompts(&mut self, i: usize, path: &str, prompts: Prompts) -> Option<Vec<String>> {
        if prompts.0.is_empty() {
            self.at(Some(i), path, "needs at least one prompt");
            return None;
        }
        let single = prompts.0.len() == 1;
        let mut ok = true;
        for (n, name) in prompts.0.iter().enumerate() {
            let at = if single {
                path.to_owned()
            } else {
                format!("{path}[{n}]")
            };
            if !is_prompt_name(name) {
                self.at(
                    Some(i),
                    at,
                    format!(
                        "`{name}` is not a prompt name: a-z, 0-9 and `_`, in folders \
                         separated by `/` (as `digits/5`)"
                    ),
                );
                ok = false;
                continue;
            }
            let missing: Vec<&str> = Language::ALL
                .into_iter()
                .filter(|&l| !self.catalog.has(l, name))
                .map(Language::code)
                .collect();
            if !missing.is_empty() {
                self.at(
                    Some(i),
                    at,
                    format!(
                        "unknown prompt `{name}` in {}: the sounds manifest ({}) has no such prompt",
                        missing.join(", "),
                        self.catalog.origin()
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(prompts.0)
    }

    fn texts(&mut self, i: usize, path: &str, texts: Texts) -> Option<LocalizedText> {
        let mut ok = true;
        for language in Language::ALL {
            if !texts.contains_key(&language) {
                self.at(
                    Some(i),
                    path,
                    format!(
                        "has no text in {}: every language needs one",
                        language.code()
                    ),
                );
                ok = false;
            }
        }
        for (language, template) in &texts {
            let at = format!("{path}.{}", language.code());
            match fields::parse_template(template) {
                Err(message) => {
                    self.at(Some(i), at, message);
                    ok = false;
                }
                Ok(pieces) => {
                    let mut bytes = 0;
                    for piece in pieces {
                        match piece {
                            Piece::Text(text) => bytes += text.len(),
                            Piece::Field(field) if self.declared.contains_key(field) => {
                                self.used.insert(field.to_owned());
                            }
                            Piece::Field(field) => {
                                let declared: Vec<&str> =
                                    self.declared.keys().map(String::as_str).collect();
                                self.at(
                                    Some(i),
                                    at.clone(),
                                    format!(
                                        "unknown field `{{{field}}}`: declare it under `fields` \
                                         (declared: {})",
                                        list_or_none(&declared)
                                    ),
                                );
                                ok = false;
                            }
                        }
                    }
                    if bytes > MAX_TEXT_BYTES {
                        self.at(
                            Some(i),
                            at,
                            format!("is longer than {MAX_TEXT_BYTES} bytes"),
                        );
                        ok = false;
                    }
                }
            }
        }
        if ok {
            self.bound_filled_length(i, path, &texts);
        }
        ok.then(|| LocalizedText {
            templates: texts.into_iter().collect(),
        })
    }

    /// A filled text must fit a channel variable, whatever the values.
    fn bound_filled_length(&mut self, i: usize, path: &str, texts: &Texts) {
        for (language, template) in texts {
            let Ok(pieces) = fields::parse_template(template) else {
                continue;
            };
            let bytes: usize = pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Text(text) => text.len(),
                    Piece::Field(field) => {
                        let length = self.max_length(field);
                        length as usize * MAX_CHAR_BYTES
                    }
                })
                .sum();
            if bytes > MAX_TEXT_BYTES {
                self.at(
                    Some(i),
                    format!("{path}.{}", language.code()),
                    format!(
                        "filled with the longest values the fields allow, the text could reach \
                         {bytes} bytes, more than a channel variable's {MAX_TEXT_BYTES}; lower \
                         the fields' max_length"
                    ),
                );
            }
        }
    }

    fn max_length(&self, field: &str) -> u32 {
        self.declared.get(field).copied().unwrap_or(0)
    }

    fn collect(&mut self, i: usize, def: CollectDef) -> Option<Collect> {
        let prompt = self.prompts(i, "collect.prompt", def.prompt);
        let invalid = match def.invalid {
            Some(p) => self.prompts(i, "collect.invalid", p),
            None => Some(Vec::new()),
        };
        let lengths = self.lengths(i, def.length, def.min, def.max);
        let tries = self.tries(i, "collect.tries", def.tries, DEFAULT_TRIES);
        let timeout = self.timeout(i, "collect.timeout", def.timeout, DEFAULT_COLLECT_TIMEOUT);
        let digit_timeout = self.timeout(
            i,
            "collect.digit_timeout",
            def.digit_timeout,
            DEFAULT_DIGIT_TIMEOUT,
        );
        let terminators = self.terminators(i, def.terminator);
        let regex = match (def.pattern, lengths) {
            (Some(pattern), _) => self.pattern(i, pattern),
            (None, Some((min, max))) if min == max => Some(format!(r"^\d{{{min}}}$")),
            (None, Some((min, max))) => Some(format!(r"^\d{{{min},{max}}}$")),
            (None, None) => None,
        };
        let no_input = self.target(
            i,
            "collect.no_input",
            def.no_input,
            Then::Result(Outcome::NoInput),
        );
        let invalid_input = self.target(
            i,
            "collect.invalid_input",
            def.invalid_input,
            Then::Result(Outcome::WrongInput),
        );
        let (min, max) = lengths?;
        Some(Collect {
            min,
            max,
            tries: tries?,
            timeout: timeout?,
            digit_timeout: digit_timeout?,
            terminators: terminators?,
            regex: regex?,
            prompt: prompt?,
            invalid: invalid?,
            no_input: no_input?,
            invalid_input: invalid_input?,
        })
    }

    fn lengths(
        &mut self,
        i: usize,
        length: Option<u32>,
        min: Option<u32>,
        max: Option<u32>,
    ) -> Option<(u32, u32)> {
        let (min, max, field) = match (length, min, max) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                self.at(
                    Some(i),
                    "collect.length",
                    "give either `length` or `min`/`max`, not both",
                );
                return None;
            }
            (Some(n), None, None) => (n, n, "collect.length"),
            (None, min, Some(max)) => (min.unwrap_or(1), max, "collect.max"),
            (None, _, None) => {
                self.at(
                    Some(i),
                    "collect",
                    "say how many digits to collect: `length: 6`, or `max:` (and `min:`)",
                );
                return None;
            }
        };
        if min == 0 || min > max || max > MAX_DIGITS {
            self.at(
                Some(i),
                field,
                format!(
                    "digit counts must satisfy 1 <= min <= max <= {MAX_DIGITS}, got min {min}, \
                     max {max}"
                ),
            );
            return None;
        }
        Some((min, max))
    }

    fn tries(&mut self, i: usize, path: &str, value: Option<u32>, default: u32) -> Option<u32> {
        let n = value.unwrap_or(default);
        if n == 0 || n > MAX_TRIES {
            self.at(
                Some(i),
                path,
                format!("must be between 1 and {MAX_TRIES}, got {n}"),
            );
            return None;
        }
        Some(n)
    }

    fn timeout(
        &mut self,
        i: usize,
        path: &str,
        value: Option<Duration>,
        default: Duration,
    ) -> Option<Duration> {
        let d = value.unwrap_or(default);
        if d < MIN_TIMEOUT || d > MAX_TIMEOUT {
            self.at(
                Some(i),
                path,
                format!(
                    "must be between 1s and 60s (FreeSWITCH raises shorter waits to 1s), got {}",
                    humantime::format_duration(d)
                ),
            );
            return None;
        }
        Some(d)
    }

    fn terminators(&mut self, i: usize, value: Option<String>) -> Option<String> {
        let value = value.unwrap_or_else(|| DEFAULT_TERMINATOR.to_owned());
        let keys_ok = !value.is_empty()
            && value.chars().all(|c| c == '*' || c == '#')
            && value.chars().collect::<BTreeSet<_>>().len() == value.len();
        if value == "none" || keys_ok {
            Some(value)
        } else {
            self.at(
                Some(i),
                "collect.terminator",
                format!(
                    "`{value}` is not a terminator: write \"#\", \"*\", \"*#\" or none \
                     (quote `#` and `*`: YAML reads # as a comment)"
                ),
            );
            None
        }
    }

    fn pattern(&mut self, i: usize, pattern: String) -> Option<String> {
        if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
            self.at(
                Some(i),
                "collect.pattern",
                "must be a regular expression without spaces (play_and_get_digits splits its \
                 arguments on spaces)",
            );
            return None;
        }
        if pattern.contains("${") {
            self.at(
                Some(i),
                "collect.pattern",
                "may not contain `${` (FreeSWITCH would expand it)",
            );
            return None;
        }
        if let Err(error) = Regex::new(&pattern) {
            self.at(
                Some(i),
                "collect.pattern",
                format!("is not a regular expression: {error}"),
            );
            return None;
        }
        Some(pattern)
    }

    fn menu(&mut self, i: usize, def: MenuDef) -> Option<Menu> {
        let prompt = self.prompts(i, "menu.prompt", def.prompt);
        let invalid = match def.invalid {
            Some(p) => self.prompts(i, "menu.invalid", p),
            None => Some(Vec::new()),
        };
        let tries = self.tries(i, "menu.tries", def.tries, DEFAULT_TRIES);
        let timeout = self.timeout(i, "menu.timeout", def.timeout, DEFAULT_MENU_TIMEOUT);
        let mut ok = true;
        if def.options.0.is_empty() {
            self.at(Some(i), "menu.options", "a menu needs at least one option");
            ok = false;
        }
        let mut options = Vec::new();
        let mut seen = BTreeSet::new();
        for (key, target) in def.options.0 {
            let path = format!("menu.options.{key}");
            let mut chars = key.chars();
            let c = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
                _ => {
                    self.at(
                        Some(i),
                        path,
                        format!("`{key}` is not a key: one of 0-9, \"*\" or \"#\""),
                    );
                    ok = false;
                    continue;
                }
            };
            if !seen.insert(c) {
                self.at(Some(i), path, format!("key `{c}` is given twice"));
                ok = false;
                continue;
            }
            match self.target_def(i, &path, target) {
                Some(target) => options.push((c, target)),
                None => ok = false,
            }
        }
        let no_input = self.target(
            i,
            "menu.no_input",
            def.no_input,
            Then::Result(Outcome::NoInput),
        );
        let invalid_input = self.target(
            i,
            "menu.invalid_input",
            def.invalid_input,
            Then::Result(Outcome::WrongInput),
        );
        if !ok {
            return None;
        }
        Some(Menu {
            tries: tries?,
            timeout: timeout?,
            prompt: prompt?,
            invalid: invalid?,
            options,
            no_input: no_input?,
            invalid_input: invalid_input?,
        })
    }

    fn verify(
        &mut self,
        i: usize,
        def: VerifyDef,
        previous: Option<&(bool, Option<String>)>,
    ) -> Option<Check> {
        let collect = match previous {
            Some((true, Some(id))) => Some(id.clone()),
            Some((true, None)) => None, // reported on the collect step
            _ => {
                self.at(
                    Some(i),
                    "verify",
                    "must come right after the collect step whose digits it judges",
                );
                None
            }
        };
        let mut ok = collect.is_some();
        if let Some(collect) = &collect
            && def.input != *collect
        {
            self.at(
                Some(i),
                "verify.input",
                format!(
                    "`{}` must name the collect step right before, `{collect}`",
                    def.input
                ),
            );
            ok = false;
        }
        // A mismatch is reported here; the secret counts as used.
        self.secret_used = true;
        match def.against {
            SecretKind::None => {
                self.at(
                    Some(i),
                    "verify.against",
                    "`none` cannot be verified: expected code, pin or birthdate",
                );
                ok = false;
            }
            against if against != self.secret => {
                self.at(
                    Some(i),
                    "verify.against",
                    format!(
                        "verifies against `{}`, but the scenario's `secret` is `{}`",
                        secret_name(against),
                        secret_name(self.secret)
                    ),
                );
                ok = false;
            }
            _ => {}
        }
        let attempts = self.tries(i, "verify.attempts", def.attempts, DEFAULT_ATTEMPTS);
        let again = self
            .ids
            .get(&def.input)
            .copied()
            .map_or(Then::Result(Outcome::WrongInput), Then::Goto);
        let wrong = self.target(i, "verify.wrong", def.wrong, again);
        let exhausted = self.target(
            i,
            "verify.exhausted",
            def.exhausted,
            Then::Result(Outcome::WrongInput),
        );
        if !ok {
            return None;
        }
        Some(Check {
            against: def.against,
            attempts: attempts?,
            wrong: wrong?,
            exhausted: exhausted?,
        })
    }

    /// A branch target; `default` applies when the file gives none.
    fn target(
        &mut self,
        i: usize,
        path: &str,
        def: Option<TargetDef>,
        default: Then,
    ) -> Option<Target> {
        match def {
            Some(def) => self.target_def(i, path, def),
            None => Some(Target::bare(default)),
        }
    }

    fn target_def(&mut self, i: usize, path: &str, def: TargetDef) -> Option<Target> {
        let mut ok = true;
        if def.record == Some(RecordAction::Start) {
            self.at(
                Some(i),
                format!("{path}.record"),
                "a target can only `record: stop`; start recordings with a `record: start` step",
            );
            ok = false;
        }
        let play = match def.play {
            Some(p) => self.prompts(i, &format!("{path}.play"), p),
            None => Some(Vec::new()),
        };
        let speak = match def.speak {
            Some(t) => self.texts(i, &format!("{path}.speak"), t).map(Some),
            None => Some(None),
        };
        let then = match (def.goto, def.result) {
            (Some(_), Some(_)) => {
                self.at(
                    Some(i),
                    path,
                    "a target ends with either `goto` or `result`, not both",
                );
                None
            }
            (None, None) => {
                self.at(
                    Some(i),
                    path,
                    "a target must end with `goto: <id>` or `result: <outcome>`",
                );
                None
            }
            (Some(goto), None) => self.goto(i, &format!("{path}.goto"), &goto).map(Then::Goto),
            (None, Some(result)) => self
                .result(i, &format!("{path}.result"), &result)
                .map(Then::Result),
        };
        if !ok {
            return None;
        }
        Some(Target {
            record_stop: def.record == Some(RecordAction::Stop),
            play: play?,
            speak: speak?,
            then: then?,
        })
    }

    fn goto(&mut self, i: usize, path: &str, id: &str) -> Option<usize> {
        match self.ids.get(id).copied() {
            Some(target) if self.verify_steps.contains(&target) => {
                self.at(
                    Some(i),
                    path,
                    format!(
                        "`{id}` is a verify step, which runs only right after its collect; \
                         go to the collect step instead"
                    ),
                );
                None
            }
            Some(target) => Some(target),
            None => {
                let mut known: Vec<&str> = self.ids.keys().map(String::as_str).collect();
                known.sort_unstable();
                self.at(
                    Some(i),
                    path,
                    format!("no step has the id `{id}` (ids: {})", list_or_none(&known)),
                );
                None
            }
        }
    }

    fn result(&mut self, i: usize, path: &str, name: &str) -> Option<Outcome> {
        let results: Vec<&str> = Outcome::ALL
            .into_iter()
            .filter(|o| o.is_scenario_result())
            .map(Outcome::as_str)
            .collect();
        match Outcome::ALL.into_iter().find(|o| o.as_str() == name) {
            Some(outcome) if outcome.is_scenario_result() => Some(outcome),
            Some(_) => {
                self.at(
                    Some(i),
                    path,
                    format!(
                        "`{name}` is not a scenario result (the call's fate decides it); \
                         expected one of {}",
                        results.join(", ")
                    ),
                );
                None
            }
            None => {
                self.at(
                    Some(i),
                    path,
                    format!(
                        "`{name}` is not an outcome; expected one of {}",
                        results.join(", ")
                    ),
                );
                None
            }
        }
    }
}

/// `[a-z][a-z0-9_]{0,31}` without `__` or a trailing `_`: scenario names
/// and step ids, which join with `__` into extension names.
pub(crate) fn is_name(name: &str) -> bool {
    fields::is_field_name(name) && !name.contains("__") && !name.ends_with('_')
}

/// A title can be copied into an XML comment that FreeSWITCH's
/// preprocessor reads line by line.
fn is_title(title: &str) -> bool {
    !title.trim().is_empty()
        && !title
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>' | '&' | '$'))
        && !title.to_ascii_lowercase().contains("x-pre-process")
}

/// Names compiled segments use for steps without an id.
fn is_reserved(id: &str) -> bool {
    id == "start"
        || id
            .strip_prefix("step")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `greeting`, `digits/5`: path segments of a-z, 0-9 and `_`.
fn is_prompt_name(name: &str) -> bool {
    name.split('/').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

fn secret_name(secret: SecretKind) -> &'static str {
    match secret {
        SecretKind::None => "none",
        SecretKind::Code => "code",
        SecretKind::Pin => "pin",
        SecretKind::Birthdate => "birthdate",
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
