//! FreeSWITCH's configuration preprocessor (`preprocess` in `switch_xml.c`).
//!
//! It works on text, line by line, before any XML parsing:
//! - `$${name}` is replaced by the global variable `name` (nothing if unset)
//!   on every line, comments included.
//! - A line containing `<include>`, `</include>` or `<?` is dropped whole.
//! - A line containing `X-PRE-PROCESS` (any case) is dropped whole; if the
//!   word follows a `<`, the line's first `cmd="…"` and the next `data="…"`
//!   form a directive. This happens inside XML comments too.
//! - `<!--#cmd "arg"-->` is a directive as well; the text around it is kept.
//!
//! Directives: `set` (`name=value`, spaces around `=` trimmed, a `${` in the
//! value defused to `%{`, an empty value unsets) and `include` (a glob,
//! relative to the including file's directory, matches in byte order, each
//! file preprocessed in place). `exec`, `exec-set`, `stun-set` and `env-set`
//! would run programs or read the environment: we refuse them. Unknown
//! commands are ignored, as FreeSWITCH does.

use std::borrow::Cow;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::{DialplanError, Location};

/// Includes nested deeper than this fail (FreeSWITCH stops at the same depth).
const MAX_INCLUDE_DEPTH: u32 = 100;

/// Global variables set with `X-PRE-PROCESS cmd="set"`; names are case-insensitive.
#[derive(Debug, Clone, Default)]
pub(super) struct Globals(Vec<(String, String)>);

impl Globals {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Applies a `set` directive's `name=value`.
    fn assign(&mut self, assignment: &str) {
        let Some((name, value)) = assignment.split_once('=') else {
            return;
        };
        let name = name.trim_end_matches(' ');
        let value = defuse_references(value.trim_start_matches(' '));
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if !value.is_empty() {
            self.0.push((name.to_owned(), value));
        }
    }
}

