//! Preprocessed XML → dialplan model, with the checks described in the module docs.

use roxmltree::{Document, Node};

use super::expand::{Resolver, c_atoi, expand};
use super::pcre::Matcher;
use super::preprocess::Preprocessed;
use super::{DialplanError, Location};

/// The element wrapped around the preprocessed text so that several
/// top-level `<context>`s form one document.
const ROOT: &str = "arsgate-dialplan-section";

/// FreeSWITCH stops evaluating conditions nested deeper than this (`MAX_RECUR`).
const MAX_NESTING: u32 = 100;

/// Condition attributes that make `switch_xml_std_datetime_check` test the clock.
const TIME_ATTRIBUTES: [&str; 14] = [
    "year",
    "yday",
    "mon",
    "mday",
    "week",
    "mweek",
    "wday",
    "hour",
    "minute",
    "minute-of-day",
    "time-of-day",
    "date-time",
    "tz-offset",
    "dst",
];

/// Which document shapes are accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
    /// The text is the body of the dialplan section (`conf/dialplan` files).
    SectionBody,
    /// Either a section body or a full `<document>`.
    Any,
}

/// A `<context>`.
#[derive(Debug, Clone)]
pub(super) struct Context {
    pub name: String,
    pub extensions: Vec<Extension>,
}

/// An `<extension>`; `continue_on_match` is its `continue` attribute.
#[derive(Debug, Clone)]
pub(super) struct Extension {
    pub name: Option<String>,
    pub continue_on_match: bool,
    pub conditions: Vec<Condition>,
}

impl Extension {
    /// The name FreeSWITCH uses for it.
    pub(super) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("UNKNOWN")
    }
}

/// A `<condition>` with what runs when it passes (`actions`) or fails (`anti_actions`).
#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub test: Test,
    pub on: Break,
    pub actions: Vec<Action>,
    pub anti_actions: Vec<Action>,
    pub nested: Vec<Condition>,
    /// `require-nested`: when false, nested conditions cannot fail the parent.
    pub require_nested: bool,
}

/// The `break` attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Break {
    OnFalse,
    OnTrue,
    Always,
    Never,
}

/// What a condition checks.
#[derive(Debug, Clone)]
pub(super) enum Test {
    /// `field`/`expression` attributes; no probe means "always true".
    Single(Option<Probe>),
    /// `regex="…"` with `<regex>` children; a child without probe always passes.
    Regex {
        mode: RegexMode,
        items: Vec<Option<Probe>>,
    },
}

/// The `regex` attribute: anything but `all` and `xor` means `any`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum RegexMode {
    All,
    Any,
    Xor,
}

/// A field matched against an expression.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    /// A caller-profile field name, or text with `$` to expand.
    pub field: String,
    pub expression: Expression,
}

/// A probe's expression, before or after expansion.
#[derive(Debug, Clone)]
pub(super) enum Expression {
    /// Expands the same on every channel: compiled once.
    Static {
        /// After expansion.
        text: String,
        /// Whether FreeSWITCH's expansion made a new string (see `expand`).
        expanded: bool,
        matcher: Matcher,
    },
    /// Depends on channel variables: expanded and compiled per hunt.
    Dynamic(String),
}

/// An `<action>` or `<anti-action>`.
#[derive(Debug, Clone)]
pub(super) struct Action {
    pub application: String,
    pub data: String,
    pub inline: bool,
    /// `loop="N"`: how many times it is queued (C `atoi`, negative → 0).
    pub repeat: u32,
}

/// `switch_true`.
pub(super) fn switch_true(value: &str) -> bool {
    const WORDS: [&str; 7] = ["yes", "on", "true", "t", "enabled", "active", "allow"];
    if WORDS.iter().any(|w| value.eq_ignore_ascii_case(w)) {
        return true;
    }
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    unsigned.chars().all(|c| c == '.' || c.is_ascii_digit()) && c_atoi(value) != 0
}

/// Parses the preprocessed text into contexts, in document order.
pub(super) fn contexts(source: &Preprocessed, shape: Shape) -> Result<Vec<Context>, DialplanError> {
    let prefix = format!("<{ROOT}>");
    let wrapped = format!("{prefix}{}\n</{ROOT}>", source.text);
    let doc = Document::parse(&wrapped).map_err(|e| {
        let pos = e.pos();
        let message = e.to_string();
        let message = message
            .rsplit_once(" at ")
            .map_or(message.as_str(), |(m, _)| m);
        DialplanError::Xml {
            at: Box::new(source.locate(pos.row, unwrapped_column(&prefix, pos))),
            message: message.replace(&format!("'{ROOT}'"), "the end of the document"),
        }
    })?;
    let reader = Reader {
        source,
        doc: &doc,
        prefix: &prefix,
        context: None,
        extension: None,
    };
    reader.read_section(doc.root_element(), shape)
}

/// The source column of a position in the wrapped text (the wrapper's start
/// tag shares the first line).
fn unwrapped_column(prefix: &str, pos: roxmltree::TextPos) -> u32 {
    if pos.row == 1 {
        let width = u32::try_from(prefix.len()).unwrap_or(u32::MAX);
        pos.col.saturating_sub(width).max(1)
    } else {
        pos.col
    }
}

