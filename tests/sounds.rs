//! The prompt audio in `sounds/` matches its manifest: every prompt exists in
//! Korean and English as an 8 kHz, 16-bit, mono PCM WAV that FreeSWITCH plays
//! as is, trimmed so that prompts chain tightly, and no WAV is left over.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::repo;
use serde::Deserialize;

/// `sounds/manifest.yaml`, as `sounds/generate.sh` reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    tts: BTreeMap<String, Tts>,
    padding: BTreeMap<String, f64>,
    /// language → the brand `{brand}` stands for, unless generate.sh is
    /// given another.
    brand: BTreeMap<String, String>,
    recorded: Vec<String>,
    /// prompt name → language → text.
    prompts: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tts {
    voice: String,
    speed: u32,
    pitch: u32,
    #[serde(default)]
    respell: BTreeMap<String, String>,
}

fn manifest() -> Manifest {
    let path = repo("sounds/manifest.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const LANGUAGES: [&str; 2] = ["en", "ko"];

/// Every `(language, prompt, file)` the manifest promises.
fn entries(manifest: &Manifest) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for (name, texts) in &manifest.prompts {
        for lang in texts.keys() {
            let file = repo("sounds").join(lang).join(format!("{name}.wav"));
            out.push((lang.clone(), name.clone(), file));
        }
    }
    out
}

/// Panics with every problem at once, so one run shows them all.
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// The manifest.

#[test]
fn both_languages_define_the_same_prompts() {
    let manifest = manifest();
    let expected: BTreeSet<&str> = LANGUAGES.into_iter().collect();
    let tts: BTreeSet<&str> = manifest.tts.keys().map(String::as_str).collect();
    assert_eq!(tts, expected, "tts settings for exactly these languages");
    let mut problems = Vec::new();
    for (name, texts) in &manifest.prompts {
        let langs: BTreeSet<&str> = texts.keys().map(String::as_str).collect();
        if langs != expected {
            problems.push(format!(
                "{name}: languages {langs:?}, expected {expected:?}"
            ));
        }
        for (lang, text) in texts {
            if text.trim().is_empty() || text.trim() != text {
                problems.push(format!(
                    "{name}.{lang}: empty, or blank at an end: {text:?}"
                ));
            }
            if text.contains(['"', '\\']) {
                problems.push(format!(
                    "{name}.{lang}: generate.sh reads no \" or \\ in texts"
                ));
            }
        }
    }
    assert_no_problems("manifest prompts", &problems);
    assert!(
        manifest.prompts.len() >= 40,
        "the scenarios need about 60 prompts"
    );
}

#[test]
fn prompt_names_are_snake_case_paths() {
    let name = regex::Regex::new(r"^[a-z0-9_]+(/[a-z0-9_]+)*$").unwrap();
    let problems: Vec<String> = manifest()
        .prompts
        .keys()
        .filter(|n| !name.is_match(n) || n.contains("__") || n.starts_with('_'))
        .map(|n| format!("{n:?}: use a-z, 0-9 and _, with / between folders"))
        .collect();
    assert_no_problems("prompt names", &problems);
}

#[test]
fn the_generator_settings_are_complete() {
    let manifest = manifest();
    for (lang, tts) in &manifest.tts {
        assert!(!tts.voice.is_empty(), "tts.{lang}.voice");
        assert!(
            (80..=450).contains(&tts.speed),
            "tts.{lang}.speed {}",
            tts.speed
        );
        assert!(tts.pitch <= 99, "tts.{lang}.pitch {}", tts.pitch);
        for (written, spoken) in &tts.respell {
            assert!(
                !written.is_empty() && !spoken.is_empty(),
                "tts.{lang}.respell"
            );
        }
    }
    let default = manifest.padding.get("default").expect("padding.default");
    for (scope, seconds) in &manifest.padding {
        assert!((0.0..=0.5).contains(seconds), "padding.{scope} = {seconds}");
        assert!(
            scope == "default"
                || manifest
                    .prompts
                    .keys()
                    .any(|n| n.starts_with(&format!("{scope}/"))),
            "padding.{scope} names no folder of prompts"
        );
    }
    assert!(
        *default <= 0.1,
        "prompts chain tightly: default padding {default}"
    );
    for key in &manifest.recorded {
        let (lang, name) = key.split_once('/').unwrap_or(("", ""));
        assert!(
            manifest
                .prompts
                .get(name)
                .is_some_and(|t| t.contains_key(lang)),
            "recorded {key:?} is not <lang>/<prompt> of the manifest"
        );
    }
}

/// The prompts the six scenario types (design.md, A to F) are written
/// against; scenario files and the controller name them.
#[test]
fn the_prompts_the_scenarios_need_exist() {
    let manifest = manifest();
    let mut needed: Vec<String> = [
        "greeting",
        "greeting_generic",
        "your_code_is",
        "repeat_code",
        "enter_code",
        "enter_pin",
        "enter_birthdate",
        "invalid_input",
        "wrong_key",
        "verified",
        "wrong_code",
        "wrong_pin",
        "wrong_birthdate",
        "failed",
        "no_input",
        "consent_intro",
        "consent_press",
        "consent_agreed",
        "consent_declined",
        "recording_notice",
        "event_offer",
        "event_details",
        "event_joined",
        "event_declined",
        "thank_you",
        "goodbye",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // The controller reads a code as `digits/<d>`, one file per digit.
    needed.extend((0..=9).map(|d| format!("digits/{d}")));
    // A menu may listen for any key: one whole sentence per key.
    let keys = (0..=9)
        .map(|d| d.to_string())
        .chain(["star".into(), "pound".into()]);
    for key in keys {
        needed.push(format!("press_{key}_for_code"));
        needed.push(format!("press_{key}_to_repeat"));
    }
    let missing: Vec<String> = needed
        .into_iter()
        .filter(|n| !manifest.prompts.contains_key(n))
        .collect();
    assert_no_problems("prompts missing from the manifest", &missing);
}

/// The placeholder `greeting` names the brand with.
const BRAND: &str = "{brand}";

#[test]
fn only_the_greeting_names_the_brand() {
    let manifest = manifest();
    let mut problems = Vec::new();
    for (name, texts) in &manifest.prompts {
        for (lang, text) in texts {
            let placeholders = text.matches(BRAND).count();
            let expected = usize::from(name == "greeting");
            if placeholders != expected {
                problems.push(format!(
                    "{name}.{lang}: {BRAND} {placeholders} times, expected {expected}"
                ));
            }
            // generate.sh fills {brand} and refuses any other brace.
            if text.replace(BRAND, "").contains(['{', '}']) {
                problems.push(format!("{name}.{lang}: a brace outside {BRAND}"));
            }
        }
    }
    assert_no_problems("brand placeholders", &problems);
}

#[test]
fn the_default_brand_gives_the_innopay_greeting() {
    let manifest = manifest();
    let langs: Vec<&str> = manifest.brand.keys().map(String::as_str).collect();
    assert_eq!(langs, LANGUAGES, "a default brand in every language");
    let greeting =
        |lang: &str| manifest.prompts["greeting"][lang].replace(BRAND, &manifest.brand[lang]);
    // The greeting of the issue, and what the committed WAVs say.
    assert_eq!(greeting("ko"), "이노페이 전화인증 서비스입니다.");
    assert_eq!(
        greeting("en"),
        "This is the Innopay phone verification service."
    );
    for brand in manifest.brand.values() {
        assert!(
            !brand.trim().is_empty() && !brand.contains(['"', '\\', '{', '}']),
            "generate.sh refuses the brand {brand:?}"
        );
    }
}

#[test]
fn korean_digits_are_read_as_sino_korean_numerals() {
    let manifest = manifest();
    // A code is read digit by digit, as Koreans read phone numbers and
    // codes: 0 is 공 (not 영), the rest the Sino-Korean numerals.
    let expected = ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];
    let read: Vec<&str> = (0..=9)
        .map(|d| manifest.prompts[&format!("digits/{d}")]["ko"].as_str())
        .collect();
    assert_eq!(read, expected);
    let english: Vec<&str> = (0..=9)
        .map(|d| manifest.prompts[&format!("digits/{d}")]["en"].as_str())
        .collect();
    assert_eq!(
        english,
        [
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"
        ]
    );
}

// ---------------------------------------------------------------------------
// The WAV files.

/// The WAVE format tag of a file's `fmt ` chunk (1 is plain PCM).
fn format_tag(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            return Some(u16::from_le_bytes(
                bytes.get(at + 8..at + 10)?.try_into().ok()?,
            ));
        }
        at += 8 + size + size % 2;
    }
    None
}

