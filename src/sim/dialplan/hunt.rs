//! Hunting a context: `dialplan_hunt` and `parse_exten` of mod_dialplan_xml.
//!
//! `proceed` mirrors FreeSWITCH's variable of that name: it is the match
//! count of the last evaluation (or 1 for an absolute condition or after
//! anti-actions), it outlives a single condition, it gates nested
//! conditions, and an extension "matched" when it ends non-zero.

use super::expand::{Resolver, expand};
use super::parse::{
    Action, Break, Condition, Context, Expression, Probe, RegexMode, Test, switch_true,
};
use super::pcre::{Match, Matcher, substitute};
use super::{HuntChannel, HuntError, PlannedAction};

pub(super) fn hunt(
    context: &Context,
    channel: &mut dyn HuntChannel,
) -> Result<Vec<PlannedAction>, HuntError> {
    let mut start = 0;
    if channel
        .variable("auto_hunt")
        .is_some_and(|v| switch_true(&v))
    {
        // Without a destination number FreeSWITCH's lookup walks no extension at all.
        let destination = channel
            .profile_field("destination_number")
            .ok_or(HuntError::NoRoute)?;
        start = context
            .extensions
            .iter()
            .position(|e| {
                e.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&destination))
            })
            .unwrap_or(0);
    }
    let mut hunter = Hunter {
        channel,
        context: &context.name,
        extension: "",
        actions: Vec::new(),
        created: false,
    };
    for extension in &context.extensions[start..] {
        hunter.extension = extension.label();
        let proceed = hunter.conditions(&extension.conditions, true)?;
        if proceed > 0 && !extension.continue_on_match {
            break;
        }
    }
    // FreeSWITCH creates its caller extension on the first action or
    // anti-action met, inline ones included; without one there is no route.
    if hunter.created {
        Ok(hunter.actions)
    } else {
        Err(HuntError::NoRoute)
    }
}

struct Hunter<'a> {
    channel: &'a mut dyn HuntChannel,
    context: &'a str,
    extension: &'a str,
    actions: Vec<PlannedAction>,
    created: bool,
}

/// Where `$N` in action data comes from after a condition passed.
enum Captures {
    /// No substitution: no field, no `(` in the expression, or FreeSWITCH
    /// lost track of the expression.
    Off,
    /// Substitute from this match; `field_len` sizes FreeSWITCH's buffer.
    From { found: Match, field_len: usize },
    /// FreeSWITCH would substitute from freed match data.
    Freed,
}

/// The outcome of matching one field against its expression.
struct Probed {
    found: Match,
    /// The expanded expression contains `(`: only then FreeSWITCH substitutes `$N`.
    capturing: bool,
    /// Expansion made a new string (FreeSWITCH compares pointers to tell).
    expanded: bool,
    /// The field value's length, which sizes FreeSWITCH's substitution buffer.
    field_len: usize,
}

/// The last `<regex>` evaluated in a `regex="…"` condition.
struct LastRegex {
    /// It had a field and its expression, unexpanded, contains `(`.
    capturing: bool,
    /// The match, kept only when the loop stopped on it.
    found: Option<Match>,
    field_len: usize,
}

