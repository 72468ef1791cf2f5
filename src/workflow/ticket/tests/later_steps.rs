//! Behaviour after signing: extensions, supervision, re-opening and repeated requests.

use super::*;

#[test]
fn an_approved_extension_moves_the_deadline_on_from_the_old_one() {
    // Complaint dispatched Mon 2 Mar: due Mon 23 Mar; +15 wd over 清明 (4–6 Apr) = Tue 14 Apr.
    let mut d = Desk::signed(TicketType::Complaint);
    assert_eq!(d.clocks().handle_due.at, t("2026-03-23T23:59:59+08:00"));
    d.ok(ext(15), unit("u1"), "2026-03-20T10:00:00+08:00");
    assert_eq!(d.ticket.pending_extension, Some(Limit::WorkingDays(15)));
    d.ok(
        Command::ApproveExtension,
        sup(),
        "2026-03-24T10:00:00+08:00",
    );
    assert_eq!(d.clocks().handle_due.at, t("2026-04-14T23:59:59+08:00"));
    assert_eq!(d.ticket.extensions_approved, 1);
}

#[test]
fn a_third_extension_is_refused() {
    let mut d = Desk::signed(TicketType::Complaint);
    d.ok(ext(5), unit("u1"), "2026-03-03T10:00:00+08:00")
        .ok(
            Command::ApproveExtension,
            sup(),
            "2026-03-03T11:00:00+08:00",
        )
        .ok(ext(5), unit("u1"), "2026-03-04T10:00:00+08:00")
        .ok(
            Command::RefuseExtension { note: "no".into() },
            sup(),
            "2026-03-04T11:00:00+08:00",
        );
    let e = d.refused(ext(5), unit("u1"), "2026-03-05T10:00:00+08:00");
    assert_eq!(e, TransitionError::TooManyExtensions { max: 2 });
}

#[test]
fn consultations_are_not_extended() {
    let mut d = Desk::signed(TicketType::Consultation);
    let e = d.refused(ext(1), unit("u1"), "2026-03-02T11:00:00+08:00");
    assert_eq!(
        e.to_string(),
        "cannot request an extension: consultation tickets are not extended"
    );
}

#[test]
fn an_extension_asked_after_the_deadline_is_refused() {
    let mut d = Desk::signed(TicketType::Help); // due Mon 9 Mar
    let e = d.refused(ext(5), unit("u1"), "2026-03-10T00:00:00+08:00");
    assert_eq!(
        e,
        TransitionError::ExtensionAfterDeadline {
            due: t("2026-03-09T23:59:59+08:00")
        }
    );
    d.ok(ext(5), unit("u1"), "2026-03-09T23:59:59+08:00");
}

#[test]
fn an_extension_longer_than_the_original_limit_or_in_other_units_is_refused() {
    let mut d = Desk::signed(TicketType::Help);
    let now = "2026-03-03T10:00:00+08:00";
    assert_eq!(
        d.refused(ext(6), unit("u1"), now),
        TransitionError::ExtensionTooLong {
            asked: Limit::WorkingDays(6),
            original: Limit::WorkingDays(5)
        }
    );
    let hours = Command::RequestExtension {
        limit: Limit::Hours(10),
        reason: "r".into(),
    };
    assert!(matches!(
        d.refused(hours, unit("u1"), now),
        TransitionError::ExtensionUnitMismatch { .. }
    ));
    let blank = Command::RequestExtension {
        limit: Limit::WorkingDays(1),
        reason: "".into(),
    };
    assert!(matches!(
        d.refused(blank, unit("u1"), now),
        TransitionError::MissingReason { .. }
    ));
}

#[test]
fn extension_requests_wait_for_review_one_at_a_time() {
    let mut d = Desk::signed(TicketType::Help);
    let now = "2026-03-03T10:00:00+08:00";
    assert_eq!(
        d.refused(Command::ApproveExtension, sup(), now),
        TransitionError::NoExtensionPending
    );
    d.ok(ext(2), unit("u1"), now);
    assert_eq!(
        d.refused(ext(2), unit("u1"), now),
        TransitionError::ExtensionPending
    );
    assert!(matches!(
        d.refused(Command::ApproveExtension, unit("u1"), now),
        TransitionError::Forbidden { .. }
    ));
    assert!(matches!(
        d.refused(ext(1), unit("u1"), "2026-03-02T09:30:00+08:00")
            .to_string()
            .as_str(),
        "cannot request an extension: one is awaiting review"
    ));
}

