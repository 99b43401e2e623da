//! Request fields and the texts built from them: the rules a field's value
//! must follow, the `{field}` template syntax of `speak`, and filling a
//! template for one call.
//!
//! A filled text becomes a channel variable that FreeSWITCH expands and
//! splits, so neither a template nor a value may hold the characters it
//! would interpret: `$ { } [ ] ' " \ , ; | ^` and control characters (the
//! same set `switch::VarValue` refuses). Values are checked when a text is
//! filled, whatever the field's own rules say.
//!
//! Nor may they hold Unicode format characters (category Cf: bidi
//! overrides, zero-width spaces and joiners, the byte-order mark...). A
//! consent text is kept as legal evidence of what the customer heard; an
//! invisible character makes the stored text display differently from what
//! was spoken (U+202E shows `21-1110-000` for `000-1112`), or hides words a
//! reader of the record cannot see.

use std::sync::LazyLock;

use regex::Regex;

use super::program::{Language, LocalizedText};

/// Characters a spoken text may not contain.
pub(crate) const FORBIDDEN: &str = "${}[]'\"\\,;|^";

/// The most bytes a filled text may have (a channel variable's limit).
pub(crate) const MAX_TEXT_BYTES: usize = 1024;

/// Whether `c` may appear in a spoken text.
pub(crate) fn allowed(c: char) -> bool {
    !c.is_control() && !FORBIDDEN.contains(c) && !invisible(c)
}

/// Whether `c` is a Unicode format character (general category Cf).
pub(crate) fn invisible(c: char) -> bool {
    static FORMAT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\p{Cf}$").expect("a valid Unicode class"));
    FORMAT.is_match(c.encode_utf8(&mut [0; 4]))
}

/// Why `c`, refused by [`allowed`], is refused.
fn refusal(field: &str, c: char) -> FieldError {
    let field = field.to_owned();
    if invisible(c) {
        FieldError::Invisible {
            field,
            character: c,
        }
    } else {
        FieldError::Forbidden {
            field,
            character: c,
        }
    }
}

/// A request field a scenario's texts use.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub(crate) name: String,
    pub(crate) max_length: u32,
    /// Anchored at both ends.
    pub(crate) pattern: Option<Regex>,
}

impl FieldSpec {
    /// The field's name, as written in `{name}` placeholders.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The most characters a value may have.
    pub fn max_length(&self) -> u32 {
        self.max_length
    }

    /// Checks a request's value for this field: not empty, not longer than
    /// `max_length` characters, matching `pattern` (if any) as a whole, and
    /// free of the characters a text may not contain. Errors never repeat
    /// the value (it may be personal data).
    pub fn check(&self, value: &str) -> Result<(), FieldError> {
        let field = || self.name.clone();
        if value.trim().is_empty() {
            return Err(FieldError::Empty { field: field() });
        }
        if value.chars().count() > self.max_length as usize {
            return Err(FieldError::TooLong {
                field: field(),
                max_length: self.max_length,
            });
        }
        if let Some(c) = value.chars().find(|&c| !allowed(c)) {
            return Err(refusal(&self.name, c));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(value)
        {
            return Err(FieldError::Pattern { field: field() });
        }
        Ok(())
    }
}

/// Why a field's value or a filled text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The request lacks a field the text uses.
    #[error("field `{field}` is missing")]
    Missing {
        /// The field.
        field: String,
    },
    /// The value is empty or blank.
    #[error("field `{field}` is empty")]
    Empty {
        /// The field.
        field: String,
    },
    /// The value is too long.
    #[error("field `{field}` is longer than {max_length} characters")]
    TooLong {
        /// The field.
        field: String,
        /// Its limit.
        max_length: u32,
    },
    /// The value does not match the field's pattern.
    #[error("field `{field}` does not match its pattern")]
    Pattern {
        /// The field.
        field: String,
    },
    /// The value holds a character FreeSWITCH would interpret.
    #[error("field `{field}` contains `{character}`, which a spoken text may not contain")]
    Forbidden {
        /// The field.
        field: String,
        /// The first such character.
        character: char,
    },
    /// The value holds a Unicode format character (category Cf).
    #[error(
        "field `{field}` contains U+{:04X}, an invisible formatting character (Unicode category Cf): \
         the text would not read as it is spoken",
        u32::from(*character)
    )]
    Invisible {
        /// The field.
        field: String,
        /// The first such character.
        character: char,
    },
    /// The text has no template in the call's language.
    #[error("the text has no template in {}", language.code())]
    NoTemplate {
        /// The call's language.
        language: Language,
    },
    /// The filled text is longer than a channel variable may be.
    #[error("the filled text is longer than {MAX_TEXT_BYTES} bytes")]
    TooLongText,
}

