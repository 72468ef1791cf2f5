//! Loads the deadline policy from `dialplans/policy.toml` into the workflow core's [`Policy`].
//!
//! Every section and key is optional; what is left out keeps the default (Shuangyashan 2024,
//! see [`Policy::default`]). Limits are written `"N wd"` (working days), `"N h"` (clock hours)
//! or `"N wh"` (working hours). In `[sign]`, `[handle]` and `[return]`, `all` sets every type
//! and a type key (`consultation`, `help`, `suggestion`, `praise`, `complaint`, `report`,
//! `appeal`) overrides it. Unknown keys, bad limits, a share outside 0..=1 and bad working
//! periods are refused with file:line.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{line_of, parse_toml, DialplanError};
use crate::workflow::deadline::{LightPolicy, Limit, WorkingHours};
use crate::workflow::policy::{Policy, Step, TicketType};

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    sign: Option<PerType>,
    #[serde(default)]
    handle: Option<PerType>,
    #[serde(default, rename = "return")]
    return_: Option<PerType>,
    #[serde(default)]
    special: Option<Special>,
    #[serde(default)]
    emergency: Option<Special>,
    #[serde(default)]
    supervision: Option<Supervision>,
    #[serde(default)]
    extension: Option<Extension>,
    #[serde(default)]
    direct_answer: Option<DirectAnswer>,
    #[serde(default)]
    lights: Option<Lights>,
    #[serde(default)]
    working_hours: Option<Hours>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerType {
    all: Option<Text>,
    consultation: Option<Text>,
    help: Option<Text>,
    suggestion: Option<Text>,
    praise: Option<Text>,
    complaint: Option<Text>,
    report: Option<Text>,
    appeal: Option<Text>,
}