/// Whether `text` uses the variables FreeSWITCH sets while hunting (we do not set them).
fn uses_hunt_variables(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    upper.contains("DP_MATCH") || upper.contains("DP_REGEX_MATCH")
}

/// Tells whether an expression's expansion depends on the channel.
#[derive(Default)]
struct Probing {
    touched: bool,
}

impl Resolver for Probing {
    type Error = ();
    fn variable(&mut self, _: &str) -> Option<String> {
        self.touched = true;
        None
    }
    fn api(&mut self, _: &str, _: &str) -> Result<Option<String>, ()> {
        Err(())
    }
}

struct Reader<'s, 'd> {
    source: &'s Preprocessed,
    doc: &'d Document<'d>,
    prefix: &'s str,
    context: Option<String>,
    extension: Option<String>,
}

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

/// All direct text and CDATA, concatenated as FreeSWITCH's parser does.
fn text_of(node: Node) -> String {
    node.children()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect()
}

impl Reader<'_, '_> {
    fn at(&self, node: Node) -> Box<Location> {
        let pos = self.doc.text_pos_at(node.range().start);
        Box::new(Location {
            context: self.context.clone(),
            extension: self.extension.clone(),
            ..self
                .source
                .locate(pos.row, unwrapped_column(self.prefix, pos))
        })
    }

    fn invalid(&self, node: Node, message: impl Into<String>) -> DialplanError {
        DialplanError::Invalid {
            at: self.at(node),
            message: message.into(),
        }
    }

    fn unsupported(&self, node: Node, message: impl Into<String>) -> DialplanError {
        DialplanError::Unsupported {
            at: self.at(node),
            message: message.into(),
        }
    }

    fn unexpected(&self, node: Node, parent: &str, allowed: &str) -> DialplanError {
        self.invalid(
            node,
            format!(
                "unexpected <{}> inside <{parent}>; FreeSWITCH reads only {allowed} there",
                node.tag_name().name()
            ),
        )
    }

    fn read_section(mut self, root: Node, shape: Shape) -> Result<Vec<Context>, DialplanError> {
        let document = elements(root).find(|n| n.has_tag_name("document"));
        let section = match (document, shape) {
            (Some(document), Shape::SectionBody) => {
                return Err(self.invalid(
                    document,
                    "a full <document> in a dialplan directory; FreeSWITCH includes these files inside its dialplan section, so they must be <include> wrappers",
                ));
            }
            (Some(document), Shape::Any) => {
                if let Some(other) = elements(root).find(|n| *n != document) {
                    return Err(self.invalid(other, "markup outside the <document> element"));
                }
                elements(document)
                    .find(|n| {
                        n.has_tag_name("section")
                            && n.attribute("name")
                                .is_some_and(|v| v.eq_ignore_ascii_case("dialplan"))
                    })
                    .ok_or_else(|| {
                        self.invalid(document, "no <section name=\"dialplan\"> in the document")
                    })?
            }
            (None, _) => root,
        };
        let mut contexts = Vec::new();
        for node in elements(section) {
            if !node.has_tag_name("context") {
                return Err(self.unexpected(node, "section", "<context>"));
            }
            contexts.push(self.read_context(node)?);
        }
        Ok(contexts)
    }

    fn read_context(&mut self, node: Node) -> Result<Context, DialplanError> {
        let Some(name) = node.attribute("name") else {
            return Err(self.invalid(node, "a <context> without a name can never be hunted"));
        };
        self.context = Some(name.to_owned());
        self.extension = None;
        let mut extensions = Vec::new();
        for child in elements(node) {
            if !child.has_tag_name("extension") {
                return Err(self.unexpected(child, "context", "<extension>"));
            }
            extensions.push(self.read_extension(child)?);
        }
        Ok(Context {
            name: name.to_owned(),
            extensions,
        })
    }

    fn read_extension(&mut self, node: Node) -> Result<Extension, DialplanError> {
        let name = node.attribute("name").map(str::to_owned);
        self.extension = Some(name.clone().unwrap_or_else(|| "UNKNOWN".to_owned()));
        let mut conditions = Vec::new();
        for child in elements(node) {
            if !child.has_tag_name("condition") {
                return Err(self.unexpected(child, "extension", "<condition>"));
            }
            conditions.push(self.read_condition(child, 0)?);
        }
        Ok(Extension {
            name,
            continue_on_match: node.attribute("continue").is_some_and(switch_true),
            conditions,
        })
    }

