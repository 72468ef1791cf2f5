//! The red/yellow light (红黄灯) of a ticket, and the next instant it changes.
//!
//! A ticket's light follows the deadline of the step the hotline is waiting for: a dispatched
//! ticket waits for the unit to sign (签收, `sign_due`); a signed or handled one for the unit to
//! handle and reply (办结, `handle_due`, moved by approved extensions). Created (not yet
//! dispatched), replied, visited and closed tickets wait on no unit and have no light.
//! The colour itself is [`crate::workflow::deadline::light`]: red once overdue, yellow when the
//! configured share (or number of working days) is left.
//!
//! [`next_change`] answers "when must I look again?" so a scheduler can sleep until exactly
//! then. Sans-IO: `now` is an argument.

use chrono::{DateTime, Duration, FixedOffset};

use super::calendar::Calendar;
use super::deadline::{light, Light, LightPolicy};
use super::shanghai;
use super::ticket::{State, Ticket};

/// The light of a ticket at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LightView {
    /// `None` when the ticket waits on no unit.
    pub light: Option<Light>,
    /// The deadline the light follows.
    pub due: Option<DateTime<FixedOffset>>,
    /// The next instant the light changes by the passing of time alone (`None`: never, e.g.
    /// red, or no light).
    pub next_change: Option<DateTime<FixedOffset>>,
}

impl Light {
    pub fn key(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
}

/// The clock start and deadline the light follows, if any.
pub fn watched(ticket: &Ticket) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    let c = ticket.clocks.as_ref()?;
    match ticket.state {
        State::Dispatched => Some((c.started, c.sign_due.at)),
        State::Signed | State::Handled => Some((c.started, c.handle_due.at)),
        State::Created | State::Replied | State::Visited | State::Closed => None,
    }
}

/// The light of `ticket` at `now` and when it next changes.
pub fn ticket_light(
    ticket: &Ticket,
    now: DateTime<FixedOffset>,
    calendar: &Calendar,
    policy: &LightPolicy,
) -> LightView {
    let Some((started, due)) = watched(ticket) else {
        return LightView {
            light: None,
            due: None,
            next_change: None,
        };
    };
    let current = light(calendar, due, started, now, policy);
    LightView {
        light: Some(current),
        due: Some(due),
        next_change: next_change(calendar, started, due, now, policy),
    }
}

