//! Byte-exact ESL sessions recorded against a real FreeSWITCH 1.10.12
//! (`tests/fixtures/captures/`, see its README).

use std::path::PathBuf;

use serde::Deserialize;

/// Who wrote a recorded chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client → FreeSWITCH.
    Send,
    /// FreeSWITCH → client.
    Recv,
}

/// One socket read or write as recorded.
#[derive(Debug, Clone)]
pub struct Record {
    /// Seconds since the session started.
    pub t: f64,
    /// Who wrote it.
    pub dir: Direction,
    /// The exact bytes (an empty `Recv` is the EOF read).
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct RawRecord {
    t: f64,
    dir: Direction,
    data: String,
}

/// Every capture in the fixture folder, with the number of frames FreeSWITCH
/// sent, how many of them were events, and how many commands the client sent
/// (the counts of the captures' README).
pub const CAPTURES: &[(&str, usize, usize, usize)] = &[
    ("answered_dtmf_pagd", 53, 45, 6),
    ("busy", 21, 15, 4),
    ("dialplan_transfer", 79, 65, 12),
    ("disconnect", 12, 6, 4),
    ("early_media_default", 35, 28, 5),
    ("early_media_ignore", 35, 28, 5),
    ("handshake", 14, 2, 10),
    ("handshake_badauth", 3, 0, 1),
    ("json_events", 21, 15, 4),
    ("kill_and_hupall", 65, 56, 7),
    ("limits_max_sessions", 45, 35, 8),
    ("limits_sps", 56, 41, 13),
    ("no_answer", 23, 17, 4),
    ("pagd_regex_fail", 73, 65, 6),
    ("pagd_timeout", 50, 42, 6),
    ("pagd_wrong_then_right", 63, 55, 6),
    ("record_bye", 47, 39, 6),
    ("tts_speak", 39, 31, 6),
    ("tts_speak_vars", 47, 37, 8),
    ("unreachable", 21, 15, 4),
    ("uuid_broadcast_and_setvar", 50, 39, 9),
    ("xml_curl_dialplan", 38, 32, 4),
    ("xml_curl_not_found", 28, 22, 4),
];

/// The fixture folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures")
}

/// Loads capture `name` (`handshake`, `busy` ...).
pub fn load(name: &str) -> Vec<Record> {
    let path = fixtures_dir().join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let raw: RawRecord = serde_json::from_str(line).expect("capture line is JSON");
            Record {
                t: raw.t,
                dir: raw.dir,
                // The recorder stored bytes as latin-1 characters.
                data: raw
                    .data
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
                    .collect(),
            }
        })
        .collect()
}

/// The chunks one side wrote, in order.
pub fn chunks(records: &[Record], dir: Direction) -> Vec<&[u8]> {
    records
        .iter()
        .filter(|r| r.dir == dir)
        .map(|r| r.data.as_slice())
        .collect()
}
