//! Behaviour of the ticket state machine: every transition, legal and illegal.

use super::*;
use crate::workflow::calendar::calendar_2026;

mod later_steps;

pub(super) fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

pub(super) fn agent() -> Actor {
    Actor::Agent("a1".into())
}
pub(super) fn sup() -> Actor {
    Actor::Supervisor("s1".into())
}
pub(super) fn unit(id: &str) -> Actor {
    Actor::Unit(UnitId(id.into()))
}
pub(super) fn uid(id: &str) -> UnitId {
    UnitId(id.into())
}

/// A ticket's history being written, with the 2026 calendar.
struct Desk {
    events: Vec<Event>,
    ticket: Ticket,
    policy: Policy,
    calendar: Calendar,
}

impl Desk {
    fn new(ty: TicketType, at: &str) -> Desk {
        Desk::with(ty, Urgency::Normal, at, Policy::default())
    }

    fn with(ty: TicketType, urgency: Urgency, at: &str, policy: Policy) -> Desk {
        let e = create(TicketId("T1".into()), ty, urgency, agent(), t(at)).unwrap();
        Desk {
            ticket: Ticket::from_created(&e).unwrap(),
            events: vec![e],
            policy,
            calendar: calendar_2026(),
        }
    }

    fn try_(&mut self, cmd: Command, actor: Actor, at: &str) -> Result<(), TransitionError> {
        let new = apply(
            &self.ticket,
            cmd,
            actor,
            t(at),
            &self.policy,
            &self.calendar,
        )?;
        for e in &new {
            self.ticket.evolve(e);
        }
        self.events.extend(new);
        Ok(())
    }

    fn ok(&mut self, cmd: Command, actor: Actor, at: &str) -> &mut Desk {
        if let Err(e) = self.try_(cmd, actor, at) {
            panic!("refused: {e}");
        }
        self
    }

    fn refused(&mut self, cmd: Command, actor: Actor, at: &str) -> TransitionError {
        let before = self.events.len();
        let e = self.try_(cmd, actor, at).unwrap_err();
        assert_eq!(self.events.len(), before, "a refusal adds no event");
        e
    }

    fn clocks(&self) -> Clocks {
        self.ticket.clocks.unwrap()
    }

    /// Dispatched to u1 on Mon 2 Mar 09:00 and signed at 10:00.
    fn signed(ty: TicketType) -> Desk {
        let mut d = Desk::new(ty, "2026-03-02T08:50:00+08:00");
        d.ok(
            Command::Dispatch { unit: uid("u1") },
            agent(),
            "2026-03-02T09:00:00+08:00",
        )
        .ok(Command::Sign, unit("u1"), "2026-03-02T10:00:00+08:00");
        d
    }

    fn visited(satisfied: bool, reasonable: bool) -> Desk {
        let mut d = Desk::signed(TicketType::Complaint);
        d.ok(
            Command::Handle {
                summary: "fixed".into(),
            },
            unit("u1"),
            "2026-03-10T10:00:00+08:00",
        )
        .ok(Command::Reply, unit("u1"), "2026-03-10T11:00:00+08:00")
        .ok(
            Command::RecordVisit {
                satisfied,
                reasonable,
            },
            agent(),
            "2026-03-11T10:00:00+08:00",
        );
        d
    }
}

fn ret() -> Command {
    Command::RequestReturn {
        reason: "not our duty".into(),
        basis: "三定方案 art. 3".into(),
        suggested_unit: Some(uid("u2")),
    }
}

pub(super) fn ext(n: u16) -> Command {
    Command::RequestExtension {
        limit: Limit::WorkingDays(n),
        reason: "needs a site survey".into(),
    }
}

