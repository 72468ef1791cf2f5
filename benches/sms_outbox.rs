//! SMS outbox throughput: messages queued per second (one transaction) and messages sent per
//! second by the sender (claim, submit, record) on SQLite, through an HTTP gateway that
//! answers at once and through SMPP to the fake SMSC, and the HTTP case on the local
//! PostgreSQL (`REXIAN_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`, in a
//! schema of its own). `cargo bench --bench sms_outbox`.

#[path = "../tests/support/fake_smsc.rs"]
mod fake_smsc;
#[path = "../tests/support/sms_gateway.rs"]
mod sms_gateway;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rexian::pii::Pii;
use rexian::shell::sms_worker::Sender;
use rexian::sms::config::{HttpGatewayConfig, SmppConfig, SmsConfig};
use rexian::sms::http_gateway::HttpGateway;
use rexian::sms::outbox::{self, enqueue, NewSms, SmsKind};
use rexian::sms::provider::SmsProvider;
use rexian::sms::smpp::SmppClient;
use rexian::store::Store;
use tokio::sync::{mpsc, watch};

const N: usize = 2000;

async fn fill(store: &Store) -> f64 {
    let start = Instant::now();
    let mut tx = store.pool().begin().await.unwrap();
    for i in 0..N {
        enqueue(
            &mut tx,
            NewSms {
                phone: Pii::new(format!("138{:08}", i)),
                kind: SmsKind::DispatchReminder,
                body: format!(
                    "【12345热线】工单GD{i:06}已派发至市住建局，请及时签收，并于3月9日前办结答复。"
                ),
                ticket_id: Some(format!("GD{i:06}")),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    N as f64 / start.elapsed().as_secs_f64()
}

async fn drain(store: &Store, cfg: SmsConfig, provider: Arc<dyn SmsProvider>) -> f64 {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (_ev_tx, ev_rx) = mpsc::channel(16);
    let start = Instant::now();
    let task = tokio::spawn(Sender::new(cfg, store.clone(), provider).run(ev_rx, stop_rx));
    loop {
        let counts = outbox::count_by_state(store.pool()).await.unwrap();
        if counts == [("submitted".to_string(), N as i64)] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "stuck: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = N as f64 / start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = task.await;
    rate
}

fn sms_config() -> SmsConfig {
    SmsConfig {
        rate_per_sec: 1_000_000,
        ..SmsConfig::default()
    }
}

async fn postgres_store() -> (Store, String) {
    let base = std::env::var("REXIAN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("schema");
    let store = Store::open(&format!("{base}?options=-c%20search_path%3D{schema}"))
        .await
        .expect("open postgres schema");
    admin.close().await;
    (store, schema)
}

fn http_gateway(gw: &sms_gateway::RecordingGateway) -> HttpGateway {
    HttpGateway::new(HttpGatewayConfig {
        url: format!("http://{}/send", gw.addr),
        method: "GET".into(),
        query: BTreeMap::from([
            ("id".into(), "{id}".into()),
            ("to".into(), "{to}".into()),
            ("text".into(), "{text}".into()),
        ]),
        body: None,
        content_type: "application/json".into(),
        headers: BTreeMap::new(),
        sign: None,
        accept_status: vec![202],
        accept_body_contains: None,
        timeout_secs: 10,
        ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
    })
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // HTTP gateway.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Store::sqlite_url(dir.path())).await.unwrap();
    let queued = fill(&store).await;
    let gw = sms_gateway::RecordingGateway::start(None);
    let http_rate = drain(&store, sms_config(), Arc::new(http_gateway(&gw))).await;
    assert_eq!(gw.ids().len(), N);
    println!("sms_outbox/enqueue sqlite: {queued:.0} messages/s ({N} in one transaction)");
    println!("sms_outbox/send sqlite via HTTP gateway: {http_rate:.0} messages/s");

    // SMPP to the fake SMSC.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Store::sqlite_url(dir.path())).await.unwrap();
    fill(&store).await;
    let smsc = fake_smsc::FakeSmsc::start("pw");
    let (_stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, _ev_rx) = mpsc::channel(N * 2);
    let smpp = SmppClient::start(
        SmppConfig {
            addr: smsc.addr,
            system_id: "rexian".into(),
            password: "pw".into(),
            system_type: String::new(),
            source_addr: "12345".into(),
            enquire_link_secs: 30,
            response_timeout_secs: 10,
            delivery_receipts: false,
        },
        ev_tx,
        stop_rx,
    );
    let smpp_rate = drain(&store, sms_config(), Arc::new(smpp)).await;
    assert_eq!(smsc.received().len(), N);
    println!("sms_outbox/send sqlite via SMPP (fake SMSC): {smpp_rate:.0} messages/s");

    // PostgreSQL, HTTP gateway.
    let (store, schema) = postgres_store().await;
    let queued = fill(&store).await;
    let gw = sms_gateway::RecordingGateway::start(None);
    let rate = drain(&store, sms_config(), Arc::new(http_gateway(&gw))).await;
    assert_eq!(gw.ids().len(), N);
    println!("sms_outbox/enqueue postgres: {queued:.0} messages/s ({N} in one transaction)");
    println!("sms_outbox/send postgres via HTTP gateway: {rate:.0} messages/s");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(store.pool())
        .await
        .expect("drop the bench schema");
}
