//! Loads the working-day calendar from `dialplans/calendar/*.toml`, one file per year, into
//! the workflow core's [`Calendar`].
//!
//! ```toml
//! year = 2026
//! source = "国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)"
//!
//! [[holiday]]
//! name = "春节"
//! off = ["2026-02-15..2026-02-23"]   # dates, or inclusive ranges A..B
//! work = ["2026-02-14", "2026-02-28"] # make-up working days (调休), weekend days only
//! ```
//!
//! Refused, with file:line: bad dates, a date outside the file's year, a date listed both as a
//! day off and as a working day, a make-up working day that is not a weekend day, a year given
//! twice, a gap between years.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use toml::Spanned;

use super::{line_of, parse_toml, DialplanError};
use crate::workflow::calendar::{is_weekend, unix_day, Calendar, CalendarError, YearSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: Spanned<i32>,
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    #[serde(default, rename = "holiday")]
    holidays: Vec<HolidayEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    #[allow(dead_code)]
    name: String,
    #[serde(default)]
    off: Vec<Spanned<String>>,
    #[serde(default)]
    work: Vec<Spanned<String>>,
}

/// One parsed year and the line of its `year` key, for errors across files.
struct Parsed {
    spec: YearSpec,
    file: PathBuf,
    year_line: usize,
}

fn parse_date(file: &Path, line: usize, s: &str) -> Result<NaiveDate, DialplanError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| DialplanError::new(file, line, format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// Expands "A" or "A..B" (inclusive) into dates.
fn parse_dates(file: &Path, line: usize, s: &str) -> Result<Vec<NaiveDate>, DialplanError> {
    match s.split_once("..") {
        None => Ok(vec![parse_date(file, line, s)?]),
        Some((a, b)) => {
            let (a, b) = (parse_date(file, line, a)?, parse_date(file, line, b)?);
            if b < a || (b - a).num_days() > 366 {
                return Err(DialplanError::new(
                    file,
                    line,
                    format!("the range {s:?} must go forward and stay within a year"),
                ));
            }
            Ok(a.iter_days().take_while(|d| *d <= b).collect())
        }
    }
}

fn parse_parsed(file: &Path, text: &str) -> Result<Parsed, DialplanError> {
    let doc: YearFile = parse_toml(file, text)?;
    let year = *doc.year.get_ref();
    let year_line = line_of(text, doc.year.span().start);
    if !(1970..=9999).contains(&year) {
        return Err(DialplanError::new(
            file,
            year_line,
            format!("the year {year} is out of range"),
        ));
    }
    // date → (line, is_work_day), to report conflicts at the second mention.
    let mut seen: HashMap<NaiveDate, (usize, bool)> = HashMap::new();
    let mut spec = YearSpec {
        year,
        holidays: Vec::new(),
        workdays: Vec::new(),
    };
    for h in &doc.holidays {
        for (list, is_work) in [(&h.off, false), (&h.work, true)] {
            for item in list {
                let line = line_of(text, item.span().start);
                for date in parse_dates(file, line, item.get_ref())? {
                    if date.year() != year {
                        return Err(DialplanError::new(
                            file,
                            line,
                            format!("{date} is outside the year {year} of this file"),
                        ));
                    }
                    if is_work && !is_weekend(unix_day(date)) {
                        return Err(DialplanError::new(
                            file,
                            line,
                            format!(
                                "{date} is a {}, already a working day; a make-up working day must fall on a weekend",
                                date.weekday()
                            ),
                        ));
                    }
                    if let Some(&(first, was_work)) = seen.get(&date) {
                        if was_work != is_work {
                            return Err(DialplanError::new(
                                file,
                                line,
                                format!(
                                    "{date} is listed both as a holiday and as a working day (also line {first})"
                                ),
                            ));
                        }
                        continue;
                    }
                    seen.insert(date, (line, is_work));
                    if is_work {
                        spec.workdays.push(date);
                    } else {
                        spec.holidays.push(date);
                    }
                }
            }
        }
    }
    Ok(Parsed {
        spec,
        file: file.to_path_buf(),
        year_line,
    })
}

/// Parses one year file.
pub fn parse_year(file: &Path, text: &str) -> Result<YearSpec, DialplanError> {
    Ok(parse_parsed(file, text)?.spec)
}

/// Builds a calendar from `(file, text)` pairs, one per year.
pub fn parse_years(files: &[(PathBuf, String)]) -> Result<Calendar, DialplanError> {
    let mut parsed = Vec::with_capacity(files.len());
    for (file, text) in files {
        parsed.push(parse_parsed(file, text)?);
    }
    parsed.sort_by_key(|p| p.spec.year);
    let where_year = |year: i32| {
        parsed
            .iter()
            .rev()
            .find(|p| p.spec.year == year)
            .map(|p| (p.file.clone(), p.year_line))
    };
    let years: Vec<YearSpec> = parsed.iter().map(|p| p.spec.clone()).collect();
    Calendar::new(years).map_err(|e| {
        let (file, line) = match &e {
            CalendarError::DuplicateYear { year } => where_year(*year),
            CalendarError::MissingYear { missing } => where_year(missing + 1),
            CalendarError::HolidayAndWorkday { date }
            | CalendarError::OutsideYear { date, .. }
            | CalendarError::WorkdayNotWeekend { date, .. } => where_year(date.year()),
            CalendarError::YearOutOfRange { year } => where_year(*year),
        }
        .unwrap_or_default();
        DialplanError::new(&file, line, e.to_string())
    })
}

/// Loads every `*.toml` in `dir` (the calendar directory).
pub fn load_dir(dir: &Path) -> Result<Calendar, DialplanError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| DialplanError::new(dir, 0, format!("cannot read the directory: {e}")))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| DialplanError::new(dir, 0, format!("cannot list the directory: {e}")))?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(DialplanError::new(
            dir,
            0,
            "no calendar year files (*.toml)",
        ));
    }
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| DialplanError::new(&path, 0, format!("cannot read: {e}")))?;
        files.push((path, text));
    }
    parse_years(&files)
}