#[test]
fn a_ticket_goes_through_its_whole_life_and_replays_to_the_same_state() {
    let mut d = Desk::visited(true, true);
    d.ok(Command::Close, agent(), "2026-03-11T10:05:00+08:00");
    assert_eq!(d.ticket.state, State::Closed);
    assert!(!d.ticket.signed_late && !d.ticket.handled_late);
    let kinds: Vec<_> = d
        .events
        .iter()
        .map(|e| std::mem::discriminant(&e.kind))
        .collect();
    assert_eq!(kinds.len(), 7);
    assert_eq!(fold(&d.events).unwrap(), d.ticket);
    assert_eq!(d.ticket.version, 7);
}

#[test]
fn dispatch_starts_sign_handle_and_return_clocks() {
    let mut d = Desk::new(TicketType::Complaint, "2026-09-30T09:55:00+08:00");
    d.ok(
        Command::Dispatch { unit: uid("u1") },
        agent(),
        "2026-09-30T10:00:00+08:00",
    );
    let c = d.clocks();
    assert_eq!(d.ticket.state, State::Dispatched);
    assert_eq!(c.sign_due.at, t("2026-10-08T23:59:59+08:00"));
    assert_eq!(c.return_due.at, t("2026-10-08T23:59:59+08:00"));
    assert_eq!(c.handle_due.at, t("2026-10-27T23:59:59+08:00"));
    assert_eq!(c.handle_limit, Limit::WorkingDays(15));
    assert_eq!(c.response_due, None);
}

#[test]
fn special_matters_get_response_and_progress_clocks() {
    let mut d = Desk::with(
        TicketType::Help,
        Urgency::Special,
        "2026-03-06T21:00:00+08:00",
        Policy::default(),
    );
    d.ok(
        Command::Dispatch { unit: uid("u1") },
        agent(),
        "2026-03-06T22:00:00+08:00",
    );
    assert_eq!(
        d.clocks().response_due.unwrap().at,
        t("2026-03-07T02:00:00+08:00")
    );
    assert_eq!(
        d.clocks().progress_due.unwrap().at,
        t("2026-03-11T23:59:59+08:00")
    );
    let mut e = Desk::with(
        TicketType::Help,
        Urgency::Emergency,
        "2026-03-06T21:00:00+08:00",
        Policy::default(),
    );
    e.ok(
        Command::Dispatch { unit: uid("u1") },
        agent(),
        "2026-03-06T22:00:00+08:00",
    );
    assert_eq!(
        e.clocks().response_due.unwrap().at,
        t("2026-03-07T00:00:00+08:00")
    );
    assert_eq!(
        e.clocks().progress_due.unwrap().at,
        t("2026-03-10T23:59:59+08:00")
    );
}

#[test]
fn a_city_policy_with_a_two_hour_sign_limit_is_used_at_dispatch() {
    let mut p = Policy::default();
    for ty in TicketType::ALL {
        p.set_limit(ty, Step::Sign, Limit::Hours(2));
    }
    let mut d = Desk::with(
        TicketType::Help,
        Urgency::Normal,
        "2026-03-02T22:00:00+08:00",
        p,
    );
    d.ok(
        Command::Dispatch { unit: uid("u1") },
        agent(),
        "2026-03-02T23:00:00+08:00",
    );
    assert_eq!(d.clocks().sign_due.at, t("2026-03-03T01:00:00+08:00"));
    d.ok(Command::Sign, unit("u1"), "2026-03-03T08:00:00+08:00");
    assert!(d.ticket.signed_late);
}

