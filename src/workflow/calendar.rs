//! The working-day calendar (工作日历): weekends are off, listed public holidays are off, listed
//! make-up working days (调休) are on.
//!
//! A [`Calendar`] is built from one [`YearSpec`] per year and covers a contiguous run of years.
//! It precomputes, for the covered days, a working-day flag, prefix counts and the position of
//! every working day, so that "the Nth working day after D" and "how many working days between
//! A and B" are O(1) array look-ups with no allocation. Days outside the covered years are
//! still answered, by the weekend rule alone, and every answer that relied on such a day says
//! so (`beyond` = true): holidays of unknown years are never guessed silently.
//!
//! Days are handled internally as *unix days* (days since 1970-01-01, in the calendar's local
//! time, Asia/Shanghai).

use chrono::{Datelike, NaiveDate};

/// The holidays and make-up working days of one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearSpec {
    pub year: i32,
    /// Days off that would otherwise be working days (or fall on a weekend inside a holiday).
    pub holidays: Vec<NaiveDate>,
    /// Weekend days that are working days (调休).
    pub workdays: Vec<NaiveDate>,
}

/// Why a set of years cannot form a calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{date} is listed both as a holiday and as a working day")]
    HolidayAndWorkday { date: NaiveDate },
    #[error("{date} is outside the year {year}")]
    OutsideYear { date: NaiveDate, year: i32 },
    #[error("{date} is a {weekday}, already a working day; a make-up working day must fall on a weekend")]
    WorkdayNotWeekend {
        date: NaiveDate,
        weekday: chrono::Weekday,
    },
    #[error("the year {year} is given twice")]
    DuplicateYear { year: i32 },
    #[error("the years must be contiguous: {missing} is missing")]
    MissingYear { missing: i32 },
    #[error("the year {year} is out of range")]
    YearOutOfRange { year: i32 },
}

/// Unix day of 0001-01-01 (CE day 1) offset: `unix_day = num_days_from_ce - 719_163`.
const CE_TO_UNIX: i64 = 719_163;

/// The unix day (days since 1970-01-01) of a date.
pub fn unix_day(date: NaiveDate) -> i64 {
    date.num_days_from_ce() as i64 - CE_TO_UNIX
}

/// The date of a unix day; `None` only far outside chrono's range.
pub fn date_of(unix_day: i64) -> Option<NaiveDate> {
    let ce = i32::try_from(unix_day + CE_TO_UNIX).ok()?;
    NaiveDate::from_num_days_from_ce_opt(ce)
}

/// True on Saturday and Sunday. 1970-01-01 was a Thursday.
#[inline]
pub fn is_weekend(unix_day: i64) -> bool {
    (unix_day + 3).rem_euclid(7) >= 5
}

/// The working-day calendar of a contiguous run of years.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// First and last covered year; `None` when no year is known.
    years: Option<(i32, i32)>,
    /// Unix day of 1 January of the first covered year.
    base: i64,
    /// `prefix[i]` = number of working days among covered days `0..i`; length = days + 1.
    prefix: Vec<u32>,
    /// `ordinal[k]` = covered-day index of the k-th (0-based) working day.
    ordinal: Vec<u32>,
}

