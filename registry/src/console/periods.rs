//! The periods a supervisor picks most, one click each: the seed's rhythm of rounds — 五天一评比
//! (the last five days), 十天一通报 (the last ten), 半月一总结 (this half of the month) — and the
//! calendar's day, week, month (this and the last), quarter and half-year. Each is written as
//! `registry report --period` takes it, so a link is just `?period=…`, and the service parses
//! it as it parses the command line's.

use jiff::ToSpan;
use jiff::civil::Date;

/// Which quick choice; its words are the console's (`i18n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    Today,
    LastFiveDays,
    LastTenDays,
    HalfMonth,
    ThisWeek,
    ThisMonth,
    LastMonth,
    ThisQuarter,
    ThisHalfYear,
}

impl Quick {
    pub const ALL: [Quick; 9] = [
        Quick::Today,
        Quick::LastFiveDays,
        Quick::LastTenDays,
        Quick::HalfMonth,
        Quick::ThisWeek,
        Quick::ThisMonth,
        Quick::LastMonth,
        Quick::ThisQuarter,
        Quick::ThisHalfYear,
    ];

    /// The period as `--period` takes it, for `today` in the province.
    pub fn period(self, today: Date) -> String {
        let range = |first: Date, last: Date| format!("{first}..{last}");
        match self {
            Self::Today => today.to_string(),
            // Both ends included: five days are today and the four before it.
            Self::LastFiveDays => range(today.saturating_sub(4.days()), today),
            Self::LastTenDays => range(today.saturating_sub(9.days()), today),
            Self::HalfMonth => {
                if today.day() <= 15 {
                    range(
                        today.first_of_month(),
                        today.with().day(15).build().unwrap_or(today),
                    )
                } else {
                    range(
                        today.with().day(16).build().unwrap_or(today),
                        today.last_of_month(),
                    )
                }
            }
            Self::ThisWeek => {
                let week = today.iso_week_date();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Self::ThisMonth => month(today),
            Self::LastMonth => month(today.first_of_month().saturating_sub(1.day())),
            Self::ThisQuarter => format!("{:04}-Q{}", today.year(), (today.month() - 1) / 3 + 1),
            Self::ThisHalfYear => {
                format!(
                    "{:04}-H{}",
                    today.year(),
                    if today.month() <= 6 { 1 } else { 2 }
                )
            }
        }
    }
}

/// `YYYY-MM` of the month `day` is in.
pub fn month(day: Date) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The `count` months up to and including the month of `day`, oldest first, as `YYYY-MM`.
pub fn months_up_to(day: Date, count: usize) -> Vec<String> {
    let mut first_days = Vec::with_capacity(count);
    let mut first = day.first_of_month();
    for _ in 0..count {
        first_days.push(first);
        first = first.saturating_sub(1.month());
    }
    first_days.into_iter().rev().map(month).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn quick_choices_are_periods_the_report_takes() {
        let today = date(2026, 12, 4);
        let of = |quick: Quick| quick.period(today);
        assert_eq!(of(Quick::Today), "2026-12-04");
        assert_eq!(of(Quick::LastFiveDays), "2026-11-30..2026-12-04");
        assert_eq!(of(Quick::LastTenDays), "2026-11-25..2026-12-04");
        assert_eq!(of(Quick::HalfMonth), "2026-12-01..2026-12-15");
        assert_eq!(
            Quick::HalfMonth.period(date(2026, 2, 20)),
            "2026-02-16..2026-02-28"
        );
        assert_eq!(of(Quick::ThisWeek), "2026-W49");
        assert_eq!(of(Quick::ThisMonth), "2026-12");
        assert_eq!(of(Quick::LastMonth), "2026-11");
        assert_eq!(Quick::LastMonth.period(date(2027, 1, 9)), "2026-12");
        assert_eq!(of(Quick::ThisQuarter), "2026-Q4");
        assert_eq!(of(Quick::ThisHalfYear), "2026-H2");
        // The ISO week of 1 January can belong to the year before.
        assert_eq!(Quick::ThisWeek.period(date(2027, 1, 1)), "2026-W53");
        for quick in Quick::ALL {
            let period = quick.period(today);
            assert!(
                crate::compliance::Period::parse(&period).is_ok(),
                "{quick:?}: {period}"
            );
        }
    }

    #[test]
    fn months_run_oldest_first_across_a_new_year() {
        assert_eq!(
            months_up_to(date(2027, 2, 28), 4),
            ["2026-11", "2026-12", "2027-01", "2027-02"]
        );
        assert_eq!(months_up_to(date(2026, 12, 31), 1), ["2026-12"]);
    }
}
