//! Birth dates as a factor (`enter_birthdate`): the date the merchant's
//! request gives, checked, then kept only as keyed digests of the two forms
//! a customer may key (`YYYYMMDD` and `YYMMDD`), compared in constant time,
//! never printed.
//!
//! A six-digit entry needs no century guess: the full date is known, so
//! `YYMMDD` is right when it is the given year's last two digits and the
//! month and day (`900101` for 1990-01-01, `000229` for 2000-02-29).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use hmac::Mac;

use super::secret::CodeKey;

/// The earliest birth date a request may give.
pub const EARLIEST: (i32, u32, u32) = (1900, 1, 1);

/// Why a request's birth date was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BirthdateError {
    /// Not `YYYY-MM-DD`, or no such day in the calendar (2023-02-30).
    #[error("birthdate must be a real calendar date written YYYY-MM-DD")]
    Invalid,
    /// After today (in Korea).
    #[error("birthdate is in the future")]
    Future,
    /// Before 1900-01-01.
    #[error("birthdate is before 1900-01-01")]
    TooEarly,
}

/// A customer's birth date in clear, for the moment the request is checked.
/// `Debug` hides it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Birthdate(NaiveDate);

impl Birthdate {
    /// Checks `text`: exactly `YYYY-MM-DD`, a day that exists, from
    /// 1900-01-01 to `today` included.
    pub fn parse(text: &str, today: NaiveDate) -> Result<Birthdate, BirthdateError> {
        let bytes = text.as_bytes();
        let shape = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shape {
            return Err(BirthdateError::Invalid);
        }
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
        let year = i32::try_from(number(0..4)).map_err(|_| BirthdateError::Invalid)?;
        let date = NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))
            .ok_or(BirthdateError::Invalid)?;
        let (y, m, d) = EARLIEST;
        if NaiveDate::from_ymd_opt(y, m, d).is_some_and(|earliest| date < earliest) {
            return Err(BirthdateError::TooEarly);
        }
        if date > today {
            return Err(BirthdateError::Future);
        }
        Ok(Birthdate(date))
    }

    /// The two forms a customer may key: `YYYYMMDD` and `YYMMDD`.
    fn forms(&self) -> [String; 2] {
        let date = self.0;
        let long = format!("{:04}{:02}{:02}", date.year(), date.month(), date.day());
        let short = long[2..].to_owned();
        [long, short]
    }
}

impl fmt::Debug for Birthdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Birthdate(***)")
    }
}

/// A birth date as held for one verification: the HMAC-SHA256, under the
/// server's key, of the verification's id with each form. Digests of the
/// same date differ from one verification to the next, so a leaked row
/// says nothing about another.
#[derive(Clone, PartialEq, Eq)]
pub struct BirthdateDigests {
    context: String,
    long: [u8; 32],
    short: [u8; 32],
}

impl BirthdateDigests {
    /// The digests of `birthdate` for `context` (the verification's id).
    pub fn new(key: &CodeKey, context: &str, birthdate: &Birthdate) -> BirthdateDigests {
        let [long, short] = birthdate.forms();
        let digest =
            |form: &str| -> [u8; 32] { mac(key, context, form).finalize().into_bytes().into() };
        BirthdateDigests {
            context: context.to_owned(),
            long: digest(&long),
            short: digest(&short),
        }
    }

    /// The stored form: both digests as lower-case hex, `long:short`.
    pub fn to_stored(&self) -> String {
        format!("{}:{}", hex::encode(self.long), hex::encode(self.short))
    }

    /// Digests read back from their stored form, for `context`.
    pub fn from_stored(context: &str, text: &str) -> Option<BirthdateDigests> {
        let (long, short) = text.split_once(':')?;
        Some(BirthdateDigests {
            context: context.to_owned(),
            long: hex::decode(long).ok()?.try_into().ok()?,
            short: hex::decode(short).ok()?.try_into().ok()?,
        })
    }

