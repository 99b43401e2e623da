//! The day a daily cap counts: a calendar day in Korean Standard Time
//! (UTC+9, no daylight saving), as merchants in Korea reckon it.

use crate::domain::Timestamp;

/// Korea's offset from UTC.
const KST_OFFSET_MILLIS: i64 = 9 * 3600 * 1000;

const DAY_MILLIS: i64 = 24 * 3600 * 1000;

/// The first instant of the KST day `now` is in, and of the next.
pub fn bounds(now: Timestamp) -> (Timestamp, Timestamp) {
    let local = now.millis() + KST_OFFSET_MILLIS;
    let start = local.div_euclid(DAY_MILLIS) * DAY_MILLIS - KST_OFFSET_MILLIS;
    (
        Timestamp::from_millis(start),
        Timestamp::from_millis(start + DAY_MILLIS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kst_day_starts_at_15_utc() {
        // 2026-11-29T05:39:14Z is 14:39 in Seoul: that day began at
        // 2026-11-28T15:00Z.
        let (start, end) = bounds(Timestamp::from_millis(1_795_930_754_123));
        assert_eq!(start.rfc3339(), "2026-11-28T15:00:00.000Z");
        assert_eq!(end.rfc3339(), "2026-11-29T15:00:00.000Z");
        // 16:00Z is already the next day in Seoul.
        let (start, _) = bounds(Timestamp::parse_rfc3339("2026-11-29T16:00:00Z").unwrap());
        assert_eq!(start.rfc3339(), "2026-11-29T15:00:00.000Z");
    }
}
