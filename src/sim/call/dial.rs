//! `originate` arguments and dial strings, parsed as FreeSWITCH parses them:
//! words split on spaces with single-quoted spans kept whole, `{var=value}`
//! channel variables in front of the endpoint, `undef` for a skipped word.

use super::Target;
use crate::esl::HangupCause;

/// FreeSWITCH's usage text for a malformed `originate`.
pub(crate) const ORIGINATE_USAGE: &str = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n";

/// Splits `input` into words the way `switch_separate_string` does with a
/// space delimiter: runs of spaces separate words, a single-quoted span keeps
/// its spaces (the quotes are removed), and `\` escapes the next character
/// only when that is a quote, a backslash or one of `n`, `r`, `t`, `s`
/// (newline, CR, tab, space); before anything else the backslash stays, so a
/// regular expression such as `\d+` reaches the application intact. An
/// escaped character never ends a word.
pub(crate) fn split_words(input: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_word = true;
                // Only quotes, backslash and n/r/t/s are escapes; any other
                // backslash stays (regular expressions keep their `\d`).
                match chars.next() {
                    Some('n') => current.push('\n'),
                    Some('t') => current.push('\t'),
                    Some('r') => current.push('\r'),
                    Some('s') => current.push(' '),
                    Some(next @ ('\'' | '"' | '\\')) => current.push(next),
                    Some(next) => {
                        current.push('\\');
                        current.push(next);
                    }
                    None => current.push('\\'),
                }
            }
            '\'' if quoted || chars.clone().any(|n| n == '\'') => {
                in_word = true;
                quoted = !quoted;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            other => {
                in_word = true;
                current.push(other);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Where a dial string sends the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `sofia/<profile>/<user>@<host>[:<port>]`.
    Sofia {
        profile: String,
        user: String,
        host: String,
        port: u16,
    },
    /// `sofia/gateway/<gateway>/<number>`.
    Gateway { gateway: String, number: String },
    /// `error/<CAUSE>`: fails at once.
    Error(HangupCause),
    /// An endpoint module the simulator does not provide.
    Unsupported(String),
}

impl Endpoint {
    /// The keys under which the phone book may list the called party, most
    /// specific first.
    pub fn phone_keys(&self) -> Vec<String> {
        match self {
            Endpoint::Sofia {
                user, host, port, ..
            } => {
                vec![
                    format!("{user}@{host}:{port}"),
                    format!("{user}@{host}"),
                    user.clone(),
                ]
            }
            Endpoint::Gateway { gateway, number } => {
                vec![format!("{gateway}/{number}"), number.clone()]
            }
            Endpoint::Error(_) | Endpoint::Unsupported(_) => Vec::new(),
        }
    }
}

/// A dial string: channel variables and one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialString {
    /// `{...}` and `[...]` variables, in order.
    pub vars: Vec<(String, String)>,
    /// The endpoint text after the variables (`sofia/internal/1000@host`).
    pub target: String,
    pub endpoint: Endpoint,
}

/// Splits `{a=1,b=2}` style variable lists (`\,` escapes a comma, `^^X`
/// switches the separator to X).
fn parse_vars(body: &str, vars: &mut Vec<(String, String)>) {
    let (separator, body) = match body.strip_prefix("^^") {
        Some(rest) => match rest.chars().next() {
            Some(sep) => (sep, &rest[sep.len_utf8()..]),
            None => (',', rest),
        },
        None => (',', body),
    };
    let mut item = String::new();
    let mut items = Vec::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                item.push(next);
            }
        } else if c == separator {
            items.push(std::mem::take(&mut item));
        } else {
            item.push(c);
        }
    }
    items.push(item);
    for item in items {
        if let Some((name, value)) = item.split_once('=') {
            let value = value.trim_matches('\'');
            vars.push((name.trim().to_owned(), value.to_owned()));
        }
    }
}

/// Parses a dial string. Only the first leg of a `,` or `|` list is dialled.
pub(crate) fn parse_dial_string(text: &str) -> DialString {
    let mut vars = Vec::new();
    let mut rest = text.trim();
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let Some(inner) = rest.strip_prefix(open)
            && let Some(end) = inner.find(close)
        {
            parse_vars(&inner[..end], &mut vars);
            rest = &inner[end + close.len_utf8()..];
        }
    }
    let target = rest
        .split([',', '|'])
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let endpoint = parse_endpoint(&target);
    DialString {
        vars,
        target,
        endpoint,
    }
}

fn parse_endpoint(target: &str) -> Endpoint {
    let mut parts = target.splitn(2, '/');
    let module = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    match module {
        "sofia" => {
            let (profile, dest) = rest.split_once('/').unwrap_or((rest, ""));
            if profile == "gateway" {
                let (gateway, number) = dest.split_once('/').unwrap_or((dest, ""));
                return Endpoint::Gateway {
                    gateway: gateway.to_owned(),
                    number: number.to_owned(),
                };
            }
            let dest = dest.trim_start_matches("sip:");
            let (user, hostport) = dest.split_once('@').unwrap_or((dest, ""));
            let hostport = hostport.split(';').next().unwrap_or("");
            let (host, port) = match hostport.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().unwrap_or(5060)),
                None => (hostport, 5060),
            };
            Endpoint::Sofia {
                profile: profile.to_owned(),
                user: user.to_owned(),
                host: host.to_owned(),
                port,
            }
        }
        "error" => {
            Endpoint::Error(HangupCause::parse_lenient(rest).unwrap_or(HangupCause::NormalClearing))
        }
        other => Endpoint::Unsupported(other.to_owned()),
    }
}