/// What a prompt file holds, or why it is not a playable prompt.
struct Audio {
    samples: Vec<i16>,
}

const RATE: u32 = 8000;

fn read_prompt(path: &Path) -> Result<Audio, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    match format_tag(&bytes) {
        Some(1) => {}
        Some(tag) => return Err(format!("WAVE format tag {tag}, expected 1 (plain PCM)")),
        None => return Err("not a RIFF/WAVE file with a fmt chunk".into()),
    }
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    let wanted = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    if spec != wanted {
        return Err(format!("{spec:?}, expected 8000 Hz, 16-bit, mono PCM"));
    }
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(Audio { samples })
}

fn seconds(samples: usize) -> Duration {
    Duration::from_secs_f64(samples as f64 / f64::from(RATE))
}

#[test]
fn every_prompt_is_an_8khz_16bit_mono_pcm_wav_of_a_sensible_length() {
    let manifest = manifest();
    let shortest = Duration::from_millis(200);
    let longest = Duration::from_secs(15);
    let mut problems = Vec::new();
    let mut checked = 0;
    for (lang, name, file) in entries(&manifest) {
        let audio = match read_prompt(&file) {
            Ok(audio) => audio,
            Err(e) => {
                problems.push(format!("{lang}/{name}.wav: {e}"));
                continue;
            }
        };
        let length = seconds(audio.samples.len());
        if !(shortest..=longest).contains(&length) {
            problems.push(format!(
                "{lang}/{name}.wav: {length:?}, expected 0.2 s to 15 s"
            ));
        }
        // Speech reaches well above the noise floor; a file of silence
        // (or of near silence) is not a prompt.
        let peak = audio
            .samples
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0);
        if peak < 3000 {
            problems.push(format!(
                "{lang}/{name}.wav: peak {peak} of 32767, nearly silent"
            ));
        }
        checked += 1;
    }
    assert_no_problems("prompt files", &problems);
    assert_eq!(checked, manifest.prompts.len() * LANGUAGES.len());
}

