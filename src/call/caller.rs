//! Caller numbers: normalising what trunks send (+86, 0086, leading 0, area codes) into one
//! national form, and telling mobiles, landlines, service numbers and the callers who give no
//! number (anonymous, withheld, unavailable) apart.
//!
//! The number is personal data and travels as [`Pii`]. Callers without a number are never one
//! caller: they have no abuse key and no SMS address.

use crate::pii::Pii;

/// What kind of number a caller has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// 11 digits starting 1[3-9]; can receive SMS.
    Mobile,
    /// Area code + subscriber number, e.g. 03982345678.
    Landline,
    /// Short service numbers (95xxx, 12xxx, 10086…).
    Service,
    /// Outside mainland China.
    International,
    /// The caller asked for anonymity (`anonymous` user).
    Anonymous,
    /// The number was withheld (privacy / restricted).
    Withheld,
    /// The network did not deliver a number.
    Unavailable,
    /// Digits that fit no known shape.
    Unknown,
}

impl CallerKind {
    /// A number that identifies one caller (for abuse limits and callbacks).
    pub fn is_identified(self) -> bool {
        !matches!(
            self,
            CallerKind::Anonymous | CallerKind::Withheld | CallerKind::Unavailable
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::Mobile => "mobile",
            CallerKind::Landline => "landline",
            CallerKind::Service => "service",
            CallerKind::International => "international",
            CallerKind::Anonymous => "anonymous",
            CallerKind::Withheld => "withheld",
            CallerKind::Unavailable => "unavailable",
            CallerKind::Unknown => "unknown",
        }
    }
}

/// A normalised caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// National form (`13800138000`, `03982345678`, `0012125550100`); empty for callers
    /// without a number.
    pub number: Pii<String>,
    pub kind: CallerKind,
}

impl Caller {
    /// The key abuse limits count by; `None` for callers without a number, who are never
    /// lumped together.
    pub fn abuse_key(&self) -> Option<&str> {
        self.kind
            .is_identified()
            .then(|| self.number.expose().as_str())
            .filter(|s| !s.is_empty())
    }
    /// Only mobiles receive SMS (ticket numbers, surveys).
    pub fn sms_allowed(&self) -> bool {
        self.kind == CallerKind::Mobile
    }
}

fn is_mobile(d: &str) -> bool {
    d.len() == 11 && d.starts_with('1') && matches!(d.as_bytes()[1], b'3'..=b'9')
}

