//! The admin-edited configuration under `dialplans/`: numbers, trunks, queues, agents, seats,
//! schedules, prompts, the working-day calendar and deadline policy.
//!
//! Everything is read from TOML into serde structs here, checked, and turned into the plain
//! types the cores use; the cores never see serde. Every refusal names the file, the line and
//! the reason, in the `file:line: reason` form editors and CI logs understand.

pub mod calendar;
pub mod policy;

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
    if errors.is_empty() {
        Ok(format!("{} valid in {}", parts.join(", "), dir.display()))
    } else {
        Err(errors)
    }
}