impl PerType {
    fn get(&self, ty: TicketType) -> Option<&Text> {
        match ty {
            TicketType::Consultation => self.consultation.as_ref(),
            TicketType::Help => self.help.as_ref(),
            TicketType::Suggestion => self.suggestion.as_ref(),
            TicketType::Praise => self.praise.as_ref(),
            TicketType::Complaint => self.complaint.as_ref(),
            TicketType::Report => self.report.as_ref(),
            TicketType::Appeal => self.appeal.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Special {
    response: Option<Text>,
    progress: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Supervision {
    special_reply: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    max_requests: Option<Spanned<i64>>,
    not_extendable: Option<Vec<Text>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectAnswer {
    types: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lights {
    yellow_share: Option<Spanned<f64>>,
    yellow_working_days: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hours {
    periods: Spanned<Vec<Text>>,
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        reason: impl Into<String>,
    ) -> Result<T, DialplanError> {
        Err(DialplanError::new(
            self.file,
            line_of(self.text, span.start),
            reason,
        ))
    }

    fn limit(&self, t: &Text) -> Result<Limit, DialplanError> {
        t.get_ref()
            .parse::<Limit>()
            .or_else(|e| self.err(t.span(), e.to_string()))
    }

    fn per_type(
        &self,
        table: &Option<PerType>,
        step: Step,
        policy: &mut Policy,
    ) -> Result<(), DialplanError> {
        let Some(table) = table else { return Ok(()) };
        if let Some(all) = &table.all {
            let limit = self.limit(all)?;
            for ty in TicketType::ALL {
                policy.set_limit(ty, step, limit);
            }
        }
        for ty in TicketType::ALL {
            if let Some(t) = table.get(ty) {
                policy.set_limit(ty, step, self.limit(t)?);
            }
        }
        Ok(())
    }

    fn one(&self, t: &Option<Text>, ty: Step, policy: &mut Policy) -> Result<(), DialplanError> {
        if let Some(t) = t {
            // The special steps do not depend on the type; any type sets them.
            policy.set_limit(TicketType::Complaint, ty, self.limit(t)?);
        }
        Ok(())
    }

    fn clock(&self, t: &Text, s: &str) -> Result<u32, DialplanError> {
        let bad = || self.err(t.span(), format!("{s:?} is not a time of day (HH:MM)"));
        let Some((h, m)) = s.trim().split_once(':') else {
            return bad();
        };
        let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) else {
            return bad();
        };
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return bad();
        }
        Ok(h * 3600 + m * 60)
    }
}

/// Parses the text of a policy file.
pub fn parse(file: &Path, text: &str) -> Result<Policy, DialplanError> {
    let doc: PolicyFile = parse_toml(file, text)?;
    let cx = Ctx { file, text };
    let mut policy = Policy::default();
    cx.per_type(&doc.sign, Step::Sign, &mut policy)?;
    cx.per_type(&doc.handle, Step::Handle, &mut policy)?;
    cx.per_type(&doc.return_, Step::Return, &mut policy)?;
    if let Some(s) = &doc.special {
        cx.one(&s.response, Step::SpecialResponse, &mut policy)?;
        cx.one(&s.progress, Step::SpecialProgress, &mut policy)?;
    }
    if let Some(s) = &doc.emergency {
        cx.one(&s.response, Step::EmergencyResponse, &mut policy)?;
        cx.one(&s.progress, Step::EmergencyProgress, &mut policy)?;
    }
    if let Some(s) = &doc.supervision {
        cx.one(&s.special_reply, Step::SupervisionReply, &mut policy)?;
    }
    if let Some(x) = &doc.extension {
        if let Some(n) = &x.max_requests {
            match u8::try_from(*n.get_ref()) {
                Ok(v) if v <= 10 => policy.extension.max_requests = v,
                _ => return cx.err(n.span(), "max_requests must be between 0 and 10"),
            }
        }
        if let Some(list) = &x.not_extendable {
            policy.extension.not_extendable = [false; 7];
            for t in list {
                let ty: TicketType =
                    t.get_ref()
                        .parse()
                        .or_else(|e: crate::workflow::policy::UnknownName| {
                            cx.err(t.span(), e.to_string())
                        })?;
                policy.extension.not_extendable[ty as usize] = true;
            }
        }
    }
    if let Some(d) = &doc.direct_answer {
        policy.direct_answer = [false; 7];
        for t in &d.types {
            let ty: TicketType =
                t.get_ref()
                    .parse()
                    .or_else(|e: crate::workflow::policy::UnknownName| {
                        cx.err(t.span(), e.to_string())
                    })?;
            policy.direct_answer[ty as usize] = true;
        }
    }
    if let Some(l) = &doc.lights {
        let mut lights = LightPolicy::default();
        if let Some(s) = &l.yellow_share {
            let v = *s.get_ref();
            if !(0.0..=1.0).contains(&v) {
                return cx.err(
                    s.span(),
                    format!("yellow_share must be between 0 and 1, not {v}"),
                );
            }
            lights.yellow_share_permille = (v * 1000.0).round() as u16;
        }
        if let Some(d) = &l.yellow_working_days {
            match u16::try_from(*d.get_ref()) {
                Ok(v) => lights.yellow_working_days = Some(v),
                Err(_) => return cx.err(d.span(), "yellow_working_days must be 0 or more"),
            }
        }
        policy.lights = lights;
    }
    if let Some(h) = &doc.working_hours {
        let mut periods = Vec::new();
        for t in h.periods.get_ref() {
            let s = t.get_ref();
            let Some((a, b)) = s.split_once('-') else {
                return cx.err(t.span(), format!("{s:?} is not a period (HH:MM-HH:MM)"));
            };
            periods.push((cx.clock(t, a)?, cx.clock(t, b)?));
        }
        policy.working_hours =
            WorkingHours::new(periods).or_else(|e| cx.err(h.periods.span(), e.to_string()))?;
    }
    Ok(policy)
}

/// Reads and parses one policy file.
pub fn load_file(path: &Path) -> Result<Policy, DialplanError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DialplanError::new(path, 0, format!("cannot read: {e}")))?;
    parse(path, &text)
}

/// Loads `<dialplans>/policy.toml`.
pub fn load(dialplans: &Path) -> Result<Policy, DialplanError> {
    load_file(&dialplans.join("policy.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> DialplanError {
        parse(Path::new("d/policy.toml"), text).unwrap_err()
    }

    #[test]
    fn the_shipped_policy_file_is_the_default_policy() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
        assert_eq!(load(&dir).unwrap(), Policy::default());
    }

    #[test]
    fn an_empty_file_gives_the_default_policy() {
        assert_eq!(parse(Path::new("p.toml"), "").unwrap(), Policy::default());
    }

    #[test]
    fn other_cities_values_can_be_written() {
        let text = r#"
[sign]
all = "2 h"          # Xixian
[handle]
all = "5 wd"
consultation = "3 wd"
report = "30 wd"     # Meizhou
appeal = "30 wd"
[return]
all = "12 h"
[extension]
not_extendable = []
[lights]
yellow_share = 0.2
yellow_working_days = 1
[working_hours]
periods = ["09:00-12:00", "14:00-18:00"]
"#;
        let p = parse(Path::new("p.toml"), text).unwrap();
        assert_eq!(p.limit(TicketType::Help, Step::Sign), Limit::Hours(2));
        assert_eq!(
            p.limit(TicketType::Consultation, Step::Handle),
            Limit::WorkingDays(3)
        );
        assert_eq!(
            p.limit(TicketType::Help, Step::Handle),
            Limit::WorkingDays(5)
        );
        assert_eq!(
            p.limit(TicketType::Report, Step::Handle),
            Limit::WorkingDays(30)
        );
        assert_eq!(p.limit(TicketType::Report, Step::Return), Limit::Hours(12));
        assert!(p.extension.extendable(TicketType::Consultation));
        assert_eq!(p.lights.yellow_share_permille, 200);
        assert_eq!(p.lights.yellow_working_days, Some(1));
        assert_eq!(p.working_hours.periods(), &[(32400, 43200), (50400, 64800)]);
        let jiangsu = parse(Path::new("p.toml"), "[sign]\nall = \"1 wh\"\n").unwrap();
        assert_eq!(
            jiangsu.limit(TicketType::Help, Step::Sign),
            Limit::WorkingHours(1)
        );
    }

    #[test]
    fn a_bad_limit_is_refused_with_its_line() {
        let e = err("[handle]\ncomplaint = \"15 wd\"\nreport = \"fifteen\"\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(
            e.to_string()
                .starts_with("d/policy.toml:3: a limit is a number and a unit"),
            "{e}"
        );
        assert_eq!(err("\n[special]\nresponse = \"0 h\"\n").line, 3);
    }

    #[test]
    fn an_unknown_type_or_key_is_refused_with_its_line() {
        let e = err("[handle]\ngrievance = \"5 wd\"\n");
        assert_eq!(e.line, 2, "{e}");
        let e = err("[extension]\nnot_extendable = [\n  \"consultation\",\n  \"gossip\",\n]\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.reason.contains("unknown ticket type"), "{e}");
    }

    #[test]
    fn a_share_outside_zero_to_one_is_refused() {
        let e = err("[lights]\nyellow_share = 1.5\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn bad_working_periods_are_refused_with_their_line() {
        let e = err("[working_hours]\nperiods = [\"08:30-12:00\",\n \"13:30-25:00\"]\n");
        assert_eq!(e.line, 3, "{e}");
        let e = err("[working_hours]\nperiods = [\"13:30-17:30\", \"08:30-12:00\"]\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.reason.contains("must not overlap"), "{e}");
        let e = err("[working_hours]\n\nperiods = []\n");
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn a_missing_policy_file_is_reported() {
        let e = load(Path::new("/nonexistent-dialplans")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.reason.starts_with("cannot read"), "{e}");
    }
}
