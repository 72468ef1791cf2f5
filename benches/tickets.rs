//! Workflow store throughput on real SQLite (a temporary file, WAL, synchronous=NORMAL) and
//! the local PostgreSQL (127.0.0.1:5432, database `test`, a fresh schema): ticket inserts/s
//! one transaction each, concurrently, through the group-commit writer (plain, and dispatched
//! as the API asks), and in batches, and lifecycle transitions/s.
//!
//! `cargo bench --bench tickets` (PostgreSQL URL from REXIAN_TEST_POSTGRES if set; the SQLite
//! file in REXIAN_BENCH_DIR if set, else the temporary directory). Not run in CI; figures go to
//! docs/benchmarks.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, FixedOffset};
use rexian::store::ticket_group::CreateRequest;
use rexian::store::tickets::NewTicket;
use rexian::store::units::UnitRecord;
use rexian::store::Store;
use rexian::workflow::{Actor, Command, Rules, TicketType, UnitId, Urgency};

const INSERTS: usize = 4000;
const LIFECYCLES: usize = 500;

fn new_ticket(i: usize) -> NewTicket {
    NewTicket {
        ticket_type: TicketType::Complaint,
        urgency: Urgency::Normal,
        line: "12345".into(),
        requester: Some(rexian::pii::Pii::new("王女士".into())),
        contact: Some(rexian::pii::Pii::new(format!("138{i:08}"))),
        facts: format!("第 {i} 号诉求：夜间施工噪音扰民，已持续一周"),
        address: Some("建设路 1 号".into()),
        call_id: Some(format!("call-{i}")),
        recording: None,
    }
}

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn rate(n: usize, since: Instant) -> f64 {
    n as f64 / since.elapsed().as_secs_f64()
}

