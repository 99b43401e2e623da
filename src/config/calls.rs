//! How calls are run: scenarios, ring time, prompts, TTS, recordings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::Language;

/// The `calls:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// Where the scenario definitions are. Default `config/scenarios`.
    pub scenarios_dir: PathBuf,
    /// How long a phone may ring before the call counts as unanswered.
    /// Default `30s`.
    #[serde(with = "humantime_serde")]
    pub ring_timeout: Duration,
    /// The language prompts play in when a request names none. Default `ko`.
    pub default_language: Language,
    /// Where the FreeSWITCH nodes find arsgate's prompts (the repository's
    /// `sounds/` copied there): what `${ars_sounds}` is in the dialplan.
    /// Default `/usr/share/freeswitch/sounds/arsgate`.
    pub sounds: String,
    /// arsgate's own copy of the prompts (with `manifest.yaml`), to check
    /// scenarios against and for the sandbox. Default `sounds`, else the
    /// copy built into the binary.
    pub prompts_dir: PathBuf,
    /// Text-to-speech for texts built from request fields.
    pub tts: TtsConfig,
    /// Where consent recordings go.
    pub recordings: RecordingsConfig,
    /// The number customers see calling (Korean carriers require it to be
    /// registered to the caller). Default: the gateway's own.
    pub caller_id_number: Option<String>,
    /// The name shown with it, where the network carries names.
    pub caller_id_name: Option<String>,
}

impl Default for CallsConfig {
    fn default() -> CallsConfig {
        CallsConfig {
            scenarios_dir: PathBuf::from("config/scenarios"),
            ring_timeout: Duration::from_secs(30),
            default_language: Language::Ko,
            sounds: "/usr/share/freeswitch/sounds/arsgate".to_owned(),
            prompts_dir: PathBuf::from("sounds"),
            tts: TtsConfig::default(),
            recordings: RecordingsConfig::default(),
            caller_id_number: None,
            caller_id_name: None,
        }
    }
}

/// The `calls.tts:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {
    /// The FreeSWITCH TTS module `speak` uses. Default `tts_commandline`.
    pub engine: String,
    /// The voice for each language. Default `ko: ko`, `en: en-us` (espeak-ng
    /// voice names, as mod_tts_commandline with espeak-ng expects).
    pub voices: BTreeMap<Language, String>,
}

impl Default for TtsConfig {
    fn default() -> TtsConfig {
        TtsConfig {
            engine: "tts_commandline".to_owned(),
            voices: BTreeMap::from([
                (Language::Ko, "ko".to_owned()),
                (Language::En, "en-us".to_owned()),
            ]),
        }
    }
}

/// The `calls.recordings:` section: one directory seen from both sides.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingsConfig {
    /// The directory the FreeSWITCH nodes write recordings into.
    /// Default `/var/lib/freeswitch/recordings/arsgate`.
    pub switch_dir: String,
    /// The same directory as arsgate reads it (a shared volume).
    /// Default `data/recordings`.
    pub local_dir: PathBuf,
}

impl Default for RecordingsConfig {
    fn default() -> RecordingsConfig {
        RecordingsConfig {
            switch_dir: "/var/lib/freeswitch/recordings/arsgate".to_owned(),
            local_dir: PathBuf::from("data/recordings"),
        }
    }
}

impl CallsConfig {
    pub(super) fn validate(&self) -> Result<(), super::ValidationError> {
        if let Some(number) = &self.caller_id_number
            && crate::switch::DialNumber::parse(number).is_err()
        {
            return Err(super::ValidationError::CallerId {
                field: "calls.caller_id_number",
            });
        }
        if let Some(name) = &self.caller_id_name
            && (name.chars().count() > 64 || crate::switch::VarValue::parse(name).is_err())
        {
            return Err(super::ValidationError::CallerId {
                field: "calls.caller_id_name",
            });
        }
        Ok(())
    }
}
