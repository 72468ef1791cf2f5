//! Ticket transitions in the store on both real backends (SQLite in a temporary directory,
//! PostgreSQL on 127.0.0.1:5432 in a schema of its own per test): every transition, refusals
//! that write nothing, an append-only history, serialised concurrent writers and rollback,
//! direct answers (直接办结), and creation through the group-commit writer.

mod store_support;

use std::sync::Arc;

use rexian::store::ticket_group::{CreateRequest, GroupCreator};
use rexian::store::tickets::{apply_in_tx, TicketError};
use rexian::store::Store;
use rexian::workflow::command::Action;
use rexian::workflow::{
    Actor, Command, Limit, State, SupervisionKind, TicketId, TicketType, TransitionError,
};
use store_support::*;

both!(
    a_ticket_lives_from_creation_to_closing,
    returns_are_refused_or_approved_with_a_fresh_clock,
    extensions_are_asked_reviewed_and_limited,
    supervision_reopen_and_repeat_closing,
    illegal_transitions_are_refused_and_write_nothing,
    the_history_is_never_rewritten,
    concurrent_commands_serialise_without_gaps,
    a_rolled_back_transaction_leaves_no_trace,
    an_agent_closes_a_consultation_answered_on_the_phone,
    group_creations_commit_together_and_fail_alone,
);

/// The full history rows and the projection row, to compare before and after a refusal.
async fn snapshot(
    s: &Store,
    id: &str,
) -> (Vec<(i64, String, Option<String>, String)>, i64, String) {
    let h = s.history(id).await.unwrap();
    let r = s.ticket(id).await.unwrap().unwrap();
    (
        h.into_iter()
            .map(|e| (e.seq, e.kind, e.why, e.payload.to_string()))
            .collect(),
        r.seq,
        r.status,
    )
}

async fn a_ticket_lives_from_creation_to_closing(s: &Store) {
    add_units(s).await;
    let at = "2026-09-30T10:00:00+08:00";
    let created = s
        .create_ticket(
            &new_ticket(TicketType::Complaint, "噪音扰民"),
            &agent(),
            t(at),
        )
        .await
        .unwrap();
    assert_eq!(created.status, "created");
    assert_eq!(created.light, "none");
    assert_eq!(created.call_id.as_deref(), Some("call-1"));
    assert_eq!(created.contact.as_ref().unwrap().expose(), "13800138000");
    let id = created.id.clone();
    ok(s, &id, Command::Dispatch { unit: uid("u1") }, agent(), at).await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.status, "dispatched");
    assert_eq!(r.lead_unit.as_deref(), Some("u1"));
    assert_eq!(r.light, "green");
    // 15 working days over National Day, counting make-up Saturday 10 Oct.
    assert_eq!(r.deadline, Some(t("2026-10-27T23:59:59+08:00")));
    assert_eq!(r.sign_due, Some(t("2026-10-08T23:59:59+08:00")));
    assert!(!r.provisional);
    ok(
        s,
        &id,
        Command::Sign,
        unit("u1"),
        "2026-10-08T09:00:00+08:00",
    )
    .await;
    assert_eq!(status(s, &id).await, "signed");
    let summary = Command::Handle {
        summary: "已协调物业处理".into(),
    };
    ok(s, &id, summary, unit("u1"), "2026-10-12T09:00:00+08:00").await;
    ok(
        s,
        &id,
        Command::Reply,
        unit("u1"),
        "2026-10-12T10:00:00+08:00",
    )
    .await;
    assert_eq!(s.ticket(&id).await.unwrap().unwrap().light, "none");
    let visit = Command::RecordVisit {
        satisfied: true,
        reasonable: true,
    };
    ok(s, &id, visit, agent(), "2026-10-13T10:00:00+08:00").await;
    ok(s, &id, Command::Close, agent(), "2026-10-13T10:05:00+08:00").await;
    assert_eq!(status(s, &id).await, "closed");
    assert_eq!(
        kinds(s, &id).await,
        [
            "created",
            "dispatched",
            "signed",
            "handled",
            "replied",
            "visited",
            "closed"
        ]
    );
    let h = s.history(&id).await.unwrap();
    let seqs: Vec<i64> = h.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=h.len() as i64).collect::<Vec<_>>());
    assert_eq!(h[0].payload["intake"]["facts"], "噪音扰民");
    let signed = h.iter().find(|e| e.kind == "signed").unwrap();
    assert_eq!(
        (signed.role.as_str(), signed.actor.as_str()),
        ("unit", "u1")
    );
    // Light changes are system rows: green at dispatch, none once replied.
    let lights: Vec<_> = h.iter().filter(|e| e.kind == "light").collect();
    assert_eq!(lights.len(), 2);
    assert_eq!(
        (
            lights[0].payload["to"].as_str(),
            lights[1].payload["to"].as_str()
        ),
        (Some("green"), Some("none"))
    );
    // The projection is what a replay of the history gives.
    let folded = s.ticket_state(&id).await.unwrap();
    assert_eq!(folded.state, State::Closed);
    assert_eq!(s.ticket(&id).await.unwrap().unwrap().seq, h.len() as i64);
}