/// Where the answered call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// `&app(arg)`: run one application.
    App { app: String, arg: String },
    /// `<extension> [<dialplan>] [<context>]`: route through the dialplan.
    Extension(Target),
}

/// A parsed `originate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Originate {
    pub dial: DialString,
    pub destination: Destination,
    pub caller_id_name: Option<String>,
    pub caller_id_number: Option<String>,
    /// Seconds to wait for an answer (positional; `originate_timeout` wins).
    pub timeout: u32,
}

/// Parses `originate`'s arguments; `None` means FreeSWITCH's usage error.
pub(crate) fn parse_originate(args: &str) -> Option<Originate> {
    let words: Vec<Option<String>> = split_words(args)
        .into_iter()
        .map(|w| (!w.eq_ignore_ascii_case("undef")).then_some(w))
        .collect();
    if words.len() < 2 || words.len() > 7 {
        return None;
    }
    let word = |i: usize| words.get(i).cloned().flatten();
    let dial = parse_dial_string(&word(0)?);
    let exten = word(1)?;
    let destination = match exten.strip_prefix('&').filter(|r| !r.is_empty()) {
        Some(app) => {
            let app = app.split(')').next().unwrap_or(app);
            let (name, arg) = app.split_once('(').unwrap_or((app, ""));
            Destination::App {
                app: name.to_owned(),
                arg: arg.to_owned(),
            }
        }
        None => Destination::Extension(Target {
            extension: exten,
            dialplan: word(2).unwrap_or_else(|| "XML".to_owned()),
            context: word(3).unwrap_or_else(|| "default".to_owned()),
        }),
    };
    Some(Originate {
        dial,
        destination,
        caller_id_name: word(4),
        caller_id_number: word(5),
        timeout: word(6).and_then(|t| t.parse().ok()).unwrap_or(60),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_spaces_and_keep_quoted_spans() {
        assert_eq!(
            split_words("{a='x y'}sofia/gw/1  &park()   'two words' it\\'s ^\\d{6}$ a\\sb"),
            vec![
                "{a=x y}sofia/gw/1",
                "&park()",
                "two words",
                "it's",
                "^\\d{6}$",
                "a b"
            ]
        );
        assert_eq!(split_words("lonely ' quote"), vec!["lonely", "'", "quote"]);
        assert_eq!(
            split_words(r"ars_input \d{6} a\ b c\sd e\\f"),
            vec!["ars_input", r"\d{6}", r"a\ b", "c d", r"e\f"]
        );
    }

    #[test]
    fn the_canonical_originate_parses() {
        let o = parse_originate(
            "{origination_uuid=a1,ignore_early_media=true,originate_timeout=30,origination_caller_id_name='Acme Bank'}sofia/gateway/carrier1/15551234567 &park()",
        )
        .unwrap();
        assert_eq!(
            o.dial.vars,
            vec![
                ("origination_uuid".to_owned(), "a1".to_owned()),
                ("ignore_early_media".to_owned(), "true".to_owned()),
                ("originate_timeout".to_owned(), "30".to_owned()),
                (
                    "origination_caller_id_name".to_owned(),
                    "Acme Bank".to_owned()
                ),
            ]
        );
        assert_eq!(
            o.dial.endpoint,
            Endpoint::Gateway {
                gateway: "carrier1".to_owned(),
                number: "15551234567".to_owned()
            }
        );
        assert_eq!(
            o.destination,
            Destination::App {
                app: "park".to_owned(),
                arg: String::new()
            }
        );
        assert_eq!(o.timeout, 60);
    }

    #[test]
    fn extensions_default_to_xml_default() {
        let o = parse_originate("sofia/internal/1000@127.0.0.1:5070 collect").unwrap();
        assert_eq!(
            o.destination,
            Destination::Extension(Target {
                extension: "collect".to_owned(),
                dialplan: "XML".to_owned(),
                context: "default".to_owned()
            })
        );
        assert_eq!(o.dial.endpoint.phone_keys()[0], "1000@127.0.0.1:5070");
        let o = parse_originate("sofia/internal/1000@h ok XML arsgate undef undef 20").unwrap();
        assert_eq!(o.caller_id_name, None);
        assert_eq!(o.timeout, 20);
    }

    #[test]
    fn too_few_or_too_many_words_are_a_usage_error() {
        assert!(parse_originate("sofia/internal/1000").is_none());
        assert!(parse_originate("a b c d e f g h").is_none());
    }

    #[test]
    fn separators_and_escapes_in_variables() {
        let d = parse_dial_string("{^^;a=1,2;b=3}error/USER_BUSY");
        assert_eq!(
            d.vars,
            vec![
                ("a".to_owned(), "1,2".to_owned()),
                ("b".to_owned(), "3".to_owned())
            ]
        );
        assert_eq!(d.endpoint, Endpoint::Error(HangupCause::UserBusy));
        let d = parse_dial_string("{a=x\\,y}[b=2]sofia/internal/1000@h:5080,sofia/internal/2000@h");
        assert_eq!(d.vars.len(), 2);
        assert_eq!(d.vars[0].1, "x,y");
        assert_eq!(d.target, "sofia/internal/1000@h:5080");
        assert_eq!(
            parse_dial_string("loopback/1000").endpoint,
            Endpoint::Unsupported("loopback".to_owned())
        );
    }
}
