//! Instants and calendar dates.
//!
//! Instants travel as Unix milliseconds (`*_unix_ms` fields) and are stored as INTEGER; calendar
//! dates travel and are stored as `YYYY-MM-DD` text. Dates are read in the province's time zone,
//! Asia/Shanghai, whatever the host's zone is.

use jiff::{Timestamp, civil::Date, tz::TimeZone};

/// The time zone every deadline and calendar date is read in.
pub const PROVINCE_TIME_ZONE: &str = "Asia/Shanghai";

/// The province's time zone (bundled tzdata, so the host's zoneinfo does not matter).
pub fn province_time_zone() -> TimeZone {
    TimeZone::get(PROVINCE_TIME_ZONE).unwrap_or(TimeZone::fixed(jiff::tz::offset(8)))
}

/// Now, as Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// Today's date in the province.
pub fn today_in_province() -> Date {
    Timestamp::now()
        .to_zoned_datetime(province_time_zone())
        .date()
}

/// The province's calendar date of an instant.
pub fn date_of_unix_ms(unix_ms: i64) -> Option<Date> {
    Timestamp::from_millisecond(unix_ms)
        .ok()
        .map(|ts| ts.to_zoned_datetime(province_time_zone()).date())
}

/// Formats an instant for people: `2026-12-01 17:30` in the province's time zone; `-` for 0.
pub fn format_unix_ms(unix_ms: i64) -> String {
    if unix_ms == 0 {
        return "-".to_string();
    }
    match Timestamp::from_millisecond(unix_ms) {
        Ok(ts) => ts
            .to_zoned_datetime(province_time_zone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => "-".to_string(),
    }
}

/// Formats a deadline (an exclusive end-of-day instant) as its last day: `2026-12-15 24:00`, so
/// nobody reads "due 2026-12-16 00:00" as a day later than meant; `-` for 0.
pub fn format_due(due_at_unix_ms: i64) -> String {
    if due_at_unix_ms == 0 {
        return "-".to_string();
    }
    match Timestamp::from_millisecond(due_at_unix_ms - 1) {
        Ok(ts) => {
            let zoned = ts.to_zoned_datetime(province_time_zone());
            if zoned.hour() == 23 && zoned.minute() == 59 {
                format!("{} 24:00", zoned.date())
            } else {
                format_unix_ms(due_at_unix_ms)
            }
        }
        Err(_) => "-".to_string(),
    }
}

/// Parses a `YYYY-MM-DD` date; the error says what is expected.
pub fn parse_date(text: &str) -> Result<Date, String> {
    text.trim()
        .parse::<Date>()
        .map_err(|_| format!("expected a date as YYYY-MM-DD, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_in_shanghai() {
        // 2026-09-30T16:30Z is 2026-10-01 00:30 in Asia/Shanghai.
        let ms = "2026-09-30T16:30:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        assert_eq!(date_of_unix_ms(ms), Some(Date::constant(2026, 10, 1)));
        assert_eq!(format_unix_ms(ms), "2026-10-01 00:30");
        assert_eq!(format_unix_ms(0), "-");
        let end_of_15th = "2026-12-15T16:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        assert_eq!(format_due(end_of_15th), "2026-12-15 24:00");
        assert_eq!(format_due(0), "-");
    }

    #[test]
    fn parse_date_explains() {
        assert_eq!(parse_date("2026-02-14"), Ok(Date::constant(2026, 2, 14)));
        assert!(parse_date("2026/02/14").unwrap_err().contains("YYYY-MM-DD"));
    }
}