#[test]
fn wrong_state_is_refused_with_a_clear_message() {
    let mut d = Desk::visited(true, true);
    d.ok(Command::Close, agent(), "2026-03-11T10:05:00+08:00");
    let e = d.refused(Command::Sign, unit("u1"), "2026-03-12T10:00:00+08:00");
    assert_eq!(e.to_string(), "cannot sign: ticket is Closed");
    let now = "2026-03-12T10:00:00+08:00";
    for (cmd, who) in [
        (Command::Dispatch { unit: uid("u1") }, agent()),
        (ret(), unit("u1")),
        (ext(1), unit("u1")),
        (
            Command::Supervise {
                kind: SupervisionKind::Phone,
                note: String::new(),
            },
            sup(),
        ),
        (
            Command::Handle {
                summary: String::new(),
            },
            unit("u1"),
        ),
        (Command::Reply, unit("u1")),
        (
            Command::RecordVisit {
                satisfied: true,
                reasonable: true,
            },
            agent(),
        ),
        (Command::Reopen, sup()),
        (Command::Close, agent()),
        (
            Command::CloseAsRepeat {
                earlier: TicketId("T0".into()),
                reason: "same".into(),
            },
            agent(),
        ),
        (
            Command::ApproveReturn {
                redispatch_to: None,
            },
            sup(),
        ),
        (Command::ApproveExtension, sup()),
    ] {
        let action = cmd.action();
        assert_eq!(
            d.refused(cmd, who, now),
            TransitionError::WrongState {
                action,
                state: State::Closed
            }
        );
    }
}

#[test]
fn steps_cannot_be_skipped() {
    let now = "2026-03-03T10:00:00+08:00";
    let mut d = Desk::new(TicketType::Help, "2026-03-02T08:50:00+08:00");
    let e = d.refused(Command::Sign, unit("u1"), now);
    assert_eq!(e.to_string(), "cannot sign: ticket is Created");
    d.ok(Command::Dispatch { unit: uid("u1") }, agent(), now);
    assert!(matches!(
        d.refused(Command::Dispatch { unit: uid("u2") }, agent(), now),
        TransitionError::WrongState {
            state: State::Dispatched,
            ..
        }
    ));
    let e = d.refused(
        Command::Handle {
            summary: "x".into(),
        },
        unit("u1"),
        now,
    );
    assert_eq!(e.to_string(), "cannot handle: ticket is Dispatched");
    assert!(matches!(
        d.refused(Command::Reply, unit("u1"), now),
        TransitionError::WrongState { .. }
    ));
    d.ok(Command::Sign, unit("u1"), now);
    assert!(matches!(
        d.refused(Command::Sign, unit("u1"), now),
        TransitionError::WrongState { .. }
    ));
    assert!(matches!(
        d.refused(
            Command::RecordVisit {
                satisfied: true,
                reasonable: true
            },
            agent(),
            now
        ),
        TransitionError::WrongState {
            state: State::Signed,
            ..
        }
    ));
    assert!(matches!(
        d.refused(Command::Close, agent(), now),
        TransitionError::WrongState { .. }
    ));
    d.ok(
        Command::Handle {
            summary: "x".into(),
        },
        unit("u1"),
        now,
    );
    assert!(matches!(
        d.refused(
            Command::CloseAsRepeat {
                earlier: TicketId("T0".into()),
                reason: "same".into()
            },
            agent(),
            now
        ),
        TransitionError::WrongState {
            state: State::Handled,
            ..
        }
    ));
    assert!(matches!(
        d.refused(Command::Close, agent(), now),
        TransitionError::WrongState { .. }
    ));
}

#[test]
fn only_the_assigned_unit_acts_and_units_cannot_do_staff_work() {
    let now = "2026-03-02T10:00:00+08:00";
    assert!(matches!(
        create(
            TicketId("T9".into()),
            TicketType::Help,
            Urgency::Normal,
            unit("u1"),
            t(now)
        ),
        Err(TransitionError::Forbidden {
            action: Action::Create,
            role: Role::Unit
        })
    ));
    let mut d = Desk::new(TicketType::Help, "2026-03-02T08:50:00+08:00");
    assert!(matches!(
        d.refused(Command::Dispatch { unit: uid("u1") }, unit("u1"), now),
        TransitionError::Forbidden {
            role: Role::Unit,
            ..
        }
    ));
    d.ok(Command::Dispatch { unit: uid("u1") }, agent(), now);
    let e = d.refused(Command::Sign, unit("u2"), now);
    assert_eq!(
        e,
        TransitionError::WrongUnit {
            action: Action::Sign,
            assigned: Some(uid("u1")),
            actor: uid("u2")
        }
    );
    assert!(matches!(
        d.refused(Command::Sign, agent(), now),
        TransitionError::Forbidden {
            role: Role::Agent,
            ..
        }
    ));
    d.ok(Command::Sign, unit("u1"), now);
    d.ok(ret(), unit("u1"), now);
    assert!(matches!(
        d.refused(
            Command::ApproveReturn {
                redispatch_to: None
            },
            agent(),
            now
        ),
        TransitionError::Forbidden {
            role: Role::Agent,
            ..
        }
    ));
    assert!(matches!(
        d.refused(Command::RefuseReturn { note: "no".into() }, unit("u1"), now),
        TransitionError::Forbidden {
            role: Role::Unit,
            ..
        }
    ));
}