async fn run(name: &str, store: Store, rules: Arc<Rules>) {
    let agent = Actor::Agent("7001".into());
    let now = at("2026-03-02T10:00:00+08:00");
    store
        .add_unit(&UnitRecord {
            id: "u1".into(),
            name: "单位".into(),
            parent: None,
            contacts: vec![],
        })
        .await
        .unwrap();

    // Baseline: one statement round trip through the pool, no transaction.
    let t = Instant::now();
    for _ in 0..INSERTS {
        let _: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
    }
    let baseline = rate(INSERTS, t);

    // Baseline: an empty transaction, and one with a single small insert.
    let t = Instant::now();
    for _ in 0..INSERTS {
        let tx = store.pool().begin().await.unwrap();
        tx.commit().await.unwrap();
    }
    let empty_tx = rate(INSERTS, t);
    let t = Instant::now();
    for i in 0..INSERTS {
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query("INSERT INTO ticket_counters (day, last) VALUES ($1, 0)")
            .bind(format!("bench-{i}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let one_insert_tx = rate(INSERTS, t);
    if store.backend() == rexian::store::Backend::Sqlite {
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        println!("{name:<10} PRAGMA synchronous = {sync} (1 = NORMAL)");
    }

    let t = Instant::now();
    for i in 0..INSERTS {
        store
            .create_ticket(&new_ticket(i), &agent, now)
            .await
            .unwrap();
    }
    let serial = rate(INSERTS, t);

    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (store, agent) = (store.clone(), agent.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..INSERTS / 4 {
                store
                    .create_ticket(&new_ticket(w * 100_000 + i), &agent, now)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let concurrent = rate(INSERTS, t);

    let group = rexian::store::ticket_group::GroupCreator::spawn(store.clone(), 100);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (group, agent) = (group.clone(), agent.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..INSERTS / 32 {
                group
                    .create(new_ticket(w * 100_000 + i), agent.clone(), now)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let grouped = rate(INSERTS / 32 * 32, t);

    // What the API sends the writer: each creation also dispatched in the shared commit,
    // written once (the writer's path) and step by step (the general command path).
    let grouped_dispatch = dispatched(&group, &agent, &rules, now, 200_000).await;
    drop(group);
    let stepwise = rexian::store::ticket_group::GroupCreator::spawn_stepwise(store.clone(), 100);
    let grouped_stepwise = dispatched(&stepwise, &agent, &rules, now, 300_000).await;
    drop(stepwise);

    let batch: Vec<NewTicket> = (0..100).map(new_ticket).collect();
    let t = Instant::now();
    for _ in 0..INSERTS / 100 {
        store.create_tickets(&batch, &agent, now).await.unwrap();
    }
    let batched = rate(INSERTS, t);

    let mut ids = Vec::new();
    for i in 0..LIFECYCLES {
        ids.push(
            store
                .create_ticket(&new_ticket(i), &agent, now)
                .await
                .unwrap()
                .id,
        );
    }
    let unit = Actor::Unit(UnitId("u1".into()));
    let steps = |_: &str| {
        vec![
            (
                Command::Dispatch {
                    unit: UnitId("u1".into()),
                },
                agent.clone(),
            ),
            (Command::Sign, unit.clone()),
            (
                Command::Handle {
                    summary: "已处理".into(),
                },
                unit.clone(),
            ),
            (Command::Reply, unit.clone()),
            (
                Command::RecordVisit {
                    satisfied: true,
                    reasonable: true,
                },
                agent.clone(),
            ),
            (Command::Close, agent.clone()),
        ]
    };
    let t = Instant::now();
    let mut n = 0;
    for id in &ids {
        for (cmd, actor) in steps(id) {
            store
                .apply_ticket(id, cmd, &actor, now, &rules)
                .await
                .unwrap();
            n += 1;
        }
    }
    let transitions = rate(n, t);

    println!(
        "{name:<10} round trips/s: {baseline:.0} SELECT 1, {empty_tx:.0} empty transactions, {one_insert_tx:.0} one-insert transactions"
    );
    println!(
        "{name:<10} inserts/s: {serial:>8.0} serial  {concurrent:>8.0} 4 writers  {grouped:>8.0} group commit (32 callers)  {grouped_dispatch:>8.0} group commit + dispatch (one write)  {grouped_stepwise:>8.0} (step by step)  {batched:>8.0} batched 100/tx   transitions/s: {transitions:>7.0} ({n} over {LIFECYCLES} tickets)"
    );
    store.close().await;
}

/// 32 callers creating and dispatching through `group`; returns creations/s.
async fn dispatched(
    group: &rexian::store::ticket_group::GroupCreator,
    agent: &Actor,
    rules: &Arc<Rules>,
    now: DateTime<FixedOffset>,
    base: usize,
) -> f64 {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (group, agent, rules) = (group.clone(), agent.clone(), rules.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..INSERTS / 32 {
                let new = new_ticket(base + w * 1_000 + i);
                let mut req = CreateRequest::plain(new, agent.clone(), now);
                req.dispatch_to = Some(UnitId("u1".into()));
                req.rules = Some(rules.clone());
                group.submit(req).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    rate(INSERTS / 32 * 32, t)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    let rules = Arc::new(Rules {
        calendar: rexian::dialplan::calendar::load(&dir).unwrap(),
        policy: rexian::dialplan::policy::load(&dir).unwrap(),
    });
    rt.block_on(async {
        // REXIAN_BENCH_DIR puts the SQLite file elsewhere (e.g. /dev/shm to take the disk out).
        let tmp = match std::env::var_os("REXIAN_BENCH_DIR") {
            Some(d) => tempfile::tempdir_in(d).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let sqlite = Store::open(&Store::sqlite_url(tmp.path())).await.unwrap();
        run("sqlite", sqlite, rules.clone()).await;

        let base = std::env::var("REXIAN_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        // A plain connection: the shared database's own schema is never migrated.
        use sqlx::Connection;
        let mut admin = sqlx::AnyConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let pg = Store::open(&format!("{base}?options=-c%20search_path%3D{schema}"))
            .await
            .unwrap();
        run("postgres", pg, rules).await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
    });
}
