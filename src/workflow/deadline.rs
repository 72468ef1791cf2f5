//! Deadline counting (办理时限) and the red/yellow lights (红黄灯).
//!
//! Rules, as the hotline regulations count them:
//! - the day the clock starts is not counted (期间开始之日不计算在内): "N working days" ends at
//!   23:59:59 Asia/Shanghai on the Nth working day *after* the start day, whatever the hour
//!   of the start;
//! - [`Limit::Hours`] are clock hours, through nights, weekends and holidays;
//! - [`Limit::WorkingHours`] count only the configured [`WorkingHours`] of working days, from
//!   the start moment itself (a start outside them counts from the next period's opening).
//!
//! A deadline whose count touches a day of a year the calendar does not know is not guessed
//! silently: [`Due::beyond_calendar`] is set and the days of unknown years are counted by the
//! weekend rule alone. Callers show it as provisional and recompute once the year's calendar
//! is loaded.
//!
//! Everything here is integer arithmetic on unix seconds over the calendar's precomputed
//! tables: no allocation and no search per call.

use chrono::{DateTime, FixedOffset};

use super::calendar::Calendar;
use super::shanghai;

/// Seconds east of UTC of Asia/Shanghai (fixed, no DST).
const OFFSET: i64 = 8 * 3600;
const DAY: i64 = 86_400;

/// A time limit of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Ends at 23:59:59 on the Nth working day after the start day.
    WorkingDays(u16),
    /// N clock hours after the start.
    Hours(u16),
    /// N hours counted only inside the working hours of working days.
    WorkingHours(u16),
}

impl Limit {
    /// The number, whatever the unit.
    pub fn amount(self) -> u16 {
        match self {
            Limit::WorkingDays(n) | Limit::Hours(n) | Limit::WorkingHours(n) => n,
        }
    }

    /// Same unit as `other`.
    pub fn same_unit(self, other: Limit) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

impl std::fmt::Display for Limit {
    /// The policy-file spelling: `15 wd`, `4 h`, `1 wh`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::WorkingDays(n) => write!(f, "{n} wd"),
            Limit::Hours(n) => write!(f, "{n} h"),
            Limit::WorkingHours(n) => write!(f, "{n} wh"),
        }
    }
}

/// Why a limit could not be read from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitParseError {
    #[error("a limit is a number and a unit: \"15 wd\" (working days), \"4 h\" (hours) or \"1 wh\" (working hours), not {0:?}")]
    Syntax(String),
    #[error("a limit must be at least 1, not {0:?}")]
    Zero(String),
}

impl std::str::FromStr for Limit {
    type Err = LimitParseError;
    fn from_str(s: &str) -> Result<Limit, LimitParseError> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u16 = num
            .parse()
            .map_err(|_| LimitParseError::Syntax(s.to_string()))?;
        if n == 0 {
            return Err(LimitParseError::Zero(s.to_string()));
        }
        match unit.trim() {
            "wd" => Ok(Limit::WorkingDays(n)),
            "h" => Ok(Limit::Hours(n)),
            "wh" => Ok(Limit::WorkingHours(n)),
            _ => Err(LimitParseError::Syntax(s.to_string())),
        }
    }
}

/// When a step is due, and whether that relied on a year the calendar does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Due {
    pub at: DateTime<FixedOffset>,
    /// True when some day counted lies in a year the calendar does not cover; `at` then
    /// treats only weekends as days off in those years.
    pub beyond_calendar: bool,
}

/// Why a deadline could not be computed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("the deadline falls outside the representable dates")]
    OutOfRange,
}

/// The daily working periods, e.g. 08:30–12:00 and 13:30–17:30, in seconds of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    periods: Vec<(u32, u32)>,
    per_day: u32,
}

/// Why a set of working periods is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkingHoursError {
    #[error("at least one working period is needed")]
    Empty,
    #[error("the period {0} must end after it starts and within the day")]
    Backwards(String),
    #[error("the periods must be in order and must not overlap: {0}")]
    Overlap(String),
}