#[test]
fn prompts_start_and_end_within_a_quarter_second() {
    // generate.sh keeps 50 ms around a prompt (150 ms around a digit); a
    // recording that replaces one should be trimmed the same way, or a
    // chain of prompts (greeting, your_code_is, the digits) drags.
    let limit = (RATE / 4) as usize;
    let threshold = 328; // -40 dBFS
    let mut problems = Vec::new();
    for (lang, name, file) in entries(&manifest()) {
        let Ok(audio) = read_prompt(&file) else {
            continue; // reported by the format test
        };
        let loud = |s: &i16| s.unsigned_abs() > threshold;
        let lead = audio
            .samples
            .iter()
            .position(loud)
            .unwrap_or(audio.samples.len());
        let tail = audio
            .samples
            .iter()
            .rev()
            .position(loud)
            .unwrap_or(audio.samples.len());
        if lead > limit || tail > limit {
            problems.push(format!(
                "{lang}/{name}.wav: {:?} of silence before, {:?} after (at most 250 ms)",
                seconds(lead),
                seconds(tail)
            ));
        }
    }
    assert_no_problems("untrimmed prompts", &problems);
}

#[test]
fn every_wav_under_sounds_is_in_the_manifest() {
    let manifest = manifest();
    let listed: BTreeSet<PathBuf> = entries(&manifest).into_iter().map(|(_, _, f)| f).collect();
    let mut orphans = Vec::new();
    let mut found = 0;
    let mut dirs = vec![repo("sounds")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                found += 1;
                if !listed.contains(&path) {
                    orphans.push(
                        path.strip_prefix(repo("sounds"))
                            .unwrap()
                            .display()
                            .to_string(),
                    );
                }
            }
        }
    }
    orphans.sort();
    assert_no_problems("WAV files the manifest does not list", &orphans);
    assert_eq!(found, listed.len(), "one file per prompt and language");
}
