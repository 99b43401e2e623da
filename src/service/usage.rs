//! Usage for billing: a calendar month in Korean Standard Time (UTC+9),
//! as the brochure's per-authentication pricing counts it.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Caller, Service, ServiceError};
use crate::domain::Timestamp;

/// Korea's offset from UTC; it keeps no daylight saving time.
const KST_OFFSET_MILLIS: i64 = 9 * 3600 * 1000;

/// A month's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageReport {
    /// The month, `YYYY-MM` (Korean Standard Time).
    pub month: String,
    /// `live`, or `test` for the sandbox.
    pub mode: &'static str,
    /// Billable authentications per scenario: calls that reached their
    /// scenario's outcome.
    pub billable: std::collections::BTreeMap<String, u64>,
    /// Their sum.
    pub billable_total: u64,
    /// Calls placed.
    pub calls: u64,
    /// Answered time in seconds.
    pub answered_seconds: u64,
    /// Answered time in minutes, rounded up.
    pub minutes: u64,
}

/// A month's bounds from `YYYY-MM`: its first instant and the next month's.
pub fn month_bounds(month: &str) -> Option<(Timestamp, Timestamp)> {
    let (year, number) = month.split_once('-')?;
    // `i32`/`u32` parsing accepts a sign (`+123-01`); a month is digits only.
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, 4) || !digits(number, 2) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let number: u32 = number.parse().ok()?;
    let first = chrono::NaiveDate::from_ymd_opt(year, number, 1)?;
    let next = if number == 12 {
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        chrono::NaiveDate::from_ymd_opt(year, number + 1, 1)?
    };
    let millis = |date: chrono::NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis() - KST_OFFSET_MILLIS)
    };
    Some((
        Timestamp::from_millis(millis(first)?),
        Timestamp::from_millis(millis(next)?),
    ))
}

/// The current month in Korean Standard Time, `YYYY-MM`.
pub fn current_month() -> String {
    let now = Timestamp::now().millis() + KST_OFFSET_MILLIS;
    chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_default()
}

impl Service {
    /// `caller`'s usage in `month` (`YYYY-MM`, KST).
    pub async fn usage(&self, caller: Caller, month: &str) -> Result<UsageReport, ServiceError> {
        let (from, to) = month_bounds(month)
            .ok_or_else(|| ServiceError::InvalidField(format!("month {month:?} is not YYYY-MM")))?;
        let usage = self
            .store()
            .usage(caller.merchant, caller.mode, from, to)
            .await?;
        Ok(UsageReport {
            month: month.to_owned(),
            mode: caller.mode.as_str(),
            billable_total: usage.billable.values().sum(),
            billable: usage.billable,
            calls: usage.calls,
            answered_seconds: usage.answered_seconds,
            minutes: usage.answered_seconds.div_ceil(60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_bounded_in_korean_time() {
        let (from, to) = month_bounds("2026-11").unwrap();
        assert_eq!(
            from.rfc3339(),
            Timestamp::parse_rfc3339("2026-10-31T15:00:00Z")
                .unwrap()
                .rfc3339()
        );
        assert_eq!(
            to.rfc3339(),
            Timestamp::parse_rfc3339("2026-11-30T15:00:00Z")
                .unwrap()
                .rfc3339()
        );
        let (_, end_of_year) = month_bounds("2026-12").unwrap();
        assert_eq!(
            end_of_year,
            Timestamp::parse_rfc3339("2026-12-31T15:00:00Z").unwrap()
        );
    }

    #[test]
    fn malformed_months_are_refused() {
        for month in [
            "2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "abcd-ef", "+123-01",
            "-123-01", "2026-+1", " 202-01",
        ] {
            assert_eq!(month_bounds(month), None, "{month}");
        }
    }
}