impl Calendar {
    /// Builds the calendar. Years may come in any order but must be contiguous and distinct;
    /// every listed date must lie in its year; a make-up working day must be a weekend day and
    /// no date may be both a holiday and a working day. An empty list gives a calendar that
    /// knows no year (every deadline is flagged).
    pub fn new(mut years: Vec<YearSpec>) -> Result<Calendar, CalendarError> {
        years.sort_by_key(|y| y.year);
        for w in years.windows(2) {
            if w[0].year == w[1].year {
                return Err(CalendarError::DuplicateYear { year: w[0].year });
            }
            if w[1].year != w[0].year + 1 {
                return Err(CalendarError::MissingYear {
                    missing: w[0].year + 1,
                });
            }
        }
        let (Some(first), Some(last)) = (years.first(), years.last()) else {
            return Ok(Calendar::default());
        };
        let (first, last) = (first.year, last.year);
        let start = NaiveDate::from_ymd_opt(first, 1, 1)
            .ok_or(CalendarError::YearOutOfRange { year: first })?;
        let end = NaiveDate::from_ymd_opt(last, 12, 31)
            .ok_or(CalendarError::YearOutOfRange { year: last })?;
        let base = unix_day(start);
        let days = (unix_day(end) - base + 1) as usize;
        let mut working: Vec<bool> = (0..days).map(|i| !is_weekend(base + i as i64)).collect();
        for y in &years {
            for &d in &y.holidays {
                check_in_year(d, y.year)?;
                if y.workdays.contains(&d) {
                    return Err(CalendarError::HolidayAndWorkday { date: d });
                }
                working[(unix_day(d) - base) as usize] = false;
            }
            for &d in &y.workdays {
                check_in_year(d, y.year)?;
                if !is_weekend(unix_day(d)) {
                    return Err(CalendarError::WorkdayNotWeekend {
                        date: d,
                        weekday: d.weekday(),
                    });
                }
                working[(unix_day(d) - base) as usize] = true;
            }
        }
        let mut prefix = Vec::with_capacity(days + 1);
        let mut ordinal = Vec::with_capacity(days);
        let mut count = 0u32;
        prefix.push(0);
        for (i, &w) in working.iter().enumerate() {
            if w {
                ordinal.push(i as u32);
                count += 1;
            }
            prefix.push(count);
        }
        Ok(Calendar {
            years: Some((first, last)),
            base,
            prefix,
            ordinal,
        })
    }

    /// The first and last year this calendar knows, if any.
    pub fn years(&self) -> Option<(i32, i32)> {
        self.years
    }

    /// Whether the calendar knows the holidays of this date's year.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.covers_day(unix_day(date))
    }

    /// Whether `date` is a working day. Outside the covered years only weekends are off.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.is_working(unix_day(date))
    }

    /// The `n`th working day after `date` (the date itself is not counted) and whether any
    /// day counted lay outside the covered years. `n = 0` gives `date` itself.
    pub fn working_day_after(&self, date: NaiveDate, n: u32) -> Option<(NaiveDate, bool)> {
        let (d, beyond) = self.nth_after(unix_day(date), n);
        Some((date_of(d)?, beyond))
    }

    /// Number of covered days.
    #[inline]
    fn len(&self) -> i64 {
        self.prefix.len() as i64 - 1
    }

    #[inline]
    pub(crate) fn covers_day(&self, day: i64) -> bool {
        let i = day - self.base;
        self.years.is_some() && i >= 0 && i < self.len()
    }

    #[inline]
    pub(crate) fn is_working(&self, day: i64) -> bool {
        if self.covers_day(day) {
            let i = (day - self.base) as usize;
            self.prefix[i + 1] != self.prefix[i]
        } else {
            !is_weekend(day)
        }
    }

    /// The unix day of the `n`th working day after `day`, and whether any day in
    /// `day+1 ..= result` lay outside the covered years.
    #[inline]
    pub(crate) fn nth_after(&self, day: i64, n: u32) -> (i64, bool) {
        if n == 0 {
            return (day, false);
        }
        let first = day + 1 - self.base;
        if self.years.is_some() && first >= 0 && first <= self.len() {
            let target = self.prefix[first as usize] as u64 + n as u64 - 1;
            if let Some(&i) = self.ordinal.get(target as usize) {
                return (self.base + i as i64, false);
            }
        }
        self.nth_after_slow(day, n)
    }

    /// Day-by-day walk used only when the count leaves the covered years; whole weeks
    /// (five working days each under the weekend rule) are skipped outside them.
    #[cold]
    fn nth_after_slow(&self, mut day: i64, mut n: u32) -> (i64, bool) {
        let mut beyond = false;
        let end = self.base + self.len(); // first day after the covered run
        while n > 0 {
            if n > 5 {
                let weeks = if self.years.is_none() || day + 1 >= end {
                    (n - 1) / 5
                } else if day + 1 < self.base {
                    ((n - 1) / 5).min(((self.base - day - 1) / 7) as u32)
                } else {
                    0
                };
                if weeks > 0 {
                    day += weeks as i64 * 7;
                    n -= weeks * 5;
                    beyond = true;
                    continue;
                }
            }
            day += 1;
            beyond |= !self.covers_day(day);
            if self.is_working(day) {
                n -= 1;
            }
        }
        (day, beyond)
    }

    /// Number of working days `d` with `from < d <= to` (0 when `to <= from`), and whether any
    /// such day lay outside the covered years.
    pub(crate) fn working_days_between(&self, from: i64, to: i64) -> (u32, bool) {
        if to <= from {
            return (0, false);
        }
        // Half-open [lo, hi) of days to count.
        let (lo, hi) = (from + 1, to + 1);
        if self.years.is_none() {
            return (clamp_u32(weekdays_before(hi) - weekdays_before(lo)), true);
        }
        let (start, end) = (self.base, self.base + self.len());
        let mut count = 0i64;
        let mut beyond = false;
        if lo < start {
            let h = hi.min(start);
            count += weekdays_before(h) - weekdays_before(lo);
            beyond = true;
        }
        if hi > end {
            let l = lo.max(end);
            count += weekdays_before(hi) - weekdays_before(l);
            beyond = true;
        }
        let (l, h) = (lo.max(start), hi.min(end));
        if l < h {
            count += (self.prefix[(h - start) as usize] - self.prefix[(l - start) as usize]) as i64;
        }
        (clamp_u32(count), beyond)
    }
}

