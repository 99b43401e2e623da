//! FreeSWITCH's URL encoding of event header values (`switch_url_encode`) and
//! the decoding rule clients apply to it.
//!
//! Encoding escapes every byte below 0x20 or above 0x7E and the characters of
//! [`RESERVED`] as `%XX` (upper-case hex). A `%` already followed by two hex
//! digits is copied as is, so encoding is not injective and decoding is lossy
//! for values that contain such sequences — that is FreeSWITCH's behaviour and
//! the simulator reproduces it. A value that encodes to nothing is sent as
//! `_undef_`.

use std::borrow::Cow;

/// Printable characters FreeSWITCH escapes in event header values.
pub const RESERVED: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";

/// What FreeSWITCH writes for a value that would otherwise be empty.
pub const UNDEF: &str = "_undef_";

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn needs_escape(byte: u8) -> bool {
    !(0x20..=0x7E).contains(&byte) || RESERVED.contains(&byte)
}

fn is_hex(byte: u8) -> bool {
    byte.is_ascii_hexdigit()
}

/// Appends `value` to `out` encoded exactly as FreeSWITCH encodes an event
/// header value (including the `_undef_` rule for empty values).
pub fn encode_into(value: &[u8], out: &mut Vec<u8>) {
    if value.is_empty() {
        out.extend_from_slice(UNDEF.as_bytes());
        return;
    }
    out.reserve(value.len());
    let mut i = 0;
    while i < value.len() {
        let byte = value[i];
        let pre_encoded =
            byte == b'%' && i + 2 < value.len() && is_hex(value[i + 1]) && is_hex(value[i + 2]);
        if pre_encoded || !needs_escape(byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ]);
        }
        i += 1;
    }
}

/// Encodes `value` as FreeSWITCH encodes an event header value.
pub fn encode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    encode_into(value.as_bytes(), &mut out);
    // Every byte written is ASCII: escaped bytes become `%XX`, others are < 0x7F.
    String::from_utf8(out).unwrap_or_default()
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

/// Decodes `%XX` sequences (two hex digits) into bytes; any other `%` stays as
/// is and `+` is never turned into a space (FreeSWITCH encodes `+` as `%2B`).
/// Borrows when there is nothing to decode.
pub fn decode(raw: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'%', raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        let byte = raw[i];
        if byte == b'%' && i + 2 < raw.len() && is_hex(raw[i + 1]) && is_hex(raw[i + 2]) {
            out.push(hex_value(raw[i + 1]) << 4 | hex_value(raw[i + 2]));
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Decodes a header value and interprets it as UTF-8, replacing invalid
/// sequences (channel variables may hold arbitrary bytes).
pub fn decode_str(raw: &[u8]) -> Cow<'_, str> {
    match decode(raw) {
        Cow::Borrowed(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        },
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_characters_freeswitch_encodes() {
        assert_eq!(
            encode("sofia/internal/1000@127.0.0.1:5070"),
            "sofia/internal/1000%40127.0.0.1%3A5070"
        );
        assert_eq!(
            encode("Sun, 29 Nov 2026 04:16:17 GMT"),
            "Sun,%2029%20Nov%202026%2004%3A16%3A17%20GMT"
        );
        assert_eq!(
            encode("ars_input ^1\\d{5}$ 2000"),
            "ars_input%20%5E1%5Cd%7B5%7D$%202000"
        );
        assert_eq!(encode("a|b\"c`d"), "a%7Cb%22c%60d");
        assert_eq!(encode("/,()!*'$.-_~"), "/,()!*'$.-_~");
    }

    #[test]
    fn encodes_utf8_bytes_individually_in_upper_case() {
        assert_eq!(encode("인증"), "%EC%9D%B8%EC%A6%9D");
        assert_eq!(encode("a\r\nb\x7f"), "a%0D%0Ab%7F");
    }

    #[test]
    fn does_not_double_encode_existing_escapes() {
        assert_eq!(
            encode("tone_stream://%(500,0,440)"),
            "tone_stream%3A//%25(500,0,440)"
        );
        assert_eq!(encode("100%41"), "100%41");
        assert_eq!(encode("50%"), "50%25");
        assert_eq!(encode("%4"), "%254");
    }

    #[test]
    fn empty_values_become_undef() {
        assert_eq!(encode(""), "_undef_");
    }

    #[test]
    fn decodes_hex_escapes_and_leaves_other_percents() {
        assert_eq!(decode_str(b"fd00%3A%3A2"), "fd00::2");
        assert_eq!(decode_str(b"100%"), "100%");
        assert_eq!(decode_str(b"%zz%4"), "%zz%4");
        assert_eq!(decode_str(b"a+b"), "a+b");
        assert_eq!(decode_str(b"%ec%9d%b8"), "인");
    }

    #[test]
    fn decode_borrows_when_nothing_is_encoded() {
        assert!(matches!(decode(b"plain-value"), Cow::Borrowed(_)));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_panicking() {
        assert_eq!(decode_str(b"%FFok"), "\u{FFFD}ok");
    }

    #[test]
    fn decode_inverts_encode_for_values_without_escape_lookalikes() {
        for value in [
            "",
            "a b",
            "{x=1,y='z w'}sofia/gw/010",
            "인증번호는 1 2 3 4 입니다",
            "50% off",
        ] {
            let encoded = encode(value);
            let expected = if value.is_empty() { UNDEF } else { value };
            assert_eq!(decode_str(encoded.as_bytes()), expected);
        }
    }
}
