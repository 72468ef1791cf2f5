//! The admin-edited configuration under `dialplans/`: numbers, trunks, queues, agents, seats,
//! schedules, prompts, the working-day calendar and deadline policy.
//!
//! Everything is read from TOML into serde structs here, checked, and turned into the plain
//! types the cores use; the cores never see serde. Every refusal names the file, the line and
//! the reason, in the `file:line: reason` form editors and CI logs understand.

pub mod abuse;
pub mod agents;
pub mod calendar;
pub mod emergency;
pub mod experts;
pub mod features;
pub mod load;
pub mod numbers;
pub mod outbound;
pub mod policy;
pub mod prompts;
pub mod queues;
pub mod schedules;
pub mod trunks;

#[cfg(test)]
mod plan_tests;

pub use crate::call::plan::Dialplan;
pub use load::{load, load_str};

use std::fmt;
use std::path::{Path, PathBuf};

/// A refusal of one configuration file: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DialplanError {
    pub file: PathBuf,
    /// 1-based; 0 when the fault is not tied to a line (a missing file).
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for DialplanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

impl DialplanError {
    pub fn new(file: &Path, line: usize, reason: impl Into<String>) -> DialplanError {
        DialplanError {
            file: file.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }
}

/// The 1-based line of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses one TOML file into `T`, turning serde's error into file:line: reason.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, DialplanError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        DialplanError::new(file, line, e.message().trim().to_string())
    })
}

/// One file being read: its path and text, for errors that point at a span.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Ctx<'_> {
    /// An error at the line where `span` starts.
    pub fn at(&self, span: std::ops::Range<usize>, reason: impl Into<String>) -> DialplanError {
        DialplanError::new(self.file, line_of(self.text, span.start), reason)
    }

    /// `Err` at the line where `span` starts.
    pub fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        reason: impl Into<String>,
    ) -> Result<T, DialplanError> {
        Err(self.at(span, reason))
    }

    /// An optional whole number that must lie in `min..=max` (`default` when absent).
    pub fn range(
        &self,
        v: &Option<toml::Spanned<i64>>,
        key: &str,
        min: i64,
        max: i64,
        default: i64,
    ) -> Result<i64, DialplanError> {
        match v {
            None => Ok(default),
            Some(s) if (min..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => self.err(
                s.span(),
                format!("{key} must be between {min} and {max}, not {}", s.get_ref()),
            ),
        }
    }

    /// Parses the whole file.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, DialplanError> {
        parse_toml(self.file, self.text)
    }
}

/// Whether `s` is a dialable number: 3 to 20 ASCII digits.
pub fn is_number(s: &str) -> bool {
    (3..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The line on which `key = …` (or `[key]`) first appears, for errors found after parsing.
pub fn line_of_key(text: &str, key: &str) -> usize {
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with(['=', ']', '.']) {
            return i + 1;
        }
        if t.starts_with('[') && t.trim_start_matches('[').starts_with(key) {
            return i + 1;
        }
    }
    0
}

/// Validates every dialplan file this daemon reads; returns a one-line summary or every
/// refusal found.
pub fn check_dir(dir: &Path) -> Result<String, Vec<DialplanError>> {
    let mut errors = Vec::new();
    let mut parts = Vec::new();
    match calendar::load(dir) {
        Ok(_) => parts.push("working-day calendar"),
        Err(e) => errors.push(e),
    }
    match policy::load(dir) {
        Ok(_) => parts.push("deadline policy"),
        Err(e) => errors.push(e),
    }
    let summary;
    match load::load(dir) {
        Ok(plan) => {
            summary = format!(
                "{} lines, {} queues, {} trunks, {} listed agents",
                plan.lines.len(),
                plan.queues.len(),
                plan.trunks.len(),
                plan.agents.listed.len()
            );
            parts.push(&summary);
        }
        Err(e) => errors.push(e),
    }
    if errors.is_empty() {
        Ok(format!("{} valid in {}", parts.join(", "), dir.display()))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        port: u16,
    }

    #[test]
    fn a_bad_value_is_reported_with_file_and_line() {
        let text = "name = \"x\"\nport = \"five\"\n";
        let err = parse_toml::<Doc>(Path::new("d/a.toml"), text).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("d/a.toml:2: "), "{err}");
    }
}
