//! The SMS ticket events cause, on both real backends: each message is queued in the
//! transaction of its event (a rolled-back dispatch queues none), dispatch reminders go to every
//! phone of the lead unit, lights send warnings, closing sends the survey whose unsatisfied
//! answer opens a return-visit task for the ticket, a caller without a mobile gets nothing while
//! the ticket still commits, and with SMS off nothing is queued. An unsatisfied survey answer
//! on a closed ticket leads, through a person's return visit, to the ticket reopened at its unit
//! with a fresh clock and a new reminder.

mod store_support;

use rexian::pii::Pii;
use rexian::sms::config::SmsConfig;
use rexian::sms::outbox::{self, OutboxMessage};
use rexian::sms::survey::{self, ReplyOutcome, Satisfaction};
use rexian::store::ticket_notify::TicketSms;
use rexian::store::tickets::{apply_with_sms_in_tx, create_in_tx, NewTicket};
use rexian::store::units::{Contact, UnitRecord};
use rexian::store::{unix_now, Store};
use rexian::workflow::{Command, TicketType};
use store_support::*;

both!(
    dispatch_reminds_every_unit_phone_in_the_same_transaction,
    lights_send_yellow_and_red_warnings,
    closing_sends_the_survey_and_an_unsatisfied_reply_opens_a_return_visit,
    a_caller_without_a_mobile_gets_no_number_and_the_ticket_commits,
    with_sms_off_nothing_is_queued,
    an_unsatisfied_survey_leads_to_a_return_visit_and_a_reopened_ticket,
    two_replies_at_once_answer_the_survey_once,
    two_replies_at_once_to_two_surveys_answer_both,
);

fn sms() -> TicketSms {
    TicketSms::from_config(&SmsConfig::default()).expect("default templates parse")
}

/// Unit `u1` with two mobiles and a landline (which cannot get an SMS); `u2` with one mobile.
async fn units_with_phones(s: &Store) {
    let contact = |name: &str, phone: &str| Contact {
        name: Pii::new(name.into()),
        phone: Pii::new(phone.into()),
    };
    s.add_unit(&UnitRecord {
        id: "u1".into(),
        name: "市住建局".into(),
        parent: None,
        contacts: vec![
            contact("李科长", "13900000001"),
            contact("赵干事", "+86 139 0000 0002"),
            contact("值班室", "0469-4222222"),
        ],
    })
    .await
    .unwrap();
    s.add_unit(&UnitRecord {
        id: "u2".into(),
        name: "市水务局".into(),
        parent: None,
        contacts: vec![contact("钱科长", "13900000003")],
    })
    .await
    .unwrap();
}

/// Every queued message of ticket `id`, as (kind, phone), sorted.
async fn queued(s: &Store, id: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = all(s)
        .await
        .into_iter()
        .filter(|m| m.ticket_id.as_deref() == Some(id))
        .map(|m| (m.kind, m.phone.expose().clone()))
        .collect();
    v.sort();
    v
}

async fn all(s: &Store) -> Vec<OutboxMessage> {
    outbox::list(s.pool(), None, 1000).await.unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = v
        .iter()
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect();
    v.sort();
    v
}

async fn create(s: &Store, new: &NewTicket, at: &str) -> String {
    s.create_ticket(new, &agent(), t(at)).await.unwrap().id
}

