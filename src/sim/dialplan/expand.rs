//! Channel-variable expansion, following `switch_channel_expand_variables`.
//!
//! The quirks are deliberate: they are what FreeSWITCH does, and dialplans are
//! written against them.
//! - A string with neither a `${` (a `$` followed by optional backslashes and a
//!   `{`) nor one of the escapes `\\`, `\n`, `\s`, `\t`, `\'` is returned as
//!   is, backslashes included.
//! - Otherwise `\$` yields a literal `$` (`\$$` too), `\\` yields `\`, `\'`
//!   disappears, any other backslash is kept; `$$` not followed by `{` yields
//!   a single `$`.
//! - `${name}` and `$${name}` both look the name up on the channel; unknown
//!   names expand to nothing. The name itself is expanded first (`${a_${b}}`),
//!   and so is the value found. `${name:offset}` / `${name:offset:length}`
//!   take a byte substring (negative offsets count from the end), `${name[i]}`
//!   takes element `i` of an `ARRAY::a|:b` value.
//! - `${cmd(args)}` and `${cmd args}` call an API command.
//! - The character right after a `}` is copied verbatim unless it is a `$`,
//!   so an escape there is not honoured.
//! - Recursion stops after 100 levels, leaving the text unexpanded.

use std::borrow::Cow;
use std::convert::Infallible;

const MAX_DEPTH: u32 = 100;

/// Where expansion gets variable values and API results from.
pub(super) trait Resolver {
    /// What stops the expansion (an API call the resolver cannot make).
    type Error;
    /// The value of a variable, if set.
    fn variable(&mut self, name: &str) -> Option<String>;
    /// The output of API command `command` with `args`; `None` when it fails.
    fn api(&mut self, command: &str, args: &str) -> Result<Option<String>, Self::Error>;
}

/// Expands `${var}` references in `input` the way FreeSWITCH expands channel
/// variables in application arguments and dialplan conditions.
///
/// `lookup` resolves a variable name (FreeSWITCH resolves a name against the
/// channel variables, then the caller profile, then the global variables).
/// Unknown variables expand to the empty string. API calls (`${api(args)}`,
/// `${api args}`) expand to the empty string, which is what FreeSWITCH
/// produces for an API command it does not have; see the module docs for the
/// escape and substring rules.
pub fn expand_variables(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    struct NoApi<'a>(&'a dyn Fn(&str) -> Option<String>);
    impl Resolver for NoApi<'_> {
        type Error = Infallible;
        fn variable(&mut self, name: &str) -> Option<String> {
            (self.0)(name)
        }
        fn api(&mut self, _: &str, _: &str) -> Result<Option<String>, Infallible> {
            Ok(None)
        }
    }
    match expand(input, &mut NoApi(lookup)) {
        Ok(expanded) => expanded.into_owned(),
        Err(never) => match never {},
    }
}

/// Expands `input`; `Cow::Owned` tells that FreeSWITCH would have produced a
/// new string (its dialplan code compares pointers to notice expansion), even
/// when the content is unchanged.
pub(super) fn expand<'a, R: Resolver + ?Sized>(
    input: &'a str,
    resolver: &mut R,
) -> Result<Cow<'a, str>, R::Error> {
    expand_at(input, resolver, 0)
}

fn expand_at<'a, R: Resolver + ?Sized>(
    input: &'a str,
    resolver: &mut R,
    depth: u32,
) -> Result<Cow<'a, str>, R::Error> {
    if depth > MAX_DEPTH || input.is_empty() || !(has_reference(input) || has_escape(input)) {
        return Ok(Cow::Borrowed(input));
    }
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let mut literal = false;
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(b'$') => {
                    literal = true;
                    i += 1;
                    if b.get(i + 1) == Some(&b'$') {
                        i += 1;
                    }
                }
                Some(b'\'') => {
                    i += 2;
                    continue;
                }
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        if !literal && b[i] == b'$' {
            if b.get(i + 1) == Some(&b'$') {
                i += 1;
            }
            literal = b.get(i + 1) != Some(&b'{');
        }
        if literal || b[i] != b'$' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let body = braced(b, i + 2);
        i = body.next;
        if let Some(value) = reference(&input[body.start..body.end], body.depth, resolver, depth)? {
            out.extend_from_slice(&value);
        }
        if let Some(&c) = b.get(i)
            && c != b'$'
        {
            out.push(c);
            i += 1;
        }
    }
    Ok(Cow::Owned(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

/// `switch_string_var_check_const`: a `$`, optional backslashes, then `{`.
fn has_reference(s: &str) -> bool {
    let mut dollar = false;
    for c in s.bytes() {
        if c == b'$' {
            dollar = true;
        } else if dollar {
            if c == b'{' {
                return true;
            }
            dollar = c == b'\\';
        }
    }
    false
}

/// `switch_string_has_escaped_data`.
fn has_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'\\' && matches!(w[1], b'\\' | b'n' | b's' | b't' | b'\''))
}

