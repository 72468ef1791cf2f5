//! One-write creation against the step-by-step command path, on both real backends: for every
//! shape of request the API sends (plain, dispatched, with assisting units, answered on the
//! phone, with and without SMS, a caller with a mobile or a landline) both paths leave the same
//! projection, the same history rows (the dispatch and each light change their own rows),
//! the same unit rows and the same queued messages; a refused request leaves nothing, not even
//! a used number; and the written history folds back to the ticket the projection shows.

mod store_support;

use std::sync::Arc;

use rexian::pii::Pii;
use rexian::sms::config::SmsConfig;
use rexian::sms::outbox;
use rexian::store::ticket_group::{
    create_request_in_tx, create_request_stepwise_in_tx, CreateRequest,
};
use rexian::store::ticket_notify::TicketSms;
use rexian::store::tickets::{NewTicket, TicketError};
use rexian::store::units::{Contact, UnitRecord};
use rexian::store::Store;
use rexian::workflow::TicketType;
use sqlx::Row;
use store_support::*;

both!(
    one_write_matches_the_stepwise_path,
    a_refused_creation_leaves_nothing,
);

async fn units_with_phones(s: &Store) {
    let contact = |name: &str, phone: &str| Contact {
        name: Pii::new(name.into()),
        phone: Pii::new(phone.into()),
    };
    for (id, name, phones) in [
        ("u1", "市住建局", vec!["13900000001", "0469-4222222"]),
        ("u2", "市水务局", vec!["13900000003"]),
        ("u3", "市城管局", vec![]),
    ] {
        s.add_unit(&UnitRecord {
            id: id.into(),
            name: name.into(),
            parent: None,
            contacts: phones.iter().map(|p| contact("联系人", p)).collect(),
        })
        .await
        .unwrap();
    }
}

/// What a creation left in the store, with the ticket's own number blanked out.
#[derive(Debug, PartialEq)]
struct Written {
    projection: Vec<String>,
    history: Vec<String>,
    units: Vec<String>,
    sms: Vec<String>,
}