async fn dispatch_reminds_every_unit_phone_in_the_same_transaction(s: &Store) {
    units_with_phones(s).await;
    let (sms, rules) = (sms(), rules());
    let at = "2026-03-02T10:00:00+08:00";
    // A dispatch whose transaction is rolled back queues nothing.
    let id = create(s, &new_ticket(TicketType::Help, "路灯不亮"), at).await;
    let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
    let cmd = Command::Dispatch { unit: uid("u1") };
    apply_with_sms_in_tx(&mut tx, &id, cmd, &agent(), t(at), &rules, Some(&sms))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(queued(s, &id).await, vec![], "rolled back: no reminder");
    assert_eq!(status(s, &id).await, "created");
    // Committed: one reminder per mobile of the unit, none to its landline.
    let cmd = Command::Dispatch { unit: uid("u1") };
    s.apply_ticket_with_sms(&id, cmd, &agent(), t(at), &rules, Some(&sms))
        .await
        .unwrap();
    assert_eq!(
        queued(s, &id).await,
        pairs(&[
            ("dispatch_reminder", "13900000001"),
            ("dispatch_reminder", "13900000002"),
        ])
    );
    let m = &all(s).await[0];
    assert!(m.body.contains(&id), "{}", m.body);
    assert!(m.body.contains("市住建局"), "{}", m.body);
    // Help: 5 working days from Mon 2 Mar.
    assert!(m.body.contains("2026-03-09 23:59"), "{}", m.body);
    // Returned, approved and sent to u2: u2's phone is reminded too.
    let ret = Command::RequestReturn {
        reason: "不属于本单位职责".into(),
        basis: "三定方案".into(),
        suggested_unit: Some(uid("u2")),
    };
    ok(s, &id, ret, unit("u1"), "2026-03-02T11:00:00+08:00").await;
    let approve = Command::ApproveReturn {
        redispatch_to: Some(uid("u2")),
    };
    s.apply_ticket_with_sms(
        &id,
        approve,
        &sup(),
        t("2026-03-02T12:00:00+08:00"),
        &rules,
        Some(&sms),
    )
    .await
    .unwrap();
    assert_eq!(
        queued(s, &id).await,
        pairs(&[
            ("dispatch_reminder", "13900000001"),
            ("dispatch_reminder", "13900000002"),
            ("dispatch_reminder", "13900000003"),
        ])
    );
    // Reopened after an unsatisfied, reasonable return visit: u2 is reminded again.
    let steps = [
        (Command::Sign, unit("u2")),
        (
            Command::Handle {
                summary: "已修复".into(),
            },
            unit("u2"),
        ),
        (Command::Reply, unit("u2")),
        (
            Command::RecordVisit {
                satisfied: false,
                reasonable: true,
            },
            agent(),
        ),
        (Command::Reopen, sup()),
    ];
    for (cmd, who) in steps {
        s.apply_ticket_with_sms(
            &id,
            cmd,
            &who,
            t("2026-03-03T10:00:00+08:00"),
            &rules,
            Some(&sms),
        )
        .await
        .unwrap();
    }
    let to_u2 = queued(s, &id)
        .await
        .into_iter()
        .filter(|(k, p)| k == "dispatch_reminder" && p == "13900000003")
        .count();
    assert_eq!(to_u2, 2, "reminded on re-dispatch and on reopening");
    assert_eq!(queued(s, &id).await.len(), 4, "nothing else was sent");
}

async fn lights_send_yellow_and_red_warnings(s: &Store) {
    units_with_phones(s).await;
    let (sms, rules) = (sms(), rules());
    let id = create(
        s,
        &new_ticket(TicketType::Help, "路灯不亮"),
        "2026-03-02T10:00:00+08:00",
    )
    .await;
    s.apply_ticket(
        &id,
        Command::Dispatch { unit: uid("u2") },
        &agent(),
        t("2026-03-02T10:00:00+08:00"),
        &rules,
    )
    .await
    .unwrap();
    // Step through the light changes as the scheduler does.
    let mut seen = vec![];
    while let Some(next) = s.next_light_change().await.unwrap() {
        s.refresh_due_lights_with_sms(next, &rules, 100, Some(&sms))
            .await
            .unwrap();
        seen.push(s.ticket(&id).await.unwrap().unwrap().light);
    }
    assert_eq!(seen, ["yellow", "red"]);
    assert_eq!(
        queued(s, &id).await,
        pairs(&[
            ("red_warning", "13900000003"),
            ("yellow_warning", "13900000003"),
        ])
    );
    let red = all(s).await.into_iter().find(|m| m.kind == "red_warning");
    let body = red.expect("red warning").body;
    assert!(body.contains("市水务局") && body.contains(&id), "{body}");
}

async fn closing_sends_the_survey_and_an_unsatisfied_reply_opens_a_return_visit(s: &Store) {
    units_with_phones(s).await;
    let (sms, rules) = (sms(), rules());
    let id = create(
        s,
        &new_ticket(TicketType::Complaint, "噪音扰民"),
        "2026-03-02T10:00:00+08:00",
    )
    .await;
    let steps = [
        (Command::Dispatch { unit: uid("u2") }, agent()),
        (Command::Sign, unit("u2")),
        (
            Command::Handle {
                summary: "已责令整改".into(),
            },
            unit("u2"),
        ),
        (Command::Reply, unit("u2")),
        (
            Command::RecordVisit {
                satisfied: true,
                reasonable: true,
            },
            agent(),
        ),
    ];
    for (cmd, who) in steps {
        ok(s, &id, cmd, who, "2026-03-03T10:00:00+08:00").await;
    }
    assert_eq!(queued(s, &id).await, vec![], "no SMS through the plain API");
    s.apply_ticket_with_sms(
        &id,
        Command::Close,
        &agent(),
        t("2026-03-03T11:00:00+08:00"),
        &rules,
        Some(&sms),
    )
    .await
    .unwrap();
    assert_eq!(queued(s, &id).await, pairs(&[("survey", "13800138000")]));
    let out = survey::handle_reply(
        s.pool(),
        &Pii::new("13800138000".into()),
        "3",
        "http",
        unix_now(),
        survey::SURVEY_WINDOW_SECS,
    )
    .await
    .unwrap();
    let ReplyOutcome::Answered {
        ticket_id,
        answer,
        return_visit,
        ..
    } = out
    else {
        panic!("the reply matched no survey: {out:?}");
    };
    assert_eq!(ticket_id.as_deref(), Some(id.as_str()));
    assert_eq!(answer, Satisfaction::Unsatisfied);
    let visits = survey::return_visits(s.pool(), true, 10).await.unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(Some(visits[0].id), return_visit);
    assert_eq!(visits[0].ticket_id.as_deref(), Some(id.as_str()));
}