#[test]
fn signing_after_the_sign_limit_is_recorded_as_late() {
    let mut d = Desk::new(TicketType::Help, "2026-03-02T08:50:00+08:00");
    d.ok(
        Command::Dispatch { unit: uid("u1") },
        agent(),
        "2026-03-02T09:00:00+08:00",
    )
    .ok(Command::Sign, unit("u1"), "2026-03-04T00:00:00+08:00");
    assert!(d.ticket.signed_late);
}

#[test]
fn handling_after_the_deadline_is_recorded_as_late() {
    let mut d = Desk::signed(TicketType::Consultation);
    d.ok(
        Command::Handle {
            summary: "x".into(),
        },
        unit("u1"),
        "2026-03-05T00:00:00+08:00",
    );
    assert!(d.ticket.handled_late);
}

#[test]
fn an_approved_return_re_dispatches_with_a_fresh_clock() {
    let mut d = Desk::signed(TicketType::Complaint);
    let first = d.clocks();
    d.ok(ret(), unit("u1"), "2026-03-03T15:00:00+08:00");
    assert!(d.ticket.pending_return.is_some());
    d.ok(
        Command::ApproveReturn {
            redispatch_to: Some(uid("u2")),
        },
        sup(),
        "2026-03-04T10:00:00+08:00",
    );
    let c = d.clocks();
    assert_eq!(d.ticket.state, State::Dispatched);
    assert_eq!(d.ticket.unit, Some(uid("u2")));
    assert_eq!(c.started, t("2026-03-04T10:00:00+08:00"));
    assert_eq!(c.handle_due.at, t("2026-03-25T23:59:59+08:00"));
    assert_ne!(c.handle_due, first.handle_due);
    assert!(d.ticket.pending_return.is_none());
    assert!(matches!(
        d.refused(Command::Sign, unit("u1"), "2026-03-04T11:00:00+08:00"),
        TransitionError::WrongUnit { .. }
    ));
    d.ok(Command::Sign, unit("u2"), "2026-03-04T11:00:00+08:00");
    assert_eq!(fold(&d.events).unwrap(), d.ticket);
}

#[test]
fn an_approved_return_without_a_new_unit_waits_for_dispatch() {
    let mut d = Desk::signed(TicketType::Help);
    d.ok(ret(), unit("u1"), "2026-03-02T15:00:00+08:00").ok(
        Command::ApproveReturn {
            redispatch_to: None,
        },
        sup(),
        "2026-03-03T09:00:00+08:00",
    );
    assert_eq!(d.ticket.state, State::Created);
    assert_eq!(d.ticket.unit, None);
    d.ok(
        Command::Dispatch { unit: uid("u3") },
        agent(),
        "2026-03-05T09:00:00+08:00",
    );
    assert_eq!(d.clocks().started, t("2026-03-05T09:00:00+08:00"));
    assert_eq!(d.clocks().handle_due.at, t("2026-03-12T23:59:59+08:00"));
}

