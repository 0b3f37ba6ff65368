//! The working-day calendar: weekends, statutory holidays and make-up working days (调休), one
//! data file per year (`deploy/calendars/YYYY.toml`, from the State Council's yearly notice).
//!
//! A year that is missing, or present with `published = false`, counts weekends only; any result
//! that depended on such a year is marked `provisional`, so it can be recomputed when the year's
//! data arrives. Adding a year is a data change, never a code change.
//!
//! Deadlines: the clock starts at delivery, in Asia/Shanghai. The delivery date is day 0, whatever
//! the hour; the deadline is the end of the Nth working day after it (the first instant of the
//! next day, exclusive).

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, Weekday};
use serde::Deserialize;

/// A calendar file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("year {0} is given twice")]
    Duplicate(i16),
    #[error("cannot read {0}: {1}")]
    Io(String, String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i16,
    published: bool,
    source: String,
    #[serde(default)]
    holidays: Vec<HolidayFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    name: String,
    off: Option<RangeFile>,
    #[serde(default)]
    work: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeFile {
    from: String,
    to: String,
}

/// One year's days off and make-up working days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarYear {
    pub year: i16,
    /// False while the State Council's notice is not in the data: weekends only, provisional.
    pub published: bool,
    pub source: String,
    /// Statutory days off (whatever the weekday).
    pub off: BTreeSet<Date>,
    /// Make-up working days (weekend days that are worked).
    pub work: BTreeSet<Date>,
}

impl CalendarYear {
    /// Parses one `YYYY.toml` file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, CalendarError> {
        let invalid = |message: String| CalendarError::Invalid {
            file: file.to_string(),
            message,
        };
        let parsed: YearFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let date = |text: &str| -> Result<Date, CalendarError> {
            let date: Date = text
                .parse()
                .map_err(|_| invalid(format!("{text:?} is not a YYYY-MM-DD date")))?;
            if date.year() != parsed.year {
                return Err(invalid(format!("{date} is not in {}", parsed.year)));
            }
            Ok(date)
        };
        let mut off = Vec::new();
        let mut work = Vec::new();
        for holiday in &parsed.holidays {
            if let Some(range) = &holiday.off {
                let (from, to) = (date(&range.from)?, date(&range.to)?);
                if to < from {
                    return Err(invalid(format!("{}: `to` is before `from`", holiday.name)));
                }
                let mut day = from;
                while day <= to {
                    off.push(day);
                    day = day.tomorrow().map_err(|e| invalid(e.to_string()))?;
                }
            }
            for text in &holiday.work {
                let day = date(text)?;
                if !is_weekend(day) {
                    return Err(invalid(format!(
                        "{}: make-up day {day} is not a weekend day",
                        holiday.name
                    )));
                }
                work.push(day);
            }
        }
        Self::from_days(
            file,
            parsed.year,
            parsed.published,
            parsed.source,
            off,
            work,
        )
    }

    /// A year from its lists of days, held to the same rules as a file (`file` names the
    /// source in errors): every day in the year, make-up days on weekends, no day both off and
    /// worked, no days listed for an unpublished year. The directory a node receives from the
    /// registry is checked by this too, so a bad calendar from the network is refused, not used.
    pub fn from_days(
        file: &str,
        year: i16,
        published: bool,
        source: String,
        off: Vec<Date>,
        work: Vec<Date>,
    ) -> Result<Self, CalendarError> {
        let invalid = |message: String| CalendarError::Invalid {
            file: file.to_string(),
            message,
        };
        if !(1949..=2200).contains(&year) {
            return Err(invalid(format!("year {year}: expected 1949 to 2200")));
        }
        if let Some(day) = off.iter().chain(&work).find(|day| day.year() != year) {
            return Err(invalid(format!("{day} is not in {year}")));
        }
        if let Some(day) = work.iter().find(|day| !is_weekend(**day)) {
            return Err(invalid(format!("make-up day {day} is not a weekend day")));
        }
        let off: BTreeSet<Date> = off.into_iter().collect();
        let work: BTreeSet<Date> = work.into_iter().collect();
        if let Some(both) = off.intersection(&work).next() {
            return Err(invalid(format!(
                "{both} is both a day off and a working day"
            )));
        }
        let lists_days = !off.is_empty() || !work.is_empty();
        if !published && lists_days {
            return Err(invalid(
                "an unpublished year must not list days (set published = true)".into(),
            ));
        }
        Ok(Self {
            year,
            published,
            source,
            off,
            work,
        })
    }
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// A result that may rest on an unpublished year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reckoned<T> {
    pub value: T,
    /// True when a year without published data was involved (weekends only were counted there).
    pub provisional: bool,
}

