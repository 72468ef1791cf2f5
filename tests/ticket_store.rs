//! Tickets in the store on both real backends (SQLite in a temporary directory, PostgreSQL on
//! 127.0.0.1:5432 in a schema of its own per test): every transition, refusals that write
//! nothing, an append-only history, numbering, search, units, and the persisted lights.

use std::path::Path;

use chrono::{DateTime, FixedOffset};
use rexian::pii::Pii;
use rexian::store::ticket_search::TicketFilter;
use rexian::store::tickets::{apply_in_tx, NewTicket, TicketError};
use rexian::store::units::{Contact, UnitRecord};
use rexian::store::Store;
use rexian::workflow::command::Action;
use rexian::workflow::{
    Actor, Command, Limit, Rules, State, SupervisionKind, TicketId, TicketType, TransitionError,
    UnitId, Urgency,
};

async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&Store::sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    (store, dir)
}

/// Creates a schema with a plain connection: the shared database's own schema is never
/// migrated, so branches with different migrations do not trip over each other there.
pub async fn create_schema(base: &str, schema: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(base)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut c)
        .await
        .expect("schema");
    c.close().await.expect("close");
}

async fn postgres_store() -> Store {
    let base = std::env::var("REXIAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_schema(&base, &schema).await;
    Store::open(&format!("{base}?options=-c%20search_path%3D{schema}"))
        .await
        .expect("open postgres schema")
}

/// Runs one scenario on SQLite and on PostgreSQL.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() {
                let (s, _d) = super::sqlite_store().await;
                super::$name(&s).await;
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() {
                super::$name(&super::postgres_store().await).await;
            } )*
        }
    };
}

both!(
    a_ticket_lives_from_creation_to_closing,
    returns_are_refused_or_approved_with_a_fresh_clock,
    extensions_are_asked_reviewed_and_limited,
    supervision_reopen_and_repeat_closing,
    illegal_transitions_are_refused_and_write_nothing,
    the_history_is_never_rewritten,
    concurrent_commands_serialise_without_gaps,
    a_rolled_back_transaction_leaves_no_trace,
    numbers_are_per_day_and_unique,
    search_filters_combine,
    units_are_data_with_parents_and_contacts,
    lights_are_persisted_and_caught_up_after_downtime,
    a_deadline_past_the_calendar_is_flagged_provisional,
);

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn rules() -> Rules {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    Rules {
        calendar: rexian::dialplan::calendar::load(&dir).unwrap(),
        policy: rexian::dialplan::policy::load(&dir).unwrap(),
    }
}

fn agent() -> Actor {
    Actor::Agent("7001".into())
}
fn sup() -> Actor {
    Actor::Supervisor("s1".into())
}
fn unit(id: &str) -> Actor {
    Actor::Unit(UnitId(id.into()))
}
fn uid(id: &str) -> UnitId {
    UnitId(id.into())
}

fn new_ticket(ty: TicketType, facts: &str) -> NewTicket {
    NewTicket {
        ticket_type: ty,
        urgency: Urgency::Normal,
        line: "12345".into(),
        requester: Some(Pii::new("王女士".into())),
        contact: Some(Pii::new("13800138000".into())),
        facts: facts.into(),
        address: Some("建设路 1 号".into()),
        call_id: Some("call-1".into()),
        recording: Some("recordings/call-1.wav".into()),
    }
}

async fn add_units(s: &Store) {
    for id in ["u1", "u2", "u3"] {
        s.add_unit(&UnitRecord {
            id: id.into(),
            name: format!("单位 {id}"),
            parent: None,
            contacts: vec![],
        })
        .await
        .unwrap();
    }
}

/// Creates and dispatches to u1 at `at`; returns the number.
async fn dispatched(s: &Store, ty: TicketType, at: &str) -> String {
    let r = s
        .create_ticket(&new_ticket(ty, "路灯不亮"), &agent(), t(at))
        .await
        .unwrap();
    s.apply_ticket(
        &r.id,
        Command::Dispatch { unit: uid("u1") },
        &agent(),
        t(at),
        &rules(),
    )
    .await
    .unwrap();
    r.id
}