/// `switch_string_var_check(.., SWITCH_TRUE)`: global values never hold a live
/// `${`; its `$` becomes `%`.
fn defuse_references(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = bytes.to_vec();
    let mut dollar = None;
    for (i, &c) in bytes.iter().enumerate() {
        match (c, dollar) {
            (b'$', _) => dollar = Some(i),
            (b'{', Some(d)) => {
                out[d] = b'%';
                dollar = None;
            }
            (b'\\', Some(_)) => {}
            _ => dollar = None,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Preprocessed text, ready for the XML parser, with where each line came from.
#[derive(Debug)]
pub(super) struct Preprocessed {
    pub text: String,
    pub globals: Globals,
    origins: Vec<String>,
    /// For each output line: index into `origins`, source line number.
    lines: Vec<(usize, u32)>,
}

impl Preprocessed {
    /// The source location of output `row` (1-based) and `column`.
    pub(super) fn locate(&self, row: u32, column: u32) -> Location {
        let index = usize::try_from(row).unwrap_or(usize::MAX).saturating_sub(1);
        match self.lines.get(index).or(self.lines.last()) {
            Some(&(origin, line)) => Location {
                origin: self.origins[origin].clone(),
                line,
                column,
                context: None,
                extension: None,
            },
            None => Location {
                origin: self.origins.first().cloned().unwrap_or_default(),
                line: 1,
                column,
                context: None,
                extension: None,
            },
        }
    }
}

/// Accumulates preprocessed text from strings and files.
#[derive(Debug, Default)]
pub(super) struct Preprocessor {
    out: String,
    globals: Globals,
    origins: Vec<String>,
    lines: Vec<(usize, u32)>,
    line_open: bool,
}

#[derive(PartialEq, Clone, Copy)]
enum Form {
    /// `<X-PRE-PROCESS cmd="…" data="…"/>`
    Tag,
    /// `<!--#cmd "arg"-->`
    Comment,
}

impl Preprocessor {
    /// Preprocesses a document given as text; it has no directory, so it cannot include.
    pub(super) fn text(&mut self, text: &str, origin: &str) -> Result<(), DialplanError> {
        let index = self.origin(origin.to_owned());
        self.lines_of(text, index, None, 0)
    }

    /// Preprocesses every `*.xml` file in `dir` as `X-PRE-PROCESS cmd="include"
    /// data="dir/*.xml"` inside the dialplan section would.
    pub(super) fn dir(&mut self, dir: &Path) -> Result<(), DialplanError> {
        fs::read_dir(dir).map_err(|source| DialplanError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for path in glob(&dir.join("*.xml")) {
            if !path.is_dir() {
                self.file(&path, 1)?;
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Preprocessed {
        Preprocessed {
            text: self.out,
            globals: self.globals,
            origins: self.origins,
            lines: self.lines,
        }
    }

    fn origin(&mut self, name: String) -> usize {
        self.origins.push(name);
        self.origins.len() - 1
    }

    fn file(&mut self, path: &Path, depth: u32) -> Result<(), DialplanError> {
        let text = fs::read_to_string(path).map_err(|source| DialplanError::Io {
            path: path.to_owned(),
            source,
        })?;
        let index = self.origin(path.display().to_string());
        self.lines_of(&text, index, path.parent(), depth)
    }

    fn lines_of(
        &mut self,
        text: &str,
        origin: usize,
        dir: Option<&Path>,
        depth: u32,
    ) -> Result<(), DialplanError> {
        let name = self.origins[origin].clone();
        let mut in_directive_comment = false;
        for (n, raw) in text.split_inclusive('\n').enumerate() {
            let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let at = || Location {
                origin: name.clone(),
                line: line_no,
                column: 1,
                context: None,
                extension: None,
            };
            let fail = |message: String| DialplanError::Preprocess {
                at: Box::new(at()),
                message,
            };
            let expanded = self.expand_globals(raw).map_err(fail)?;
            if raw.contains("<include>") || raw.contains("</include>") || raw.contains("<?") {
                check_dropped(raw).map_err(fail)?;
                continue;
            }
            let mut line: &str = &expanded;
            if in_directive_comment {
                match raw.find("-->") {
                    Some(end) => {
                        in_directive_comment = false;
                        line = &raw[end + 3..];
                    }
                    None => continue,
                }
            }
            if let Some(t) = find_ignore_case(line, "x-pre-process") {
                check_dropped(line).map_err(fail)?;
                if t > 0
                    && line.as_bytes()[t - 1] == b'<'
                    && let Some((cmd, data)) = parse_tag(&line[t..])
                {
                    let at = at();
                    self.directive(Form::Tag, cmd, data, dir, &at, depth)?;
                }
                continue;
            }
            if let Some(c) = line.find("<!--#") {
                self.emit(&line[..c], (origin, line_no));
                let rest = &line[c + 5..];
                let body = match rest.find("-->") {
                    Some(end) => {
                        self.emit(&rest[end + 3..], (origin, line_no));
                        &rest[..end]
                    }
                    None => {
                        in_directive_comment = true;
                        rest
                    }
                };
                let body = body.split(['\r', '\n']).next().unwrap_or_default();
                if let Some((cmd, arg)) = body.split_once(' ') {
                    let at = at();
                    self.directive(Form::Comment, cmd, quoted(arg), dir, &at, depth)?;
                }
                continue;
            }
            self.emit(line, (origin, line_no));
        }
        Ok(())
    }

    fn emit(&mut self, text: &str, origin: (usize, u32)) {
        for piece in text.split_inclusive('\n') {
            if !self.line_open {
                self.lines.push(origin);
                self.line_open = true;
            }
            self.out.push_str(piece);
            self.line_open = !piece.ends_with('\n');
        }
    }

    fn directive(
        &mut self,
        form: Form,
        cmd: &str,
        data: &str,
        dir: Option<&Path>,
        at: &Location,
        depth: u32,
    ) -> Result<(), DialplanError> {
        let refuse = |what: &str| {
            Err(DialplanError::Preprocess {
                at: Box::new(at.clone()),
                message: format!("cmd=\"{cmd}\" {what}; the simulator does not support it"),
            })
        };
        match cmd.to_ascii_lowercase().as_str() {
            "set" => self.globals.assign(data),
            "include" => self.include(dir, data, at, depth + 1)?,
            "exec" | "exec-set" => return refuse("runs a program"),
            "stun-set" => return refuse("queries a STUN server"),
            "env-set" if form == Form::Tag => return refuse("reads the environment"),
            _ => {}
        }
        Ok(())
    }

    fn include(
        &mut self,
        dir: Option<&Path>,
        pattern: &str,
        at: &Location,
        depth: u32,
    ) -> Result<(), DialplanError> {
        let fail = |message: String| DialplanError::Preprocess {
            at: Box::new(at.clone()),
            message,
        };
        if depth > MAX_INCLUDE_DEPTH {
            return Err(fail(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH} (an include cycle?)"
            )));
        }
        let Some(dir) = dir else {
            return Err(fail(format!(
                "cannot include \"{pattern}\": a document parsed from a string has no directory (load it with Dialplan::load_dir)"
            )));
        };
        let pattern = if pattern.starts_with('/') {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        for path in glob(&pattern) {
            if !path.is_dir() {
                self.file(&path, depth)?;
            }
        }
        Ok(())
    }

    fn expand_globals<'a>(&self, line: &'a str) -> Result<Cow<'a, str>, String> {
        if !line.contains("$${") {
            return Ok(Cow::Borrowed(line));
        }
        let mut out = String::with_capacity(line.len());
        let mut i = 0;
        while let Some(p) = line[i..].find("$${") {
            let start = i + p;
            out.push_str(&line[i..start]);
            let end = closing_brace(line.as_bytes(), start + 2)
                .ok_or_else(|| format!("unterminated `$${{` in `{}`", line.trim_end()))?;
            if let Some(value) = self.globals.get(&line[start + 3..end]) {
                out.push_str(value);
            }
            i = end + 1;
        }
        out.push_str(&line[i..]);
        Ok(Cow::Owned(out))
    }
}

/// The index of the `}` matching the `{` at `open`.
fn closing_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// FreeSWITCH loses a dropped line's other markup silently, which breaks or
/// changes the document; we refuse such lines instead.
fn check_dropped(line: &str) -> Result<(), String> {
    let mut rest = line.to_owned();
    remove_spans(&mut rest, "<!--", "-->");
    remove_spans(&mut rest, "<?", "?>");
    remove_spans(&mut rest, "<x-pre-process", ">");
    remove_spans(&mut rest, "</x-pre-process", ">");
    for token in ["<include>", "</include>", "<!--", "-->"] {
        rest = rest.replace(token, "");
    }
    let rest = rest.trim();
    if rest.contains(['<', '>']) {
        return Err(format!(
            "FreeSWITCH's preprocessor drops this whole line (it holds <include>, </include>, <? or X-PRE-PROCESS) and would lose `{rest}`; put that on its own line"
        ));
    }
    Ok(())
}

/// Removes every `open … close` span, `open` matched case-insensitively.
fn remove_spans(s: &mut String, open: &str, close: &str) {
    let mut from = 0;
    while let Some(start) = find_ignore_case(&s[from..], open).map(|p| p + from) {
        match s[start + open.len()..].find(close) {
            Some(end) => {
                s.replace_range(start..start + open.len() + end + close.len(), " ");
                from = start;
            }
            None => break,
        }
    }
}

/// Byte index of ASCII `needle` in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The `cmd` and `data` values of an `X-PRE-PROCESS` tag starting at `tag`,
/// found the way FreeSWITCH finds them (first `cmd`, then `data` after it).
fn parse_tag(tag: &str) -> Option<(&str, &str)> {
    let tag = match tag.find("/>") {
        Some(end) => &tag[..end + 2],
        None => tag,
    };
    /// Where the quoted value of the first `key … = "` in `s` starts.
    fn value_after(s: &str, key: &str) -> Option<usize> {
        let k = find_ignore_case(s, key)?;
        let eq = s[k..].find('=')? + k;
        Some(s[eq..].find('"')? + eq + 1)
    }
    let cmd_start = value_after(tag, "cmd")?;
    let cmd_end = tag[cmd_start..].find('"')? + cmd_start;
    let rest = &tag[cmd_end + 1..];
    let data_start = value_after(rest, "data")?;
    let data = &rest[data_start..];
    let data = data.find('"').map_or(data, |end| &data[..end]);
    Some((&tag[cmd_start..cmd_end], data))
}

/// A `<!--#` argument: the text between the first two `"` if there are two.
fn quoted(arg: &str) -> &str {
    if let Some(open) = arg.find('"')
        && let Some(len) = arg[open + 1..].find('"')
    {
        return &arg[open + 1..open + 1 + len];
    }
    arg
}

/// `glob(3)` as FreeSWITCH calls it: `*`, `?` and `[…]` in any component,
/// no hidden files unless asked for, results sorted bytewise. Unreadable
/// directories yield no matches.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    let mut literal_tail = false;
    for component in pattern.components() {
        let name = component.as_os_str().to_string_lossy();
        let wild = matches!(component, Component::Normal(_)) && name.contains(['*', '?', '[']);
        literal_tail = !wild;
        let mut next = Vec::new();
        for base in &found {
            if !wild {
                next.push(base.join(component));
                continue;
            }
            let listing = if base.as_os_str().is_empty() {
                fs::read_dir(".")
            } else {
                fs::read_dir(base)
            };
            for entry in listing.into_iter().flatten().flatten() {
                let file = entry.file_name();
                let file_name = file.to_string_lossy();
                let hidden = file_name.starts_with('.') && !name.starts_with('.');
                if !hidden && fnmatch(name.as_bytes(), file_name.as_bytes()) {
                    next.push(base.join(&file));
                }
            }
        }
        found = next;
    }
    if literal_tail {
        found.retain(|p| p.exists());
    }
    found.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    found
}

/// Shell-style matching of one path component.
fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| fnmatch(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && fnmatch(rest, &name[1..]),
        Some((b'[', rest)) => match (name.split_first(), bracket(rest)) {
            (Some((&c, tail)), Some((set, after))) => set(c) && fnmatch(after, tail),
            // An unterminated bracket is a literal `[`.
            (Some((b'[', tail)), None) => fnmatch(rest, tail),
            _ => false,
        },
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == rest.first() && fnmatch(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && fnmatch(rest, &name[1..]),
    }
}

/// Parses a bracket expression after its `[`: a membership test and what follows `]`.
fn bracket(p: &[u8]) -> Option<(impl Fn(u8) -> bool, &[u8])> {
    let (negate, body) = match p.first() {
        Some(b'!' | b'^') => (true, &p[1..]),
        _ => (false, p),
    };
    // A `]` right after the opening (and negation) is a member.
    let close = body.iter().skip(1).position(|&c| c == b']')? + 1;
    let members = &body[..close];
    let test = move |c: u8| {
        let mut i = 0;
        let mut hit = false;
        while i < members.len() {
            if i + 2 < members.len() && members[i + 1] == b'-' {
                hit |= (members[i]..=members[i + 2]).contains(&c);
                i += 3;
            } else {
                hit |= members[i] == c;
                i += 1;
            }
        }
        hit != negate
    };
    Some((test, &body[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<Preprocessed, DialplanError> {
        let mut p = Preprocessor::default();
        p.text(text, "test.xml")?;
        Ok(p.finish())
    }

    fn out(text: &str) -> String {
        match run(text) {
            Ok(p) => p.text,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn set_then_substitute_in_later_lines() {
        let text = "<X-PRE-PROCESS cmd=\"set\" data=\"domain = example.com\"/>\n<a d=\"$${domain}\" u=\"[$${unknown}]\"/>\n";
        assert_eq!(out(text), "<a d=\"example.com\" u=\"[]\"/>\n");
        let p = run(text).ok();
        assert_eq!(
            p.as_ref().and_then(|p| p.globals.get("DOMAIN")),
            Some("example.com")
        );
    }

    #[test]
    fn set_defuses_references_and_empty_unsets() {
        let p = run("<X-PRE-PROCESS cmd=\"set\" data=\"a=x${y}\"/>\n<X-PRE-PROCESS cmd=\"set\" data=\"b=1\"/>\n<X-PRE-PROCESS cmd=\"set\" data=\"b=\"/>\n").ok();
        assert_eq!(p.as_ref().and_then(|p| p.globals.get("a")), Some("x%{y}"));
        assert_eq!(p.as_ref().and_then(|p| p.globals.get("b")), None);
    }

    #[test]
    fn include_and_declaration_lines_are_dropped() {
        let text = "<?xml version=\"1.0\"?>\n<include>\n  <context name=\"x\"/>\n</include>\n";
        assert_eq!(out(text), "  <context name=\"x\"/>\n");
    }

    #[test]
    fn markup_on_a_dropped_line_is_refused() {
        let err = run("<include><context name=\"x\">\n</context></include>\n").err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("test.xml:1:1"), "{msg}");
        assert!(msg.contains("<context name=\"x\">"), "{msg}");
        // A comment around the directive is fine, and still executes (a known FreeSWITCH gotcha).
        let text = "<!-- <X-PRE-PROCESS cmd=\"set\" data=\"c=1\"/> -->\n<a>$${c}</a>\n";
        assert_eq!(out(text), "<a>1</a>\n");
    }

    #[test]
    fn directive_needs_cmd_before_data_and_a_preceding_angle_bracket() {
        // data before cmd: the line is dropped and nothing is set.
        assert_eq!(
            out("<X-PRE-PROCESS data=\"a=1\" cmd=\"set\"/>\n<a>$${a}</a>\n"),
            "<a></a>\n"
        );
        // Mentioning the word drops the line too.
        assert_eq!(out("see X-PRE-PROCESS docs\n<a/>\n"), "<a/>\n");
    }

    #[test]
    fn comment_directives() {
        assert_eq!(
            out("a<!--#set \"v=2\"-->b\n<c>$${v}</c>\n"),
            "ab\n<c>2</c>\n"
        );
        assert_eq!(
            out("<!--#set \"v=3\"\nhidden\n-->\n<c>$${v}</c>\n"),
            "\n<c>3</c>\n"
        );
    }

    #[test]
    fn refused_and_ignored_commands() {
        let err = run("<X-PRE-PROCESS cmd=\"exec\" data=\"ls\"/>\n").err();
        assert!(matches!(err, Some(DialplanError::Preprocess { .. })));
        assert_eq!(
            out("<X-PRE-PROCESS cmd=\"frobnicate\" data=\"x\"/>\n<a/>\n"),
            "<a/>\n"
        );
        let err = run("<X-PRE-PROCESS cmd=\"include\" data=\"*.xml\"/>\n").err();
        assert!(err.is_some_and(|e| e.to_string().contains("load_dir")));
        let err = run("<a>$${oops</a>\n").err();
        assert!(err.is_some_and(|e| e.to_string().contains("unterminated")));
    }

    #[test]
    fn locate_maps_output_rows_to_source_lines() {
        let p = run("<?xml?>\n<include>\n<a/>\n<b/>\n</include>\n");
        let loc = p.map(|p| p.locate(2, 3)).ok();
        assert_eq!(loc.map(|l| l.to_string()).as_deref(), Some("test.xml:4:3"));
    }

    #[test]
    fn glob_matching() {
        assert!(fnmatch(b"*.xml", b"default.xml"));
        assert!(!fnmatch(b"*.xml", b"default.xml.bak"));
        assert!(fnmatch(b"0[0-9]_?.xml", b"01_a.xml"));
        assert!(!fnmatch(b"[!0]*", b"0x"));
        assert!(fnmatch(b"[]]x", b"]x"));
        assert!(fnmatch(b"a[b", b"a[b"));
    }
}