async fn a_caller_without_a_mobile_gets_no_number_and_the_ticket_commits(s: &Store) {
    units_with_phones(s).await;
    let (sms, rules) = (sms(), rules());
    let at = t("2026-03-02T10:00:00+08:00");
    let mut ids = vec![];
    for contact in [Some("0469-4222222"), None, Some("13800138000")] {
        let mut new = new_ticket(TicketType::Consultation, "公积金提取");
        new.contact = contact.map(|c| Pii::new(c.into()));
        let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
        let id = create_in_tx(&mut tx, &new, &agent(), at).await.unwrap();
        let sent =
            rexian::store::ticket_notify::ticket_number_in_tx(&mut tx, &sms, &id, at, &rules)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(sent, contact == Some("13800138000"), "{contact:?}");
        ids.push(id);
    }
    assert_eq!(queued(s, &ids[0]).await, vec![], "landline: none");
    assert_eq!(queued(s, &ids[1]).await, vec![], "anonymous: none");
    assert_eq!(
        queued(s, &ids[2]).await,
        pairs(&[("ticket_number", "13800138000")])
    );
    for id in &ids {
        assert_eq!(status(s, id).await, "created", "ticket {id} committed");
    }
    // Not yet dispatched: the deadline is the handling limit from now (2 wd for a
    // consultation under the default policy: Wed 4 Mar).
    let m = all(s).await.remove(0);
    assert!(m.body.contains(&ids[2]), "{}", m.body);
    assert!(m.body.contains("2026-03-04 23:59"), "{}", m.body);
    // A survey to a landline on closing is skipped too; the close commits.
    let id = &ids[0];
    let steps = [
        (Command::Dispatch { unit: uid("u2") }, agent()),
        (Command::Sign, unit("u2")),
        (
            Command::Handle {
                summary: "已答复".into(),
            },
            unit("u2"),
        ),
        (Command::Reply, unit("u2")),
        (
            Command::RecordVisit {
                satisfied: true,
                reasonable: true,
            },
            agent(),
        ),
        (Command::Close, agent()),
    ];
    for (cmd, who) in steps {
        s.apply_ticket_with_sms(id, cmd, &who, at, &rules, Some(&sms))
            .await
            .unwrap();
    }
    assert_eq!(status(s, id).await, "closed");
    assert_eq!(
        queued(s, id).await,
        pairs(&[("dispatch_reminder", "13900000003")])
    );
}