async fn ok(s: &Store, id: &str, cmd: Command, actor: Actor, at: &str) {
    s.apply_ticket(id, cmd.clone(), &actor, t(at), &rules())
        .await
        .unwrap_or_else(|e| panic!("{cmd:?} by {actor:?}: {e}"));
}

async fn kinds(s: &Store, id: &str) -> Vec<String> {
    s.history(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.kind != "light")
        .map(|h| h.kind)
        .collect()
}

async fn status(s: &Store, id: &str) -> String {
    s.ticket(id).await.unwrap().unwrap().status
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
        let mut tx = s.pool().begin().await.unwrap();
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

async fn a_deadline_past_the_calendar_is_flagged_provisional(s: &Store) {
    add_units(s).await;
    let id = dispatched(s, TicketType::Complaint, "2026-12-28T10:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert!(r.provisional);
    assert!(r.deadline.unwrap() > t("2027-01-01T00:00:00+08:00"));
}

async fn numbers_are_per_day_and_unique(s: &Store) {
    let mk = |at: &str| {
        let at = t(at);
        async move {
            s.create_ticket(&new_ticket(TicketType::Help, "x"), &agent(), at)
                .await
                .unwrap()
                .id
        }
    };
    assert_eq!(mk("2026-11-23T09:00:00+08:00").await, "20261123-000001");
    assert_eq!(mk("2026-11-23T23:59:59+08:00").await, "20261123-000002");
    // 16:30 UTC on the 23rd is 00:30 on the 24th in Shanghai.
    assert_eq!(mk("2026-11-23T16:30:00Z").await, "20261124-000001");
    let bulk = s
        .create_tickets(
            &vec![new_ticket(TicketType::Help, "x"); 5],
            &agent(),
            t("2026-11-23T10:00:00+08:00"),
        )
        .await
        .unwrap();
    assert_eq!(bulk.last().unwrap(), "20261123-000007");
}

async fn search_filters_combine(s: &Store) {
    add_units(s).await;
    let a = dispatched(s, TicketType::Complaint, "2026-03-02T10:00:00+08:00").await;
    let b = dispatched(s, TicketType::Help, "2026-03-03T10:00:00+08:00").await;
    let mut other_line = new_ticket(TicketType::Help, "医保报销 50%_问题");
    other_line.line = "12315".into();
    let c = s
        .create_ticket(&other_line, &agent(), t("2026-03-04T10:00:00+08:00"))
        .await
        .unwrap()
        .id;
    s.set_assisting(&b, &[uid("u3")], &sup(), t("2026-03-03T11:00:00+08:00"))
        .await
        .unwrap();
    let ids = |f: TicketFilter| async move {
        s.search_tickets(&f)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(TicketFilter::default()).await,
        vec![&c, &b, &a]
            .into_iter()
            .cloned()
            .collect::<Vec<String>>()
    );
    let f = TicketFilter {
        status: Some("dispatched".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b, &a].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        ticket_type: Some(TicketType::Help),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&c, &b].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        unit: Some("u3".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        line: Some("12315".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&c].into_iter().cloned().collect::<Vec<String>>()
    );
    // Text: LIKE wildcards in the query are taken literally.
    let f = TicketFilter {
        text: Some("50%_".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&c].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        text: Some("5%x".into()),
        ..Default::default()
    };
    assert!(ids(f).await.is_empty());
    let f = TicketFilter {
        created_from: Some(t("2026-03-03T00:00:00+08:00")),
        created_to: Some(t("2026-03-04T00:00:00+08:00")),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    // Help from 3 Mar is due 10 Mar; the complaint from 2 Mar on 23 Mar.
    let f = TicketFilter {
        overdue_at: Some(t("2026-03-11T00:00:00+08:00")),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        light: Some("green".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b, &a].into_iter().cloned().collect::<Vec<String>>()
    );
    let f = TicketFilter {
        limit: Some(1),
        offset: Some(1),
        ..Default::default()
    };
    assert_eq!(
        ids(f).await,
        vec![&b].into_iter().cloned().collect::<Vec<String>>()
    );
    let r = s.ticket(&b).await.unwrap().unwrap();
    assert_eq!(r.assisting_units, ["u3"]);
    assert!(s.unit_sees("u3", &b).await.unwrap());
    assert!(!s.unit_sees("u3", &a).await.unwrap());
}

async fn units_are_data_with_parents_and_contacts(s: &Store) {
    let city = UnitRecord {
        id: "city".into(),
        name: "市住建局".into(),
        parent: None,
        contacts: vec![Contact {
            name: Pii::new("李科长".into()),
            phone: Pii::new("13900139000".into()),
        }],
    };
    s.add_unit(&city).await.unwrap();
    let mut sub = UnitRecord {
        id: "city-water".into(),
        name: "供水科".into(),
        parent: Some("city".into()),
        contacts: vec![],
    };
    s.add_unit(&sub).await.unwrap();
    assert!(s.add_unit(&city).await.is_err(), "duplicate id");
    let orphan = UnitRecord {
        parent: Some("nowhere".into()),
        id: "x".into(),
        ..sub.clone()
    };
    assert!(s.add_unit(&orphan).await.is_err(), "unknown parent");
    assert_eq!(s.unit("city").await.unwrap().unwrap(), city);
    sub.name = "供水管理科".into();
    s.update_unit(&sub).await.unwrap();
    assert_eq!(
        s.unit("city-water").await.unwrap().unwrap().name,
        "供水管理科"
    );
    assert!(s.remove_unit("city").await.is_err(), "still a parent");
    s.remove_unit("city-water").await.unwrap();
    s.remove_unit("city").await.unwrap();
    assert!(s.units().await.unwrap().is_empty());
}

async fn lights_are_persisted_and_caught_up_after_downtime(s: &Store) {
    add_units(s).await;
    let rules = rules();
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.light, "green");
    // Sign due 3 Mar 23:59:59; a quarter of 37h59m59s left from 14:30:00 on 3 Mar.
    assert_eq!(r.light_next, Some(t("2026-03-03T14:30:00+08:00")));
    assert_eq!(s.next_light_change().await.unwrap(), r.light_next);
    // Nothing is due before then.
    assert_eq!(
        s.refresh_due_lights(t("2026-03-03T14:29:59+08:00"), &rules, 100)
            .await
            .unwrap(),
        0
    );
    // The daemon was down from before yellow until after the deadline: one catch-up turns
    // it red with one history row.
    let late = t("2026-03-05T08:00:00+08:00");
    assert_eq!(s.refresh_due_lights(late, &rules, 100).await.unwrap(), 1);
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!((r.light.as_str(), r.light_next), ("red", None));
    let h = s.history(&id).await.unwrap();
    let lights: Vec<_> = h.iter().filter(|e| e.kind == "light").collect();
    assert_eq!(lights.len(), 2, "green at dispatch, then red");
    assert_eq!(lights[1].payload["from"], "green");
    assert_eq!(lights[1].payload["to"], "red");
    assert_eq!(lights[1].role, "system");
    assert_eq!(lights[1].at, late);
    // A second pass changes nothing.
    assert_eq!(s.refresh_due_lights(late, &rules, 100).await.unwrap(), 0);
    assert_eq!(s.history(&id).await.unwrap().len(), h.len());
    // Signing (late) moves the light to the handling deadline: 5 wd from 2 Mar = 9 Mar.
    ok(
        s,
        &id,
        Command::Sign,
        unit("u1"),
        "2026-03-05T09:00:00+08:00",
    )
    .await;
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(r.light, "green");
    assert!(r.light_next.unwrap() < t("2026-03-09T23:59:59+08:00"));
    // Step through the remaining changes like the scheduler does.
    let mut seen = vec![];
    while let Some(next) = s.next_light_change().await.unwrap() {
        s.refresh_due_lights(next, &rules, 100).await.unwrap();
        seen.push(s.ticket(&id).await.unwrap().unwrap().light);
    }
    assert_eq!(seen, ["yellow", "red"]);
    // History of a ticket remains replayable with system rows in it.
    assert_eq!(s.ticket_state(&id).await.unwrap().state, State::Signed);
}