async fn returns_are_refused_or_approved_with_a_fresh_clock(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    let ask = || Command::RequestReturn {
        reason: "不属于本单位职责".into(),
        basis: "三定方案第 5 条".into(),
        suggested_unit: Some(uid("u2")),
    };
    ok(s, &id, ask(), unit("u1"), "2026-03-02T11:00:00+08:00").await;
    assert_eq!(s.ticket(&id).await.unwrap().unwrap().pending, "return");
    let refuse = Command::RefuseReturn {
        note: "属于本单位".into(),
    };
    ok(s, &id, refuse, sup(), "2026-03-02T12:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        (r.pending.as_str(), r.lead_unit.as_deref()),
        ("", Some("u1"))
    );
    // The original clock is kept.
    assert_eq!(r.deadline, Some(t("2026-03-09T23:59:59+08:00")));
    ok(s, &id, ask(), unit("u1"), "2026-03-02T13:00:00+08:00").await;
    let approve = Command::ApproveReturn {
        redispatch_to: Some(uid("u2")),
    };
    ok(s, &id, approve, sup(), "2026-03-03T10:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.lead_unit.as_deref(), Some("u2"));
    assert_eq!(r.status, "dispatched");
    // A fresh clock from 3 Mar.
    assert_eq!(r.deadline, Some(t("2026-03-10T23:59:59+08:00")));
    // u1 no longer sees it; u2 does.
    assert!(!s.unit_sees("u1", &id).await.unwrap());
    assert!(s.unit_sees("u2", &id).await.unwrap());
    // Approval without re-dispatch leaves it created, waiting for a dispatcher.
    ok(s, &id, ask(), unit("u2"), "2026-03-03T11:00:00+08:00").await;
    let approve = Command::ApproveReturn {
        redispatch_to: None,
    };
    ok(s, &id, approve, sup(), "2026-03-03T12:00:00+08:00").await;
    assert_eq!(status(s, &id).await, "created");
    assert_eq!(
        kinds(s, &id).await,
        [
            "created",
            "dispatched",
            "return_requested",
            "return_refused",
            "return_requested",
            "return_approved",
            "dispatched",
            "return_requested",
            "return_approved"
        ]
    );
}

async fn extensions_are_asked_reviewed_and_limited(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    ok(
        s,
        &id,
        Command::Sign,
        unit("u1"),
        "2026-03-02T11:00:00+08:00",
    )
    .await;
    let ask = |n| Command::RequestExtension {
        limit: Limit::WorkingDays(n),
        reason: "需现场勘查".into(),
    };
    // Longer than the original 5 working days: refused.
    let e = s
        .apply_ticket(
            &id,
            ask(6),
            &unit("u1"),
            t("2026-03-03T09:00:00+08:00"),
            &rules(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        TicketError::Refused {
            source: TransitionError::ExtensionTooLong { .. },
            ..
        }
    ));
    ok(s, &id, ask(5), unit("u1"), "2026-03-03T09:00:00+08:00").await;
    assert_eq!(s.ticket(&id).await.unwrap().unwrap().pending, "extension");
    ok(
        s,
        &id,
        Command::ApproveExtension,
        sup(),
        "2026-03-03T10:00:00+08:00",
    )
    .await;
    // 9 Mar + 5 working days = 16 Mar.
    assert_eq!(
        s.ticket(&id).await.unwrap().unwrap().deadline,
        Some(t("2026-03-16T23:59:59+08:00"))
    );
    ok(s, &id, ask(2), unit("u1"), "2026-03-04T09:00:00+08:00").await;
    let refuse = Command::RefuseExtension {
        note: "理由不足".into(),
    };
    ok(s, &id, refuse, sup(), "2026-03-04T10:00:00+08:00").await;
    // At most two requests.
    let e = s
        .apply_ticket(
            &id,
            ask(1),
            &unit("u1"),
            t("2026-03-05T09:00:00+08:00"),
            &rules(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        TicketError::Refused {
            source: TransitionError::TooManyExtensions { max: 2 },
            ..
        }
    ));
    // Consultations are never extended.
    let c = dispatched(s, TicketType::Consultation, "2026-03-02T10:00:00+08:00").await;
    ok(
        s,
        &c,
        Command::Sign,
        unit("u1"),
        "2026-03-02T11:00:00+08:00",
    )
    .await;
    let e = s
        .apply_ticket(
            &c,
            ask(1),
            &unit("u1"),
            t("2026-03-02T12:00:00+08:00"),
            &rules(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        TicketError::Refused {
            source: TransitionError::NotExtendable { .. },
            ..
        }
    ));
}

async fn supervision_reopen_and_repeat_closing(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Complaint, "2026-03-02T10:00:00+08:00").await;
    let sv = Command::Supervise {
        kind: SupervisionKind::Special,
        note: "限期书面答复".into(),
    };
    ok(s, &id, sv, sup(), "2026-03-02T12:00:00+08:00").await;
    let h = s.history(&id).await.unwrap();
    let last = h.iter().rfind(|e| e.kind == "supervised").unwrap();
    assert_eq!(last.why.as_deref(), Some("限期书面答复"));
    assert_eq!(last.payload["reply_due"]["at"], "2026-03-05T23:59:59+08:00");
    ok(
        s,
        &id,
        Command::Sign,
        unit("u1"),
        "2026-03-02T13:00:00+08:00",
    )
    .await;
    let handle = || Command::Handle {
        summary: "已处理".into(),
    };
    ok(s, &id, handle(), unit("u1"), "2026-03-03T10:00:00+08:00").await;
    ok(
        s,
        &id,
        Command::Reply,
        unit("u1"),
        "2026-03-03T11:00:00+08:00",
    )
    .await;
    let unhappy = Command::RecordVisit {
        satisfied: false,
        reasonable: true,
    };
    ok(s, &id, unhappy, agent(), "2026-03-04T10:00:00+08:00").await;
    let e = s
        .apply_ticket(
            &id,
            Command::Close,
            &agent(),
            t("2026-03-04T10:01:00+08:00"),
            &rules(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        TicketError::Refused {
            source: TransitionError::MustReopen,
            ..
        }
    ));
    ok(s, &id, Command::Reopen, sup(), "2026-03-04T11:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        (r.status.as_str(), r.lead_unit.as_deref()),
        ("dispatched", Some("u1"))
    );
    assert_eq!(r.deadline, Some(t("2026-03-25T23:59:59+08:00")));
    // A second ticket with the same facts is closed as a repeat of the first.
    let dup = s
        .create_ticket(
            &new_ticket(TicketType::Complaint, "路灯不亮"),
            &agent(),
            t("2026-03-04T12:00:00+08:00"),
        )
        .await
        .unwrap();
    let repeat = Command::CloseAsRepeat {
        earlier: TicketId(id.clone()),
        reason: "同一诉求重复来电".into(),
    };
    ok(s, &dup.id, repeat, agent(), "2026-03-04T12:01:00+08:00").await;
    assert_eq!(status(s, &dup.id).await, "closed");
    assert_eq!(kinds(s, &dup.id).await, ["created", "closed_as_repeat"]);
}

