//! The simulator's XML dialplan: loads FreeSWITCH dialplan files and hunts
//! them for a channel as `mod_dialplan_xml` does.
//!
//! # Loading
//! [`Dialplan::load_dir`] sees a directory the way FreeSWITCH sees
//! `conf/dialplan/*.xml` included in its `dialplan` section; files are
//! `<include>` wrappers holding `<context>`s. [`Dialplan::parse_str`] also
//! accepts a full `<document type="freeswitch/xml">` with a
//! `<section name="dialplan">` (what mod_xml_curl returns). Both go through
//! FreeSWITCH's line-based preprocessor first (`$${global}`, `X-PRE-PROCESS`
//! `set`/`include`, dropped `<include>` lines; see `preprocess.rs`).
//! Contexts are looked up case-insensitively and the first context of a name
//! wins, as `switch_xml_find_child` does.
//!
//! # Hunting
//! [`Dialplan::hunt`] follows `dialplan_hunt`/`parse_exten`: an unknown
//! context falls back to a context named `global`; the channel variable
//! `auto_hunt` starts the hunt at the extension named like the destination
//! number; extensions are tried in order and the first that "proceeds" stops
//! the hunt unless it has `continue="true"`. Conditions are evaluated with
//! `break` (`on-false` by default, unknown values too), `regex="all|any|xor"`
//! with `<regex>` children, nested `<condition>`s with `require-nested`,
//! `<expression>` child elements, `loop="N"` on actions, anti-actions (an
//! extension whose anti-actions ran counts as matched, as in FreeSWITCH), and
//! `inline="true"` actions run at once through [`HuntChannel::execute_inline`].
//! Expressions and `${…}` fields are variable-expanded at hunt time; `$N`
//! captures are substituted into action data exactly as
//! `switch_perform_substitution` does (see `pcre.rs`), including its buffer
//! limit. FreeSWITCH's own quirks are kept, e.g. with `regex="any"` only an
//! unexpanded matching `<regex>` provides captures.
//!
//! # Stricter than FreeSWITCH
//! What FreeSWITCH would silently ignore or mis-read fails loading with an
//! error naming the file, line, context and extension: elements other than
//! the ones the hunter reads (`<context>` › `<extension>` › `<condition>` ›
//! `<action>`, `<anti-action>`, `<condition>`, `<regex>`, `<expression>`),
//! `<regex>` children without a `regex` attribute, actions without an
//! application, a context without a name, a full document in
//! [`Dialplan::load_dir`], markup sharing a line with `<include>`, and
//! expressions FreeSWITCH would reject. The XML parser is a conforming one:
//! bare `&` or `<` inside attribute values, which FreeSWITCH's parser lets
//! through, are errors.
//!
//! # Unsupported (fails loading or hunting with a clear error)
//! - Time-of-day conditions (`year`, `yday`, `mon`, `mday`, `week`, `mweek`,
//!   `wday`, `hour`, `minute`, `minute-of-day`, `time-of-day`, `date-time`,
//!   `tz-offset`, `dst`).
//! - The `DP_MATCH` / `DP_REGEX_MATCH_N` variables FreeSWITCH sets while hunting.
//! - PCRE features the `regex` crate lacks: look-ahead/look-behind,
//!   backreferences, atomic groups, possessive quantifiers, recursion,
//!   conditionals, `\K`, `\G`, `\Q…\E`, `\Z`, `\p{…}`, `(?#…)` comments. FreeSWITCH's
//!   vanilla `default.xml` uses a look-ahead (`^((?!6000)60\d{2})$`).
//! - API calls (`${cmd(args)}`) in a condition's field or expression, when
//!   hunting reaches them.
//! - `X-PRE-PROCESS` `exec`, `exec-set`, `stun-set`, `env-set`, and `include`
//!   from [`Dialplan::parse_str`] (there is no directory to include from).
//! - A `regex="xor"` condition whose last capturing `<regex>` failed while
//!   the condition passed: FreeSWITCH substitutes from freed match data there
//!   (undefined behaviour), so hunting stops with an error.
//!
//! - Conditions nested deeper than 100 levels (FreeSWITCH stops evaluating them).
//!
//! Expressions built from channel variables can only be compiled while
//! hunting; there a bad one stops the hunt with [`HuntError::Regex`].
//!
//! Known small differences: PCRE's `$` also matches before a final newline,
//! ours only at the very end; `${v[0]}` of a variable pushed once is empty
//! (we cannot tell it from a plain variable); a substitution truncated in the
//! middle of a UTF-8 character yields U+FFFD; FreeSWITCH cuts a converted
//! `_` pattern at 255 bytes, we do not.

