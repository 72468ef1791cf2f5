//! Which numbers can receive an SMS: mainland mobile numbers only.
//!
//! A caller ID may be anonymous, a landline (区号 + 号码) or a mobile number with a country
//! prefix. [`normalise_mobile`] accepts `+86`, `0086` and `86` prefixes, spaces and dashes,
//! and returns the 11-digit form `1[3-9]xxxxxxxxx`; anything else is a typed refusal so a
//! caller never silently misses a message.

use crate::pii::Pii;

/// Why a number cannot receive an SMS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the number is anonymous or withheld")]
    Anonymous,
    #[error("{0} is not a mainland mobile number (a landline or a service number)")]
    NotMobile(Pii<String>),
}

/// The 11-digit mobile number behind `raw`, or why there is none.
pub fn normalise_mobile(raw: &str) -> Result<String, PhoneError> {
    let trimmed = raw.trim();
    let lowered = trimmed.to_ascii_lowercase();
    if trimmed.is_empty()
        || [
            "anonymous",
            "unknown",
            "restricted",
            "private",
            "unavailable",
        ]
        .iter()
        .any(|w| lowered.contains(w))
    {
        return Err(PhoneError::Anonymous);
    }
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' => {}
            _ => return Err(PhoneError::NotMobile(Pii::new(trimmed.to_string()))),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Anonymous);
    }
    let national = if digits.len() == 15 && digits.starts_with("0086") {
        &digits[4..]
    } else if digits.len() == 13 && digits.starts_with("86") {
        &digits[2..]
    } else {
        &digits[..]
    };
    let b = national.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
        Ok(national.to_string())
    } else {
        Err(PhoneError::NotMobile(Pii::new(trimmed.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_with_prefixes_are_normalised() {
        for raw in [
            "13800138000",
            "+8613800138000",
            "008613800138000",
            "8613800138000",
            "138-0013-8000",
            " +86 138 0013 8000 ",
        ] {
            assert_eq!(normalise_mobile(raw).as_deref(), Ok("13800138000"), "{raw}");
        }
        assert_eq!(
            normalise_mobile("19912345678").as_deref(),
            Ok("19912345678")
        );
    }

    #[test]
    fn anonymous_and_landlines_are_refused_by_kind() {
        for raw in [
            "",
            "anonymous",
            "Anonymous <sip:anonymous@x>",
            "  ",
            "unknown",
        ] {
            assert_eq!(normalise_mobile(raw), Err(PhoneError::Anonymous), "{raw:?}");
        }
        for raw in [
            "02161234567",
            "010-12345678",
            "+862161234567",
            "12345",
            "12012345678",
            "1380013800",
            "138001380001",
            "1380013800x",
        ] {
            assert!(
                matches!(normalise_mobile(raw), Err(PhoneError::NotMobile(_))),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_refusal_does_not_print_the_number() {
        let e = normalise_mobile("02161234567").unwrap_err();
        assert!(!e.to_string().contains("02161234567"), "{e}");
    }
}