    /// Whether `input` is the birth date in either form, compared in
    /// constant time against both digests (neither comparison is skipped).
    pub fn matches(&self, key: &CodeKey, input: &str) -> bool {
        let mac = mac(key, &self.context, input);
        let long = mac.clone().verify_slice(&self.long).is_ok();
        let short = mac.verify_slice(&self.short).is_ok();
        long | short
    }
}

/// The MAC of one keyed form, apart from any code's digest by its prefix.
fn mac(key: &CodeKey, context: &str, form: &str) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = key.mac();
    mac.update(b"arsgate birthdate\0");
    mac.update(context.as_bytes());
    mac.update(b"\0");
    mac.update(form.as_bytes());
    mac
}

impl fmt::Debug for BirthdateDigests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BirthdateDigests(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
    }

    fn key() -> CodeKey {
        CodeKey::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    #[test]
    fn only_real_dates_from_1900_to_today_are_taken() {
        assert!(Birthdate::parse("1990-01-01", today()).is_ok());
        assert!(
            Birthdate::parse("2000-02-29", today()).is_ok(),
            "a leap day"
        );
        assert!(Birthdate::parse("1900-01-01", today()).is_ok());
        assert!(
            Birthdate::parse("2026-12-06", today()).is_ok(),
            "born today"
        );
        for invalid in [
            "2023-02-30",
            "1900-02-29",
            "1990-13-01",
            "1990-00-10",
            "1990-01-00",
            "1990-1-01",
            "19900101",
            "1990/01/01",
            "+990-01-01",
            " 1990-01-01",
            "１９９０-01-01",
            "",
        ] {
            assert_eq!(
                Birthdate::parse(invalid, today()),
                Err(BirthdateError::Invalid),
                "{invalid}"
            );
        }
        assert_eq!(
            Birthdate::parse("2026-12-07", today()),
            Err(BirthdateError::Future)
        );
        assert_eq!(
            Birthdate::parse("1899-12-31", today()),
            Err(BirthdateError::TooEarly)
        );
    }

    #[test]
    fn both_forms_match_and_nothing_else() {
        let date = Birthdate::parse("1990-03-07", today()).unwrap();
        let digests = BirthdateDigests::new(&key(), "vrf_1", &date);
        assert!(digests.matches(&key(), "19900307"));
        assert!(digests.matches(&key(), "900307"));
        for wrong in [
            "19900308", "900308", "20900307", "0307", "", "9003070", "1990030",
        ] {
            assert!(!digests.matches(&key(), wrong), "{wrong}");
        }
        let other = CodeKey::new(b"another key of thirty-two bytes!".to_vec());
        assert!(!digests.matches(&other, "19900307"), "the key matters");
        let read = BirthdateDigests::from_stored("vrf_1", &digests.to_stored()).unwrap();
        assert_eq!(read, digests);
        let elsewhere = BirthdateDigests::from_stored("vrf_2", &digests.to_stored()).unwrap();
        assert!(
            !elsewhere.matches(&key(), "19900307"),
            "the digests belong to their verification"
        );
        assert_ne!(
            BirthdateDigests::new(&key(), "vrf_2", &date).to_stored(),
            digests.to_stored()
        );
        assert!(BirthdateDigests::from_stored("vrf_1", "zz:00").is_none());
    }

    #[test]
    fn a_two_digit_year_is_the_given_dates_own() {
        let date = Birthdate::parse("2000-02-29", today()).unwrap();
        let digests = BirthdateDigests::new(&key(), "vrf_1", &date);
        assert!(digests.matches(&key(), "000229"));
        assert!(digests.matches(&key(), "20000229"));
        assert!(!digests.matches(&key(), "19000229"));
    }

    #[test]
    fn nothing_secret_is_printed() {
        let date = Birthdate::parse("1990-03-07", today()).unwrap();
        let digests = BirthdateDigests::new(&key(), "vrf_1", &date);
        let text = format!("{date:?} {digests:?}");
        assert!(!text.contains("1990"), "{text}");
        assert!(!text.contains("0307"), "{text}");
    }
}
