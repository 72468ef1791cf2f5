//! The SMS outbox and survey replies on both real backends: SQLite in a temporary directory
//! and the local PostgreSQL (a schema per test).

use rexian::pii::Pii;
use rexian::sms::outbox::{
    self, enqueue_at, DlrKey, DlrStatus, NewSms, RetryOutcome, RetryPolicy, SmsKind,
};
use rexian::sms::phone::PhoneError;
use rexian::sms::survey::{self, ReplyOutcome, Satisfaction};
use rexian::sms::SmsError;
use rexian::store::Store;

async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(&Store::sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    (store, dir)
}

async fn postgres_store() -> Store {
    let base = std::env::var("REXIAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    // A plain connection: the public schema may hold other branches' migrations.
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("schema");
    admin.close().await;
    Store::open(&format!("{base}?options=-c%20search_path%3D{schema}"))
        .await
        .expect("open postgres schema")
}

fn sms(phone: &str, kind: SmsKind, ticket: &str) -> NewSms {
    NewSms {
        phone: Pii::new(phone.to_string()),
        kind,
        body: format!("【12345热线】工单{ticket}"),
        ticket_id: Some(ticket.to_string()),
    }
}

const POLICY: RetryPolicy = RetryPolicy {
    base_secs: 10,
    max_backoff_secs: 40,
    max_attempts: 0,
};

async fn enqueue_commits_and_rolls_back_with_the_caller(store: &Store) {
    let pool = store.pool();
    let mut tx = rexian::store::begin_write(pool).await.unwrap();
    let kept = enqueue_at(
        &mut tx,
        sms("+8613800138000", SmsKind::TicketNumber, "T1"),
        100,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = rexian::store::begin_write(pool).await.unwrap();
    let dropped = enqueue_at(
        &mut tx,
        sms("13900139000", SmsKind::TicketNumber, "T2"),
        100,
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_ne!(kept, dropped);
    assert!(
        uuid::Uuid::parse_str(&kept).is_ok(),
        "ids are UUIDs: {kept}"
    );
    let m = outbox::get(pool, &kept).await.unwrap().expect("committed");
    assert_eq!(m.phone.expose(), "13800138000", "stored normalised");
    assert_eq!(m.state, "queued");
    assert!(outbox::get(pool, &dropped).await.unwrap().is_none());
}

async fn anonymous_and_landlines_are_refused(store: &Store) {
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let e = enqueue_at(&mut tx, sms("anonymous", SmsKind::TicketNumber, "T"), 1)
        .await
        .unwrap_err();
    assert!(matches!(e, SmsError::Phone(PhoneError::Anonymous)), "{e}");
    let e = enqueue_at(&mut tx, sms("010-12345678", SmsKind::TicketNumber, "T"), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SmsError::Phone(PhoneError::NotMobile(_))),
        "{e}"
    );
    tx.commit().await.unwrap();
    assert!(outbox::list(store.pool(), None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn send_retry_submit_and_dlr(store: &Store) {
    let pool = store.pool();
    let mut tx = rexian::store::begin_write(pool).await.unwrap();
    let a = enqueue_at(
        &mut tx,
        sms("13800138000", SmsKind::DispatchReminder, "A"),
        100,
    )
    .await
    .unwrap();
    let b = enqueue_at(&mut tx, sms("13800138001", SmsKind::RedWarning, "B"), 101)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(outbox::due(pool, 99, 10).await.unwrap().is_empty());
    let due: Vec<String> = outbox::due(pool, 200, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(due, [a.clone(), b.clone()], "oldest first");

    // The gateway is down: a is retried after 10 s, then 20, 40, 40 (ceiling).
    let mut at = 200;
    for expected in [10, 20, 40, 40] {
        assert!(outbox::begin_send(pool, &a).await.unwrap());
        assert!(!outbox::begin_send(pool, &a).await.unwrap(), "claimed once");
        let out = outbox::mark_retry(pool, &a, "connect refused", at, &POLICY)
            .await
            .unwrap();
        assert_eq!(out, RetryOutcome::RetryAt(at + expected));
        assert!(!outbox::due(pool, at + expected - 1, 10)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == a));
        at += expected;
        assert!(outbox::due(pool, at, 10)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == a));
    }
    let m = outbox::get(pool, &a).await.unwrap().unwrap();
    assert_eq!((m.state.as_str(), m.attempts), ("queued", 4));
    assert_eq!(m.last_error.as_deref(), Some("connect refused"));

    // Up again: submitted, then the receipts.
    assert!(outbox::begin_send(pool, &a).await.unwrap());
    outbox::mark_submitted(pool, &a, Some("smsc-77"), at)
        .await
        .unwrap();
    assert!(
        outbox::record_dlr(pool, DlrKey::Id(&a), DlrStatus::Accepted, at)
            .await
            .unwrap()
    );
    assert_eq!(
        outbox::get(pool, &a).await.unwrap().unwrap().state,
        "submitted"
    );
    assert!(outbox::record_dlr(
        pool,
        DlrKey::GatewayRef("smsc-77"),
        DlrStatus::Delivered,
        at
    )
    .await
    .unwrap());
    let m = outbox::get(pool, &a).await.unwrap().unwrap();
    assert_eq!(m.state, "delivered");
    assert_eq!(m.dlr_status.as_deref(), Some("delivered"));
    assert!(
        !outbox::record_dlr(pool, DlrKey::Id("no-such"), DlrStatus::Delivered, at)
            .await
            .unwrap()
    );

    // b is refused for good.
    assert!(outbox::begin_send(pool, &b).await.unwrap());
    outbox::mark_failed(pool, &b, "400 bad number")
        .await
        .unwrap();
    assert_eq!(
        outbox::get(pool, &b).await.unwrap().unwrap().state,
        "failed"
    );
    assert!(outbox::due(pool, i64::MAX / 2, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_message_left_sending_is_queued_again_and_attempts_are_bounded(store: &Store) {
    let pool = store.pool();
    let mut tx = rexian::store::begin_write(pool).await.unwrap();
    let a = enqueue_at(
        &mut tx,
        sms("13800138000", SmsKind::YellowWarning, "A"),
        100,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(outbox::begin_send(pool, &a).await.unwrap());
    // The sender dies here. At the next start:
    assert_eq!(outbox::recover_interrupted(pool, 500).await.unwrap(), 1);
    assert_eq!(outbox::due(pool, 500, 10).await.unwrap()[0].id, a);
    let bounded = RetryPolicy {
        max_attempts: 2,
        ..POLICY
    };
    assert!(outbox::begin_send(pool, &a).await.unwrap());
    let out = outbox::mark_retry(pool, &a, "timeout", 500, &bounded)
        .await
        .unwrap();
    assert_eq!(out, RetryOutcome::GaveUp, "two attempts made");
    assert_eq!(
        outbox::get(pool, &a).await.unwrap().unwrap().state,
        "failed"
    );
    let counts = outbox::count_by_state(pool).await.unwrap();
    assert_eq!(counts, [("failed".to_string(), 1)]);
}

async fn survey_replies_are_matched_to_the_latest_open_survey(store: &Store) {
    let pool = store.pool();
    let week = 7 * 86_400;
    let mut tx = rexian::store::begin_write(pool).await.unwrap();
    let old = enqueue_at(&mut tx, sms("13800138000", SmsKind::Survey, "OLD"), 1_000)
        .await
        .unwrap();
    let new = enqueue_at(&mut tx, sms("13800138000", SmsKind::Survey, "NEW"), 2_000)
        .await
        .unwrap();
    enqueue_at(
        &mut tx,
        sms("13800138000", SmsKind::TicketNumber, "NEWER"),
        3_000,
    )
    .await
    .unwrap();
    let other = enqueue_at(&mut tx, sms("13900139000", SmsKind::Survey, "OTHER"), 2_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let from = |p: &str| Pii::new(p.to_string());

    // 3 to the newest survey of that number: answered, return visit opened.
    let out = survey::handle_reply(pool, &from("+86 138 0013 8000"), "３", "http", 4_000, week)
        .await
        .unwrap();
    let ReplyOutcome::Answered {
        sms_id,
        ticket_id,
        answer,
        return_visit,
    } = out
    else {
        panic!("expected an answer, got {out:?}")
    };
    assert_eq!(
        (sms_id.as_str(), ticket_id.as_deref()),
        (new.as_str(), Some("NEW"))
    );
    assert_eq!(answer, Satisfaction::Unsatisfied);
    let visits = survey::return_visits(pool, true, 10).await.unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].id, return_visit.unwrap());
    assert_eq!(visits[0].ticket_id.as_deref(), Some("NEW"));
    assert_eq!(visits[0].phone, "13800138000");

    // The next reply goes to the older survey, still open; 1 opens no task.
    let out = survey::handle_reply(pool, &from("13800138000"), "1", "smpp", 4_001, week)
        .await
        .unwrap();
    assert!(
        matches!(&out, ReplyOutcome::Answered { sms_id, return_visit: None, answer: Satisfaction::Satisfied, .. } if *sms_id == old),
        "{out:?}"
    );
    // No survey left open for that number: kept for a person.
    let out = survey::handle_reply(pool, &from("13800138000"), "2", "http", 4_002, week)
        .await
        .unwrap();
    assert!(matches!(out, ReplyOutcome::Unmatched(_)), "{out:?}");
    // Free text to an open survey is not an answer; the survey stays open.
    let out = survey::handle_reply(
        pool,
        &from("13900139000"),
        "到底什么时候修好？",
        "http",
        4_003,
        week,
    )
    .await
    .unwrap();
    assert!(matches!(out, ReplyOutcome::Unmatched(_)), "{out:?}");
    // Outside the window the survey no longer matches.
    let out = survey::handle_reply(
        pool,
        &from("13900139000"),
        "2",
        "http",
        2_000 + week + 1,
        week,
    )
    .await
    .unwrap();
    assert!(matches!(out, ReplyOutcome::Unmatched(_)), "{out:?}");
    let out = survey::handle_reply(pool, &from("13900139000"), "2", "http", 4_004, week)
        .await
        .unwrap();
    assert!(
        matches!(&out, ReplyOutcome::Answered { sms_id, .. } if *sms_id == other),
        "{out:?}"
    );
    let kept = survey::unmatched(pool, 10).await.unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[1].body, "到底什么时候修好？");
    assert!(survey::close_return_visit(pool, visits[0].id)
        .await
        .unwrap());
    assert!(!survey::close_return_visit(pool, visits[0].id)
        .await
        .unwrap());
    assert!(survey::return_visits(pool, true, 10)
        .await
        .unwrap()
        .is_empty());
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$name(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::postgres_store().await;
                    super::$name(&store).await;
                }
            )*
        }
    };
}

on_both!(
    enqueue_commits_and_rolls_back_with_the_caller,
    anonymous_and_landlines_are_refused,
    send_retry_submit_and_dlr,
    a_message_left_sending_is_queued_again_and_attempts_are_bounded,
    survey_replies_are_matched_to_the_latest_open_survey
);