/// The calendar in force: every known year.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkingCalendar {
    years: BTreeMap<i16, CalendarYear>,
}

impl WorkingCalendar {
    /// A calendar of the given years.
    pub fn new(years: Vec<CalendarYear>) -> Result<Self, CalendarError> {
        let mut map = BTreeMap::new();
        for year in years {
            let number = year.year;
            if map.insert(number, year).is_some() {
                return Err(CalendarError::Duplicate(number));
            }
        }
        Ok(Self { years: map })
    }

    /// Reads every `*.toml` in a directory.
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, CalendarError> {
        let io = |e: std::io::Error| CalendarError::Io(dir.display().to_string(), e.to_string());
        let mut years = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            years.push(CalendarYear::parse(&path.display().to_string(), &text)?);
        }
        Self::new(years)
    }

    /// The years known.
    pub fn years(&self) -> impl Iterator<Item = &CalendarYear> {
        self.years.values()
    }

    /// A short version string: the published years and a digest of the data, e.g.
    /// `2024-2026+2027?@3f9a1c2b`. A case records the version its due date used.
    pub fn version(&self) -> String {
        let mut digest_input = String::new();
        let mut published = Vec::new();
        let mut pending = Vec::new();
        for year in self.years.values() {
            digest_input.push_str(&format!("{}:{}:", year.year, year.published));
            for day in &year.off {
                digest_input.push_str(&format!("-{day}"));
            }
            for day in &year.work {
                digest_input.push_str(&format!("+{day}"));
            }
            if year.published {
                published.push(year.year)
            } else {
                pending.push(year.year)
            }
        }
        let digest = crate::sha256_hex(digest_input.as_bytes());
        let range = match (published.first(), published.last()) {
            (Some(first), Some(last)) if first != last => format!("{first}-{last}"),
            (Some(first), _) => first.to_string(),
            _ => "none".to_string(),
        };
        let pending: String = pending.iter().map(|year| format!("+{year}?")).collect();
        format!("{range}{pending}@{}", &digest[..8])
    }

    /// Whether `date` is a working day.
    pub fn is_working_day(&self, date: Date) -> Reckoned<bool> {
        match self.years.get(&date.year()) {
            Some(year) if year.published => Reckoned {
                value: year.work.contains(&date)
                    || (!is_weekend(date) && !year.off.contains(&date)),
                provisional: false,
            },
            _ => Reckoned {
                value: !is_weekend(date),
                provisional: true,
            },
        }
    }

    /// The `n`th working day after `start` (`start` itself is day 0). `n = 0` gives `start`.
    pub fn add_working_days(&self, start: Date, n: u32) -> Reckoned<Date> {
        let mut day = start;
        let mut provisional = false;
        let mut counted = 0;
        while counted < n {
            day = match day.tomorrow() {
                Ok(next) => next,
                Err(_) => break,
            };
            let working = self.is_working_day(day);
            provisional |= working.provisional;
            if working.value {
                counted += 1;
            }
        }
        Reckoned {
            value: day,
            provisional,
        }
    }

    /// Working days after `from` up to and including `to` (negative when `to` is before `from`).
    pub fn working_days_between(&self, from: Date, to: Date) -> Reckoned<i64> {
        let (low, high, sign) = if to >= from {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut day = low;
        let mut count = 0i64;
        let mut provisional = false;
        while day < high {
            day = match day.tomorrow() {
                Ok(next) => next,
                Err(_) => break,
            };
            let working = self.is_working_day(day);
            provisional |= working.provisional;
            if working.value {
                count += 1;
            }
        }
        Reckoned {
            value: sign * count,
            provisional,
        }
    }

    /// Working days between two instants, by their Asia/Shanghai dates (see
    /// [`WorkingCalendar::working_days_between`]).
    pub fn working_days_between_instants(
        &self,
        from_unix_ms: i64,
        to_unix_ms: i64,
    ) -> Reckoned<i64> {
        let date = |ms| crate::time::date_of_unix_ms(ms).unwrap_or(Date::constant(1970, 1, 1));
        self.working_days_between(date(from_unix_ms), date(to_unix_ms))
    }

    /// The deadline for something delivered at `delivered_at_unix_ms`: the end of the `n`th
    /// working day after the delivery date (Asia/Shanghai), as Unix ms (exclusive bound).
    pub fn due_after_working_days(&self, delivered_at_unix_ms: i64, n: u32) -> Reckoned<i64> {
        let start = crate::time::date_of_unix_ms(delivered_at_unix_ms)
            .unwrap_or(Date::constant(1970, 1, 1));
        let due_day = self.add_working_days(start, n);
        Reckoned {
            value: end_of_day_unix_ms(due_day.value),
            provisional: due_day.provisional,
        }
    }

    /// The deadline `n` calendar days after the delivery date (end of that day).
    pub fn due_after_calendar_days(&self, delivered_at_unix_ms: i64, n: u32) -> i64 {
        let start = crate::time::date_of_unix_ms(delivered_at_unix_ms)
            .unwrap_or(Date::constant(1970, 1, 1));
        let day = start
            .checked_add(jiff::Span::new().days(i64::from(n)))
            .unwrap_or(start);
        end_of_day_unix_ms(day)
    }
}