fn hhmm(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

impl WorkingHours {
    /// Periods as (start, end) seconds of the day, in order, not overlapping, end ≤ 24:00.
    pub fn new(periods: Vec<(u32, u32)>) -> Result<WorkingHours, WorkingHoursError> {
        if periods.is_empty() {
            return Err(WorkingHoursError::Empty);
        }
        let mut prev_end = 0;
        for (i, &(a, b)) in periods.iter().enumerate() {
            if a >= b || b > DAY as u32 {
                return Err(WorkingHoursError::Backwards(format!(
                    "{}-{}",
                    hhmm(a),
                    hhmm(b)
                )));
            }
            if i > 0 && a < prev_end {
                return Err(WorkingHoursError::Overlap(format!(
                    "{}-{}",
                    hhmm(a),
                    hhmm(b)
                )));
            }
            prev_end = b;
        }
        let per_day = periods.iter().map(|&(a, b)| b - a).sum();
        Ok(WorkingHours { periods, per_day })
    }

    /// 08:30–12:00 and 13:30–17:30.
    pub fn standard() -> WorkingHours {
        WorkingHours {
            periods: vec![
                (8 * 3600 + 1800, 12 * 3600),
                (13 * 3600 + 1800, 17 * 3600 + 1800),
            ],
            per_day: 7 * 3600 + 1800,
        }
    }

    pub fn periods(&self) -> &[(u32, u32)] {
        &self.periods
    }
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours::standard()
    }
}

/// Splits a unix timestamp into (local unix day, second of the local day).
#[inline]
fn local(ts: i64) -> (i64, i64) {
    let l = ts + OFFSET;
    (l.div_euclid(DAY), l.rem_euclid(DAY))
}

#[inline]
fn to_time(local_day: i64, sec_of_day: i64) -> Result<DateTime<FixedOffset>, DeadlineError> {
    let ts = local_day
        .checked_mul(DAY)
        .and_then(|s| s.checked_add(sec_of_day - OFFSET))
        .ok_or(DeadlineError::OutOfRange)?;
    DateTime::from_timestamp(ts, 0)
        .map(|t| t.with_timezone(&shanghai()))
        .ok_or(DeadlineError::OutOfRange)
}

/// When a step started at `start` with `limit` is due.
#[inline]
pub fn due(
    calendar: &Calendar,
    hours: &WorkingHours,
    start: DateTime<FixedOffset>,
    limit: Limit,
) -> Result<Due, DeadlineError> {
    let ts = start.timestamp();
    match limit {
        Limit::WorkingDays(n) => {
            let (day, _) = local(ts);
            let (end, beyond) = calendar.nth_after(day, n as u32);
            Ok(Due {
                at: to_time(end, DAY - 1)?,
                beyond_calendar: beyond,
            })
        }
        Limit::Hours(n) => {
            let at = DateTime::from_timestamp(ts + n as i64 * 3600, 0)
                .ok_or(DeadlineError::OutOfRange)?
                .with_timezone(&shanghai());
            Ok(Due {
                at,
                beyond_calendar: false,
            })
        }
        Limit::WorkingHours(n) => working_hours_due(calendar, hours, ts, n as i64 * 3600),
    }
}

