//! The scenario file as written: the YAML shape of `config/scenarios/*.yaml`,
//! deserialized as is. Every struct refuses unknown keys; the rules that
//! span fields (one action per step, existing ids, known prompts ...) are
//! checked afterwards by [`validate`](super::validate).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::program::{Language, SecretKind};

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioDef {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub secret: SecretKind,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    pub steps: Vec<StepDef>,
}

/// A request field that `speak` templates may use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldDef {
    pub name: String,
    pub max_length: u32,
    #[serde(default)]
    pub pattern: Option<String>,
}

/// One step: an optional id and exactly one action (checked later).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepDef {
    pub id: Option<String>,
    pub play: Option<Prompts>,
    #[serde(default, deserialize_with = "present")]
    pub say_code: Option<SayCodeDef>,
    pub speak: Option<Texts>,
    pub collect: Option<CollectDef>,
    pub menu: Option<MenuDef>,
    pub verify: Option<VerifyDef>,
    pub record: Option<RecordAction>,
    pub goto: Option<String>,
    pub result: Option<String>,
}

/// `say_code: {}` (an empty map, or nothing at all).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SayCodeDef;

/// `speak:` texts by language.
pub(crate) type Texts = BTreeMap<Language, String>;

/// `record: start | stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RecordAction {
    Start,
    Stop,
}

/// `collect:` digits with `play_and_get_digits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CollectDef {
    pub prompt: Prompts,
    pub length: Option<u32>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub tries: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub digit_timeout: Option<Duration>,
    pub terminator: Option<String>,
    pub pattern: Option<String>,
    pub invalid: Option<Prompts>,
    pub no_input: Option<TargetDef>,
    pub invalid_input: Option<TargetDef>,
}

/// `menu:` one key, each key leading somewhere.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MenuDef {
    pub prompt: Prompts,
    pub tries: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub invalid: Option<Prompts>,
    pub options: MenuOptions,
    pub no_input: Option<TargetDef>,
    pub invalid_input: Option<TargetDef>,
}

/// `verify:` judge the digits of the collect step before.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyDef {
    pub input: String,
    pub against: SecretKind,
    pub attempts: Option<u32>,
    pub wrong: Option<TargetDef>,
    pub exhausted: Option<TargetDef>,
}

/// Where a branch leads: optional inline steps, then `goto` or `result`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetDef {
    pub record: Option<RecordAction>,
    pub play: Option<Prompts>,
    pub speak: Option<Texts>,
    pub goto: Option<String>,
    pub result: Option<String>,
}

/// One prompt name or a list of them.
#[derive(Debug)]
pub(crate) struct Prompts(pub Vec<String>);

impl<'de> Deserialize<'de> for Prompts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Prompts, D::Error> {
        struct PromptsVisitor;

        impl<'de> Visitor<'de> for PromptsVisitor {
            type Value = Prompts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a prompt name or a list of prompt names")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Prompts, E> {
                Ok(Prompts(vec![name.to_owned()]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Prompts, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Prompts(names))
            }
        }

        deserializer.deserialize_any(PromptsVisitor)
    }
}

/// A menu's `options:` in the order written; keys may be written as YAML
/// numbers (`1:`) or strings (`"*":`). Whether a key is a valid DTMF key is
/// checked later, so that the message can point at the step.
#[derive(Debug)]
pub(crate) struct MenuOptions(pub Vec<(String, TargetDef)>);

impl<'de> Deserialize<'de> for MenuOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MenuOptions, D::Error> {
        struct OptionsVisitor;

        impl<'de> Visitor<'de> for OptionsVisitor {
            type Value = MenuOptions;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from keys (0-9, \"*\", \"#\") to targets")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MenuOptions, A::Error> {
                let mut options = Vec::new();
                while let Some(KeyName(key)) = map.next_key()? {
                    options.push((key, map.next_value()?));
                }
                Ok(MenuOptions(options))
            }
        }

        deserializer.deserialize_map(OptionsVisitor)
    }
}

/// A menu key as written: a string, or a number YAML read from `1:`.
struct KeyName(String);

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyName, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = KeyName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key: 0-9, \"*\" or \"#\"")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<KeyName, E> {
                Ok(KeyName(key.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, key: u64) -> Result<KeyName, E> {
                Ok(KeyName(key.to_string()))
            }

            fn visit_i64<E: de::Error>(self, key: i64) -> Result<KeyName, E> {
                Ok(KeyName(key.to_string()))
            }
        }

        deserializer.deserialize_any(KeyVisitor)
    }
}

/// `say_code:` with an empty map or no value marks the step as present.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SayCodeDef>, D::Error> {
    struct EmptyVisitor;

    impl<'de> Visitor<'de> for EmptyVisitor {
        type Value = SayCodeDef;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an empty map `{}` (say_code takes no settings)")
        }

        fn visit_unit<E: de::Error>(self) -> Result<SayCodeDef, E> {
            Ok(SayCodeDef)
        }

        fn visit_none<E: de::Error>(self) -> Result<SayCodeDef, E> {
            Ok(SayCodeDef)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SayCodeDef, A::Error> {
            match map.next_key::<String>()? {
                None => Ok(SayCodeDef),
                Some(key) => Err(de::Error::unknown_field(&key, &[])),
            }
        }
    }

    deserializer.deserialize_any(EmptyVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn step(text: &str) -> Result<StepDef, String> {
        yaml::from_str(text, "t.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn prompts_are_one_name_or_a_list() {
        let one = step("play: greeting").unwrap();
        assert_eq!(one.play.map(|p| p.0), Some(vec!["greeting".to_owned()]));
        let many = step("play: [a, digits/5]").unwrap();
        assert_eq!(
            many.play.map(|p| p.0),
            Some(vec!["a".to_owned(), "digits/5".to_owned()])
        );
        let error = step("play: {a: 1}").unwrap_err();
        assert!(
            error.contains("a prompt name or a list of prompt names"),
            "{error}"
        );
    }

    #[test]
    fn menu_keys_may_be_numbers_or_strings_in_order() {
        let menu: MenuDef = yaml::from_str(
            "prompt: m\noptions:\n  9: { goto: a }\n  \"#\": { result: declined }\n  1: { goto: b }\n",
            "t.yaml",
        )
        .unwrap();
        let keys: Vec<&str> = menu.options.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["9", "#", "1"]);
    }

    #[test]
    fn say_code_takes_an_empty_map_or_nothing() {
        assert!(step("say_code: {}").unwrap().say_code.is_some());
        assert!(step("say_code:").unwrap().say_code.is_some());
        assert!(step("play: a").unwrap().say_code.is_none());
        let error = step("say_code: { digits: 6 }").unwrap_err();
        assert!(
            error.contains("say_code: unknown field `digits`"),
            "{error}"
        );
    }

    #[test]
    fn texts_are_keyed_by_language() {
        let texts = step("speak: { ko: 가, en: a }").unwrap().speak.unwrap();
        assert_eq!(texts.get(&Language::Ko).map(String::as_str), Some("가"));
        let error = step("speak: { jp: a }").unwrap_err();
        assert!(error.contains("unknown variant `jp`"), "{error}");
    }
}
