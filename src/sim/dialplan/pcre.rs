//! FreeSWITCH's regular expressions (`switch_regex_perform`) on the `regex` crate,
//! and `$N` substitution (`switch_perform_substitution`).
//!
//! FreeSWITCH compiles expressions with PCRE2 in byte mode: `.` is one byte,
//! `\d`, `\w`, `\s` and caseless matching are ASCII. We match the same way
//! with `regex::bytes` with Unicode off. Before compiling, an expression
//! starting with `_` is turned into a regex from its Asterisk-style pattern
//! (`N`, `X`, `Z`, `.`), and `/pattern/flags` is split off honouring the flags
//! `i` (caseless) and `s` (dot matches newline).
//!
//! PCRE syntax that the `regex` crate lacks fails compilation (look-around,
//! backreferences, atomic groups, recursion, `\K`, `\G`, `\Q…\E`, `\Z`,
//! `(?#…)`, callouts, conditionals, `\p` classes). Syntax that both accept
//! with different meanings is translated (`\<`, `\>`, `\v`, `\h`, a literal
//! `{`, `[` or `&&`/`~~` in a class) or refused (possessive quantifiers, a
//! quantifier after a quantifier, `--` in a class, `\b{…}`, the inline flags
//! `R`, `u` and `x`).

use regex::bytes::{Regex, RegexBuilder};

/// A compiled dialplan expression.
#[derive(Debug, Clone)]
pub(super) struct Matcher(Regex);

/// The outcome of matching: what `pcre2_match` returns and the groups it set.
#[derive(Debug, Clone, Default)]
pub(super) struct Match {
    /// 0 when there is no match, else one more than the highest group set.
    pub count: usize,
    groups: Vec<Option<Vec<u8>>>,
}

impl Matcher {
    /// Compiles an (already variable-expanded) dialplan expression.
    pub(super) fn compile(expression: &str) -> Result<Matcher, String> {
        let converted;
        let mut pattern = expression;
        if let Some(asterisk) = pattern.strip_prefix('_') {
            converted = asterisk_to_regex(asterisk);
            pattern = &converted;
        }
        let (mut caseless, mut dot_all) = (false, false);
        if let Some(delimited) = pattern.strip_prefix('/') {
            let Some(end) = delimited.rfind('/') else {
                return Err("missing ending '/' delimiter (FreeSWITCH never matches it)".into());
            };
            let flags = &delimited[end + 1..];
            caseless = flags.contains('i');
            dot_all = flags.contains('s');
            pattern = &delimited[..end];
        }
        let translated = translate(pattern)?;
        RegexBuilder::new(&translated)
            .unicode(false)
            .case_insensitive(caseless)
            .dot_matches_new_line(dot_all)
            .build()
            .map(Matcher)
            .map_err(|e| {
                let text = e.to_string();
                let last = text.lines().last().unwrap_or_default();
                last.strip_prefix("error: ").unwrap_or(last).to_owned()
            })
    }

    /// Matches `subject` as `pcre2_match` does (first match, leftmost-first).
    pub(super) fn matches(&self, subject: &str) -> Match {
        let Some(caps) = self.0.captures(subject.as_bytes()) else {
            return Match::default();
        };
        let groups: Vec<_> = caps
            .iter()
            .map(|g| g.map(|m| m.as_bytes().to_vec()))
            .collect();
        let count = groups
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        Match { count, groups }
    }
}

impl Match {
    fn group(&self, n: usize) -> Option<&[u8]> {
        self.groups.get(n)?.as_deref()
    }
}

/// `switch_ast2regex`: `N`→`[2-9]`, `X`→`[0-9]`, `Z`→`[1-9]`, `.`→`.*`, anchored.
fn asterisk_to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    for c in pattern.chars() {
        match c {
            'N' => out.push_str("[2-9]"),
            'X' => out.push_str("[0-9]"),
            'Z' => out.push_str("[1-9]"),
            '.' => out.push_str(".*"),
            c => out.push(c),
        }
    }
    out.push('$');
    out
}