/// Normalises the caller's user part (from P-Asserted-Identity or From) as the trunk sent it.
/// `privacy` is set when the trunk marked the identity private (`Privacy: id`);
/// `area_code` (e.g. `0398`) completes local landlines sent without one.
pub fn normalise(raw: &str, privacy: bool, area_code: &str) -> Caller {
    let none = |kind| Caller {
        number: Pii::new(String::new()),
        kind,
    };
    let t = raw.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "anonymous" => return none(CallerKind::Anonymous),
        "restricted" | "withheld" | "private" | "privacy" => return none(CallerKind::Withheld),
        "" | "unavailable" | "unknown" | "invalid" => return none(CallerKind::Unavailable),
        _ => {}
    }
    if privacy {
        return none(CallerKind::Withheld);
    }
    let plus = t.starts_with('+');
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '+'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Caller {
            number: Pii::new(digits),
            kind: CallerKind::Unknown,
        };
    }
    // Country code: +86…, 0086…, or a bare 86 in front of a mobile (13 digits).
    let had_cc = plus || digits.starts_with("0086");
    let national: String = if plus {
        match digits.strip_prefix("86") {
            Some(rest) => rest.to_string(),
            None => {
                return Caller {
                    number: Pii::new(format!("00{digits}")),
                    kind: CallerKind::International,
                }
            }
        }
    } else if let Some(rest) = digits.strip_prefix("0086") {
        rest.to_string()
    } else if digits.starts_with("00") {
        return Caller {
            number: Pii::new(digits),
            kind: CallerKind::International,
        };
    } else if digits.len() == 13 && digits.starts_with("861") && is_mobile(&digits[2..]) {
        digits[2..].to_string()
    } else {
        digits
    };
    // A mobile sent with a trunk prefix 0 (some carriers mark non-local mobiles so).
    if national.len() == 12 && national.starts_with('0') && is_mobile(&national[1..]) {
        return Caller {
            number: Pii::new(national[1..].to_string()),
            kind: CallerKind::Mobile,
        };
    }
    if is_mobile(&national) {
        return Caller {
            number: Pii::new(national),
            kind: CallerKind::Mobile,
        };
    }
    // A landline written with its area code but without the trunk prefix (+86 398 2345678).
    let national = if had_cc && !national.starts_with('0') && national.len() >= 9 {
        format!("0{national}")
    } else {
        national
    };
    if national.starts_with('0') && (10..=12).contains(&national.len()) {
        return Caller {
            number: Pii::new(national),
            kind: CallerKind::Landline,
        };
    }
    if (7..=8).contains(&national.len()) && !national.starts_with(['0', '1', '9']) {
        return Caller {
            number: Pii::new(format!("{area_code}{national}")),
            kind: CallerKind::Landline,
        };
    }
    if (3..=6).contains(&national.len()) && national.starts_with(['1', '9']) {
        return Caller {
            number: Pii::new(national),
            kind: CallerKind::Service,
        };
    }
    Caller {
        number: Pii::new(national),
        kind: CallerKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(raw: &str) -> (String, CallerKind) {
        let c = normalise(raw, false, "0398");
        (c.number.expose().clone(), c.kind)
    }

    #[test]
    fn numbers_are_normalised_to_one_national_form() {
        use CallerKind::*;
        let table = [
            ("13800138000", "13800138000", Mobile),
            ("+8613800138000", "13800138000", Mobile),
            ("008613800138000", "13800138000", Mobile),
            ("8613800138000", "13800138000", Mobile),
            ("013800138000", "13800138000", Mobile),
            ("+86 138-0013-8000", "13800138000", Mobile),
            ("03982345678", "03982345678", Landline),
            ("+863982345678", "03982345678", Landline),
            ("00863982345678", "03982345678", Landline),
            ("01012345678", "01012345678", Landline),
            ("2345678", "03982345678", Landline),
            ("22345678", "039822345678", Landline),
            ("95588", "95588", Service),
            ("12345", "12345", Service),
            ("+12125550100", "0012125550100", International),
            ("0012125550100", "0012125550100", International),
            ("12", "12", Unknown),
            ("abc", "abc", Unknown),
        ];
        for (raw, want, kind) in table {
            assert_eq!(n(raw), (want.to_string(), kind), "{raw}");
        }
    }

    #[test]
    fn callers_without_a_number_stay_apart_and_unreachable() {
        let table = [
            ("anonymous", CallerKind::Anonymous),
            ("Anonymous", CallerKind::Anonymous),
            ("restricted", CallerKind::Withheld),
            ("withheld", CallerKind::Withheld),
            ("", CallerKind::Unavailable),
            ("unavailable", CallerKind::Unavailable),
        ];
        for (raw, kind) in table {
            let c = normalise(raw, false, "0398");
            assert_eq!(c.kind, kind, "{raw}");
            assert_eq!(c.abuse_key(), None, "{raw}");
            assert!(!c.sms_allowed(), "{raw}");
        }
        let hidden = normalise("13800138000", true, "0398");
        assert_eq!(hidden.kind, CallerKind::Withheld);
        assert_eq!(hidden.abuse_key(), None);
    }

    #[test]
    fn only_mobiles_get_sms() {
        assert!(normalise("13800138000", false, "0398").sms_allowed());
        assert!(!normalise("03982345678", false, "0398").sms_allowed());
        assert_eq!(
            normalise("03982345678", false, "0398").abuse_key(),
            Some("03982345678")
        );
    }

    #[test]
    fn the_number_is_masked_in_debug_output() {
        let c = normalise("13800138000", false, "0398");
        assert!(!format!("{c:?}").contains("13800138000"));
    }
}