/// The first instant after `now` (whole seconds) at which the light of a step started at
/// `started` and due at `due` differs from its light at `now`.
pub fn next_change(
    calendar: &Calendar,
    started: DateTime<FixedOffset>,
    due: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
    policy: &LightPolicy,
) -> Option<DateTime<FixedOffset>> {
    let at = |t: DateTime<FixedOffset>| light(calendar, due, started, t, policy);
    let current = at(now);
    let red = due + Duration::seconds(1);
    match current {
        Light::Red => None,
        Light::Yellow => Some(red),
        Light::Green => {
            // The share rule turns yellow once left*1000 <= total*share.
            let total = (due - started).num_seconds().max(0) as i128;
            let allowed = (total * policy.yellow_share_permille as i128 / 1000) as i64;
            let mut candidates = vec![due - Duration::seconds(allowed), red];
            // The working-days rule turns yellow at the start of some local day.
            if policy.yellow_working_days.is_some() {
                let tz = shanghai();
                let mut day = now.with_timezone(&tz).date_naive();
                let last = due.with_timezone(&tz).date_naive();
                while day < last {
                    day = day.succ_opt()?;
                    let midnight = day.and_hms_opt(0, 0, 0)?.and_local_timezone(tz).single()?;
                    if at(midnight) != Light::Green {
                        candidates.push(midnight);
                        break;
                    }
                }
            }
            candidates
                .into_iter()
                .filter(|t| *t > now && at(*t) != Light::Green)
                .min()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::calendar::calendar_2026;
    use crate::workflow::{apply, create, Actor, Command, Policy, TicketId, TicketType, Urgency};

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn dispatched(ty: TicketType, at: &str, policy: &Policy) -> Ticket {
        let cal = calendar_2026();
        let e = create(
            TicketId("T".into()),
            ty,
            Urgency::Normal,
            Actor::Agent("a".into()),
            t(at),
        )
        .unwrap();
        let mut ticket = Ticket::from_created(&e).unwrap();
        let unit = crate::workflow::UnitId("u".into());
        for e in apply(
            &ticket,
            Command::Dispatch { unit },
            Actor::Agent("a".into()),
            t(at),
            policy,
            &cal,
        )
        .unwrap()
        {
            ticket.evolve(&e);
        }
        ticket
    }

    /// Drives the clock from change to change and records each (instant, light).
    fn walk(ticket: &Ticket, from: &str, policy: &Policy) -> Vec<(String, Light)> {
        let cal = calendar_2026();
        let mut now = t(from);
        let mut seen = vec![];
        loop {
            let v = ticket_light(ticket, now, &cal, &policy.lights);
            seen.push((now.to_rfc3339(), v.light.unwrap()));
            let Some(next) = v.next_change else { break };
            // Just before the change nothing has changed yet.
            let before = ticket_light(ticket, next - Duration::seconds(1), &cal, &policy.lights);
            assert_eq!(before.light, v.light, "at {next} - 1 s");
            now = next;
        }
        seen
    }

    #[test]
    fn a_dispatched_ticket_goes_green_yellow_red_on_its_sign_deadline() {
        let p = Policy::default();
        let ticket = dispatched(TicketType::Complaint, "2026-03-02T10:00:00+08:00", &p);
        // Sign 1 wd: due Tue 3 Mar 23:59:59, 37h59m59s after the start; a quarter is
        // 34199 s (integer), so yellow from 14:30:00 on the 3rd.
        assert_eq!(
            walk(&ticket, "2026-03-02T10:00:00+08:00", &p),
            vec![
                ("2026-03-02T10:00:00+08:00".into(), Light::Green),
                ("2026-03-03T14:30:00+08:00".into(), Light::Yellow),
                ("2026-03-04T00:00:00+08:00".into(), Light::Red),
            ]
        );
    }

    #[test]
    fn working_days_rule_turns_yellow_at_midnight_of_the_due_day() {
        let mut p = Policy::default();
        p.lights.yellow_share_permille = 0;
        p.lights.yellow_working_days = Some(0);
        let ticket = dispatched(TicketType::Help, "2026-09-30T10:00:00+08:00", &p);
        // Sign 1 wd from 30 Sep: 1–7 Oct off → due Thu 8 Oct.
        assert_eq!(
            walk(&ticket, "2026-09-30T10:00:00+08:00", &p),
            vec![
                ("2026-09-30T10:00:00+08:00".into(), Light::Green),
                ("2026-10-08T00:00:00+08:00".into(), Light::Yellow),
                ("2026-10-09T00:00:00+08:00".into(), Light::Red),
            ]
        );
    }

    #[test]
    fn created_and_closed_tickets_have_no_light_and_no_change() {
        let e = create(
            TicketId("T".into()),
            TicketType::Help,
            Urgency::Normal,
            Actor::Agent("a".into()),
            t("2026-03-02T10:00:00+08:00"),
        )
        .unwrap();
        let ticket = Ticket::from_created(&e).unwrap();
        let v = ticket_light(
            &ticket,
            t("2026-03-02T10:00:00+08:00"),
            &calendar_2026(),
            &LightPolicy::default(),
        );
        assert_eq!(v.light, None);
        assert_eq!(v.next_change, None);
    }

    #[test]
    fn a_late_look_sees_the_current_light_and_the_next_change_from_then() {
        let p = Policy::default();
        let ticket = dispatched(TicketType::Complaint, "2026-03-02T10:00:00+08:00", &p);
        let v = ticket_light(
            &ticket,
            t("2026-03-03T20:00:00+08:00"),
            &calendar_2026(),
            &p.lights,
        );
        assert_eq!(v.light, Some(Light::Yellow));
        assert_eq!(v.next_change, Some(t("2026-03-04T00:00:00+08:00")));
    }
}