/// Where the previous item leaves us regarding quantifiers.
#[derive(PartialEq)]
enum After {
    Atom,
    Quantifier,
    Lazy,
    Nothing,
}

/// Rewrites PCRE syntax into the same-meaning `regex` syntax (see module docs).
fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut after = After::Nothing;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    out.push('\\');
                    break;
                };
                i += 2;
                match e {
                    '<' | '>' => out.push(e),
                    'v' => out.push_str(r"[\n\x0B\x0C\r\x85]"),
                    'V' => out.push_str(r"[^\n\x0B\x0C\r\x85]"),
                    'h' => out.push_str(r"[\t\x20\xA0]"),
                    'H' => out.push_str(r"[^\t\x20\xA0]"),
                    'b' | 'B' if chars.get(i) == Some(&'{') => {
                        return Err("`\\b{` is a special assertion in the simulator's regex engine but not in PCRE".into());
                    }
                    'x' | 'p' | 'P' if chars.get(i) == Some(&'{') => {
                        out.push('\\');
                        out.push(e);
                        while let Some(&d) = chars.get(i) {
                            out.push(d);
                            i += 1;
                            if d == '}' {
                                break;
                            }
                        }
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                after = if matches!(e, 'b' | 'B' | 'A' | 'z') {
                    After::Nothing
                } else {
                    After::Atom
                };
                continue;
            }
            '[' => {
                i = translate_class(&chars, i, &mut out)?;
                after = After::Atom;
                continue;
            }
            '(' => {
                out.push('(');
                i += 1;
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                    let flags: String = chars[i..]
                        .iter()
                        .take_while(|f| f.is_ascii_alphabetic() || **f == '-')
                        .collect();
                    let ends_flags = matches!(chars.get(i + flags.len()), Some(')' | ':'));
                    if ends_flags
                        && let Some(bad) = flags.chars().find(|f| matches!(f, 'R' | 'u' | 'x'))
                    {
                        return Err(format!(
                            "inline flag `{bad}` means something else in PCRE than in the simulator's regex engine"
                        ));
                    }
                }
                after = After::Nothing;
                continue;
            }
            '*' | '+' | '?' => {
                match after {
                    After::Quantifier if c == '?' => after = After::Lazy,
                    After::Quantifier if c == '+' => {
                        return Err("possessive quantifiers are not supported".into());
                    }
                    After::Quantifier | After::Lazy => {
                        return Err("a quantifier cannot follow a quantifier".into());
                    }
                    After::Atom | After::Nothing => after = After::Quantifier,
                }
                out.push(c);
            }
            '{' => {
                let body: String = chars[i + 1..].iter().take_while(|d| **d != '}').collect();
                let closed = chars.get(i + 1 + body.len()) == Some(&'}');
                let (low, high) = body.split_once(',').unwrap_or((&body, "0"));
                let numeric = |s: &str| s.chars().all(|d| d.is_ascii_digit());
                if closed && low.is_empty() && !high.is_empty() && numeric(high) {
                    return Err(format!(
                        "`{{{body}}}` is a quantifier in recent PCRE2 only; write `{{0,{high}}}`"
                    ));
                }
                if closed && !low.is_empty() && numeric(low) && numeric(high) {
                    if after != After::Atom {
                        return Err("a quantifier must follow something to repeat".into());
                    }
                    out.push('{');
                    out.push_str(&body);
                    out.push('}');
                    i += body.len() + 2;
                    after = After::Quantifier;
                    continue;
                }
                // PCRE reads a brace that does not form a quantifier literally.
                out.push_str(r"\{");
                after = After::Atom;
            }
            '|' | '^' | '$' => {
                out.push(c);
                after = After::Nothing;
            }
            _ => {
                out.push(c);
                after = After::Atom;
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Copies the class starting at `chars[start] == '['`; returns the index after it.
fn translate_class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // A leading `]` is a member in both dialects.
    if chars.get(i) == Some(&']') {
        out.push(']');
        i += 1;
    }
    while let Some(&c) = chars.get(i) {
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '\\' => {
                let Some(&e) = chars.get(i + 1) else { break };
                match e {
                    '<' | '>' => out.push(e),
                    'v' => out.push_str(r"\n\x0B\x0C\r\x85"),
                    'h' => out.push_str(r"\t\x20\xA0"),
                    'V' | 'H' => {
                        return Err(format!("`\\{e}` inside a character class is not supported"));
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                i += 2;
            }
            '[' if chars.get(i + 1) == Some(&':') => {
                // A POSIX class such as `[:alpha:]`, same in both dialects.
                let end = (i + 2..chars.len().saturating_sub(1))
                    .find(|&k| chars[k] == ':' && chars[k + 1] == ']')
                    .ok_or("unterminated POSIX class")?;
                out.extend(&chars[i..end + 2]);
                i = end + 2;
            }
            '[' => {
                out.push_str(r"\[");
                i += 1;
            }
            '&' | '~' if chars.get(i + 1) == Some(&c) => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                return Err("`--` inside a character class is a set difference for the simulator's regex engine; escape the hyphen".into());
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("unterminated character class".into())
}

/// `switch_perform_substitution`: replaces `$N` / `${N}` in `data` with group
/// `N` of `m`, writing at most `len - 1` bytes (FreeSWITCH's buffer size).
///
/// Facts reproduced: up to 9 digits form the number, so `$10` is group 10;
/// an unset or absent group (or a number above 256) yields nothing; a `$`
/// not followed by a digit stays; there is no escape (`\$1` is `\` and group
/// 1); `${12x` drops the `${` and keeps the digits, which also linger in the
/// number buffer and prefix the next `$N`.
pub(super) fn substitute(m: &Match, data: &str, len: usize) -> String {
    let data = data.as_bytes();
    let limit = len.saturating_sub(1);
    let mut out = Vec::with_capacity(limit.min(data.len() * 2));
    let mut number: Vec<u8> = Vec::with_capacity(9);
    let mut x = 0;
    while out.len() < limit && x < data.len() {
        if data[x] != b'$' {
            out.push(data[x]);
            x += 1;
            continue;
        }
        x += 1;
        let brace = data.get(x) == Some(&b'{');
        if brace {
            x += 1;
        }
        if !data.get(x).is_some_and(u8::is_ascii_digit) {
            x -= usize::from(brace);
            out.push(data[x - 1]);
            continue;
        }
        while number.len() < 9 && data.get(x).is_some_and(u8::is_ascii_digit) {
            number.push(data[x]);
            x += 1;
        }
        if brace {
            if data.get(x) != Some(&b'}') {
                x = x.saturating_sub(number.len() - 1).max(1);
                out.push(data[x - 1]);
                continue;
            }
            x += 1;
        }
        let n = number
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        number.clear();
        if n <= 256
            && let Some(group) = m.group(n)
        {
            let room = limit - out.len();
            out.extend_from_slice(&group[..group.len().min(room)]);
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(expression: &str, subject: &str) -> Match {
        match Matcher::compile(expression) {
            Ok(re) => re.matches(subject),
            Err(e) => panic!("{expression}: {e}"),
        }
    }

    fn err(expression: &str) -> String {
        match Matcher::compile(expression) {
            Ok(_) => panic!("{expression} compiled"),
            Err(e) => e,
        }
    }

    #[test]
    fn count_is_one_past_the_highest_group_set() {
        assert_eq!(m(r"^(\d{3})(\d+)$", "5551234").count, 3);
        assert_eq!(m(r"^(a)?(b)?$", "a").count, 2);
        assert_eq!(m(r"^(a)?(b)?$", "").count, 1);
        assert_eq!(m(r"^x$", "y").count, 0);
        assert_eq!(m("", "anything").count, 1);
    }

    #[test]
    fn byte_mode_like_pcre_without_utf() {
        assert_eq!(m("^caf.$", "café").count, 0);
        assert_eq!(m("^caf..$", "café").count, 1);
        assert_eq!(m(r"^\d+$", "١٢").count, 0);
        assert_eq!(m("(?i)^CAFÉ$", "café").count, 0);
    }

    #[test]
    fn asterisk_patterns_and_delimited_flags() {
        assert_eq!(m("_NXXXXXX", "5551234").count, 1);
        assert_eq!(m("_NXXXXXX", "1551234").count, 0);
        assert_eq!(m("_1Z.", "1900").count, 1);
        assert_eq!(m("/^hello$/i", "HeLLo").count, 1);
        assert_eq!(m("/^a.b$/s", "a\nb").count, 1);
        assert_eq!(m("/^a.b$/", "a\nb").count, 0);
        assert!(err("/abc").contains("delimiter"));
    }

    #[test]
    fn pcre_only_syntax_is_refused() {
        assert!(err("^((?!6000)60\\d{2})$").contains("look-around"));
        assert!(err(r"^(a)\1$").contains("backreferences"));
        assert!(err("a*+").contains("possessive"));
        assert!(err("a{2}+").contains("possessive"));
        assert!(err("a**").contains("quantifier"));
        assert!(err("(?R)").contains('R'));
        assert!(err("(?x)a b").contains('x'));
        assert!(err("x{,3}").contains("{0,3}"));
        assert!(err("[a--b]").contains("--"));
        assert!(err(r"\Qa\E").contains("unrecognized"));
        assert!(err(r"\b{start}").contains("\\b{"));
        assert!(err("^(abc$").contains("unclosed"));
    }

    #[test]
    fn same_syntax_different_meaning_is_translated() {
        assert_eq!(m(r"^\<sip:(\d+)\>$", "<sip:42>").count, 2);
        assert_eq!(m(r"^a\vb$", "a\x0bb").count, 1);
        assert_eq!(m(r"^a\vb$", "a\nb").count, 1);
        assert_eq!(m(r"^a\hb$", "a b").count, 1);
        assert_eq!(m("^{abc}$", "{abc}").count, 1);
        assert_eq!(m("^a{2}$", "aa").count, 1);
        assert_eq!(m("^[a[]+$", "a[a").count, 1);
        assert_eq!(m("^[&&]$", "&").count, 1);
        assert_eq!(m("^[[:digit:]x]+$", "1x2").count, 1);
        assert_eq!(m("^[]a]+$", "]a").count, 1);
        assert_eq!(m(r"^fifo\=(\d+)$", "fifo=3").count, 2);
        assert_eq!(m(r"^\x{41}+$", "AA").count, 1);
        assert_eq!(m("^a+?b$", "aab").count, 1);
    }

    fn sub(expression: &str, subject: &str, data: &str) -> String {
        let found = m(expression, subject);
        substitute(
            &found,
            data,
            (data.len() + subject.len() + 10) * found.count,
        )
    }

    #[test]
    fn substitution_basics() {
        assert_eq!(sub(r"^(\d{3})(\d+)$", "5551234", "$2-$1"), "1234-555");
        assert_eq!(
            sub(r"^(\d{3})(\d+)$", "5551234", "${2}0-$0"),
            "12340-5551234"
        );
        assert_eq!(
            sub(r"^(\d+)$", "42", "cost $x ${var} $"),
            "cost $x ${var} $"
        );
    }

    #[test]
    fn substitution_edge_cases_match_freeswitch() {
        // `$10` is group 10, not group 1 then "0".
        assert_eq!(sub(r"^(\d)(\d)$", "12", "[$10]"), "[]");
        // Unset group.
        assert_eq!(sub(r"^(a)?(b)$", "b", "[$1|$2]"), "[|b]");
        // No escape character.
        assert_eq!(sub(r"^(\d+)$", "42", r"\$1"), r"\42");
        // `${1x`: the `${` is dropped, the digit stays and lingers.
        assert_eq!(
            sub(
                r"^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$",
                "abcdefghijkl",
                "${1x $2"
            ),
            "1x l"
        );
    }

    #[test]
    fn substitution_is_truncated_to_freeswitchs_buffer() {
        let data = "$1$1$1$1";
        let subject = "12345678901234567890";
        let out = sub(r"^(\d+)$", subject, data);
        // (8 + 20 + 10) * 2 - 1 bytes.
        assert_eq!(out.len(), 75);
        assert!(subject.repeat(4).starts_with(&out));
    }
}