/// A piece of a parsed template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text spoken as written.
    Text(&'a str),
    /// A `{field}` placeholder.
    Field(&'a str),
}

/// Splits a template into text and `{field}` placeholders. The error says
/// what is wrong, for a validation message.
pub(crate) fn parse_template(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            pieces.push(Piece::Text(rest));
            break;
        };
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let close = after
            .find(['}', '{'])
            .filter(|&i| after[i..].starts_with('}'))
            .ok_or_else(|| "a `{` is not closed by `}`".to_owned())?;
        let name = &after[..close];
        if !is_field_name(name) {
            return Err(format!(
                "`{{{name}}}` is not a placeholder: write `{{field}}` with a field name ([a-z][a-z0-9_]*)"
            ));
        }
        pieces.push(Piece::Field(name));
        rest = &after[close + 1..];
    }
    for piece in &pieces {
        if let Piece::Text(text) = piece
            && let Some(c) = text.chars().find(|&c| !allowed(c))
        {
            return Err(if c == '}' {
                "a `}` closes no `{`".to_owned()
            } else if invisible(c) {
                format!(
                    "U+{:04X} may not appear in a spoken text: invisible formatting characters \
                     (Unicode category Cf) make the text read differently from what is spoken",
                    u32::from(c)
                )
            } else {
                format!(
                    "`{}` may not appear in a spoken text (FreeSWITCH would interpret it); \
                     forbidden: $ {{ }} [ ] ' \" \\ , ; | ^ and control characters",
                    c.escape_default()
                )
            });
        }
    }
    Ok(pieces)
}