mod expand;
mod hunt;
mod parse;
mod pcre;
mod preprocess;
#[cfg(test)]
mod testing;

use std::fmt;
use std::path::{Path, PathBuf};

pub use expand::expand_variables;

use parse::Context;
use preprocess::{Globals, Preprocessor};

/// All contexts loaded from a dialplan directory or document, ready to hunt.
#[derive(Debug, Clone)]
pub struct Dialplan {
    contexts: Vec<Context>,
    globals: Globals,
}

impl Dialplan {
    /// Loads every `*.xml` file directly in `dir` (sorted by file name), as
    /// FreeSWITCH sees them included in its `dialplan` section; `X-PRE-PROCESS`
    /// includes resolve relative to the including file.
    pub fn load_dir(dir: &Path) -> Result<Dialplan, DialplanError> {
        let mut pre = Preprocessor::default();
        pre.dir(dir)?;
        Dialplan::build(pre, parse::Shape::SectionBody)
    }

    /// Parses one XML document, either an `<include>` wrapper or a full
    /// `<document>`; `origin` names it in errors.
    pub fn parse_str(xml: &str, origin: &str) -> Result<Dialplan, DialplanError> {
        let mut pre = Preprocessor::default();
        pre.text(xml, origin)?;
        Dialplan::build(pre, parse::Shape::Any)
    }

    fn build(pre: Preprocessor, shape: parse::Shape) -> Result<Dialplan, DialplanError> {
        let source = pre.finish();
        let all = parse::contexts(&source, shape)?;
        // FreeSWITCH only ever finds the first context of a name.
        let mut contexts: Vec<Context> = Vec::with_capacity(all.len());
        for context in all {
            if !contexts
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&context.name))
            {
                contexts.push(context);
            }
        }
        Ok(Dialplan {
            contexts,
            globals: source.globals,
        })
    }

    /// The context names, in document order (each name once, as first written).
    pub fn contexts(&self) -> impl Iterator<Item = &str> {
        self.contexts.iter().map(|c| c.name.as_str())
    }

    /// Whether a context of this name exists (case-insensitive; the `global`
    /// fallback of [`Dialplan::hunt`] is not considered).
    pub fn has_context(&self, name: &str) -> bool {
        self.context(name).is_some()
    }

    /// A global variable set by `X-PRE-PROCESS cmd="set"` while loading; the
    /// simulator's variable lookup falls back to these, as FreeSWITCH's does.
    pub fn global_variable(&self, name: &str) -> Option<&str> {
        self.globals.get(name)
    }

    /// Hunts `context` for `channel` and returns the actions to run, in order.
    ///
    /// `Ok` with no actions means an extension matched with nothing to queue
    /// (only inline actions, say): FreeSWITCH then hangs up with
    /// NORMAL_CLEARING. `Err(HuntError::NoRoute)` means no extension matched
    /// or the context (and `global`) is unknown: NO_ROUTE_DESTINATION.
    pub fn hunt(
        &self,
        context: &str,
        channel: &mut dyn HuntChannel,
    ) -> Result<Vec<PlannedAction>, HuntError> {
        let found = self
            .context(context)
            .or_else(|| self.context("global"))
            .ok_or(HuntError::NoRoute)?;
        hunt::hunt(found, channel)
    }

    fn context(&self, name: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// What the hunter needs from a channel.
pub trait HuntChannel {
    /// A caller-profile field by the names `switch_caller_get_field_by_name`
    /// accepts (`destination_number`, `caller_id_name`, `caller_id_number`,
    /// `ani`, `aniii`, `rdnis`, `source`, `context`, `dialplan`,
    /// `network_addr`, `uuid`, `chan_name`, `username`, …), passed in lower
    /// case; `None` if unknown or unset.
    fn profile_field(&self, name: &str) -> Option<String>;

    /// A variable as `switch_channel_get_variable` resolves it: channel
    /// variable (case-insensitive name), else caller-profile field, else
    /// global variable (see [`Dialplan::global_variable`]).
    fn variable(&self, name: &str) -> Option<String>;

    /// Runs an `inline="true"` action now, so later conditions see its effect
    /// (`data` still holds its `${…}`; expanding it is the application's job,
    /// as in FreeSWITCH). Where FreeSWITCH refuses (an application that
    /// cannot run inline, an unknown one), emulate that and return `true`;
    /// return `false` only when the simulator cannot reproduce what
    /// FreeSWITCH would do, which stops the hunt with [`HuntError::Unsupported`].
    fn execute_inline(&mut self, application: &str, data: &str) -> bool;
}

/// One dialplan action to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAction {
    /// The application name (`answer`, `playback`, …).
    pub application: String,
    /// Its argument, with `$N` captures substituted as FreeSWITCH does at hunt
    /// time; `${var}` references are left for expansion at execution time.
    pub data: String,
    /// The name of the extension the action comes from (`UNKNOWN` if unnamed).
    pub extension: String,
}