struct Braced {
    start: usize,
    end: usize,
    /// Index just past the closing brace (or the end of input).
    next: usize,
    /// Brace depth left open: 0 when the reference was closed.
    depth: u32,
}

/// The body of a `${...}` starting at `start`; a `{` in the body's first
/// position does not nest (FreeSWITCH's quirk), an unclosed body runs to the end.
fn braced(b: &[u8], start: usize) -> Braced {
    let mut depth = 1;
    for (e, &c) in b.iter().enumerate().skip(start) {
        if depth == 1 && c == b'}' {
            return Braced {
                start,
                end: e,
                next: e + 1,
                depth: 0,
            };
        }
        if c == b'{' && e != start {
            depth += 1;
        } else if depth > 1 && c == b'}' {
            depth -= 1;
        }
    }
    Braced {
        start,
        end: b.len(),
        next: b.len(),
        depth,
    }
}

/// The value of one `${...}` body.
fn reference<R: Resolver + ?Sized>(
    body: &str,
    open: u32,
    resolver: &mut R,
    depth: u32,
) -> Result<Option<Vec<u8>>, R::Error> {
    if let Some(sep) = body.find([' ', '(']) {
        let command = body[..sep].trim_end_matches(' ');
        let mut parens = if body.as_bytes()[sep] == b'(' {
            1
        } else {
            open
        };
        let rest = &body[sep + 1..];
        let mut end = rest.len();
        for (k, c) in rest.bytes().enumerate() {
            if c == b'(' {
                parens += 1;
            } else if parens > 1 && c == b')' {
                parens -= 1;
            } else if parens == 1 && c == b')' {
                end = k;
                break;
            }
        }
        let command = expand_at(command, resolver, depth + 1)?;
        let args = expand_at(&rest[..end], resolver, depth + 1)?;
        return Ok(resolver.api(&command, &args)?.map(String::into_bytes));
    }

    let name = expand_at(body, resolver, depth + 1)?;
    let mut name: &str = &name;
    let mut offset = 0;
    let mut length = 0;
    if let Some(colon) = name.find(':') {
        let spec = &name[colon + 1..];
        offset = c_atoi(spec);
        if let Some(second) = spec.find(':') {
            length = c_atoi(&spec[second + 1..]);
        }
        name = &name[..colon];
    }
    let mut index = -1;
    if let Some(open) = name.find('[')
        && name[open..].contains(']')
    {
        index = c_atoi(&name[open + 1..]);
        name = &name[..open];
    }
    if name.is_empty() {
        return Ok(None);
    }
    let Some(value) = resolver.variable(name) else {
        return Ok(None);
    };
    let value = if index > -1 {
        // Only array values have elements; see the module docs of `dialplan`.
        match value
            .strip_prefix("ARRAY::")
            .and_then(|items| items.split("|:").nth(index as usize))
        {
            Some(item) => item.to_owned(),
            None => return Ok(None),
        }
    } else {
        value
    };
    let value = expand_at(&value, resolver, depth + 1)?;
    let mut bytes = value.as_bytes();
    if offset >= 0 {
        bytes = bytes.get(offset as usize..).unwrap_or_default();
    } else if offset.unsigned_abs() as usize <= bytes.len() {
        bytes = &bytes[bytes.len() - offset.unsigned_abs() as usize..];
    }
    if length > 0 && (length as usize) < bytes.len() {
        bytes = &bytes[..length as usize];
    }
    Ok(Some(bytes.to_vec()))
}