/// Consumes `need` seconds of working time from unix time `ts`.
#[inline]
fn working_hours_due(
    calendar: &Calendar,
    hours: &WorkingHours,
    ts: i64,
    mut need: i64,
) -> Result<Due, DeadlineError> {
    let (day, sod) = local(ts);
    let mut beyond = false;
    if calendar.is_working(day) {
        beyond |= !calendar.covers_day(day);
        for &(a, b) in &hours.periods {
            let (a, b) = (a as i64, b as i64);
            if sod < b {
                let s = sod.max(a);
                if need <= b - s {
                    return Ok(Due {
                        at: to_time(day, s + need)?,
                        beyond_calendar: beyond,
                    });
                }
                need -= b - s;
            }
        }
    }
    // `need` > 0 is left: whole working days, then the rest on the last one.
    let per_day = hours.per_day as i64;
    let whole = (need - 1) / per_day;
    let mut rest = need - whole * per_day;
    let n = u32::try_from(whole + 1).map_err(|_| DeadlineError::OutOfRange)?;
    let (last, b2) = calendar.nth_after(day, n);
    beyond |= b2;
    for &(a, b) in &hours.periods {
        let (a, b) = (a as i64, b as i64);
        if rest <= b - a {
            return Ok(Due {
                at: to_time(last, a + rest)?,
                beyond_calendar: beyond,
            });
        }
        rest -= b - a;
    }
    // Unreachable: `rest` ≤ per_day, the sum of the periods.
    Err(DeadlineError::OutOfRange)
}

/// The light of an open step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Light {
    Green,
    Yellow,
    Red,
}

/// When the light turns yellow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LightPolicy {
    /// Yellow when the time left is at most this share of the whole limit, in per mille
    /// (250 = a quarter).
    pub yellow_share_permille: u16,
    /// Also yellow when at most this many working days are left after today (0 = on the due
    /// day itself); `None` = only the share counts.
    pub yellow_working_days: Option<u16>,
}

impl Default for LightPolicy {
    fn default() -> Self {
        LightPolicy {
            yellow_share_permille: 250,
            yellow_working_days: None,
        }
    }
}