/// Loads `<dialplans>/calendar/*.toml`.
pub fn load(dialplans: &Path) -> Result<Calendar, DialplanError> {
    load_dir(&dialplans.join("calendar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> PathBuf {
        PathBuf::from(name)
    }

    fn err(text: &str) -> DialplanError {
        parse_year(&p("cal/2026.toml"), text).unwrap_err()
    }

    #[test]
    fn the_shipped_2026_calendar_loads_with_its_holidays_and_make_up_days() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
        let cal = load(&dir).unwrap();
        assert_eq!(cal.years(), Some((2026, 2026)));
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        for off in [
            d(1, 1),
            d(1, 3),
            d(2, 15),
            d(2, 23),
            d(4, 6),
            d(5, 5),
            d(6, 19),
            d(9, 25),
            d(10, 7),
        ] {
            assert!(!cal.is_working_day(off), "{off} should be off");
        }
        for on in [
            d(1, 4),
            d(2, 14),
            d(2, 28),
            d(5, 9),
            d(9, 20),
            d(10, 10),
            d(10, 8),
        ] {
            assert!(cal.is_working_day(on), "{on} should be a working day");
        }
        let built = crate::workflow::calendar::calendar_2026();
        for m in 1..=12 {
            for day in 1..=28 {
                assert_eq!(
                    cal.is_working_day(d(m, day)),
                    built.is_working_day(d(m, day))
                );
            }
        }
    }

    #[test]
    fn ranges_expand_inclusively() {
        let spec = parse_year(
            &p("x.toml"),
            "year = 2026\n[[holiday]]\nname = \"国庆\"\noff = [\"2026-10-01..2026-10-07\"]\n",
        )
        .unwrap();
        assert_eq!(spec.holidays.len(), 7);
    }

    #[test]
    fn a_bad_date_is_refused_with_its_line() {
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\n  \"2026-01-01\",\n  \"2026-13-01\",\n]\n");
        assert_eq!(e.line, 6, "{e}");
        assert!(
            e.to_string()
                .starts_with("cal/2026.toml:6: \"2026-13-01\" is not a date"),
            "{e}"
        );
    }

    #[test]
    fn a_date_outside_the_file_year_is_refused_with_its_line() {
        let e = err("year = 2026\n\n[[holiday]]\nname = \"元旦\"\noff = [\"2027-01-01\"]\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.reason.contains("outside the year 2026"), "{e}");
    }

    #[test]
    fn a_date_both_off_and_working_is_refused_at_the_second_mention() {
        let e = err(
            "year = 2026\n[[holiday]]\nname = \"春节\"\noff = [\"2026-02-14..2026-02-16\"]\nwork = [\"2026-02-14\"]\n",
        );
        assert_eq!(e.line, 5, "{e}");
        assert!(
            e.reason
                .contains("both as a holiday and as a working day (also line 4)"),
            "{e}"
        );
    }

    #[test]
    fn a_weekday_listed_as_make_up_day_is_refused() {
        let e = err("year = 2026\n[[holiday]]\nname = \"x\"\nwork = [\"2026-01-05\"]\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.reason.contains("Mon"), "{e}");
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let e = err("year = 2026\n[[holiday]]\nname = \"x\"\nof = [\"2026-01-05\"]\n");
        assert_eq!(e.line, 4, "{e}");
    }

    #[test]
    fn a_gap_between_year_files_is_refused_at_the_later_file() {
        let files = vec![
            (p("cal/2026.toml"), "year = 2026\n".to_string()),
            (p("cal/2028.toml"), "# later\nyear = 2028\n".to_string()),
        ];
        let e = parse_years(&files).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cal/2028.toml:2: the years must be contiguous: 2027 is missing"
        );
    }

    #[test]
    fn the_same_year_in_two_files_is_refused() {
        let files = vec![
            (p("cal/a.toml"), "year = 2026\n".to_string()),
            (p("cal/b.toml"), "year = 2026\n".to_string()),
        ];
        let e = parse_years(&files).unwrap_err();
        assert!(
            e.to_string().ends_with(":1: the year 2026 is given twice"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_calendar_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_dir(dir.path()).unwrap_err();
        assert!(e.reason.contains("no calendar year files"), "{e}");
    }
}