async fn illegal_transitions_are_refused_and_write_nothing(s: &Store) {
    add_units(s).await;
    let fresh = s
        .create_ticket(
            &new_ticket(TicketType::Help, "占道经营"),
            &agent(),
            t("2026-03-02T10:00:00+08:00"),
        )
        .await
        .unwrap()
        .id;
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    let at = t("2026-03-02T11:00:00+08:00");
    let cases: Vec<(&str, Command, Actor)> = vec![
        (&fresh, Command::Sign, unit("u1")),
        (&fresh, Command::Reply, unit("u1")),
        (&fresh, Command::Close, agent()),
        (&fresh, Command::Reopen, sup()),
        (&fresh, Command::ApproveExtension, sup()),
        (&id, Command::Dispatch { unit: uid("u2") }, agent()),
        (&id, Command::Sign, unit("u2")),
        (&id, Command::Sign, agent()),
        (
            &id,
            Command::Handle {
                summary: "x".into(),
            },
            unit("u1"),
        ),
        (
            &id,
            Command::ApproveReturn {
                redispatch_to: None,
            },
            sup(),
        ),
        (
            &id,
            Command::RequestReturn {
                reason: "x".into(),
                basis: " ".into(),
                suggested_unit: None,
            },
            unit("u1"),
        ),
        (
            &id,
            Command::Supervise {
                kind: SupervisionKind::Phone,
                note: "x".into(),
            },
            agent(),
        ),
        (&id, Command::Close, agent()),
    ];
    for (ticket, cmd, actor) in cases {
        let before = snapshot(s, ticket).await;
        let e = s
            .apply_ticket(ticket, cmd.clone(), &actor, at, &rules())
            .await
            .expect_err(&format!("{cmd:?} by {actor:?} must be refused"));
        assert!(matches!(e, TicketError::Refused { .. }), "{cmd:?}: {e}");
        assert_eq!(snapshot(s, ticket).await, before, "{cmd:?} wrote something");
    }
    // The error names the state and the command.
    let e = s
        .apply_ticket(&fresh, Command::Sign, &unit("u1"), at, &rules())
        .await
        .unwrap_err();
    match &e {
        TicketError::Refused { state, action, .. } => {
            assert_eq!((*state, *action), (State::Created, Action::Sign));
        }
        other => panic!("{other}"),
    }
    assert!(
        e.to_string().contains("cannot sign: ticket is Created"),
        "{e}"
    );
    // Unknown units and tickets.
    let before = snapshot(s, &fresh).await;
    let e = s
        .apply_ticket(
            &fresh,
            Command::Dispatch { unit: uid("nope") },
            &agent(),
            at,
            &rules(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, TicketError::UnknownUnit(ref u) if u == "nope"));
    assert_eq!(snapshot(s, &fresh).await, before);
    let e = s
        .apply_ticket("20260302-999999", Command::Sign, &unit("u1"), at, &rules())
        .await
        .unwrap_err();
    assert!(matches!(e, TicketError::NotFound(_)));
    // A unit cannot create a ticket.
    let e = s
        .create_ticket(&new_ticket(TicketType::Help, "x"), &unit("u1"), at)
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        TicketError::Refused {
            action: Action::Create,
            ..
        }
    ));
    let e = s
        .create_ticket(&new_ticket(TicketType::Help, "  "), &agent(), at)
        .await
        .unwrap_err();
    assert!(matches!(e, TicketError::Invalid(_)));
}