/// Where something is in a dialplan source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file path, or the origin given to [`Dialplan::parse_str`].
    pub origin: String,
    /// 1-based line in that source.
    pub line: u32,
    /// 1-based column (in characters, after `$${…}` substitution).
    pub column: u32,
    /// The enclosing context, when inside one.
    pub context: Option<String>,
    /// The enclosing extension, when inside one.
    pub extension: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)?;
        match (&self.context, &self.extension) {
            (Some(c), Some(e)) => write!(f, " (context `{c}`, extension `{e}`)"),
            (Some(c), None) => write!(f, " (context `{c}`)"),
            _ => Ok(()),
        }
    }
}

/// Why a dialplan could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DialplanError {
    /// A file or directory could not be read (or is not UTF-8).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The text (after preprocessing) is not well-formed XML.
    #[error("{at}: malformed XML: {message}")]
    Xml {
        /// Where the parser stopped.
        at: Box<Location>,
        /// The parser's complaint.
        message: String,
    },
    /// A preprocessor directive or `$${…}` could not be honoured.
    #[error("{at}: preprocessor: {message}")]
    Preprocess {
        /// The offending line.
        at: Box<Location>,
        /// What is wrong.
        message: String,
    },
    /// The document is XML but not a dialplan FreeSWITCH would read as intended.
    #[error("{at}: {message}")]
    Invalid {
        /// The offending element.
        at: Box<Location>,
        /// What is wrong.
        message: String,
    },
    /// An expression that does not compile, or whose PCRE meaning cannot be reproduced.
    #[error("{at}: bad expression `{expression}`: {message}")]
    Regex {
        /// The condition or `<regex>` element.
        at: Box<Location>,
        /// The expression after variable expansion.
        expression: String,
        /// Why it is refused.
        message: String,
    },
    /// A FreeSWITCH feature the simulator does not implement.
    #[error("{at}: not supported by the simulator: {message}")]
    Unsupported {
        /// The element using it.
        at: Box<Location>,
        /// What is used.
        message: String,
    },
}

