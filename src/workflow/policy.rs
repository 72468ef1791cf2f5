//! Deadline policy: the limit of each step for each ticket type, the extension rules, the
//! light thresholds and the working hours.
//!
//! [`Policy::default`] is Shuangyashan 2024 (双鸭山市12345热线运行管理办法): sign 1 working day
//! (art. 16); consultation 2, help/suggestion/praise 5, complaint/report 15 working days
//! (art. 16); special matters first response 4 h and progress 3 working days, special emergencies
//! 2 h and 2 working days (art. 17); return within 1 working day (art. 18); extensions each no
//! longer than the original limit, at most two, none for consultations (art. 20); a special
//! supervision (专项督办) answered in writing within 3 working days (art. 32). Consultations
//! answered on the phone may be closed at once by the agent (直接办结, art. 13 直接解答).
//!
//! Shuangyashan has no 申诉 appeal type; its default here is 15 working days, like complaints
//! (Meizhou 2014 gives appeals 30 — set `appeal = "30 wd"` for that).
//! Other cities' values are written in `dialplans/policy.toml`.

use std::fmt;
use std::str::FromStr;

use super::deadline::{LightPolicy, Limit, WorkingHours};

/// 诉求类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TicketType {
    /// 咨询
    Consultation,
    /// 求助
    Help,
    /// 意见建议
    Suggestion,
    /// 表扬
    Praise,
    /// 投诉
    Complaint,
    /// 举报
    Report,
    /// 申诉 (Meizhou)
    Appeal,
}

impl TicketType {
    pub const ALL: [TicketType; 7] = [
        TicketType::Consultation,
        TicketType::Help,
        TicketType::Suggestion,
        TicketType::Praise,
        TicketType::Complaint,
        TicketType::Report,
        TicketType::Appeal,
    ];

    /// The English key used in the policy file and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            TicketType::Consultation => "consultation",
            TicketType::Help => "help",
            TicketType::Suggestion => "suggestion",
            TicketType::Praise => "praise",
            TicketType::Complaint => "complaint",
            TicketType::Report => "report",
            TicketType::Appeal => "appeal",
        }
    }

    /// The word the hotline staff use.
    pub fn chinese(self) -> &'static str {
        match self {
            TicketType::Consultation => "咨询",
            TicketType::Help => "求助",
            TicketType::Suggestion => "意见建议",
            TicketType::Praise => "表扬",
            TicketType::Complaint => "投诉",
            TicketType::Report => "举报",
            TicketType::Appeal => "申诉",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for TicketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A word that names no ticket type or step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected one of: {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static str,
}

impl FromStr for TicketType {
    type Err = UnknownName;
    /// Accepts the English key or the Chinese word.
    fn from_str(s: &str) -> Result<TicketType, UnknownName> {
        let s = s.trim();
        TicketType::ALL
            .into_iter()
            .find(|t| t.key().eq_ignore_ascii_case(s) || t.chinese() == s)
            .ok_or_else(|| UnknownName {
                what: "ticket type",
                given: s.to_string(),
                expected: "consultation, help, suggestion, praise, complaint, report, appeal",
            })
    }
}

/// A timed step of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// 签收: the unit acknowledges the dispatched ticket.
    Sign,
    /// 办结: the unit handles and replies.
    Handle,
    /// 退单: the last moment a unit may return a ticket that is not its business.
    Return,
    /// Special matter (特殊事项): first response.
    SpecialResponse,
    /// Special matter: progress report.
    SpecialProgress,
    /// Special emergency (特殊紧急事项): first response.
    EmergencyResponse,
    /// Special emergency: progress report.
    EmergencyProgress,
    /// 专项督办: written answer to a special supervision.
    SupervisionReply,
}

impl FromStr for Step {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Step, UnknownName> {
        Ok(match s.trim() {
            "sign" => Step::Sign,
            "handle" => Step::Handle,
            "return" => Step::Return,
            "special-response" => Step::SpecialResponse,
            "special-progress" => Step::SpecialProgress,
            "emergency-response" => Step::EmergencyResponse,
            "emergency-progress" => Step::EmergencyProgress,
            "supervision-reply" => Step::SupervisionReply,
            other => {
                return Err(UnknownName {
                    what: "step",
                    given: other.to_string(),
                    expected: "sign, handle, return, special-response, special-progress, \
                               emergency-response, emergency-progress, supervision-reply",
                })
            }
        })
    }
}

/// The limits of a special matter or special emergency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialLimits {
    pub response: Limit,
    pub progress: Limit,
}

/// Extension (延期) rules. Each extension is at most the original limit (fixed rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionPolicy {
    /// How many extension requests a ticket may make per handling round.
    pub max_requests: u8,
    /// Types that may not be extended, indexed like [`TicketType::ALL`].
    pub not_extendable: [bool; 7],
}

impl ExtensionPolicy {
    pub fn extendable(&self, ty: TicketType) -> bool {
        !self.not_extendable[ty.index()]
    }
}

