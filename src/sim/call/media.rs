//! Media without media: how long a prompt plays, and recordings written as
//! real WAV files whose length matches the simulated time they covered.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// What playing a file string would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// How long it plays; `None` plays until interrupted.
    pub duration: Option<Duration>,
    /// `Playback-File-Type` (only tone and local streams carry one).
    pub file_type: Option<&'static str>,
    /// Whether the file exists (a missing file plays nothing).
    pub found: bool,
}

impl Prompt {
    fn timed(millis: u64) -> Prompt {
        Prompt {
            duration: Some(Duration::from_millis(millis)),
            file_type: None,
            found: true,
        }
    }
}

/// How long text-to-speech talks per Hangul syllable (or any other wide
/// character), simulated. espeak-ng spoke a syllable per character of
/// Korean, and about one per three of Latin text: the consent text of the
/// arsgate sessions (`tests/fixtures/arsgate-sessions/E1_consent_press1`,
/// 35 syllables and 25 other characters) for 10.3 s, its English version
/// (`E3_consent_english`, 111 characters) for 10.0 s; the raw captures'
/// prompt (`인증번호는 1 2 3 4 입니다`) for 2.74 s.
pub(crate) const TTS_MILLIS_PER_SYLLABLE: u64 = 230;

/// How long text-to-speech talks per other character (Latin letters,
/// digits, spaces, punctuation), simulated: see [`TTS_MILLIS_PER_SYLLABLE`].
pub(crate) const TTS_MILLIS_PER_CHAR: u64 = 90;

/// Looks at a file string (`tone_stream://`, `silence_stream://`,
/// `file_string://a!b`, `say:text`, a path relative to `sounds` ...).
pub(crate) fn prompt(file: &str, sounds: Option<&Path>) -> Prompt {
    let mut file = file.trim();
    // `{var=val}file`: per-file parameters.
    if file.starts_with('{')
        && let Some(end) = file.find('}')
    {
        file = &file[end + 1..];
    }
    if let Some(spec) = file.strip_prefix("tone_stream://") {
        let mut prompt = tone_stream(spec);
        prompt.file_type = Some("tone_stream");
        return prompt;
    }
    if let Some(spec) = file.strip_prefix("silence_stream://") {
        let millis: i64 = spec
            .split(',')
            .next()
            .unwrap_or("0")
            .trim()
            .parse()
            .unwrap_or(0);
        return if millis < 0 {
            Prompt {
                duration: None,
                file_type: None,
                found: true,
            }
        } else {
            Prompt::timed(millis as u64)
        };
    }
    if let Some(list) = file.strip_prefix("file_string://") {
        let mut total = Duration::ZERO;
        for part in list.split('!') {
            let part = prompt(part, sounds);
            if !part.found {
                return part;
            }
            match part.duration {
                Some(d) => total += d,
                None => return part,
            }
        }
        return Prompt {
            duration: Some(total),
            file_type: None,
            found: true,
        };
    }
    if let Some(text) = file.strip_prefix("say:") {
        return Prompt::timed(tts_millis(text));
    }
    match resolve(file, sounds) {
        Some(path) => match wav_duration(&path) {
            Some(duration) => Prompt {
                duration: Some(duration),
                file_type: None,
                found: true,
            },
            None => Prompt::timed(1000),
        },
        None => Prompt {
            duration: Some(Duration::ZERO),
            file_type: None,
            found: false,
        },
    }
}

/// How long TTS speaks `text`.
pub(crate) fn tts_millis(text: &str) -> u64 {
    text.chars()
        .map(|c| {
            // Hangul, CJK and the other scripts from U+1100 on write a
            // syllable per character.
            if u32::from(c) >= 0x1100 {
                TTS_MILLIS_PER_SYLLABLE
            } else {
                TTS_MILLIS_PER_CHAR
            }
        })
        .sum()
}

fn resolve(file: &str, sounds: Option<&Path>) -> Option<PathBuf> {
    let path = Path::new(file);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    let path = sounds?.join(file);
    path.is_file().then_some(path)
}

fn wav_duration(path: &Path) -> Option<Duration> {
    let reader = hound::WavReader::open(path).ok()?;
    let spec = reader.spec();
    let frames = u64::from(reader.duration());
    Some(Duration::from_micros(
        frames * 1_000_000 / u64::from(spec.sample_rate.max(1)),
    ))
}

/// `%(on,off,freq[,freq...])` segments separated by `;`, with `loops=N`
/// (negative: forever).
fn tone_stream(spec: &str) -> Prompt {
    let mut per_loop = 0u64;
    let mut loops: i64 = 1;
    for part in spec.split(';') {
        let part = part.trim();
        if let Some(count) = part
            .strip_prefix("loops=")
            .or_else(|| part.strip_prefix("L="))
        {
            loops = count.parse().unwrap_or(1);
        } else if let Some(tone) = part.strip_prefix("%(").and_then(|p| p.strip_suffix(')')) {
            let mut numbers = tone
                .split(',')
                .map(|n| n.trim().parse::<u64>().unwrap_or(0));
            per_loop += numbers.next().unwrap_or(0) + numbers.next().unwrap_or(0);
        }
    }
    if loops < 0 {
        return Prompt {
            duration: None,
            file_type: None,
            found: true,
        };
    }
    Prompt::timed(per_loop * loops.max(1) as u64)
}