    /// Reads a condition at nesting `level` (0 directly in the extension).
    fn read_condition(&self, node: Node, level: u32) -> Result<Condition, DialplanError> {
        if level > MAX_NESTING {
            return Err(self.invalid(
                node,
                format!("conditions nested deeper than {MAX_NESTING} levels; FreeSWITCH stops evaluating them"),
            ));
        }
        self.reject_time(node)?;
        let on = match node
            .attribute("break")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("on-true") => Break::OnTrue,
            Some("always") => Break::Always,
            Some("never") => Break::Never,
            _ => Break::OnFalse,
        };
        let mode = node.attribute("regex").map(|r| {
            if r.eq_ignore_ascii_case("all") {
                RegexMode::All
            } else if r.eq_ignore_ascii_case("xor") {
                RegexMode::Xor
            } else {
                RegexMode::Any
            }
        });
        let mut actions = Vec::new();
        let mut anti_actions = Vec::new();
        let mut nested = Vec::new();
        let mut regexes = Vec::new();
        for child in elements(node) {
            match child.tag_name().name() {
                "action" => actions.push(self.read_action(child)?),
                "anti-action" => anti_actions.push(self.read_action(child)?),
                "condition" => nested.push(self.read_condition(child, level + 1)?),
                "regex" => regexes.push(child),
                "expression" => {}
                _ => {
                    return Err(self.unexpected(
                        child,
                        "condition",
                        "<action>, <anti-action>, <condition>, <regex> and <expression>",
                    ));
                }
            }
        }
        let test = match mode {
            Some(mode) => Test::Regex {
                mode,
                items: regexes
                    .into_iter()
                    .map(|r| self.read_regex(r))
                    .collect::<Result<_, _>>()?,
            },
            None if !regexes.is_empty() => {
                return Err(self.invalid(
                    regexes[0],
                    "<regex> children are ignored unless the condition has regex=\"all|any|xor\"",
                ));
            }
            None => Test::Single(self.read_probe(node)?),
        };
        Ok(Condition {
            test,
            on,
            actions,
            anti_actions,
            nested,
            require_nested: node.attribute("require-nested").is_none_or(switch_true),
        })
    }

    fn read_regex(&self, node: Node) -> Result<Option<Probe>, DialplanError> {
        self.reject_time(node)?;
        if let Some(child) = elements(node).find(|c| !c.has_tag_name("expression")) {
            return Err(self.unexpected(child, "regex", "<expression>"));
        }
        self.read_probe(node)
    }

    /// The `field` and expression of a condition or `<regex>`; the
    /// expression is only read when there is a field, like FreeSWITCH.
    fn read_probe(&self, node: Node) -> Result<Option<Probe>, DialplanError> {
        let Some(field) = node.attribute("field") else {
            return Ok(None);
        };
        let source = match elements(node).find(|c| c.has_tag_name("expression")) {
            Some(child) => text_of(child),
            None => node.attribute("expression").unwrap_or_default().to_owned(),
        };
        if uses_hunt_variables(field) || uses_hunt_variables(&source) {
            return Err(self.unsupported(node, "the DP_MATCH / DP_REGEX_MATCH_N variables"));
        }
        let mut probing = Probing::default();
        let expression = match expand(&source, &mut probing) {
            Ok(text) if !probing.touched => {
                let expanded = matches!(text, std::borrow::Cow::Owned(_));
                let matcher = Matcher::compile(&text).map_err(|message| DialplanError::Regex {
                    at: self.at(node),
                    expression: text.to_string(),
                    message,
                })?;
                Expression::Static {
                    text: text.into_owned(),
                    expanded,
                    matcher,
                }
            }
            _ => Expression::Dynamic(source),
        };
        Ok(Some(Probe {
            field: field.to_owned(),
            expression,
        }))
    }

    fn reject_time(&self, node: Node) -> Result<(), DialplanError> {
        match TIME_ATTRIBUTES
            .iter()
            .find(|a| node.attribute(**a).is_some())
        {
            Some(attribute) => Err(self.unsupported(
                node,
                format!("time-of-day conditions (attribute `{attribute}`)"),
            )),
            None => Ok(()),
        }
    }

    fn read_action(&self, node: Node) -> Result<Action, DialplanError> {
        if let Some(child) = elements(node).next() {
            return Err(self.unexpected(child, node.tag_name().name(), "text"));
        }
        let application = node.attribute("application").unwrap_or_default();
        if application.is_empty() {
            return Err(self.invalid(
                node,
                format!("<{}> without an application", node.tag_name().name()),
            ));
        }
        // Element text wins over the attribute whenever it is non-empty,
        // whitespace included, as in FreeSWITCH.
        let text = text_of(node);
        let data = if text.is_empty() {
            node.attribute("data").unwrap_or_default().to_owned()
        } else {
            text
        };
        if uses_hunt_variables(&data) {
            return Err(self.unsupported(node, "the DP_MATCH / DP_REGEX_MATCH_N variables"));
        }
        Ok(Action {
            application: application.to_owned(),
            data,
            inline: node.attribute("inline").is_some_and(switch_true),
            repeat: node
                .attribute("loop")
                .map_or(1, |n| u32::try_from(c_atoi(n)).unwrap_or(0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_true_like_freeswitch() {
        for yes in [
            "yes", "TRUE", "t", "On", "enabled", "active", "allow", "1", "-2", "1.5",
        ] {
            assert!(switch_true(yes), "{yes}");
        }
        for no in ["no", "false", "0", "", "0.5", "2x", "y"] {
            assert!(!switch_true(no), "{no}");
        }
    }
}