#[test]
fn supervision_is_allowed_on_open_tickets_by_supervisors() {
    let now = "2026-03-03T10:00:00+08:00";
    let phone = || Command::Supervise {
        kind: SupervisionKind::Phone,
        note: "call".into(),
    };
    let mut d = Desk::new(TicketType::Help, "2026-03-02T08:50:00+08:00");
    d.ok(phone(), sup(), now);
    d.ok(Command::Dispatch { unit: uid("u1") }, agent(), now)
        .ok(phone(), Actor::Admin("root".into()), now);
    assert!(matches!(
        d.refused(phone(), agent(), now),
        TransitionError::Forbidden { .. }
    ));
    assert!(matches!(
        d.refused(phone(), unit("u1"), now),
        TransitionError::Forbidden { .. }
    ));
    d.ok(
        Command::Supervise {
            kind: SupervisionKind::Special,
            note: "written reply".into(),
        },
        sup(),
        now,
    );
    let EventKind::Supervised { reply_due, .. } = &d.events.last().unwrap().kind else {
        panic!("expected Supervised");
    };
    assert_eq!(reply_due.unwrap().at, t("2026-03-06T23:59:59+08:00"));
    assert_eq!(d.ticket.supervisions, 3);
    let mut v = Desk::visited(false, true);
    v.ok(
        Command::Supervise {
            kind: SupervisionKind::Meeting,
            note: "会商".into(),
        },
        sup(),
        now,
    );
}

#[test]
fn an_unsatisfied_reasonable_visit_reopens_with_fresh_clocks_and_blocks_closing() {
    let mut d = Desk::visited(false, true);
    assert_eq!(
        d.refused(Command::Close, agent(), "2026-03-11T10:05:00+08:00"),
        TransitionError::MustReopen
    );
    assert!(matches!(
        d.refused(Command::Reopen, agent(), "2026-03-11T10:05:00+08:00"),
        TransitionError::Forbidden { .. }
    ));
    d.ok(Command::Reopen, sup(), "2026-03-12T09:00:00+08:00");
    assert_eq!(d.ticket.state, State::Dispatched);
    assert_eq!(d.ticket.unit, Some(uid("u1")));
    assert_eq!(d.ticket.reopened, 1);
    assert_eq!(d.ticket.visit, None);
    assert_eq!(d.clocks().started, t("2026-03-12T09:00:00+08:00"));
    assert_eq!(d.clocks().handle_due.at, t("2026-04-02T23:59:59+08:00"));
    d.ok(Command::Sign, unit("u1"), "2026-03-12T10:00:00+08:00");
    assert_eq!(fold(&d.events).unwrap(), d.ticket);
}

#[test]
fn a_satisfied_or_unreasonable_visit_cannot_reopen_and_may_close() {
    for (satisfied, reasonable) in [(true, true), (true, false), (false, false)] {
        let mut d = Desk::visited(satisfied, reasonable);
        assert_eq!(
            d.refused(Command::Reopen, sup(), "2026-03-12T09:00:00+08:00"),
            TransitionError::NotReopenable
        );
        d.ok(Command::Close, agent(), "2026-03-12T09:00:00+08:00");
    }
}

#[test]
fn a_repeated_request_is_closed_with_a_reference_to_the_earlier_ticket() {
    let now = "2026-03-02T10:00:00+08:00";
    let repeat = |earlier: &str| Command::CloseAsRepeat {
        earlier: TicketId(earlier.into()),
        reason: "same facts, answered".into(),
    };
    let mut d = Desk::new(TicketType::Complaint, "2026-03-02T08:50:00+08:00");
    d.ok(repeat("T0"), agent(), now);
    assert_eq!(d.ticket.state, State::Closed);
    assert_eq!(d.ticket.repeat_of, Some(TicketId("T0".into())));

    let mut s = Desk::signed(TicketType::Complaint);
    assert!(matches!(
        s.refused(repeat("T0"), unit("u2"), now),
        TransitionError::WrongUnit { .. }
    ));
    assert_eq!(
        s.refused(repeat("T1"), unit("u1"), now),
        TransitionError::RepeatOfItself
    );
    let blank = Command::CloseAsRepeat {
        earlier: TicketId("T0".into()),
        reason: "".into(),
    };
    assert!(matches!(
        s.refused(blank, unit("u1"), now),
        TransitionError::MissingReason { .. }
    ));
    s.ok(repeat("T0"), unit("u1"), now);
    assert_eq!(
        fold(&s.events).unwrap().repeat_of,
        Some(TicketId("T0".into()))
    );
}