/// C's `atoi`: leading blanks, an optional sign, then digits; 0 without digits.
pub(super) fn c_atoi(s: &str) -> i32 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for c in digits.bytes().take_while(u8::is_ascii_digit) {
        n = (n * 10 + i64::from(c - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let n = if negative { -n } else { n };
    n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("a", "alpha"),
            ("b", "x"),
            ("a_x", "nested"),
            ("greeting", "hello ${a}"),
            ("digits", "0123456789"),
            ("list", "ARRAY::one|:two|:three"),
            ("g", "global-value"),
        ])
    }

    fn ex(input: &str) -> String {
        let vars = vars();
        expand_variables(input, &|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn plain_references() {
        assert_eq!(ex("${a}"), "alpha");
        assert_eq!(ex("<${a}>"), "<alpha>");
        assert_eq!(ex("${a}${a}"), "alphaalpha");
        assert_eq!(ex("${a}-$${g}"), "alpha-global-value");
    }

    #[test]
    fn unknown_variable_is_empty() {
        assert_eq!(ex("[${nope}]"), "[]");
        assert_eq!(ex("${}"), "");
    }

    #[test]
    fn nested_names_and_values_are_expanded() {
        assert_eq!(ex("${a_${b}}"), "nested");
        assert_eq!(ex("${greeting}!"), "hello alpha!");
    }

    #[test]
    fn strings_without_references_or_escapes_are_untouched() {
        let vars = vars();
        let lookup = |name: &str| vars.get(name).map(|v| (*v).to_owned());
        struct R<'a>(&'a dyn Fn(&str) -> Option<String>);
        impl Resolver for R<'_> {
            type Error = ();
            fn variable(&mut self, name: &str) -> Option<String> {
                (self.0)(name)
            }
            fn api(&mut self, _: &str, _: &str) -> Result<Option<String>, ()> {
                Err(())
            }
        }
        for s in [r"^\d+$", "$1-$2", "cost: $5", r"a\$b"] {
            assert!(matches!(expand(s, &mut R(&lookup)), Ok(Cow::Borrowed(t)) if t == s));
        }
        // An escape alone makes FreeSWITCH run the full pass (a new string).
        assert!(matches!(expand(r"\s", &mut R(&lookup)), Ok(Cow::Owned(t)) if t == r"\s"));
        assert!(matches!(expand("${x(1)}", &mut R(&lookup)), Err(())));
    }

    #[test]
    fn escapes() {
        assert_eq!(ex(r"\${a} ${a}"), "${a} alpha");
        assert_eq!(ex(r"a\\b ${a}"), r"a\b alpha");
        assert_eq!(ex(r"it\'s ${a}"), "its alpha");
        assert_eq!(ex(r"\d ${a}"), r"\d alpha");
        assert_eq!(ex(r"\$$ ${a}"), "$ alpha");
        assert_eq!(ex("$$x ${a}"), "$x alpha");
        assert_eq!(ex("cost $5 ${a} $"), "cost $5 alpha $");
        // The character after a reference is copied raw, so this escape is lost.
        assert_eq!(ex(r"${a}\${b}"), r"alpha\x");
    }

    #[test]
    fn substrings_and_arrays() {
        assert_eq!(ex("${digits:3}"), "3456789");
        assert_eq!(ex("${digits:3:2}"), "34");
        assert_eq!(ex("${digits:-3}"), "789");
        assert_eq!(ex("${digits:20}"), "");
        assert_eq!(ex("${digits:-20}"), "0123456789");
        assert_eq!(ex("${list[1]}"), "two");
        assert_eq!(ex("${list[7]}"), "");
        assert_eq!(ex("${list}"), "ARRAY::one|:two|:three");
        assert_eq!(ex("${a[0]}"), "");
    }

    #[test]
    fn api_calls_expand_to_nothing() {
        assert_eq!(ex("[${strftime(%Y)}]"), "[]");
        assert_eq!(ex("[${cond 1 == 1 ? a : b}]"), "[]");
    }

    #[test]
    fn api_commands_and_args_are_split_like_freeswitch() {
        struct Record(Vec<(String, String)>);
        impl Resolver for Record {
            type Error = Infallible;
            fn variable(&mut self, name: &str) -> Option<String> {
                (name == "v").then(|| "V".to_owned())
            }
            fn api(&mut self, cmd: &str, args: &str) -> Result<Option<String>, Infallible> {
                self.0.push((cmd.to_owned(), args.to_owned()));
                Ok(Some(format!("<{cmd}|{args}>")))
            }
        }
        let mut r = Record(Vec::new());
        let out = expand("${hash(select/${v}/(x))}+${expr 1 + 2}", &mut r).map(Cow::into_owned);
        assert_eq!(out, Ok("<hash|select/V/(x)>+<expr|1 + 2>".to_owned()));
    }

    #[test]
    fn unclosed_reference_runs_to_the_end() {
        assert_eq!(ex("x${a"), "xalpha");
    }

    #[test]
    fn atoi_is_c_like() {
        assert_eq!(c_atoi(" 42abc"), 42);
        assert_eq!(c_atoi("-3"), -3);
        assert_eq!(c_atoi("x"), 0);
        assert_eq!(c_atoi("99999999999"), i32::MAX);
    }
}
