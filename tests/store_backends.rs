//! The store on both real backends: SQLite in a temporary directory and the PostgreSQL server
//! on 127.0.0.1:5432 (database `test`). Each PostgreSQL test works in a schema of its own so
//! runs do not see each other's rows.

use rexian::store::accounts::Account;
use rexian::store::tokens::Role;
use std::time::Duration;

use rexian::store::{begin_write, Store, StoreError};

pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
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

/// A fresh schema on the local PostgreSQL, selected through the connection's search_path.
pub async fn postgres_store() -> Store {
    let base = std::env::var("REXIAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_schema(&base, &schema).await;
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    Store::open(&url).await.expect("open postgres schema")
}

fn account(id: &str) -> Account {
    Account {
        id: id.to_string(),
        name: Some("张三".to_string()),
        realm: "rexian".to_string(),
        ha1_md5: "0".repeat(32),
        ha1_sha256: "0".repeat(64),
        created_at: 0,
    }
}

async fn accounts_round_trip(store: &Store) {
    store.add_account(&account("7001")).await.unwrap();
    store.add_account(&account("7002")).await.unwrap();
    assert!(matches!(
        store.add_account(&account("7001")).await,
        Err(StoreError::Duplicate(_))
    ));
    let all = store.accounts().await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["7001", "7002"]
    );
    assert_eq!(
        store
            .account("7002")
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("张三")
    );
    store.remove_account("7001").await.unwrap();
    assert!(store.account("7001").await.unwrap().is_none());
    assert!(matches!(
        store.remove_account("7001").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn tokens_verify_by_hash(store: &Store) {
    let t = store
        .create_token(Role::Supervisor, Some("s1"))
        .await
        .unwrap();
    let p = store.verify_token(&t).await.unwrap().expect("known token");
    assert_eq!(p.role, Role::Supervisor);
    assert_eq!(p.subject.as_deref(), Some("s1"));
    assert!(store
        .verify_token("rx_not_a_token")
        .await
        .unwrap()
        .is_none());
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!stored.contains(&t), "the plain token must not be stored");
}

#[tokio::test]
async fn sqlite_accounts_add_list_remove_refuse_duplicates() {
    let (store, _dir) = sqlite_store().await;
    accounts_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_accounts_add_list_remove_refuse_duplicates() {
    accounts_round_trip(&postgres_store().await).await;
}

#[tokio::test]
async fn sqlite_tokens_are_kept_hashed() {
    let (store, _dir) = sqlite_store().await;
    tokens_verify_by_hash(&store).await;
}

#[tokio::test]
async fn postgres_tokens_are_kept_hashed() {
    tokens_verify_by_hash(&postgres_store().await).await;
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let (store, _dir) = sqlite_store().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Adds one row inside a transaction; the table is any that takes a plain insert.
async fn add_unmatched(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sms_unmatched (phone, body, source, received_at) VALUES ($1, $2, 'test', 0)",
    )
    .bind("13800138000")
    .bind(body)
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// A transaction that reads before it writes, begun while another connection holds the write
/// lock, must wait for that lock and then succeed. A deferred `BEGIN` fails at its first write
/// with `database is locked` at once, without using the busy timeout.
#[tokio::test]
async fn sqlite_a_write_transaction_waits_for_another_writer_instead_of_failing() {
    let (store, _dir) = sqlite_store().await;
    let pool = store.pool();
    let mut first = begin_write(pool).await.unwrap();
    add_unmatched(&mut first, "first").await.unwrap();
    let second = async {
        let mut tx = begin_write(pool).await?;
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_unmatched")
            .fetch_one(&mut *tx)
            .await?;
        add_unmatched(&mut tx, "second").await?;
        tx.commit().await?;
        Ok::<i64, sqlx::Error>(seen)
    };
    tokio::pin!(second);
    // The busy timeout is 5 s: while the first holds the lock the second cannot end, well or badly.
    let early = tokio::time::timeout(Duration::from_millis(300), &mut second).await;
    assert!(early.is_err(), "ended while the lock was held: {early:?}");
    first.commit().await.unwrap();
    let seen = second.await.expect("the second waits, then writes");
    assert_eq!(seen, 1, "its snapshot starts after the first committed");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_unmatched")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, 2);
}

#[tokio::test]
async fn a_second_open_finds_the_schema_already_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = Store::sqlite_url(dir.path());
    Store::open(&url)
        .await
        .unwrap()
        .add_account(&account("7001"))
        .await
        .unwrap();
    let again = Store::open(&url).await.unwrap();
    assert_eq!(again.accounts().await.unwrap().len(), 1);
}

async fn call_records_round_trip(store: &Store) {
    use rexian::store::calls::CallRecordRow;
    let mut rec = CallRecordRow {
        id: "c0ffee00-0000-4000-8000-000000000001".into(),
        line: "12345".into(),
        line_name: "三门峡12345".into(),
        dialled: "12345".into(),
        trunk: Some("loopback".into()),
        caller: "13800138000".into(),
        caller_kind: "mobile".into(),
        arrived_ms: 1_790_000_000_000,
        queue: Some("main".into()),
        queued_ms: Some(1_790_000_004_000),
        wait_ms: Some(6_000),
        ring_attempts: 2,
        agent: Some("7001".into()),
        answered_ms: Some(1_790_000_010_000),
        ended_ms: 1_790_000_070_000,
        hangup_cause: "caller_hangup".into(),
        recording: None,
        recording_secs: None,
        abandoned: false,
        rating: Some("satisfied".into()),
        callback_requested: false,
        service_level_met: true,
    };
    store.insert_call_record(&rec).await.unwrap();
    assert!(
        store.insert_call_record(&rec).await.is_err(),
        "a call is recorded once"
    );
    assert!(store
        .set_call_recording(&rec.id, "2026/11/23/c0ffee00.wav", 60.5)
        .await
        .unwrap());
    rec.recording = Some("2026/11/23/c0ffee00.wav".into());
    rec.recording_secs = Some(60.5);
    assert_eq!(store.call_record(&rec.id).await.unwrap(), Some(rec.clone()));
    assert_eq!(store.recent_call_records(10).await.unwrap(), vec![rec]);
    assert!(!store.set_call_recording("nope", "x", 1.0).await.unwrap());
}

#[tokio::test]
async fn sqlite_call_records_are_written_once_and_get_their_recording() {
    let (store, _dir) = sqlite_store().await;
    call_records_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_call_records_are_written_once_and_get_their_recording() {
    call_records_round_trip(&postgres_store().await).await;
}

async fn handoffs_are_brought_up_to_date_and_keep_their_alarm(store: &Store) {
    use rexian::store::handoffs::HandoffRow;
    let mut h = HandoffRow {
        call_record: "c0ffee00-0000-4000-8000-000000000002".into(),
        seq: 7,
        agent: "7001".into(),
        number: "110".into(),
        name: "报警".into(),
        caller: "13800138000".into(),
        reason: "fight in the street".into(),
        three_way: true,
        trunk: Some("loopback".into()),
        asked_ms: 1_790_000_000_000,
        ringing_ms: None,
        answered_ms: None,
        agent_left_ms: None,
        ended_ms: None,
        outcome: None,
        alarm: false,
    };
    // A supervisor is told at once, and alarmed when the alarm is raised — once each.
    let sms = rexian::store::handoffs::HandoffSms {
        templates: rexian::sms::config::SmsConfig::default()
            .templates()
            .unwrap(),
        supervisors: vec!["13900139000".into()],
    };
    store.save_handoff(&h, Some(&sms)).await.unwrap();
    h.ringing_ms = Some(1_790_000_000_300);
    store.save_handoff(&h, Some(&sms)).await.unwrap();
    h.ended_ms = Some(1_790_000_009_000);
    h.outcome = Some("caller_hung_up".into());
    h.alarm = true;
    store.save_handoff(&h, Some(&sms)).await.unwrap();
    // A later write without the alarm (the call's end) does not clear it.
    let mut later = h.clone();
    later.alarm = false;
    store.save_handoff(&later, Some(&sms)).await.unwrap();
    assert_eq!(store.recent_handoffs(10).await.unwrap(), vec![h]);
    let rows = sqlx::query("SELECT phone, kind, body FROM sms_outbox ORDER BY created_at, kind")
        .fetch_all(store.pool())
        .await
        .unwrap();
    use sqlx::Row;
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get("phone"), r.get("kind"), r.get("body")))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|(p, _, _)| p == "13900139000"));
    let body = |kind: &str| &got.iter().find(|(_, k, _)| k == kind).unwrap().2;
    assert!(
        body("handoff_notice").contains("坐席7001")
            && body("handoff_notice").contains("110（报警）")
    );
    assert!(
        body("handoff_alarm").contains("在接通前市民已挂机"),
        "{}",
        body("handoff_alarm")
    );
    assert!(
        !body("handoff_alarm").contains("13800138000"),
        "the citizen's number stays out of the text"
    );
}

#[tokio::test]
async fn sqlite_handoffs_are_brought_up_to_date_and_keep_their_alarm() {
    let (store, _dir) = sqlite_store().await;
    handoffs_are_brought_up_to_date_and_keep_their_alarm(&store).await;
}

#[tokio::test]
async fn postgres_handoffs_are_brought_up_to_date_and_keep_their_alarm() {
    handoffs_are_brought_up_to_date_and_keep_their_alarm(&postgres_store().await).await;
}