impl Hunter<'_> {
    /// Evaluates a list of conditions (an extension's, or those nested in
    /// a condition whose `require-nested` is given); returns `proceed`.
    fn conditions(
        &mut self,
        conditions: &[Condition],
        require_nested: bool,
    ) -> Result<usize, HuntError> {
        let mut proceed = 0;
        for condition in conditions {
            let (passed, captures) = self.evaluate(&condition.test, &mut proceed)?;
            if passed {
                for action in &condition.actions {
                    let data = match &captures {
                        Captures::Off => action.data.clone(),
                        Captures::From { found, field_len } => substitute(
                            found,
                            &action.data,
                            (action.data.len() + field_len + 10) * found.count,
                        ),
                        Captures::Freed => {
                            return Err(self.unsupported(
                                "in this regex=\"xor\" condition the last capturing <regex> failed while the condition passed; FreeSWITCH then substitutes from freed match data (undefined behaviour)",
                            ));
                        }
                    };
                    self.run(action, data)?;
                }
            } else {
                for action in &condition.anti_actions {
                    self.run(action, action.data.clone())?;
                    proceed = 1;
                }
            }
            let stop = match condition.on {
                Break::OnTrue => passed,
                Break::OnFalse => !passed,
                Break::Always => true,
                Break::Never => false,
            };
            if stop {
                break;
            }
            if proceed > 0 && !condition.nested.is_empty() {
                proceed = self.conditions(&condition.nested, condition.require_nested)?;
                if proceed == 0 {
                    if condition.on == Break::Never {
                        continue;
                    }
                    break;
                }
            }
        }
        Ok(if require_nested { proceed } else { 1 })
    }

    /// Queues or runs an action `repeat` times.
    fn run(&mut self, action: &Action, data: String) -> Result<(), HuntError> {
        self.created = true;
        for _ in 0..action.repeat {
            if action.inline {
                if !self.channel.execute_inline(&action.application, &data) {
                    return Err(self.unsupported(&format!(
                        "inline application `{}` ({data})",
                        action.application
                    )));
                }
            } else {
                self.actions.push(PlannedAction {
                    application: action.application.clone(),
                    data: data.clone(),
                    extension: self.extension.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Whether the condition passed, and what its actions substitute from.
    fn evaluate(
        &mut self,
        test: &Test,
        proceed: &mut usize,
    ) -> Result<(bool, Captures), HuntError> {
        match test {
            Test::Single(None) => {
                *proceed = 1;
                Ok((true, Captures::Off))
            }
            Test::Single(Some(probe)) => {
                let Probed {
                    found,
                    capturing,
                    field_len,
                    ..
                } = self.probe(probe)?;
                *proceed = found.count;
                let passed = found.count > 0;
                let captures = if capturing {
                    Captures::From { found, field_len }
                } else {
                    Captures::Off
                };
                Ok((passed, captures))
            }
            Test::Regex { mode, items } => self.regexes(*mode, items, proceed),
        }
    }

    fn regexes(
        &mut self,
        mode: RegexMode,
        items: &[Option<Probe>],
        proceed: &mut usize,
    ) -> Result<(bool, Captures), HuntError> {
        let (mut pass, mut fail) = (0, 0);
        // The last completed capturing <regex>, if it matched (FreeSWITCH
        // drops an earlier save when a later capturing one fails).
        let mut saved: Option<(Match, usize)> = None;
        let mut last: Option<LastRegex> = None;
        for item in items {
            let Some(probe) = item else {
                pass += 1;
                *proceed = 1;
                last = None;
                if mode == RegexMode::Any {
                    break;
                }
                continue;
            };
            let Probed {
                found,
                capturing,
                expanded,
                field_len,
            } = self.probe(probe)?;
            *proceed = found.count;
            let hit = found.count > 0;
            let stops = if hit {
                pass += 1;
                mode == RegexMode::Any
            } else {
                fail += 1;
                mode == RegexMode::All
            };
            // Once the loop ends FreeSWITCH forgets an expression that
            // expansion rewrote, so its captures are no longer used.
            let usable = capturing && !expanded;
            if stops {
                last = Some(LastRegex {
                    capturing: usable,
                    found: Some(found),
                    field_len,
                });
                break;
            }
            if capturing {
                saved = hit.then_some((found, field_len));
            }
            last = Some(LastRegex {
                capturing: usable,
                found: None,
                field_len,
            });
        }
        let passed = match mode {
            RegexMode::All => fail == 0,
            RegexMode::Any => pass > 0,
            RegexMode::Xor => pass == 1,
        };
        let captures = match (saved, last) {
            (Some((found, field_len)), _) => {
                *proceed = found.count;
                Captures::From { found, field_len }
            }
            (
                None,
                Some(LastRegex {
                    capturing: true,
                    found: Some(found),
                    field_len,
                }),
            ) => Captures::From { found, field_len },
            (
                None,
                Some(LastRegex {
                    capturing: true,
                    found: None,
                    ..
                }),
            ) => Captures::Freed,
            _ => Captures::Off,
        };
        Ok((passed, captures))
    }

    /// Matches a probe's field against its expression.
    fn probe(&mut self, probe: &Probe) -> Result<Probed, HuntError> {
        let value = if probe.field.contains('$') {
            self.expand(&probe.field)?.0
        } else {
            self.channel
                .profile_field(&probe.field.to_ascii_lowercase())
                .unwrap_or_default()
        };
        let (found, capturing, expanded) = match &probe.expression {
            Expression::Static {
                text,
                expanded,
                matcher,
            } => (matcher.matches(&value), text.contains('('), *expanded),
            Expression::Dynamic(source) => {
                let (text, expanded) = self.expand(source)?;
                let matcher = Matcher::compile(&text).map_err(|message| HuntError::Regex {
                    context: self.context.to_owned(),
                    extension: self.extension.to_owned(),
                    expression: text.clone(),
                    message,
                })?;
                (matcher.matches(&value), text.contains('('), expanded)
            }
        };
        Ok(Probed {
            found,
            capturing,
            expanded,
            field_len: value.len(),
        })
    }

    /// Expands with the channel's variables; API calls cannot be reproduced.
    fn expand(&self, text: &str) -> Result<(String, bool), HuntError> {
        struct Channel<'c>(&'c dyn HuntChannel);
        impl Resolver for Channel<'_> {
            type Error = String;
            fn variable(&mut self, name: &str) -> Option<String> {
                self.0.variable(name)
            }
            fn api(&mut self, command: &str, args: &str) -> Result<Option<String>, String> {
                Err(format!("API call `${{{command}({args})}}` while hunting"))
            }
        }
        match expand(text, &mut Channel(&*self.channel)) {
            Ok(expanded) => {
                let rewritten = matches!(expanded, std::borrow::Cow::Owned(_));
                Ok((expanded.into_owned(), rewritten))
            }
            Err(message) => Err(self.unsupported(&message)),
        }
    }

    fn unsupported(&self, message: &str) -> HuntError {
        HuntError::Unsupported {
            context: self.context.to_owned(),
            extension: self.extension.to_owned(),
            message: message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestChannel;
    use super::super::{Dialplan, HuntError};

    fn plan(extensions: &str) -> Dialplan {
        let xml =
            format!("<include>\n<context name=\"t\">\n{extensions}\n</context>\n</include>\n");
        match Dialplan::parse_str(&xml, "test.xml") {
            Ok(plan) => plan,
            Err(e) => panic!("{e}"),
        }
    }

    /// Hunts context `t` and renders the actions as `app(data)`.
    fn hunt(plan: &Dialplan, channel: &mut TestChannel) -> Result<Vec<String>, HuntError> {
        let actions = plan.hunt("t", channel)?;
        Ok(actions
            .into_iter()
            .map(|a| format!("{}({})", a.application, a.data))
            .collect())
    }

    fn dial(extensions: &str, destination: &str) -> Result<Vec<String>, HuntError> {
        hunt(&plan(extensions), &mut TestChannel::dialling(destination))
    }

    #[test]
    fn captures_are_substituted_into_data() {
        let xml = r#"<extension name="split"><condition field="destination_number" expression="^(\d{3})(\d+)$">
            <action application="log" data="$2-$1 (${keep})"/></condition></extension>"#;
        assert_eq!(
            dial(xml, "5551234"),
            Ok(vec!["log(1234-555 (${keep}))".into()])
        );
        assert_eq!(dial(xml, "55"), Err(HuntError::NoRoute));
    }

    #[test]
    fn first_match_wins_unless_continue() {
        let xml = |cont: &str| {
            format!(
                r#"<extension name="a" continue="{cont}"><condition field="destination_number" expression="^1"><action application="a"/></condition></extension>
                <extension name="b"><condition field="destination_number" expression="^12"><action application="b"/></condition></extension>
                <extension name="c"><condition field="destination_number" expression="^1"><action application="c"/></condition></extension>"#
            )
        };
        assert_eq!(dial(&xml("false"), "123"), Ok(vec!["a()".into()]));
        assert_eq!(
            dial(&xml("true"), "123"),
            Ok(vec!["a()".into(), "b()".into()])
        );
        assert_eq!(
            dial(&xml("true"), "13"),
            Ok(vec!["a()".into(), "c()".into()])
        );
        let actions = plan(&xml("true")).hunt("t", &mut TestChannel::dialling("123"));
        let names: Vec<_> = actions.into_iter().flatten().map(|a| a.extension).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn break_modes() {
        let xml = |brk: &str| {
            format!(
                r#"<extension name="x">
                <condition field="${{v}}" expression="^yes$" break="{brk}"><action application="first"/></condition>
                <condition field="destination_number" expression="^1$"><action application="second"/></condition>
                </extension>"#
            )
        };
        let run = |brk: &str, v: &str| {
            hunt(
                &plan(&xml(brk)),
                &mut TestChannel::dialling("1").with_var("v", v),
            )
        };
        assert_eq!(run("on-false", "no"), Err(HuntError::NoRoute));
        assert_eq!(
            run("on-false", "yes"),
            Ok(vec!["first()".into(), "second()".into()])
        );
        assert_eq!(run("bogus", "no"), Err(HuntError::NoRoute));
        assert_eq!(run("never", "no"), Ok(vec!["second()".into()]));
        assert_eq!(run("on-true", "yes"), Ok(vec!["first()".into()]));
        assert_eq!(run("on-true", "no"), Ok(vec!["second()".into()]));
        assert_eq!(run("always", "yes"), Ok(vec!["first()".into()]));
        assert_eq!(run("always", "no"), Err(HuntError::NoRoute));
    }

    #[test]
    fn anti_actions_run_unsubstituted_and_count_as_a_match() {
        let xml = r#"<extension name="a"><condition field="destination_number" expression="^(9)$">
            <action application="yes" data="$1"/><anti-action application="no" data="$1"/></condition></extension>
            <extension name="b"><condition><action application="b"/></condition></extension>"#;
        assert_eq!(dial(xml, "9"), Ok(vec!["yes(9)".into()]));
        // The anti-action makes extension `a` proceed: `b` is never tried.
        assert_eq!(dial(xml, "5"), Ok(vec!["no($1)".into()]));
    }

    #[test]
    fn fields_from_variables_profile_or_nowhere() {
        let xml = r#"<extension name="fr"><condition field="${lang}" expression="^fr$"><action application="fr"/></condition></extension>
            <extension name="lit"><condition field="$lang" expression="^\$lang$"><action application="literal"/></condition></extension>"#;
        let p = plan(xml);
        assert_eq!(
            hunt(&p, &mut TestChannel::dialling("1").with_var("lang", "fr")),
            Ok(vec!["fr()".into()])
        );
        assert_eq!(
            hunt(&p, &mut TestChannel::dialling("1")),
            Ok(vec!["literal()".into()])
        );
        let xml = r#"<extension name="ci"><condition field="Caller_ID_Number" expression="^42$"><action application="ci"/></condition></extension>
            <extension name="missing"><condition field="no_such_field" expression="^$"><action application="empty"/></condition></extension>"#;
        let p = plan(xml);
        assert_eq!(
            hunt(
                &p,
                &mut TestChannel::dialling("1").with_profile("caller_id_number", "42")
            ),
            Ok(vec!["ci()".into()])
        );
        assert_eq!(
            hunt(&p, &mut TestChannel::dialling("1")),
            Ok(vec!["empty()".into()])
        );
    }

    #[test]
    fn inline_actions_are_seen_by_later_conditions() {
        let xml = r#"<extension name="set" continue="true"><condition>
              <action application="set" data="route=${destination_number}-x" inline="true"/></condition></extension>
            <extension name="use"><condition field="${route}" expression="^(\d+)-x$">
              <action application="set" data="step=$1" inline="true"/>
              <action application="bridge" data="user/$1"/></condition>
              <condition field="${step}" expression="^1001$"><action application="seen"/></condition></extension>"#;
        let mut channel = TestChannel::dialling("1001");
        assert_eq!(
            hunt(&plan(xml), &mut channel),
            Ok(vec!["bridge(user/1001)".into(), "seen()".into()])
        );
        assert_eq!(
            channel.inline,
            [
                ("set".to_owned(), "route=1001-x".to_owned()),
                ("set".to_owned(), "step=1001".to_owned())
            ]
        );
    }

    #[test]
    fn inline_only_match_is_a_route_without_actions() {
        let xml = r#"<extension name="x"><condition><action application="log" data="hi" inline="true"/></condition></extension>"#;
        assert_eq!(dial(xml, "1"), Ok(vec![]));
        let refused = r#"<extension name="x"><condition><action application="playback" data="a.wav" inline="true"/></condition></extension>"#;
        assert!(
            matches!(dial(refused, "1"), Err(HuntError::Unsupported { message, .. }) if message.contains("playback"))
        );
    }

    #[test]
    fn unknown_context_falls_back_to_global() {
        let p = plan(
            r#"<extension name="x"><condition><action application="x"/></condition></extension>"#,
        );
        assert_eq!(
            p.hunt("nope", &mut TestChannel::dialling("1")),
            Err(HuntError::NoRoute)
        );
        let xml = "<include>\n<context name=\"Global\">\n<extension name=\"g\"><condition><action application=\"g\"/></condition></extension>\n</context>\n</include>\n";
        let p = Dialplan::parse_str(xml, "g.xml");
        let actions = p.map(|p| p.hunt("nope", &mut TestChannel::dialling("1")));
        assert!(matches!(actions, Ok(Ok(a)) if a.len() == 1 && a[0].application == "g"));
    }

    #[test]
    fn auto_hunt_starts_at_the_extension_named_like_the_destination() {
        let xml = r#"<extension name="100"><condition><action application="a"/></condition></extension>
            <extension name="200" continue="true"><condition><action application="b"/></condition></extension>
            <extension name="300"><condition><action application="c"/></condition></extension>"#;
        let p = plan(xml);
        assert_eq!(
            hunt(&p, &mut TestChannel::dialling("200")),
            Ok(vec!["a()".into()])
        );
        let mut auto = TestChannel::dialling("200").with_var("auto_hunt", "true");
        assert_eq!(hunt(&p, &mut auto), Ok(vec!["b()".into(), "c()".into()]));
        let mut unknown = TestChannel::dialling("999").with_var("auto_hunt", "yes");
        assert_eq!(hunt(&p, &mut unknown), Ok(vec!["a()".into()]));
    }

    #[test]
    fn nested_conditions_and_require_nested() {
        let xml = |require: &str| {
            format!(
                r#"<extension name="n"><condition field="destination_number" expression="^1(\d)$"{require}>
                  <action application="outer" data="$1"/>
                  <condition field="${{x}}" expression="^y$"><action application="inner"/></condition>
                </condition></extension>
                <extension name="next"><condition><action application="next"/></condition></extension>"#
            )
        };
        let run = |require: &str, x: &str| {
            hunt(
                &plan(&xml(require)),
                &mut TestChannel::dialling("12").with_var("x", x),
            )
        };
        assert_eq!(run("", "y"), Ok(vec!["outer(2)".into(), "inner()".into()]));
        // The failed nested condition makes the extension not proceed; its outer actions stay.
        assert_eq!(run("", "n"), Ok(vec!["outer(2)".into(), "next()".into()]));
        assert_eq!(
            run(r#" require-nested="false""#, "n"),
            Ok(vec!["outer(2)".into()])
        );
    }

    #[test]
    fn loop_repeats_an_action() {
        let xml = r#"<extension name="l"><condition>
            <action application="beep" loop="3"/><action application="never" loop="0"/><action application="neg" loop="-1"/>
            </condition></extension>"#;
        assert_eq!(dial(xml, "1"), Ok(vec!["beep()".into(); 3]));
        let none = r#"<extension name="l"><condition><action application="never" loop="x"/></condition></extension>"#;
        assert_eq!(dial(none, "1"), Ok(vec![]));
    }

    fn regex_condition(mode: &str, rules: &str) -> String {
        format!(
            r#"<extension name="r"><condition regex="{mode}">{rules}
              <action application="yes" data="[$1]"/><anti-action application="no"/></condition></extension>"#
        )
    }

    fn caller(name: &str, number: &str) -> TestChannel {
        TestChannel::dialling("1")
            .with_profile("caller_id_name", name)
            .with_profile("caller_id_number", number)
    }

    #[test]
    fn regex_any_all_xor() {
        let rules = r#"<regex field="caller_id_name" expression="^(Bob)$"/><regex field="caller_id_number" expression="^(\d+)$"/>"#;
        let run = |mode: &str, name: &str, number: &str| {
            hunt(
                &plan(&regex_condition(mode, rules)),
                &mut caller(name, number),
            )
        };
        // any: stops at the first hit, which provides the captures.
        assert_eq!(run("any", "Alice", "42"), Ok(vec!["yes([42])".into()]));
        assert_eq!(run("any", "Bob", "x"), Ok(vec!["yes([Bob])".into()]));
        assert_eq!(run("ANY", "Alice", "x"), Ok(vec!["no()".into()]));
        // all: the last capturing rule provides the captures.
        assert_eq!(run("all", "Bob", "42"), Ok(vec!["yes([42])".into()]));
        assert_eq!(run("all", "Bob", "x"), Ok(vec!["no()".into()]));
        // xor: exactly one.
        assert_eq!(run("xor", "Bob", "42"), Ok(vec!["no()".into()]));
        assert_eq!(run("xor", "Alice", "42"), Ok(vec!["yes([42])".into()]));
        // Any other value of the attribute means any.
        assert_eq!(run("some", "Alice", "42"), Ok(vec!["yes([42])".into()]));
    }

    #[test]
    fn regex_xor_with_a_failed_last_capture_is_refused() {
        let rules = r#"<regex field="caller_id_name" expression="^(Bob)$"/><regex field="caller_id_number" expression="^(\d+)$"/>"#;
        let p = plan(&regex_condition("xor", rules));
        let result = hunt(&p, &mut caller("Bob", "x"));
        assert!(
            matches!(result, Err(HuntError::Unsupported { message, .. }) if message.contains("undefined behaviour"))
        );
    }

    #[test]
    fn regex_any_loses_captures_of_an_expanded_expression() {
        let rules = r#"<regex field="destination_number" expression="^(${prefix}\d)$"/>"#;
        let p = plan(&regex_condition("any", rules));
        let mut channel = TestChannel::dialling("91").with_var("prefix", "9");
        assert_eq!(hunt(&p, &mut channel), Ok(vec!["yes([$1])".into()]));
        // Outside regex="…" the expanded expression keeps its captures.
        let xml = r#"<extension name="e"><condition field="destination_number" expression="^${prefix}(\d+)$">
            <action application="yes" data="[$1]"/></condition></extension>"#;
        let mut channel = TestChannel::dialling("9123").with_var("prefix", "9");
        assert_eq!(
            hunt(&plan(xml), &mut channel),
            Ok(vec!["yes([123])".into()])
        );
    }

    #[test]
    fn regex_all_failing_after_a_capture_still_stops_the_hunt() {
        // FreeSWITCH restores the earlier capture's match count as `proceed`,
        // so the failed extension counts as matched and hunting stops there.
        let xml = |first: &str| {
            format!(
                r#"<extension name="r"><condition regex="all">
                  <regex field="caller_id_name" expression="{first}"/><regex field="caller_id_number" expression="^1$"/>
                  <action application="never"/></condition></extension>
                <extension name="next"><condition><action application="next"/></condition></extension>"#
            )
        };
        assert_eq!(
            hunt(&plan(&xml("^(Bob)$")), &mut caller("Bob", "2")),
            Err(HuntError::NoRoute)
        );
        assert_eq!(
            hunt(&plan(&xml("^Bob$")), &mut caller("Bob", "2")),
            Ok(vec!["next()".into()])
        );
    }

    #[test]
    fn dynamic_expressions_are_compiled_per_hunt() {
        let xml = r#"<extension name="d"><condition field="destination_number" expression="^${prefix}"><action application="ok"/></condition></extension>"#;
        let p = plan(xml);
        assert_eq!(
            hunt(&p, &mut TestChannel::dialling("91").with_var("prefix", "9")),
            Ok(vec!["ok()".into()])
        );
        let bad = hunt(&p, &mut TestChannel::dialling("91").with_var("prefix", "("));
        assert!(
            matches!(bad, Err(HuntError::Regex { expression, extension, .. }) if expression == "^(" && extension == "d")
        );
    }

    #[test]
    fn api_calls_are_refused_only_when_reached() {
        let xml = r#"<extension name="first"><condition field="destination_number" expression="^1$"><action application="one"/></condition></extension>
            <extension name="enum"><condition field="${module_exists(mod_enum)}" expression="true"><action application="enum"/></condition></extension>"#;
        assert_eq!(dial(xml, "1"), Ok(vec!["one()".into()]));
        let reached = dial(xml, "2");
        assert!(
            matches!(reached, Err(HuntError::Unsupported { message, extension, .. })
            if message.contains("module_exists") && extension == "enum")
        );
    }

    #[test]
    fn data_from_element_text() {
        let xml = "<extension name=\"t\"><condition>\n<action application=\"set\" data=\"ignored\">a=&lt;b&gt;</action>\n<action application=\"answer\" data=\"attr\"></action>\n<action application=\"log\" data=\"attr\">\n</action>\n</condition></extension>";
        // Whitespace-only text still wins over the attribute, as in FreeSWITCH.
        assert_eq!(
            dial(xml, "1"),
            Ok(vec![
                "set(a=<b>)".into(),
                "answer(attr)".into(),
                "log(\n)".into()
            ])
        );
    }

    #[test]
    fn asterisk_and_delimited_expressions() {
        let xml = r#"<extension name="a"><condition field="destination_number" expression="_1NXX"><action application="ast" data="$1"/></condition></extension>
            <extension name="i"><condition field="destination_number" expression="/^op(erator)$/i"><action application="ci" data="$1"/></condition></extension>"#;
        // No `(` in `_1NXX`: FreeSWITCH does not substitute.
        assert_eq!(dial(xml, "1234"), Ok(vec!["ast($1)".into()]));
        assert_eq!(dial(xml, "OPERATOR"), Ok(vec!["ci(ERATOR)".into()]));
        assert_eq!(dial(xml, "1134"), Err(HuntError::NoRoute));
    }

    #[test]
    fn long_substitutions_are_truncated_like_freeswitch() {
        let xml = r#"<extension name="t"><condition field="destination_number" expression="^(\d+)$">
            <action application="x" data="$1$1$1$1"/></condition></extension>"#;
        let result = plan(xml).hunt("t", &mut TestChannel::dialling("12345678901234567890"));
        let data = result
            .ok()
            .and_then(|a| a.into_iter().next())
            .map(|a| a.data);
        assert_eq!(data.map(|d| d.len()), Some((8 + 20 + 10) * 2 - 1));
    }
}