async fn the_history_is_never_rewritten(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    let before = s.history(&id).await.unwrap();
    ok(
        s,
        &id,
        Command::Sign,
        unit("u1"),
        "2026-03-02T11:00:00+08:00",
    )
    .await;
    let after = s.history(&id).await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (a.seq, &a.kind, &a.payload, a.at),
            (b.seq, &b.kind, &b.payload, b.at)
        );
    }
    // The database itself refuses updates and deletes of history rows.
    let upd = sqlx::query("UPDATE ticket_events SET why = 'x' WHERE ticket_id = $1")
        .bind(&id)
        .execute(s.pool())
        .await;
    assert!(upd.is_err(), "an update of the history must fail");
    let del = sqlx::query("DELETE FROM ticket_events WHERE ticket_id = $1")
        .bind(&id)
        .execute(s.pool())
        .await;
    assert!(del.is_err(), "a delete of the history must fail");
    assert_eq!(s.history(&id).await.unwrap().len(), after.len());
}

async fn concurrent_commands_serialise_without_gaps(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Complaint, "2026-03-02T10:00:00+08:00").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let cmd = Command::Supervise {
                kind: SupervisionKind::Phone,
                note: format!("催办 {i}"),
            };
            s.apply_ticket(&id, cmd, &sup(), t("2026-03-02T12:00:00+08:00"), &rules())
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let h = s.history(&id).await.unwrap();
    let seqs: Vec<i64> = h.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=h.len() as i64).collect::<Vec<_>>());
    assert_eq!(h.iter().filter(|e| e.kind == "supervised").count(), 8);
    assert_eq!(s.ticket_state(&id).await.unwrap().supervisions, 8);
}