/// Where a recording the switch was told to write at `path` goes under the
/// simulator's recordings folder `root`. A path already inside `root` (the
/// shared-folder setup, where FreeSWITCH and arsgate use one directory and
/// arsgate names files by their full path) is used as it is; any other is
/// re-rooted under `root`, so a test's `/srv/recordings/x.wav` stays in its
/// temporary folder. `..` never leads out of `root`.
pub(crate) fn recording_file(root: &Path, path: &Path) -> PathBuf {
    let escapes = path.components().any(|c| matches!(c, Component::ParentDir));
    let absolute_root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    if path.is_absolute() && !escapes && path.starts_with(&absolute_root) {
        return path.to_path_buf();
    }
    let inner: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    root.join(inner)
}

/// Writes a recording of `millis` of audio: 8 kHz, 16-bit mono, a quiet
/// 440 Hz tone so the file is audibly not empty. Returns its size in bytes
/// and its number of samples.
pub(crate) fn write_recording(path: &Path, millis: u64) -> std::io::Result<(u64, u64)> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let samples = millis * 8;
    let mut writer = hound::WavWriter::create(path, spec).map_err(std::io::Error::other)?;
    for n in 0..samples {
        let phase = n as f64 * 440.0 * std::f64::consts::TAU / 8000.0;
        writer
            .write_sample((phase.sin() * 2000.0) as i16)
            .map_err(std::io::Error::other)?;
    }
    writer.finalize().map_err(std::io::Error::other)?;
    let size = std::fs::metadata(path)?.len();
    Ok((size, samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_streams_last_on_plus_off_times_loops() {
        assert_eq!(
            prompt("tone_stream://%(500,0,440)", None).duration,
            Some(Duration::from_millis(500))
        );
        let looped = prompt("tone_stream://%(100,100,440);loops=50", None);
        assert_eq!(looped.duration, Some(Duration::from_secs(10)));
        assert_eq!(looped.file_type, Some("tone_stream"));
        assert_eq!(
            prompt("tone_stream://%(100,100,440);loops=-1", None).duration,
            None
        );
    }

    #[test]
    fn silence_file_strings_and_tts() {
        assert_eq!(
            prompt("silence_stream://250", None).duration,
            Some(Duration::from_millis(250))
        );
        assert_eq!(prompt("silence_stream://-1", None).duration, None);
        assert_eq!(
            prompt(
                "file_string://silence_stream://100!tone_stream://%(200,0,440)",
                None
            )
            .duration,
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            prompt("say:1234", None).duration,
            Some(Duration::from_millis(360))
        );
        // 35 syllables and 25 other characters: 10.3 s, as espeak-ng spoke.
        let consent = "이노은행 예금주 홍길동 님의 계좌번호 000-1111-**-22에서 자동이체 출금에 대한 동의를 요청합니다.";
        assert_eq!(tts_millis(consent), 10_300);
    }

    #[test]
    fn recordings_inside_the_folder_stay_and_others_are_re_rooted() {
        let root = Path::new("/srv/recordings");
        assert_eq!(
            recording_file(root, Path::new("/srv/recordings/a/x.wav")),
            Path::new("/srv/recordings/a/x.wav")
        );
        assert_eq!(
            recording_file(root, Path::new("/tmp/x.wav")),
            Path::new("/srv/recordings/tmp/x.wav")
        );
        assert_eq!(
            recording_file(root, Path::new("rel/x.wav")),
            Path::new("/srv/recordings/rel/x.wav")
        );
        assert_eq!(
            recording_file(root, Path::new("/srv/recordings/../../etc/x.wav")),
            Path::new("/srv/recordings/srv/recordings/etc/x.wav")
        );
        let relative_root = Path::new("data/recordings");
        let inside = std::path::absolute(relative_root).unwrap().join("x.wav");
        assert_eq!(recording_file(relative_root, &inside), inside);
    }

    #[test]
    fn files_are_found_and_measured_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (size, samples) = write_recording(&dir.path().join("ivr/hello.wav"), 1500).unwrap();
        assert_eq!(samples, 12_000);
        assert_eq!(size, 44 + 24_000);
        let found = prompt("ivr/hello.wav", Some(dir.path()));
        assert_eq!(found.duration, Some(Duration::from_millis(1500)));
        assert!(found.found);
        assert!(!prompt("ivr/missing.wav", Some(dir.path())).found);
        assert!(!prompt("ivr/hello.wav", None).found);
        assert!(
            !prompt(
                "file_string://ivr/hello.wav!ivr/missing.wav",
                Some(dir.path())
            )
            .found
        );
    }
}