/// The whole deadline policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Sign limit per type, indexed like [`TicketType::ALL`].
    pub sign: [Limit; 7],
    /// Handling limit per type.
    pub handle: [Limit; 7],
    /// Return limit per type.
    pub return_limit: [Limit; 7],
    pub special: SpecialLimits,
    pub emergency: SpecialLimits,
    pub supervision_reply: Limit,
    pub extension: ExtensionPolicy,
    /// Types an agent may close at once when answered on the phone (直接办结), indexed like
    /// [`TicketType::ALL`]; by default consultations only.
    pub direct_answer: [bool; 7],
    pub lights: LightPolicy,
    pub working_hours: WorkingHours,
}

impl Default for Policy {
    /// Shuangyashan 2024.
    fn default() -> Self {
        use Limit::WorkingDays as Wd;
        let mut not_extendable = [false; 7];
        not_extendable[TicketType::Consultation.index()] = true;
        let mut direct_answer = [false; 7];
        direct_answer[TicketType::Consultation.index()] = true;
        Policy {
            sign: [Wd(1); 7],
            // consultation, help, suggestion, praise, complaint, report, appeal
            handle: [Wd(2), Wd(5), Wd(5), Wd(5), Wd(15), Wd(15), Wd(15)],
            return_limit: [Wd(1); 7],
            special: SpecialLimits {
                response: Limit::Hours(4),
                progress: Wd(3),
            },
            emergency: SpecialLimits {
                response: Limit::Hours(2),
                progress: Wd(2),
            },
            supervision_reply: Wd(3),
            extension: ExtensionPolicy {
                max_requests: 2,
                not_extendable,
            },
            direct_answer,
            lights: LightPolicy::default(),
            working_hours: WorkingHours::standard(),
        }
    }
}

impl Policy {
    /// Whether a ticket of type `ty` may be closed at once with the agent's own answer.
    pub fn answerable_directly(&self, ty: TicketType) -> bool {
        self.direct_answer[ty.index()]
    }

    /// The limit of `step` for a ticket of type `ty` (the special steps do not depend on the
    /// type).
    pub fn limit(&self, ty: TicketType, step: Step) -> Limit {
        match step {
            Step::Sign => self.sign[ty.index()],
            Step::Handle => self.handle[ty.index()],
            Step::Return => self.return_limit[ty.index()],
            Step::SpecialResponse => self.special.response,
            Step::SpecialProgress => self.special.progress,
            Step::EmergencyResponse => self.emergency.response,
            Step::EmergencyProgress => self.emergency.progress,
            Step::SupervisionReply => self.supervision_reply,
        }
    }

    /// Sets the limit of `step` for one type (for the per-type steps) or for all.
    pub fn set_limit(&mut self, ty: TicketType, step: Step, limit: Limit) {
        match step {
            Step::Sign => self.sign[ty.index()] = limit,
            Step::Handle => self.handle[ty.index()] = limit,
            Step::Return => self.return_limit[ty.index()] = limit,
            Step::SpecialResponse => self.special.response = limit,
            Step::SpecialProgress => self.special.progress = limit,
            Step::EmergencyResponse => self.emergency.response = limit,
            Step::EmergencyProgress => self.emergency.progress = limit,
            Step::SupervisionReply => self.supervision_reply = limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_shuangyashan_2024() {
        let p = Policy::default();
        use Limit::*;
        use TicketType::*;
        assert_eq!(p.limit(Complaint, Step::Sign), WorkingDays(1));
        assert_eq!(p.limit(Consultation, Step::Handle), WorkingDays(2));
        for t in [Help, Suggestion, Praise] {
            assert_eq!(p.limit(t, Step::Handle), WorkingDays(5));
        }
        for t in [Complaint, Report, Appeal] {
            assert_eq!(p.limit(t, Step::Handle), WorkingDays(15));
        }
        assert_eq!(p.limit(Help, Step::Return), WorkingDays(1));
        assert_eq!(p.limit(Help, Step::SpecialResponse), Hours(4));
        assert_eq!(p.limit(Help, Step::SpecialProgress), WorkingDays(3));
        assert_eq!(p.limit(Help, Step::EmergencyResponse), Hours(2));
        assert_eq!(p.limit(Help, Step::EmergencyProgress), WorkingDays(2));
        assert!(!p.extension.extendable(Consultation));
        assert!(p.extension.extendable(Complaint));
        assert_eq!(p.extension.max_requests, 2);
    }

    #[test]
    fn ticket_types_parse_from_english_or_chinese() {
        assert_eq!("complaint".parse(), Ok(TicketType::Complaint));
        assert_eq!("意见建议".parse(), Ok(TicketType::Suggestion));
        assert!("grievance".parse::<TicketType>().is_err());
        assert_eq!("return".parse(), Ok(Step::Return));
        assert!("close".parse::<Step>().is_err());
    }
}