async fn with_sms_off_nothing_is_queued(s: &Store) {
    units_with_phones(s).await;
    let rules = rules();
    let id = dispatched(s, TicketType::Help, "2026-03-02T10:00:00+08:00").await;
    while let Some(next) = s.next_light_change().await.unwrap() {
        s.refresh_due_lights_with_sms(next, &rules, 100, None)
            .await
            .unwrap();
    }
    assert_eq!(s.ticket(&id).await.unwrap().unwrap().light, "red");
    let steps = [
        (Command::Sign, unit("u1")),
        (
            Command::Handle {
                summary: "已修复".into(),
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
        (Command::Close, agent()),
    ];
    for (cmd, who) in steps {
        ok(s, &id, cmd, who, "2026-03-20T10:00:00+08:00").await;
    }
    assert_eq!(status(s, &id).await, "closed");
    assert!(all(s).await.is_empty(), "SMS off: the outbox stays empty");
}

/// Runs the survey reply `text` from the ticket's contact.
async fn reply(s: &Store, text: &str) -> ReplyOutcome {
    survey::handle_reply(
        s.pool(),
        &Pii::new("13800138000".into()),
        text,
        "http",
        unix_now(),
        survey::SURVEY_WINDOW_SECS,
    )
    .await
    .unwrap()
}

/// Creates, dispatches to u2 and takes a ticket through to closing with SMS on; returns it.
async fn closed_with_survey(s: &Store, facts: &str) -> String {
    let (sms, rules) = (sms(), rules());
    let id = create(
        s,
        &new_ticket(TicketType::Complaint, facts),
        "2026-03-02T10:00:00+08:00",
    )
    .await;
    let visit = Command::RecordVisit {
        satisfied: true,
        reasonable: true,
    };
    let steps = [
        (Command::Dispatch { unit: uid("u2") }, agent()),
        (Command::Sign, unit("u2")),
        (
            Command::Handle {
                summary: "已处理".into(),
            },
            unit("u2"),
        ),
        (Command::Reply, unit("u2")),
        (visit, agent()),
        (Command::Close, agent()),
    ];
    for (cmd, who) in steps {
        s.apply_ticket_with_sms(
            &id,
            cmd,
            &who,
            t("2026-03-03T10:00:00+08:00"),
            &rules,
            Some(&sms),
        )
        .await
        .unwrap();
    }
    id
}

async fn an_unsatisfied_survey_leads_to_a_return_visit_and_a_reopened_ticket(s: &Store) {
    units_with_phones(s).await;
    let (sms, rules) = (sms(), rules());
    let id = closed_with_survey(s, "噪音扰民").await;
    let visit = |satisfied, reasonable| Command::RecordVisit {
        satisfied,
        reasonable,
    };
    let at = |h: &str| t(&format!("2026-03-05T{h}:00+08:00"));

    // Closed and no survey answered yet: no return visit can be recorded.
    let e = s
        .apply_ticket(&id, visit(false, true), &agent(), at("09:00"), &rules)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no unsatisfied survey reply"), "{e}");

    let ReplyOutcome::Answered { return_visit, .. } = reply(s, "3").await else {
        panic!("the reply matched no survey");
    };
    let task = return_visit.expect("an unsatisfied answer opens a return-visit task");
    // A unit may not record it, nor may anyone reopen the ticket before the visit.
    let e = s
        .apply_ticket(&id, visit(false, true), &unit("u2"), at("09:00"), &rules)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("may not"), "{e}");
    let e = s
        .apply_ticket(&id, Command::Reopen, &sup(), at("09:00"), &rules)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot reopen: ticket is Closed"),
        "{e}"
    );

    // The person calls back: unsatisfied, and the request is reasonable.
    s.apply_ticket_with_sms(
        &id,
        visit(false, true),
        &agent(),
        at("10:00"),
        &rules,
        Some(&sms),
    )
    .await
    .unwrap();
    assert_eq!(status(s, &id).await, "visited");
    assert!(survey::return_visits(s.pool(), true, 10)
        .await
        .unwrap()
        .is_empty());
    let all_tasks = survey::return_visits(s.pool(), false, 10).await.unwrap();
    assert_eq!(
        (all_tasks[0].id, all_tasks[0].state.as_str()),
        (task, "done")
    );
    let e = s
        .apply_ticket(&id, Command::Close, &agent(), at("10:30"), &rules)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("reopen it"), "{e}");

    // Reopened: back to the same unit, a fresh clock from now, and a new reminder.
    let before = queued(s, &id).await.len();
    s.apply_ticket_with_sms(
        &id,
        Command::Reopen,
        &sup(),
        at("11:00"),
        &rules,
        Some(&sms),
    )
    .await
    .unwrap();
    let r = s.ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        (r.status.as_str(), r.lead_unit.as_deref()),
        ("dispatched", Some("u2"))
    );
    assert_eq!(r.started_at, Some(at("11:00")));
    assert!(r.deadline.unwrap() > at("11:00"));
    let reminders = queued(s, &id).await;
    assert_eq!(reminders.len(), before + 1);
    assert!(reminders.contains(&("dispatch_reminder".into(), "13900000003".into())));
    let history = kinds(s, &id).await;
    assert_eq!(
        history[history.len() - 4..],
        ["closed", "survey", "revisited", "reopened"]
    );
    // The task is done: a second visit finds none (the ticket is no longer closed anyway).
    let e = s
        .apply_ticket(&id, visit(true, true), &agent(), at("12:00"), &rules)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ticket is Dispatched"), "{e}");

    // Satisfied after all on the call back (or unreasonable): the ticket stays closed.
    let other = closed_with_survey(s, "路灯不亮").await;
    reply(s, "３").await;
    s.apply_ticket(&other, visit(false, false), &agent(), at("10:00"), &rules)
        .await
        .unwrap();
    assert_eq!(status(s, &other).await, "closed");
    let e = s
        .apply_ticket(&other, Command::Reopen, &sup(), at("10:00"), &rules)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot reopen: ticket is Closed"),
        "{e}"
    );
    assert_eq!(kinds(s, &other).await.last().unwrap(), "revisited");
    assert!(survey::return_visits(s.pool(), true, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A caller who sends two answers at the same moment gets one answer recorded: the other is
/// kept for a person, as any reply no survey takes.
async fn two_replies_at_once_answer_the_survey_once(s: &Store) {
    units_with_phones(s).await;
    let id = closed_with_survey(s, "路灯不亮").await;
    let (a, b) = tokio::join!(reply(s, "3"), reply(s, "1"));
    let answered: Vec<_> = [&a, &b]
        .into_iter()
        .filter(|o| matches!(o, ReplyOutcome::Answered { .. }))
        .collect();
    assert_eq!(answered.len(), 1, "{a:?} {b:?}");
    assert!(
        [&a, &b]
            .iter()
            .any(|o| matches!(o, ReplyOutcome::Unmatched(_))),
        "{a:?} {b:?}"
    );
    let answers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sms_survey_answers WHERE ticket_id = $1")
            .bind(&id)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(answers, 1);
    assert_eq!(survey::unmatched(s.pool(), 10).await.unwrap().len(), 1);
}

/// With two surveys open to one phone, two replies at the same moment answer one each, as
/// they would one after the other: the newest for the first, the older for the second.
async fn two_replies_at_once_to_two_surveys_answer_both(s: &Store) {
    units_with_phones(s).await;
    let older = closed_with_survey(s, "路灯不亮").await;
    let newer = closed_with_survey(s, "噪音扰民").await;
    let (a, b) = tokio::join!(reply(s, "1"), reply(s, "1"));
    let mut tickets: Vec<String> = [a, b]
        .into_iter()
        .map(|o| match o {
            ReplyOutcome::Answered { ticket_id, .. } => ticket_id.expect("a ticket's survey"),
            other => panic!("a reply matched no survey: {other:?}"),
        })
        .collect();
    tickets.sort();
    let mut both = vec![older, newer];
    both.sort();
    assert_eq!(tickets, both);
    assert!(survey::unmatched(s.pool(), 10).await.unwrap().is_empty());
}

/// An agent records the call back while a supervisor closes the same return-visit task, on
/// PostgreSQL (SQLite serialises the two). The agent's transaction is held between reading the
/// open task and marking it done — its history row waits on another transaction's uncommitted
/// row with the same key — while the supervisor's close commits. The visit must then be
/// refused, not recorded against a task already closed without one.
#[tokio::test]
async fn postgres_a_return_visit_recorded_while_it_is_closed_is_refused() {
    let s = &postgres_store().await;
    units_with_phones(s).await;
    let rules = rules();
    let id = closed_with_survey(s, "噪音扰民").await;
    let ReplyOutcome::Answered { return_visit, .. } = reply(s, "3").await else {
        panic!("the reply matched no survey");
    };
    let task = return_visit.expect("a return-visit task");
    let last: i64 = sqlx::query_scalar("SELECT seq FROM tickets WHERE id = $1")
        .bind(&id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    // Holds the key of the visit's history row, uncommitted.
    let mut holder = s.pool().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO ticket_events (ticket_id, seq, at, actor, role, kind, why, payload) \
         VALUES ($1, $2, 0, 'test', 'system', 'test', NULL, '{}')",
    )
    .bind(&id)
    .bind(last + 1)
    .execute(&mut *holder)
    .await
    .unwrap();
    let visit = Command::RecordVisit {
        satisfied: false,
        reasonable: true,
    };
    let (at, who) = (t("2026-03-05T10:00:00+08:00"), agent());
    let race = async {
        // Until the visit's transaction waits on the holder's row, it has read the task open.
        until_blocked_on(&mut holder, "the visit never reached its history row").await;
        let closed = survey::close_return_visit(s.pool(), task).await.unwrap();
        holder.rollback().await.unwrap();
        closed
    };
    let (recorded, closed) = tokio::join!(s.apply_ticket(&id, visit, &who, at, &rules), race);
    assert!(closed, "the supervisor's close took the open task");
    let e = recorded.expect_err("the visit was recorded on a task closed meanwhile");
    assert!(e.to_string().contains("no unsatisfied survey reply"), "{e}");
    assert!(!kinds(s, &id).await.iter().any(|k| k == "revisited"));
    assert_eq!(status(s, &id).await, "closed");
}