/// Red when `now` is past `due`; yellow when the time left is at most the configured share
/// of `due - started`, or at most the configured number of working days are left after
/// today; green otherwise.
pub fn light(
    calendar: &Calendar,
    due: DateTime<FixedOffset>,
    started: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
    policy: &LightPolicy,
) -> Light {
    let (due, started, now) = (due.timestamp(), started.timestamp(), now.timestamp());
    if now > due {
        return Light::Red;
    }
    let left = (due - now) as i128;
    let total = (due - started).max(0) as i128;
    if left * 1000 <= total * policy.yellow_share_permille as i128 {
        return Light::Yellow;
    }
    if let Some(days) = policy.yellow_working_days {
        let (today, _) = local(now);
        let (due_day, _) = local(due);
        if calendar.working_days_between(today, due_day).0 <= days as u32 {
            return Light::Yellow;
        }
    }
    Light::Green
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::calendar::calendar_2026;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn due_of(start: &str, limit: Limit) -> Due {
        due(&calendar_2026(), &WorkingHours::standard(), t(start), limit).unwrap()
    }

    fn at(start: &str, limit: Limit) -> String {
        due_of(start, limit).at.to_rfc3339()
    }

    #[test]
    fn a_complaint_from_the_eve_of_national_day_counts_the_make_up_saturday() {
        // Wed 30 Sep 10:00; 1–7 Oct off; 8, 9, 10 (Sat 调休), 12–16, 19–23, 26, 27 → 15th = 27 Oct.
        let d = due_of("2026-09-30T10:00:00+08:00", Limit::WorkingDays(15));
        assert_eq!(d.at.to_rfc3339(), "2026-10-27T23:59:59+08:00");
        assert!(!d.beyond_calendar);
    }

    #[test]
    fn a_consultation_from_friday_before_spring_festival_counts_saturday_14_feb() {
        // Fri 13 Feb: Sat 14 Feb is a make-up working day, then 15–23 off, 24 Feb is the 2nd.
        assert_eq!(
            at("2026-02-13T16:00:00+08:00", Limit::WorkingDays(2)),
            "2026-02-24T23:59:59+08:00"
        );
        assert_eq!(
            at("2026-02-13T16:00:00+08:00", Limit::WorkingDays(1)),
            "2026-02-14T23:59:59+08:00"
        );
    }

    #[test]
    fn the_start_day_is_not_counted_even_at_one_minute_past_midnight() {
        assert_eq!(
            at("2026-03-02T00:01:00+08:00", Limit::WorkingDays(1)),
            "2026-03-03T23:59:59+08:00"
        );
        // A start on a holiday counts from the next working day.
        assert_eq!(
            at("2026-10-03T12:00:00+08:00", Limit::WorkingDays(1)),
            "2026-10-08T23:59:59+08:00"
        );
    }

    #[test]
    fn the_start_day_is_the_shanghai_day_whatever_offset_the_start_has() {
        // 17:00 UTC on Thu 5 Mar is 01:00 Fri 6 Mar in Shanghai → next working day Mon 9 Mar.
        assert_eq!(
            at("2026-03-05T17:00:00+00:00", Limit::WorkingDays(1)),
            "2026-03-09T23:59:59+08:00"
        );
    }

    #[test]
    fn two_working_days_from_30_december_are_flagged_beyond_the_calendar() {
        let d = due_of("2026-12-30T09:00:00+08:00", Limit::WorkingDays(2));
        assert_eq!(d.at.to_rfc3339(), "2027-01-01T23:59:59+08:00");
        assert!(d.beyond_calendar);
        assert!(!due_of("2026-12-30T09:00:00+08:00", Limit::WorkingDays(1)).beyond_calendar);
    }

    #[test]
    fn clock_hours_run_across_midnight_and_holidays() {
        assert_eq!(
            at("2026-09-30T22:30:00+08:00", Limit::Hours(4)),
            "2026-10-01T02:30:00+08:00"
        );
        assert_eq!(
            at("2026-12-31T23:00:00+08:00", Limit::Hours(2)),
            "2027-01-01T01:00:00+08:00"
        );
        assert!(!due_of("2026-12-31T23:00:00+08:00", Limit::Hours(12)).beyond_calendar);
    }

    #[test]
    fn working_hours_skip_lunch() {
        assert_eq!(
            at("2026-03-02T11:30:00+08:00", Limit::WorkingHours(1)),
            "2026-03-02T14:00:00+08:00"
        );
        // Ending exactly at the lunch break stays before it.
        assert_eq!(
            at("2026-03-02T11:00:00+08:00", Limit::WorkingHours(1)),
            "2026-03-02T12:00:00+08:00"
        );
        // A start during lunch counts from 13:30.
        assert_eq!(
            at("2026-03-02T12:10:00+08:00", Limit::WorkingHours(1)),
            "2026-03-02T14:30:00+08:00"
        );
    }

    #[test]
    fn working_hours_skip_nights_weekends_and_holidays() {
        // Fri 6 Mar 17:00 → 30 min Friday, 30 min Monday morning.
        assert_eq!(
            at("2026-03-06T17:00:00+08:00", Limit::WorkingHours(1)),
            "2026-03-09T09:00:00+08:00"
        );
        // Saturday night → Monday 09:30.
        assert_eq!(
            at("2026-03-07T23:00:00+08:00", Limit::WorkingHours(1)),
            "2026-03-09T09:30:00+08:00"
        );
        // Wed 30 Sep 17:00 → 30 min, then Thu 8 Oct.
        assert_eq!(
            at("2026-09-30T17:00:00+08:00", Limit::WorkingHours(1)),
            "2026-10-08T09:00:00+08:00"
        );
        // 8 working hours from Mon 08:30 = the whole day (7.5 h) + 30 min Tuesday.
        assert_eq!(
            at("2026-03-02T08:30:00+08:00", Limit::WorkingHours(8)),
            "2026-03-03T09:00:00+08:00"
        );
        // 15 working hours from Mon 08:30 = exactly two days → ends Tue 17:30.
        assert_eq!(
            at("2026-03-02T08:30:00+08:00", Limit::WorkingHours(15)),
            "2026-03-03T17:30:00+08:00"
        );
    }

    #[test]
    fn working_hours_on_a_make_up_saturday_count() {
        assert_eq!(
            at("2026-02-14T09:00:00+08:00", Limit::WorkingHours(1)),
            "2026-02-14T10:00:00+08:00"
        );
    }

    #[test]
    fn working_hours_past_the_calendar_are_flagged() {
        let d = due_of("2026-12-31T17:00:00+08:00", Limit::WorkingHours(1));
        assert_eq!(d.at.to_rfc3339(), "2027-01-01T09:00:00+08:00");
        assert!(d.beyond_calendar);
    }

    #[test]
    fn custom_working_hours_are_honoured() {
        let h = WorkingHours::new(vec![(9 * 3600, 17 * 3600)]).unwrap();
        let d = due(
            &calendar_2026(),
            &h,
            t("2026-03-02T16:00:00+08:00"),
            Limit::WorkingHours(2),
        )
        .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2026-03-03T10:00:00+08:00");
    }

    #[test]
    fn bad_working_hours_are_refused() {
        assert_eq!(WorkingHours::new(vec![]), Err(WorkingHoursError::Empty));
        assert!(matches!(
            WorkingHours::new(vec![(3600, 1800)]),
            Err(WorkingHoursError::Backwards(_))
        ));
        assert!(matches!(
            WorkingHours::new(vec![(3600, 7200), (5400, 9000)]),
            Err(WorkingHoursError::Overlap(_))
        ));
    }

    #[test]
    fn limits_parse_from_policy_spelling() {
        assert_eq!("15 wd".parse(), Ok(Limit::WorkingDays(15)));
        assert_eq!("2h".parse(), Ok(Limit::Hours(2)));
        assert_eq!(" 1 wh ".parse(), Ok(Limit::WorkingHours(1)));
        assert!(matches!(
            "0 wd".parse::<Limit>(),
            Err(LimitParseError::Zero(_))
        ));
        assert!(matches!(
            "3 days".parse::<Limit>(),
            Err(LimitParseError::Syntax(_))
        ));
        assert!(matches!(
            "wd".parse::<Limit>(),
            Err(LimitParseError::Syntax(_))
        ));
        assert!(matches!(
            "99999 wd".parse::<Limit>(),
            Err(LimitParseError::Syntax(_))
        ));
        assert_eq!(Limit::WorkingHours(1).to_string(), "1 wh");
    }

    fn light_at(now: &str, policy: &LightPolicy) -> Light {
        light(
            &calendar_2026(),
            t("2026-03-11T23:59:59+08:00"),
            t("2026-03-01T23:59:59+08:00"), // 10 days exactly
            t(now),
            policy,
        )
    }

    #[test]
    fn light_turns_yellow_at_the_configured_share_and_red_after_the_deadline() {
        let p = LightPolicy::default(); // a quarter: 2.5 days = from 9 Mar 11:59:59
        assert_eq!(light_at("2026-03-09T11:59:58+08:00", &p), Light::Green);
        assert_eq!(light_at("2026-03-09T11:59:59+08:00", &p), Light::Yellow);
        assert_eq!(light_at("2026-03-11T23:59:59+08:00", &p), Light::Yellow);
        assert_eq!(light_at("2026-03-12T00:00:00+08:00", &p), Light::Red);
    }

    #[test]
    fn light_turns_yellow_when_few_working_days_are_left() {
        let p = LightPolicy {
            yellow_share_permille: 0,
            yellow_working_days: Some(1),
        };
        // Due Wed 11 Mar. On Mon 9 Mar two working days (10, 11) are left: green.
        assert_eq!(light_at("2026-03-09T18:00:00+08:00", &p), Light::Green);
        assert_eq!(light_at("2026-03-10T08:00:00+08:00", &p), Light::Yellow);
        let p0 = LightPolicy {
            yellow_working_days: Some(0),
            ..p
        };
        assert_eq!(light_at("2026-03-10T23:00:00+08:00", &p0), Light::Green);
        assert_eq!(light_at("2026-03-11T00:00:00+08:00", &p0), Light::Yellow);
    }
}