/// Number of weekdays (Mon–Fri) among unix days `MONDAY0 .. day` (negative before it).
#[inline]
fn weekdays_before(day: i64) -> i64 {
    const MONDAY0: i64 = -3; // 1969-12-29 was a Monday
    let k = day - MONDAY0;
    k.div_euclid(7) * 5 + k.rem_euclid(7).min(5)
}

fn clamp_u32(n: i64) -> u32 {
    n.clamp(0, u32::MAX as i64) as u32
}

fn check_in_year(date: NaiveDate, year: i32) -> Result<(), CalendarError> {
    if date.year() == year {
        Ok(())
    } else {
        Err(CalendarError::OutsideYear { date, year })
    }
}

/// The 2026 calendar of the State Council notice of 2025-11-04, for tests and examples.
#[cfg(test)]
pub(crate) fn calendar_2026() -> Calendar {
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("valid test date");
    let range = |m, a, b| (a..=b).map(move |day| d(m, day));
    let holidays = range(1, 1, 3)
        .chain(range(2, 15, 23))
        .chain(range(4, 4, 6))
        .chain(range(5, 1, 5))
        .chain(range(6, 19, 21))
        .chain(range(9, 25, 27))
        .chain(range(10, 1, 7))
        .collect();
    let workdays = vec![d(1, 4), d(2, 14), d(2, 28), d(5, 9), d(9, 20), d(10, 10)];
    Calendar::new(vec![YearSpec {
        year: 2026,
        holidays,
        workdays,
    }])
    .expect("the 2026 test calendar is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weekends_are_off_and_make_up_saturdays_are_on() {
        let c = calendar_2026();
        assert!(!c.is_working_day(d(2026, 3, 7))); // ordinary Saturday
        assert!(c.is_working_day(d(2026, 2, 14))); // 调休 Saturday
        assert!(c.is_working_day(d(2026, 1, 4))); // 调休 Sunday
        assert!(!c.is_working_day(d(2026, 10, 5))); // 国庆 Monday
        assert!(c.is_working_day(d(2026, 10, 9)));
    }

    #[test]
    fn working_day_after_skips_the_national_day_week() {
        let c = calendar_2026();
        // Wed 30 Sep: 1st working day after is Thu 8 Oct.
        assert_eq!(
            c.working_day_after(d(2026, 9, 30), 1),
            Some((d(2026, 10, 8), false))
        );
        // 8, 9, 10 (make-up Saturday), 12.
        assert_eq!(
            c.working_day_after(d(2026, 9, 30), 4),
            Some((d(2026, 10, 12), false))
        );
    }

    #[test]
    fn counting_past_the_last_known_year_is_flagged() {
        let c = calendar_2026();
        // Wed 30 Dec → Thu 31 Dec, then Fri 1 Jan 2027 by the weekend rule only.
        assert_eq!(
            c.working_day_after(d(2026, 12, 30), 2),
            Some((d(2027, 1, 1), true))
        );
        assert_eq!(
            c.working_day_after(d(2026, 12, 30), 1),
            Some((d(2026, 12, 31), false))
        );
    }

    #[test]
    fn counting_far_past_the_calendar_still_follows_weekends() {
        let c = calendar_2026();
        // Mon 4 Jan 2027 + 50 working days = 10 weeks later, Mon 15 Mar 2027.
        assert_eq!(
            c.working_day_after(d(2027, 1, 4), 50),
            Some((d(2027, 3, 15), true))
        );
        let empty = Calendar::new(vec![]).unwrap();
        assert_eq!(
            empty.working_day_after(d(2026, 2, 13), 1),
            Some((d(2026, 2, 16), true))
        );
    }

    #[test]
    fn a_date_both_holiday_and_workday_is_refused() {
        let day = d(2026, 2, 14);
        let err = Calendar::new(vec![YearSpec {
            year: 2026,
            holidays: vec![day],
            workdays: vec![day],
        }])
        .unwrap_err();
        assert_eq!(err, CalendarError::HolidayAndWorkday { date: day });
    }

    #[test]
    fn a_date_outside_its_year_is_refused() {
        let err = Calendar::new(vec![YearSpec {
            year: 2026,
            holidays: vec![d(2027, 1, 1)],
            workdays: vec![],
        }])
        .unwrap_err();
        assert!(matches!(err, CalendarError::OutsideYear { year: 2026, .. }));
    }

    #[test]
    fn a_weekday_make_up_day_is_refused() {
        let err = Calendar::new(vec![YearSpec {
            year: 2026,
            holidays: vec![],
            workdays: vec![d(2026, 1, 5)],
        }])
        .unwrap_err();
        assert!(matches!(err, CalendarError::WorkdayNotWeekend { .. }));
    }

    #[test]
    fn years_must_be_contiguous_and_distinct() {
        let y = |year| YearSpec {
            year,
            holidays: vec![],
            workdays: vec![],
        };
        assert_eq!(
            Calendar::new(vec![y(2026), y(2028)]).unwrap_err(),
            CalendarError::MissingYear { missing: 2027 }
        );
        assert_eq!(
            Calendar::new(vec![y(2026), y(2026)]).unwrap_err(),
            CalendarError::DuplicateYear { year: 2026 }
        );
        let two = Calendar::new(vec![y(2027), y(2026)]).unwrap();
        assert_eq!(two.years(), Some((2026, 2027)));
        assert_eq!(
            two.working_day_after(d(2026, 12, 31), 1),
            Some((d(2027, 1, 1), false))
        );
    }

    #[test]
    fn working_days_between_counts_the_end_not_the_start() {
        let c = calendar_2026();
        let (a, b) = (unix_day(d(2026, 9, 30)), unix_day(d(2026, 10, 12)));
        assert_eq!(c.working_days_between(a, b), (4, false));
        assert_eq!(c.working_days_between(b, a), (0, false));
        // Tue 29 Dec 2026 → Tue 5 Jan 2027: 30, 31 Dec known; 1, 4, 5 Jan by weekends only.
        let (x, y) = (unix_day(d(2026, 12, 29)), unix_day(d(2027, 1, 5)));
        assert_eq!(c.working_days_between(x, y), (5, true));
        // Before the calendar: Fri 26 Dec 2025 → Mon 5 Jan 2026 = 29, 30, 31 Dec, 4 (调休), 5 Jan.
        let (x, y) = (unix_day(d(2025, 12, 26)), unix_day(d(2026, 1, 5)));
        assert_eq!(c.working_days_between(x, y), (5, true));
    }
}