async fn written(s: &Store, id: &str) -> Written {
    let blank = |v: String| v.replace(id, "<id>");
    let cols = "ticket_type, urgency, line, requester, contact, facts, address, status, \
        lead_unit, assisting_units, started_at, sign_due, deadline, provisional, light, \
        light_next, pending, call_id, recording, created_by, created_at, updated_at, seq";
    let r = sqlx::query(&format!("SELECT {cols} FROM tickets WHERE id = $1"))
        .bind(id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    let mut projection = Vec::new();
    for (i, name) in cols.split(", ").enumerate() {
        let v = if let Ok(v) = r.try_get::<Option<String>, _>(i) {
            format!("{v:?}")
        } else {
            format!("{:?}", r.try_get::<Option<i64>, _>(i).unwrap())
        };
        projection.push(format!("{name}={v}"));
    }
    let history = s
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            blank(format!(
                "{} {} {} {} {} {:?} {}",
                e.seq,
                e.at.timestamp(),
                e.actor,
                e.role,
                e.kind,
                e.why,
                e.payload
            ))
        })
        .collect();
    let mut units: Vec<String> =
        sqlx::query("SELECT unit_id, role FROM ticket_units WHERE ticket_id = $1")
            .bind(id)
            .fetch_all(s.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| format!("{}/{}", r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect();
    units.sort();
    let mut sms: Vec<String> = outbox::list(s.pool(), None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.ticket_id.as_deref() == Some(id))
        .map(|m| blank(format!("{} {} {}", m.kind, m.phone.expose(), m.body)))
        .collect();
    sms.sort();
    Written {
        projection,
        history,
        units,
        sms,
    }
}

fn ticket(ty: TicketType, contact: Option<&str>) -> NewTicket {
    let mut n = new_ticket(ty, "路灯不亮");
    n.contact = contact.map(|c| Pii::new(c.into()));
    n
}

async fn one_write_matches_the_stepwise_path(s: &Store) {
    units_with_phones(s).await;
    let rules = Arc::new(rules());
    let sms = Arc::new(TicketSms::from_config(&SmsConfig::default()).unwrap());
    let at = t("2026-09-30T16:30:00+08:00");
    let mobile = Some("13800138000");
    let landline = Some("0469-1234567");
    let shapes: Vec<(&str, CreateRequest)> = {
        let base = |ty, contact| {
            let mut r = CreateRequest::plain(ticket(ty, contact), agent(), at);
            r.rules = Some(rules.clone());
            r
        };
        let mut v = Vec::new();
        v.push((
            "plain",
            CreateRequest::plain(ticket(TicketType::Help, mobile), agent(), at),
        ));
        let mut r = base(TicketType::Complaint, mobile);
        r.dispatch_to = Some(uid("u1"));
        v.push(("dispatch", r.clone()));
        r.sms = Some(sms.clone());
        v.push(("dispatch + sms", r.clone()));
        r.assisting = vec![uid("u2"), uid("u3")];
        v.push(("dispatch + assisting + sms", r.clone()));
        r.new = ticket(TicketType::Complaint, landline);
        v.push(("landline caller", r.clone()));
        let mut r = base(TicketType::Help, mobile);
        r.assisting = vec![uid("u2")];
        r.sms = Some(sms.clone());
        v.push(("assisting only + sms", r));
        let mut r = base(TicketType::Consultation, mobile);
        r.answer = Some("工作日 9:00–17:00".into());
        r.sms = Some(sms.clone());
        v.push(("answered + sms", r.clone()));
        r.sms = None;
        v.push(("answered", r));
        let mut r = base(TicketType::Suggestion, None);
        r.sms = Some(sms.clone());
        v.push(("no contact, number sms", r));
        let mut r = base(TicketType::Help, mobile);
        r.sms = Some(sms.clone());
        r.new.urgency = rexian::workflow::Urgency::Emergency;
        r.dispatch_to = Some(uid("u2"));
        v.push(("emergency", r));
        v
    };
    for (name, req) in shapes {
        let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
        let a = create_request_stepwise_in_tx(&mut tx, &req).await.unwrap();
        let b = create_request_in_tx(&mut tx, &req).await.unwrap();
        tx.commit().await.unwrap();
        let (wa, wb) = (written(s, &a).await, written(s, &b).await);
        assert!(!wa.history.is_empty());
        assert_eq!(wa, wb, "{name}");
        if matches!(name, "dispatch + sms" | "emergency") {
            assert!(!wb.sms.is_empty(), "{name}: messages are queued");
        }
        if name.starts_with("dispatch") {
            assert!(
                wb.history.iter().any(|h| h.contains(" dispatched ")),
                "{name}"
            );
            assert!(wb.history.iter().any(|h| h.contains(" light ")), "{name}");
        }
        // The history the one write left folds to what its projection says.
        let folded = s.ticket_state(&b).await.unwrap();
        let r = s.ticket(&b).await.unwrap().unwrap();
        assert_eq!(
            rexian::store::tickets::state_key(folded.state),
            r.status,
            "{name}"
        );
        assert_eq!(folded.unit.map(|u| u.0), r.lead_unit, "{name}");
    }
}

async fn a_refused_creation_leaves_nothing(s: &Store) {
    units_with_phones(s).await;
    let rules = Arc::new(rules());
    let at = t("2026-03-02T10:00:00+08:00");
    let mut r = CreateRequest::plain(ticket(TicketType::Help, None), agent(), at);
    r.rules = Some(rules.clone());
    r.dispatch_to = Some(uid("u1"));
    r.assisting = vec![uid("nowhere")];
    let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
    let e = create_request_in_tx(&mut tx, &r).await.unwrap_err();
    assert!(
        matches!(e, TicketError::UnknownUnit(ref u) if u == "nowhere"),
        "{e}"
    );
    tx.rollback().await.unwrap();
    // A complaint cannot be answered on the phone: refused by the workflow core.
    let mut r = CreateRequest::plain(ticket(TicketType::Complaint, None), agent(), at);
    r.rules = Some(rules.clone());
    r.answer = Some("x".into());
    let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
    let e = create_request_in_tx(&mut tx, &r).await.unwrap_err();
    assert!(matches!(e, TicketError::Refused { .. }), "{e}");
    tx.rollback().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    let mut r = CreateRequest::plain(ticket(TicketType::Help, None), agent(), at);
    r.rules = Some(rules);
    r.dispatch_to = Some(uid("u1"));
    let mut tx = rexian::store::begin_write(s.pool()).await.unwrap();
    let id = create_request_in_tx(&mut tx, &r).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        id.ends_with("-000001"),
        "no number used by the refused ones: {id}"
    );
}