async fn a_rolled_back_transaction_leaves_no_trace(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    let before = snapshot(s, &id).await;
    {
        let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
        let events = apply_in_tx(
            &mut tx,
            &id,
            Command::Sign,
            &unit("u1"),
            t("2026-03-02T11:00:00+08:00"),
            &rules(),
        )
        .await
        .unwrap();
        assert_eq!(events.len(), 1);
        tx.rollback().await.unwrap();
    }
    assert_eq!(snapshot(s, &id).await, before);
}

/// The refusal `e` must be, from the workflow core.
fn refusal(e: TicketError) -> TransitionError {
    match e {
        TicketError::Refused { source, .. } => source,
        other => panic!("expected a refusal, got {other}"),
    }
}

async fn an_agent_closes_a_consultation_answered_on_the_phone(s: &Store) {
    add_units(s).await;
    let at = t("2026-03-02T10:00:00+08:00");
    let answer = |reply: &str| Command::AnswerDirectly {
        reply: reply.into(),
    };
    let consultation = s
        .create_ticket(
            &new_ticket(TicketType::Consultation, "社保卡补办流程"),
            &agent(),
            at,
        )
        .await
        .unwrap()
        .id;
    // Another agent did not take it; a unit never does this; a blank answer is no answer.
    let other = Actor::Agent("7002".into());
    let e = s
        .apply_ticket(
            &consultation,
            answer("带身份证到社保大厅"),
            &other,
            at,
            &rules(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(e),
        TransitionError::NotTheCreator {
            actor: "7002".into()
        }
    );
    let e = s
        .apply_ticket(&consultation, answer("x"), &unit("u1"), at, &rules())
        .await
        .unwrap_err();
    assert!(matches!(refusal(e), TransitionError::Forbidden { .. }));
    let e = s
        .apply_ticket(&consultation, answer("  "), &agent(), at, &rules())
        .await
        .unwrap_err();
    assert!(matches!(refusal(e), TransitionError::MissingReason { .. }));
    assert_eq!(status(s, &consultation).await, "created");

    ok(
        s,
        &consultation,
        answer("带身份证到社保大厅办理"),
        agent(),
        "2026-03-02T10:05:00+08:00",
    )
    .await;
    assert_eq!(status(s, &consultation).await, "closed");
    let h = s.history(&consultation).await.unwrap();
    let last = h.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("answered_directly", "7001")
    );
    assert_eq!(last.why.as_deref(), Some("带身份证到社保大厅办理"));
    let r = s.ticket(&consultation).await.unwrap().unwrap();
    assert_eq!((r.light.as_str(), r.lead_unit), ("none", None));
    // A supervisor may close one an agent took; closed is closed.
    let e = s
        .apply_ticket(&consultation, answer("again"), &sup(), at, &rules())
        .await
        .unwrap_err();
    assert!(matches!(refusal(e), TransitionError::WrongState { .. }));

    // A complaint goes to a unit; so does anything already dispatched.
    let complaint = s
        .create_ticket(&new_ticket(TicketType::Complaint, "噪音"), &agent(), at)
        .await
        .unwrap()
        .id;
    let e = s
        .apply_ticket(&complaint, answer("已解释"), &agent(), at, &rules())
        .await
        .unwrap_err();
    assert_eq!(
        refusal(e),
        TransitionError::NotAnswerableDirectly {
            ticket_type: TicketType::Complaint
        }
    );
    let sent = dispatched(s, TicketType::Consultation, "2026-03-02T10:00:00+08:00").await;
    let e = s
        .apply_ticket(&sent, answer("已解答"), &agent(), at, &rules())
        .await
        .unwrap_err();
    assert!(matches!(
        refusal(e),
        TransitionError::WrongState {
            state: State::Dispatched,
            ..
        }
    ));
    // A supervisor may close a consultation someone else took.
    let by_sup = s
        .create_ticket(
            &new_ticket(TicketType::Consultation, "公积金提取"),
            &agent(),
            at,
        )
        .await
        .unwrap()
        .id;
    ok(
        s,
        &by_sup,
        answer("可线上提取"),
        sup(),
        "2026-03-02T10:06:00+08:00",
    )
    .await;
    assert_eq!(status(s, &by_sup).await, "closed");
}