#[test]
fn a_refused_return_keeps_the_original_clock() {
    let mut d = Desk::new(TicketType::Complaint, "2026-03-02T08:50:00+08:00");
    d.ok(
        Command::Dispatch { unit: uid("u1") },
        agent(),
        "2026-03-02T09:00:00+08:00",
    );
    let first = d.clocks();
    d.ok(ret(), unit("u1"), "2026-03-03T09:00:00+08:00");
    assert!(matches!(
        d.refused(Command::Sign, unit("u1"), "2026-03-03T09:30:00+08:00"),
        TransitionError::ReturnPending {
            action: Action::Sign
        }
    ));
    d.ok(
        Command::RefuseReturn {
            note: "within your duty".into(),
        },
        sup(),
        "2026-03-04T09:00:00+08:00",
    );
    assert_eq!(d.ticket.state, State::Dispatched);
    assert_eq!(d.ticket.unit, Some(uid("u1")));
    assert_eq!(d.clocks(), first);
    d.ok(Command::Sign, unit("u1"), "2026-03-04T10:00:00+08:00");
    assert!(
        d.ticket.signed_late,
        "the sign clock kept running from the first dispatch"
    );
}

#[test]
fn a_return_needs_reason_and_basis_within_the_return_limit() {
    let mut d = Desk::signed(TicketType::Help);
    let now = "2026-03-02T11:00:00+08:00";
    let no_reason = Command::RequestReturn {
        reason: " ".into(),
        basis: "b".into(),
        suggested_unit: None,
    };
    assert_eq!(
        d.refused(no_reason, unit("u1"), now),
        TransitionError::MissingReason {
            action: Action::Return
        }
    );
    let no_basis = Command::RequestReturn {
        reason: "r".into(),
        basis: "".into(),
        suggested_unit: None,
    };
    assert_eq!(
        d.refused(no_basis, unit("u1"), now),
        TransitionError::MissingBasis
    );
    assert!(matches!(
        d.refused(ret(), unit("u2"), now),
        TransitionError::WrongUnit { .. }
    ));
    let e = d.refused(ret(), unit("u1"), "2026-03-04T00:00:00+08:00");
    assert_eq!(
        e,
        TransitionError::ReturnTooLate {
            due: t("2026-03-03T23:59:59+08:00")
        }
    );
    d.ok(ret(), unit("u1"), "2026-03-03T23:59:59+08:00");
    assert_eq!(
        d.refused(ret(), unit("u1"), now),
        TransitionError::ReturnPending {
            action: Action::Return
        }
    );
    assert!(matches!(
        d.refused(
            Command::Handle {
                summary: "x".into()
            },
            unit("u1"),
            now
        ),
        TransitionError::ReturnPending { .. }
    ));
}

#[test]
fn reviewing_a_return_that_was_not_asked_is_refused() {
    let mut d = Desk::signed(TicketType::Help);
    let now = "2026-03-02T11:00:00+08:00";
    assert_eq!(
        d.refused(
            Command::ApproveReturn {
                redispatch_to: None
            },
            sup(),
            now
        ),
        TransitionError::NoReturnPending
    );
    assert_eq!(
        d.refused(
            Command::RefuseReturn {
                note: String::new()
            },
            sup(),
            now
        ),
        TransitionError::NoReturnPending
    );
}

#[test]
fn a_history_must_start_with_one_creation() {
    assert_eq!(fold(&[]), Err(FoldError::Empty));
    let d = Desk::signed(TicketType::Help);
    assert_eq!(fold(&d.events[1..]), Err(FoldError::NotCreatedFirst));
    let mut twice = d.events.clone();
    twice.push(d.events[0].clone());
    assert_eq!(fold(&twice), Err(FoldError::CreatedTwice { index: 3 }));
}

#[test]
fn apply_leaves_the_ticket_untouched() {
    let d = Desk::signed(TicketType::Help);
    let before = d.ticket.clone();
    let events = apply(
        &d.ticket,
        Command::Handle {
            summary: "x".into(),
        },
        unit("u1"),
        t("2026-03-03T10:00:00+08:00"),
        &d.policy,
        &d.calendar,
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(d.ticket, before);
}