/// The first instant after `date` ends in Asia/Shanghai, as Unix ms.
pub fn end_of_day_unix_ms(date: Date) -> i64 {
    let next = date.tomorrow().unwrap_or(date);
    next.to_zoned_datetime(crate::time::province_time_zone())
        .map(|zoned| zoned.timestamp().as_millisecond())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shipped() -> WorkingCalendar {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/calendars");
        WorkingCalendar::load_dir(&dir).expect("shipped calendars")
    }

    fn d(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn shanghai_ms(text: &str) -> i64 {
        format!("{text}[Asia/Shanghai]")
            .parse::<jiff::ZonedDateTime>()
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn the_shipped_years_load_with_their_sources() {
        let calendar = shipped();
        let years: Vec<_> = calendar.years().map(|y| (y.year, y.published)).collect();
        assert_eq!(
            years,
            [(2024, true), (2025, true), (2026, true), (2027, false)]
        );
        for year in calendar.years().filter(|y| y.published) {
            assert!(
                year.source.contains("国务院办公厅")
                    && year.source.contains(&year.year.to_string()),
                "{}",
                year.source
            );
        }
        assert!(
            calendar.version().starts_with("2024-2026+2027?@"),
            "{}",
            calendar.version()
        );
    }

    #[test]
    fn holidays_and_make_up_days_2026() {
        let calendar = shipped();
        for off in [
            "2026-01-01",
            "2026-01-02",
            "2026-02-16",
            "2026-02-23",
            "2026-04-06",
            "2026-05-05",
            "2026-06-19",
            "2026-09-25",
            "2026-10-07",
        ] {
            assert_eq!(
                calendar.is_working_day(d(off)),
                Reckoned {
                    value: false,
                    provisional: false
                },
                "{off}"
            );
        }
        // Make-up working days: Sundays and Saturdays that are worked.
        for work in [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ] {
            assert_eq!(
                calendar.is_working_day(d(work)),
                Reckoned {
                    value: true,
                    provisional: false
                },
                "{work}"
            );
        }
        assert!(
            !calendar.is_working_day(d("2026-12-05")).value,
            "an ordinary Saturday"
        );
        assert!(
            calendar.is_working_day(d("2026-12-07")).value,
            "an ordinary Monday"
        );
    }

    #[test]
    fn a_request_delivered_on_the_last_working_day_before_national_day() {
        let calendar = shipped();
        // Wednesday 2026-09-30 is the last working day before 1–7 October.
        let delivered = shanghai_ms("2026-09-30T16:00:00");
        assert_eq!(
            calendar.add_working_days(d("2026-09-30"), 1).value,
            d("2026-10-08")
        );
        assert_eq!(
            calendar.add_working_days(d("2026-09-30"), 3).value,
            d("2026-10-10"),
            "Saturday 10 October is worked"
        );
        assert_eq!(
            calendar.add_working_days(d("2026-09-30"), 4).value,
            d("2026-10-12")
        );
        // 10 working days (urgent): Oct 8, 9, 10, 12, 13, 14, 15, 16, 19, 20.
        let due = calendar.due_after_working_days(delivered, 10);
        assert_eq!(
            due,
            Reckoned {
                value: shanghai_ms("2026-10-21T00:00:00"),
                provisional: false
            }
        );
    }

    #[test]
    fn the_delivery_date_is_read_in_shanghai_at_2359_and_0001() {
        let calendar = shipped();
        // Monday 2026-11-30 23:59 → day 0 is Monday; Tuesday 00:01 → day 0 is Tuesday.
        let late = calendar
            .due_after_working_days(shanghai_ms("2026-11-30T23:59:00"), 2)
            .value;
        let early = calendar
            .due_after_working_days(shanghai_ms("2026-12-01T00:01:00"), 2)
            .value;
        assert_eq!(
            late,
            shanghai_ms("2026-12-03T00:00:00"),
            "due end of Wednesday"
        );
        assert_eq!(
            early,
            shanghai_ms("2026-12-04T00:00:00"),
            "due end of Thursday"
        );
        assert_eq!(
            calendar.working_days_between_instants(
                shanghai_ms("2026-11-30T23:59:00"),
                shanghai_ms("2026-12-01T00:01:00")
            ),
            Reckoned {
                value: 1,
                provisional: false
            },
            "two minutes apart, one working day apart"
        );
        // 23:59 Shanghai is 15:59 UTC: the UTC date is the same, but 00:01 Shanghai is the previous UTC day.
        assert_eq!(
            crate::time::date_of_unix_ms(shanghai_ms("2026-12-01T00:01:00")),
            Some(d("2026-12-01"))
        );
    }

    #[test]
    fn spring_festival_2026_and_its_make_up_saturdays() {
        let calendar = shipped();
        // Friday 13 Feb; Sat 14 worked; 15–23 off; Sat 28 worked.
        assert_eq!(
            calendar.add_working_days(d("2026-02-13"), 1).value,
            d("2026-02-14")
        );
        assert_eq!(
            calendar.add_working_days(d("2026-02-13"), 2).value,
            d("2026-02-24")
        );
        assert_eq!(
            calendar
                .working_days_between(d("2026-02-13"), d("2026-02-28"))
                .value,
            1 + 4 + 1
        );
        // 2025's National Day and Mid-Autumn (1–8 October), make-up Sat 11 October.
        assert_eq!(
            calendar.add_working_days(d("2025-09-30"), 1).value,
            d("2025-10-09")
        );
        assert_eq!(
            calendar.add_working_days(d("2025-09-30"), 3).value,
            d("2025-10-11")
        );
        // 2024: Sunday 7 April worked after Qingming.
        assert_eq!(
            calendar.add_working_days(d("2024-04-03"), 1).value,
            d("2024-04-07")
        );
    }

    #[test]
    fn an_unpublished_year_is_weekends_only_and_provisional_until_its_data_arrives() {
        let calendar = shipped();
        // 20 working days from 2026-12-15 reach into January 2027.
        let before = calendar.add_working_days(d("2026-12-15"), 20);
        assert!(before.provisional);
        assert_eq!(before.value, d("2027-01-12"), "weekends only in 2027");
        assert!(
            !calendar.add_working_days(d("2026-12-01"), 5).provisional,
            "within 2026"
        );

        // The 2027 notice arrives (hypothetical data for the test): 1 January off.
        let mut years: Vec<_> = calendar
            .years()
            .filter(|y| y.year != 2027)
            .cloned()
            .collect();
        years.push(
            CalendarYear::parse(
                "2027.toml",
                "year = 2027\npublished = true\nsource = \"test\"\n[[holidays]]\nname = \"元旦\"\noff = { from = \"2027-01-01\", to = \"2027-01-01\" }\n",
            )
            .unwrap(),
        );
        let updated = WorkingCalendar::new(years).unwrap();
        let after = updated.add_working_days(d("2026-12-15"), 20);
        assert_eq!(
            after,
            Reckoned {
                value: d("2027-01-13"),
                provisional: false
            }
        );
        assert_ne!(updated.version(), calendar.version());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            (
                "year = 2026\npublished = true\nsource = \"x\"\nextra = 1\n",
                "unknown field",
            ),
            (
                "year = 2026\npublished = true\nsource = \"x\"\n[[holidays]]\nname = \"a\"\noff = { from = \"2026-13-01\", to = \"2026-01-02\" }\n",
                "not a YYYY-MM-DD",
            ),
            (
                "year = 2026\npublished = true\nsource = \"x\"\n[[holidays]]\nname = \"a\"\noff = { from = \"2025-01-01\", to = \"2025-01-02\" }\n",
                "not in 2026",
            ),
            (
                "year = 2026\npublished = true\nsource = \"x\"\n[[holidays]]\nname = \"a\"\nwork = [\"2026-12-01\"]\n",
                "not a weekend day",
            ),
            (
                "year = 2027\npublished = false\nsource = \"x\"\n[[holidays]]\nname = \"a\"\noff = { from = \"2027-01-01\", to = \"2027-01-01\" }\n",
                "unpublished",
            ),
        ];
        for (text, expected) in cases {
            let error = CalendarYear::parse("t.toml", text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    proptest! {
        #[test]
        fn adding_then_counting_gives_n_back_and_never_lands_on_a_day_off(
            offset in 0i64..1000, n in 0u32..60
        ) {
            let calendar = shipped();
            let start = d("2024-01-01").checked_add(jiff::Span::new().days(offset)).unwrap();
            let due = calendar.add_working_days(start, n).value;
            prop_assert_eq!(calendar.working_days_between(start, due).value, i64::from(n));
            if n > 0 {
                prop_assert!(calendar.is_working_day(due).value, "{} is a day off", due);
            }
        }
    }
}
