//! Callback requests and attempts in the store, on both real backends: SQLite in a temporary
//! directory and the PostgreSQL server on 127.0.0.1:5432 (a schema of its own per run).

mod store_support;

use rexian::store::callbacks::{CallbackAttemptRow, CallbackRow};
use rexian::store::Store;
use store_support::{postgres_store, sqlite_store};

fn request(state: &str, attempts: i64, next_ms: Option<i64>, at: i64) -> CallbackRow {
    CallbackRow {
        id: "cb-1".into(),
        origin_record: "rec-origin".into(),
        line: "12345".into(),
        queue: "main".into(),
        number: "13500135000".into(),
        requested_ms: 1_000,
        state: state.into(),
        attempts,
        attempts_max: 3,
        next_ms,
        updated_ms: at,
    }
}

fn attempt(n: i64) -> CallbackAttemptRow {
    CallbackAttemptRow {
        callback: "cb-1".into(),
        attempt: n,
        agent: None,
        trunk: None,
        started_ms: 0,
        answered_ms: None,
        ended_ms: None,
        outcome: None,
        cause: None,
        call_record: None,
    }
}

async fn steps_of_a_request(s: &Store) {
    s.save_callback(&request("placed", 0, None, 1_000))
        .await
        .unwrap();
    // Attempt 1: dialled, busy; a retry is due.
    let mut a = attempt(1);
    a.agent = Some("7001".into());
    a.trunk = Some("loopback".into());
    a.started_ms = 2_000;
    s.save_callback_attempt(&a).await.unwrap();
    s.save_callback(&request("dialing", 1, None, 2_000))
        .await
        .unwrap();
    let mut f = attempt(1);
    f.ended_ms = Some(3_000);
    f.outcome = Some("failed".into());
    f.cause = Some("busy".into());
    s.save_callback_attempt(&f).await.unwrap();
    s.save_callback(&request("failed", 1, Some(303_000), 3_000))
        .await
        .unwrap();
    // Attempt 2: answered, then linked to the bridged call's record.
    let mut b = attempt(2);
    b.agent = Some("7002".into());
    b.trunk = Some("backup".into());
    b.started_ms = 303_000;
    s.save_callback_attempt(&b).await.unwrap();
    let mut ans = attempt(2);
    ans.answered_ms = Some(310_000);
    ans.outcome = Some("answered".into());
    s.save_callback_attempt(&ans).await.unwrap();
    let mut link = attempt(2);
    link.call_record = Some("rec-bridged".into());
    s.save_callback_attempt(&link).await.unwrap();
    s.save_callback(&request("answered", 2, None, 310_000))
        .await
        .unwrap();

    let reqs = s.recent_callbacks(10).await.unwrap();
    assert_eq!(reqs, vec![request("answered", 2, None, 310_000)]);
    let att = s.callback_attempts("cb-1").await.unwrap();
    assert_eq!(att.len(), 2);
    assert_eq!(
        (
            att[0].outcome.as_deref(),
            att[0].cause.as_deref(),
            att[0].ended_ms
        ),
        (Some("failed"), Some("busy"), Some(3_000))
    );
    assert_eq!(
        att[0].agent.as_deref(),
        Some("7001"),
        "later steps keep what is known"
    );
    assert_eq!(att[1].trunk.as_deref(), Some("backup"));
    assert_eq!(att[1].started_ms, 303_000);
    assert_eq!(att[1].answered_ms, Some(310_000));
    assert_eq!(att[1].call_record.as_deref(), Some("rec-bridged"));
}

#[tokio::test]
async fn callback_rows_on_sqlite() {
    let (s, _dir) = sqlite_store().await;
    steps_of_a_request(&s).await;
}

#[tokio::test]
async fn callback_rows_on_postgres() {
    let s = postgres_store().await;
    steps_of_a_request(&s).await;
}