/// Why hunting produced no actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HuntError {
    /// No extension matched, or the context is unknown: FreeSWITCH hangs up
    /// with NO_ROUTE_DESTINATION.
    #[error("no route: no extension matched")]
    NoRoute,
    /// An expression built from channel variables does not compile.
    #[error(
        "context `{context}`, extension `{extension}`: bad expression `{expression}`: {message}"
    )]
    Regex {
        /// The context hunted.
        context: String,
        /// The extension being evaluated.
        extension: String,
        /// The expression after variable expansion.
        expression: String,
        /// Why it is refused.
        message: String,
    },
    /// Hunting reached something the simulator cannot reproduce.
    #[error(
        "context `{context}`, extension `{extension}`: not supported by the simulator: {message}"
    )]
    Unsupported {
        /// The context hunted.
        context: String,
        /// The extension being evaluated.
        extension: String,
        /// What was reached.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::testing::TestChannel;
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dialplan")
    }

    fn load(dir: &Path) -> Dialplan {
        match Dialplan::load_dir(dir) {
            Ok(plan) => plan,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse(xml: &str) -> Result<Dialplan, DialplanError> {
        Dialplan::parse_str(xml, "inline.xml")
    }

    fn rendered(result: Result<Vec<PlannedAction>, HuntError>) -> Result<Vec<String>, HuntError> {
        result.map(|actions| {
            actions
                .into_iter()
                .map(|a| format!("{}({})", a.application, a.data))
                .collect()
        })
    }

    #[test]
    fn arsgate_fixture() {
        let plan = load(&fixtures());
        assert_eq!(plan.contexts().collect::<Vec<_>>(), ["arsgate"]);
        let mut channel = TestChannel::dialling("otp_42");
        let actions = plan.hunt("arsgate", &mut channel);
        assert_eq!(
            actions,
            Ok(vec![
                PlannedAction {
                    application: "answer".into(),
                    data: String::new(),
                    extension: "otp_collect".into(),
                },
                PlannedAction {
                    application: "play_and_get_digits".into(),
                    data: r"6 6 3 7000 # file_string://prompts/enter_code.wav silence_stream://250 otp_digits ^\d{6}$ 3000".into(),
                    extension: "otp_collect".into(),
                },
                PlannedAction {
                    application: "park".into(),
                    data: String::new(),
                    extension: "otp_collect".into(),
                },
            ])
        );
        assert_eq!(
            channel
                .variables
                .get("arsgate_scenario")
                .map(String::as_str),
            Some("42")
        );
        let ok = plan.hunt("arsgate", &mut TestChannel::dialling("ok"));
        assert_eq!(
            rendered(ok),
            Ok(vec![
                "playback(ivr/ivr-thank_you_for_calling.wav)".into(),
                "hangup(NORMAL_CLEARING)".into()
            ])
        );
        assert_eq!(
            plan.hunt("arsgate", &mut TestChannel::dialling("other")),
            Err(HuntError::NoRoute)
        );
    }

    #[test]
    fn vanilla_style_directory_with_includes_and_globals() {
        let plan = load(&fixtures().join("vanilla"));
        assert_eq!(plan.contexts().collect::<Vec<_>>(), ["default", "public"]);
        assert_eq!(plan.global_variable("domain"), Some("example.test"));
        assert_eq!(
            plan.global_variable("HOLD_MUSIC"),
            Some("local_stream://moh")
        );

        let local = plan.hunt("default", &mut TestChannel::dialling("1005"));
        assert_eq!(
            rendered(local),
            Ok(vec![
                "hash(insert/${domain_name}-last_dial/${caller_id_number}/${destination_number})"
                    .into(),
                "export(RFC2822_DATE=${strftime(%a, %d %b %Y %T %z)})".into(),
                "export(dialed_extension=1005)".into(),
                "bind_meta_app(1 b s execute_extension::dx XML features)".into(),
                "set(transfer_ringback=local_stream://moh)".into(),
                "set(call_timeout=30)".into(),
                "bridge(user/${dialed_extension}@example.test)".into(),
                "answer()".into(),
                "bridge(loopback/app=voicemail:default ${domain_name} ${dialed_extension})".into(),
            ])
        );

        // The extension from default/01_example.xml is spliced in before `enum`.
        let known = TestChannel::dialling("9199").with_profile("caller_id_number", "1001");
        let mut known = known;
        let who = rendered(plan.hunt("default", &mut known)).map(|a| a[2..].to_vec());
        assert_eq!(
            who,
            Ok(vec![
                "log(INFO At least one of the conditions matched!)".into()
            ])
        );
        let who = rendered(plan.hunt("default", &mut TestChannel::dialling("9199")))
            .map(|a| a[2..].to_vec());
        assert_eq!(
            who,
            Ok(vec!["log(WARNING None of the conditions matched!)".into()])
        );

        let mut refer = TestChannel::dialling("callpark")
            .with_var("domain_name", "example.test")
            .with_var("sip_refer_to", "<sip:callpark@example.test;orbit=7>");
        let park = rendered(plan.hunt("default", &mut refer)).map(|a| a[2..].to_vec());
        assert_eq!(park, Ok(vec!["set(orbit=7)".into()]));

        // Nothing earlier matches 5555, so hunting reaches ${module_exists(mod_enum)}.
        let unmatched = plan.hunt("default", &mut TestChannel::dialling("5555"));
        assert!(
            matches!(unmatched, Err(HuntError::Unsupported { extension, .. }) if extension == "enum")
        );

        let mut inbound = TestChannel::dialling("1001");
        let public = rendered(plan.hunt("public", &mut inbound));
        assert_eq!(
            public,
            Ok(vec![
                "export(RFC2822_DATE=${strftime(%a, %d %b %Y %T %z)})".into(),
                "transfer(1001 XML default)".into()
            ])
        );
        assert_eq!(
            inbound.variables.get("outside_call").map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn full_document_shape() {
        let path = fixtures().join("shapes/document.xml");
        let xml = std::fs::read_to_string(&path).unwrap_or_default();
        let plan = Dialplan::parse_str(&xml, "document.xml");
        let plan = plan.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.contexts().collect::<Vec<_>>(), ["auth_scn"]);
        let mut channel = TestChannel::dialling("scn_42");
        let actions = rendered(plan.hunt("AUTH_SCN", &mut channel));
        assert_eq!(actions.map(|a| a.len()), Ok(3));
        assert_eq!(
            channel.inline,
            [("set".to_owned(), "tts_engine=flite".to_owned())]
        );
        let other = rendered(plan.hunt("auth_scn", &mut TestChannel::dialling("x")));
        assert_eq!(other, Ok(vec!["hangup(NO_ROUTE_DESTINATION)".into()]));
        // A directory holds section bodies: FreeSWITCH would nest this document.
        let err = Dialplan::load_dir(&fixtures().join("shapes")).err();
        assert!(
            matches!(err, Some(DialplanError::Invalid { message, .. }) if message.contains("<include> wrappers"))
        );
    }

    #[test]
    fn include_shape_from_a_string() {
        let xml = std::fs::read_to_string(fixtures().join("arsgate.xml")).unwrap_or_default();
        let plan = parse(&xml).unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.has_context("ARSGATE"));
        assert!(!plan.has_context("default"));
    }

    #[test]
    fn first_context_of_a_name_wins() {
        let xml = "<include>\n<context name=\"dup\"><extension name=\"first\"><condition><action application=\"one\"/></condition></extension></context>\n<context name=\"DUP\"><extension name=\"second\"><condition><action application=\"two\"/></condition></extension></context>\n</include>\n";
        let plan = parse(xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.contexts().collect::<Vec<_>>(), ["dup"]);
        assert_eq!(
            rendered(plan.hunt("Dup", &mut TestChannel::dialling("1"))),
            Ok(vec!["one()".into()])
        );
    }

    #[test]
    fn malformed_xml_names_file_and_line() {
        let err = Dialplan::load_dir(&fixtures().join("broken/malformed")).err();
        let Some(DialplanError::Xml { at, message }) = &err else {
            panic!("{err:?}");
        };
        assert!(at.origin.ends_with("broken/malformed/scenario.xml"), "{at}");
        assert_eq!(at.line, 6);
        assert!(message.contains("condition"), "{message}");
        let shown = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(shown.contains("scenario.xml:6:"), "{shown}");
    }

    #[test]
    fn bad_regex_names_file_context_and_extension() {
        let err = Dialplan::load_dir(&fixtures().join("broken/regex")).err();
        let shown = err.as_ref().map(ToString::to_string).unwrap_or_default();
        let Some(DialplanError::Regex {
            at,
            expression,
            message,
        }) = err
        else {
            panic!("{shown}");
        };
        assert!(at.origin.ends_with("broken/regex/scenario.xml"));
        assert_eq!(
            (at.line, at.context.as_deref(), at.extension.as_deref()),
            (7, Some("broken"), Some("lookahead"))
        );
        assert_eq!(expression, r"^((?!6000)60\d{2})$");
        assert!(message.contains("look-around"), "{message}");
        assert!(
            shown.contains("context `broken`, extension `lookahead`"),
            "{shown}"
        );
    }

    #[test]
    fn unsupported_and_invalid_constructs_fail_loading() {
        let wrap = |ext: &str| {
            format!(
                "<include>\n<context name=\"c\">\n<extension name=\"e\">\n{ext}\n</extension>\n</context>\n</include>\n"
            )
        };
        let cases = [
            (
                r#"<condition wday="2-6" hour="9-18"><action application="a"/></condition>"#,
                "wday",
            ),
            (
                r#"<condition regex="any"><regex field="a" expression="b" mon="1"/></condition>"#,
                "mon",
            ),
            (
                r#"<condition field="a" expression="b"><action application="set" data="x=${DP_MATCH}"/></condition>"#,
                "DP_MATCH",
            ),
            (
                r#"<condition field="${dp_regex_match_1}" expression="b"/>"#,
                "DP_MATCH",
            ),
            (
                r#"<condition><actoin application="a"/></condition>"#,
                "<actoin>",
            ),
            (
                r#"<condition><regex field="a" expression="b"/></condition>"#,
                "regex=\"all|any|xor\"",
            ),
            (
                r#"<condition><action data="x"/></condition>"#,
                "without an application",
            ),
            (
                r#"<condition><action application="a"><b/></action></condition>"#,
                "<b>",
            ),
            (
                r#"<condition field="a" expression="/unterminated"/>"#,
                "delimiter",
            ),
        ];
        for (ext, needle) in cases {
            let err = parse(&wrap(ext))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(needle), "{ext}: {err}");
            assert!(err.starts_with("inline.xml:4:"), "{ext}: {err}");
            assert!(err.contains("context `c`, extension `e`"), "{ext}: {err}");
        }
        let nameless = parse("<include>\n<context>\n</context>\n</include>\n")
            .err()
            .map(|e| e.to_string());
        assert!(nameless.is_some_and(|e| e.contains("without a name")));
        let stray = parse("<include>\n<extension name=\"x\"/>\n</include>\n")
            .err()
            .map(|e| e.to_string());
        assert!(stray.is_some_and(|e| e.contains("inline.xml:2:1") && e.contains("<extension>")));
        let deep = format!(
            "<include>\n<context name=\"c\"><extension name=\"e\">{}{}</extension></context>\n</include>\n",
            "<condition>".repeat(102),
            "</condition>".repeat(102)
        );
        let deep = parse(&deep).err().map(|e| e.to_string());
        assert!(deep.is_some_and(|e| e.contains("deeper than 100")));
        let unclosed = parse("<include>\n<context name=\"c\">\n</include>\n")
            .err()
            .map(|e| e.to_string());
        assert!(
            unclosed
                .as_deref()
                .is_some_and(|e| e.contains("the end of the document")),
            "{unclosed:?}"
        );
        let entity = parse("<include>\n<context name=\"c\" x=\"a&b\"/>\n</include>\n").err();
        assert!(matches!(entity, Some(DialplanError::Xml { at, .. }) if at.line == 2));
    }

    #[test]
    fn one_line_include_wrapper_is_refused() {
        let err = parse("<include><context name=\"x\"/></include>").err();
        assert!(
            matches!(err, Some(DialplanError::Preprocess { at, message }) if at.line == 1 && message.contains("<context name=\"x\"/>"))
        );
    }

    #[test]
    fn preprocessor_include_set_and_cycles_on_disk() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        };
        write(
            "a.xml",
            "<include>\n<X-PRE-PROCESS cmd=\"set\" data=\"greeting=hello\"/>\n<context name=\"a\">\n<X-PRE-PROCESS cmd=\"include\" data=\"a/*.xml\"/>\n</context>\n</include>\n",
        );
        write(
            "a/02_second.xml",
            "<include>\n<extension name=\"second\"><condition><action application=\"two\" data=\"$${greeting}\"/></condition></extension>\n</include>\n",
        );
        write(
            "a/01_first.xml",
            "<include>\n<extension name=\"first\" continue=\"true\"><condition><action application=\"one\"/></condition></extension>\n</include>\n",
        );
        write("a/.hidden.xml", "broken <<<\n");
        write(
            "b.xml",
            "<include>\n<context name=\"b\"><extension name=\"x\"><condition><action application=\"g\" data=\"$${greeting}\"/></condition></extension></context>\n</include>\n",
        );
        write("notes.txt", "not xml <<<\n");
        let plan = load(dir.path());
        assert_eq!(plan.contexts().collect::<Vec<_>>(), ["a", "b"]);
        let a = rendered(plan.hunt("a", &mut TestChannel::dialling("1")));
        assert_eq!(a, Ok(vec!["one()".into(), "two(hello)".into()]));
        // Globals set in an earlier file apply to later ones.
        let b = rendered(plan.hunt("b", &mut TestChannel::dialling("1")));
        assert_eq!(b, Ok(vec!["g(hello)".into()]));

        write(
            "c.xml",
            "<include>\n<X-PRE-PROCESS cmd=\"include\" data=\"c.xml\"/>\n</include>\n",
        );
        let err = Dialplan::load_dir(dir.path()).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("c.xml:2:1") && e.contains("deeper than 100")));

        let missing = Dialplan::load_dir(&dir.path().join("nope")).err();
        assert!(matches!(missing, Some(DialplanError::Io { .. })));
    }

    #[test]
    fn expand_variables_public_api() {
        let lookup = |name: &str| match name {
            "a" => Some("alpha".to_owned()),
            "g" => Some("from-globals".to_owned()),
            _ => None,
        };
        assert_eq!(
            expand_variables("${a}/${unknown}/$${g}/\\${a}", &lookup),
            "alpha//from-globals/${a}"
        );
    }
}
