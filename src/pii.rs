//! Personal data that must never reach a plain log.
//!
//! [`Pii`] wraps a caller's number, a name or an address. Its `Debug` and `Display` print a
//! masked form, so `tracing::info!(caller = %pii)` is safe; the value itself is reached only by
//! [`Pii::expose`], which code calls where it hands the value to an authorised sink (the store,
//! an outgoing SIP header).

use std::fmt;

/// A value that is personal data. Logs see only a mask that keeps the last two characters.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    pub fn new(value: T) -> Self {
        Pii(value)
    }
    /// The raw value, for the store or the wire. Never pass it to a log macro.
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Masks all but the last two characters: `13800138000` → `*********00`.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    if n <= 2 {
        return "*".repeat(n);
    }
    let keep: String = s.chars().skip(n - 2).collect();
    format!("{}{}", "*".repeat(n - 2), keep)
}

impl<T: AsRef<str>> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(self.0.as_ref()))
    }
}

impl<T: AsRef<str>> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pii({})", mask(self.0.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_debug_hide_all_but_two() {
        let p = Pii::new("13800138000".to_string());
        assert_eq!(p.to_string(), "*********00");
        assert_eq!(format!("{p:?}"), "Pii(*********00)");
        assert_eq!(p.expose(), "13800138000");
        assert_eq!(mask("7"), "*");
    }
}
