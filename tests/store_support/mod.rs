//! Shared by the ticket store tests: a store on each real backend (SQLite in a temporary
//! directory; PostgreSQL on 127.0.0.1:5432, database `test`, in a schema of its own), the
//! `both!` macro that runs a scenario on each, and small builders.
#![allow(dead_code)]

use std::path::Path;

use chrono::{DateTime, FixedOffset};
use rexian::pii::Pii;
use rexian::store::tickets::NewTicket;
use rexian::store::units::UnitRecord;
use rexian::store::Store;
use rexian::workflow::{Actor, Command, Rules, TicketType, UnitId, Urgency};

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

pub async fn postgres_store() -> Store {
    let base = std::env::var("REXIAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_schema(&base, &schema).await;
    Store::open(&format!("{base}?options=-c%20search_path%3D{schema}"))
        .await
        .expect("open postgres schema")
}

/// Runs one scenario on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() {
                let (s, _d) = $crate::store_support::sqlite_store().await;
                super::$name(&s).await;
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() {
                super::$name(&$crate::store_support::postgres_store().await).await;
            } )*
        }
    };
}

pub fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

pub fn rules() -> Rules {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    Rules {
        calendar: rexian::dialplan::calendar::load(&dir).unwrap(),
        policy: rexian::dialplan::policy::load(&dir).unwrap(),
    }
}

pub fn agent() -> Actor {
    Actor::Agent("7001".into())
}
pub fn sup() -> Actor {
    Actor::Supervisor("s1".into())
}
pub fn unit(id: &str) -> Actor {
    Actor::Unit(UnitId(id.into()))
}
pub fn uid(id: &str) -> UnitId {
    UnitId(id.into())
}

pub fn new_ticket(ty: TicketType, facts: &str) -> NewTicket {
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

pub async fn add_units(s: &Store) {
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
pub async fn dispatched(s: &Store, ty: TicketType, at: &str) -> String {
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

pub async fn ok(s: &Store, id: &str, cmd: Command, actor: Actor, at: &str) {
    s.apply_ticket(id, cmd.clone(), &actor, t(at), &rules())
        .await
        .unwrap_or_else(|e| panic!("{cmd:?} by {actor:?}: {e}"));
}

pub async fn kinds(s: &Store, id: &str) -> Vec<String> {
    s.history(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.kind != "light")
        .map(|h| h.kind)
        .collect()
}

pub async fn status(s: &Store, id: &str) -> String {
    s.ticket(id).await.unwrap().unwrap().status
}

/// On PostgreSQL: returns once another transaction waits on a lock that `tx` holds — the
/// concurrent step under test has reached the row `tx` wrote — polling every 5 ms and failing
/// with `what` after 10 s.
pub async fn until_blocked_on(tx: &mut sqlx::Transaction<'static, sqlx::Any>, what: &str) {
    for _ in 0..2_000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks w JOIN pg_locks h \
             ON h.locktype = 'transactionid' AND h.transactionid = w.transactionid \
             WHERE h.pid = pg_backend_pid() AND h.granted AND NOT w.granted",
        )
        .fetch_one(&mut **tx)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("{what}");
}