async fn group_creations_commit_together_and_fail_alone(s: &Store) {
    add_units(s).await;
    let group = GroupCreator::spawn(s.clone(), 16);
    let rules = Arc::new(rules());
    let at = t("2026-03-02T10:00:00+08:00");
    // 40 concurrent requests; every fifth names a unit that does not exist. Whatever groups
    // they land in, the good ones commit with their dispatch and the bad ones leave nothing.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let group = group.clone();
        let mut req = CreateRequest::plain(
            new_ticket(TicketType::Help, &format!("第 {i} 件")),
            agent(),
            at,
        );
        req.dispatch_to = Some(uid(if i % 5 == 0 { "nowhere" } else { "u1" }));
        req.assisting = vec![uid("u2")];
        req.rules = Some(rules.clone());
        tasks.push(tokio::spawn(async move { (i, group.submit(req).await) }));
    }
    let mut made = Vec::new();
    for task in tasks {
        let (i, r) = task.await.unwrap();
        if i % 5 == 0 {
            assert!(
                matches!(r, Err(TicketError::UnknownUnit(ref u)) if u == "nowhere"),
                "request {i}: {r:?}"
            );
        } else {
            made.push(r.unwrap_or_else(|e| panic!("request {i}: {e}")));
        }
    }
    assert_eq!(made.len(), 32);
    for id in &made {
        // Answered after the commit: another connection sees the whole creation.
        let r = s.ticket(id).await.unwrap().expect("committed");
        assert_eq!(r.status, "dispatched");
        assert_eq!(r.assisting_units, ["u2"]);
        assert_eq!(kinds(s, id).await, ["created", "dispatched", "assisting"]);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 32, "a refused request leaves no ticket behind");
    // A refused request's number is rolled back with it: no gaps, no repeats.
    let mut nums: Vec<u32> = made.iter().map(|id| id[9..].parse().unwrap()).collect();
    nums.sort();
    assert_eq!(nums, (1..=32).collect::<Vec<u32>>());

    // A direct answer in the same request closes the ticket; a unit may not create.
    let mut req = CreateRequest::plain(
        new_ticket(TicketType::Consultation, "办事时间"),
        agent(),
        at,
    );
    req.answer = Some("工作日 9:00–17:00".into());
    req.rules = Some(rules.clone());
    let id = group.submit(req).await.unwrap();
    assert_eq!(status(s, &id).await, "closed");
    assert_eq!(kinds(s, &id).await, ["created", "answered_directly"]);
    let e = group
        .submit(CreateRequest::plain(
            new_ticket(TicketType::Help, "x"),
            unit("u1"),
            at,
        ))
        .await
        .unwrap_err();
    assert!(matches!(refusal(e), TransitionError::Forbidden { .. }));
}

/// A unit removed while a ticket is being dispatched to it, on PostgreSQL (SQLite serialises
/// the two): the dispatch has written its unit row but not committed when the removal counts
/// the unit's references (none yet visible) and deletes. The removal must wait for the
/// dispatch and then be refused, not leave a ticket whose lead unit is gone.
#[tokio::test]
async fn postgres_a_unit_is_not_removed_under_a_dispatch_in_flight() {
    let s = &postgres_store().await;
    add_units(s).await;
    let at = "2026-03-02T10:00:00+08:00";
    let id = s
        .create_ticket(&new_ticket(TicketType::Help, "路灯不亮"), &agent(), t(at))
        .await
        .unwrap()
        .id;
    let mut dispatch = rexian::store::begin_write(s.pool()).await.unwrap();
    let cmd = Command::Dispatch { unit: uid("u3") };
    apply_in_tx(&mut dispatch, &id, cmd, &agent(), t(at), &rules())
        .await
        .unwrap();
    let commit_once_removal_waits = async {
        until_blocked_on(&mut dispatch, "the removal never waited for the dispatch").await;
        dispatch.commit().await.unwrap();
    };
    let (removed, ()) = tokio::join!(s.remove_unit("u3"), commit_once_removal_waits);
    let e = removed.expect_err("the unit was removed under a ticket dispatched to it");
    assert!(e.to_string().contains("referring to unit u3"), "{e}");
    assert!(s.unit("u3").await.unwrap().is_some());
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.lead_unit.as_deref(), Some("u3"));
}