/// `[a-z][a-z0-9_]{0,31}`: field names, step ids and scenario names.
pub(crate) fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl LocalizedText {
    /// The text in `language` with every `{field}` replaced by its value
    /// from `value`. Each value is checked for characters a spoken text may
    /// not contain; the field's own rules ([`FieldSpec::check`]) are the
    /// caller's to apply when the request arrives.
    pub fn fill<'v>(
        &self,
        language: Language,
        value: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, FieldError> {
        let template = self
            .templates
            .iter()
            .find(|(l, _)| *l == language)
            .map(|(_, t)| t.as_str())
            .ok_or(FieldError::NoTemplate { language })?;
        // Templates are validated when the scenario loads; a broken one
        // here would have to come from a hand-built program.
        let pieces = parse_template(template).map_err(|_| FieldError::NoTemplate { language })?;
        let mut out = String::with_capacity(template.len());
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => {
                    let v = value(field).ok_or_else(|| FieldError::Missing {
                        field: field.to_owned(),
                    })?;
                    if let Some(c) = v.chars().find(|&c| !allowed(c)) {
                        return Err(refusal(field, c));
                    }
                    out.push_str(v);
                }
            }
        }
        if out.len() > MAX_TEXT_BYTES {
            return Err(FieldError::TooLongText);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pattern: Option<&str>) -> FieldSpec {
        FieldSpec {
            name: "holder_name".to_owned(),
            max_length: 5,
            pattern: pattern.map(|p| Regex::new(&format!("^(?:{p})$")).unwrap()),
        }
    }

    #[test]
    fn templates_split_into_text_and_fields() {
        assert_eq!(
            parse_template("{bank} 예금주 {holder_name} 님"),
            Ok(vec![
                Piece::Field("bank"),
                Piece::Text(" 예금주 "),
                Piece::Field("holder_name"),
                Piece::Text(" 님"),
            ])
        );
        assert_eq!(parse_template(""), Ok(vec![]));
    }

    #[test]
    fn broken_templates_say_what_is_wrong() {
        let cases = [
            ("a {bank", "not closed"),
            ("a {bank {x}", "not closed"),
            ("a } b", "closes no"),
            ("{} b", "not a placeholder"),
            ("{Bank}", "not a placeholder"),
            ("1번을, 아니면", "`,` may not appear"),
            ("cost $5", "`$` may not appear"),
            ("a\nb", "`\\n` may not appear"),
            ("동의\u{202e}합니다", "U+202E may not appear"),
        ];
        for (template, needle) in cases {
            let error = parse_template(template).expect_err(template);
            assert!(error.contains(needle), "{template}: {error}");
        }
    }

    #[test]
    fn values_are_checked_without_being_repeated() {
        let plain = spec(None);
        assert_eq!(plain.check("홍길동"), Ok(()));
        assert!(matches!(plain.check("  "), Err(FieldError::Empty { .. })));
        assert!(matches!(
            plain.check("홍길동홍길동"),
            Err(FieldError::TooLong { max_length: 5, .. })
        ));
        let forbidden = plain.check("${x}").expect_err("forbidden");
        assert_eq!(
            forbidden,
            FieldError::Forbidden {
                field: "holder_name".to_owned(),
                character: '$'
            }
        );
        for c in [
            '\u{202e}', '\u{200b}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}',
        ] {
            let value = format!("홍{c}길동");
            assert_eq!(
                plain.check(&value),
                Err(FieldError::Invisible {
                    field: "holder_name".to_owned(),
                    character: c
                }),
                "U+{:04X}",
                u32::from(c)
            );
        }
        let invisible = plain.check("홍\u{202e}동").expect_err("bidi override");
        assert!(invisible.to_string().contains("U+202E"), "{invisible}");
        assert!(!invisible.to_string().contains('\u{202e}'), "{invisible}");
        let digits = spec(Some("[0-9-]+"));
        assert_eq!(digits.check("000-1"), Ok(()));
        let error = digits.check("abc").expect_err("pattern");
        assert!(!error.to_string().contains("abc"), "{error}");
        assert!(digits.check("1 000-1").is_err(), "the pattern is anchored");
    }

    #[test]
    fn fill_replaces_fields_and_refuses_unsafe_values() {
        let text = LocalizedText {
            templates: vec![
                (Language::Ko, "{holder_name} 님 동의".to_owned()),
                (Language::En, "Consent of {holder_name}".to_owned()),
            ],
        };
        let values = |field: &str| (field == "holder_name").then_some("홍길동");
        assert_eq!(
            text.fill(Language::Ko, values),
            Ok("홍길동 님 동의".to_owned())
        );
        assert_eq!(
            text.fill(Language::En, values),
            Ok("Consent of 홍길동".to_owned())
        );
        assert_eq!(
            text.fill(Language::Ko, |_| None),
            Err(FieldError::Missing {
                field: "holder_name".to_owned()
            })
        );
        assert!(matches!(
            text.fill(Language::Ko, |_| Some("a|b")),
            Err(FieldError::Forbidden { character: '|', .. })
        ));
        assert!(matches!(
            text.fill(Language::Ko, |_| Some("홍\u{200b}길동")),
            Err(FieldError::Invisible {
                character: '\u{200b}',
                ..
            })
        ));
        let long = "가".repeat(400);
        assert_eq!(
            text.fill(Language::Ko, |_| Some(long.as_str())),
            Err(FieldError::TooLongText)
        );
        let korean_only = LocalizedText {
            templates: vec![(Language::Ko, "안녕".to_owned())],
        };
        assert_eq!(
            korean_only.fill(Language::En, values),
            Err(FieldError::NoTemplate {
                language: Language::En
            })
        );
    }
}
