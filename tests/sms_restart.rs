//! Kill-and-restart mid-send: a real daemon sends N queued messages to a recording gateway,
//! is killed with SIGKILL while the gateway holds one submission, and is started again on the
//! same store. Every message must arrive, and at most one may arrive twice (counted by the
//! message id the gateway saw).

#[path = "support/sms_gateway.rs"]
mod sms_gateway;
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use rexian::pii::Pii;
use rexian::sms::outbox::{self, enqueue, NewSms, SmsKind};
use rexian::store::Store;
use sms_gateway::RecordingGateway;
use support::{free_tcp_port, wait_for, Daemon};

const N: usize = 30;
const HOLD: usize = 7;

fn config(dir: &std::path::Path, gateway: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("rexian.toml");
    std::fs::write(
        &path,
        format!(
            r#"[sms]
rate_per_sec = 200
retry_base_secs = 1
retry_max_secs = 2

[sms.http]
url = "http://{gateway}/send"
query = {{ id = "{{id}}", to = "{{to}}", text = "{{text}}" }}
timeout_secs = 120
"#
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_send_loses_nothing_and_repeats_at_most_one() {
    let gw = RecordingGateway::start(Some(HOLD));
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), gw.addr);
    let cfg_arg = cfg.to_str().unwrap().to_string();
    let mut first = Daemon::start(&["--config", &cfg_arg]);
    let store = Store::open(&Store::sqlite_url(&first.data_dir()))
        .await
        .unwrap();
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..N {
        let msg = NewSms {
            phone: Pii::new(format!("1380013{:04}", i)),
            kind: SmsKind::DispatchReminder,
            body: format!("【12345热线】工单GD{i:04}已派发，请及时签收。"),
            ticket_id: Some(format!("GD{i:04}")),
        };
        ids.push(enqueue(&mut tx, msg).await.unwrap());
    }
    tx.commit().await.unwrap();

    wait_for(
        "the gateway to hold a submission",
        Duration::from_secs(60),
        || (gw.ids().len() >= HOLD).then_some(()),
    );
    first.child.kill().expect("SIGKILL the daemon");
    first.child.wait().unwrap();
    gw.release();
    let held = gw.ids()[HOLD - 1].clone();
    let sending = outbox::get(store.pool(), &held).await.unwrap().unwrap();
    assert_eq!(sending.state, "sending", "killed between submit and record");

    // Same data directory, new process.
    let dir = std::mem::replace(&mut first.dir, tempfile::tempdir().unwrap());
    drop(first);
    let second = Daemon::start_in(dir, &["--config", &cfg_arg]);
    wait_for(
        "every message at the gateway",
        Duration::from_secs(60),
        || {
            let seen: std::collections::BTreeSet<String> = gw.ids().into_iter().collect();
            ids.iter().all(|id| seen.contains(id)).then_some(())
        },
    );
    let mut last = Vec::new();
    let all_submitted = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            last = outbox::count_by_state(store.pool()).await.unwrap();
            if last == [("submitted".to_string(), N as i64)] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(all_submitted.is_ok(), "outbox not all submitted: {last:?}");

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in gw.ids() {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len(), N, "only our ids reached the gateway");
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.len() <= 1,
        "more than one message repeated: {repeated:?}"
    );
    assert!(counts.values().all(|n| *n <= 2), "{counts:?}");
    if let Some((id, _)) = repeated.first() {
        assert_eq!(**id, held, "only the message in flight at the kill repeats");
    }
    let status = second.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_outage_delays_messages_and_loses_none() {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), addr);
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let store = Store::open(&Store::sqlite_url(&d.data_dir()))
        .await
        .unwrap();
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let msg = NewSms {
            phone: Pii::new(format!("1390013{:04}", i)),
            kind: SmsKind::TicketNumber,
            body: format!("【12345热线】工单编号GD{i:04}。"),
            ticket_id: None,
        };
        ids.push(enqueue(&mut tx, msg).await.unwrap());
    }
    tx.commit().await.unwrap();

    // Nothing listens: the messages are tried, fail, and wait in the queue.
    let mut last = None;
    let retried = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let m = outbox::get(store.pool(), &ids[0]).await.unwrap().unwrap();
            if m.attempts >= 2 && m.state == "queued" {
                return m;
            }
            last = Some((m.state, m.attempts));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let m = retried.unwrap_or_else(|_| panic!("no retries seen: {last:?}"));
    assert!(m.last_error.unwrap().contains("connect"));

    // The gateway comes up: every message goes, once.
    let gw = RecordingGateway::start_on(addr, None);
    wait_for("all five at the gateway", Duration::from_secs(60), || {
        (gw.ids().len() >= 5).then_some(())
    });
    let mut seen = gw.ids();
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);
    assert!(d.terminate().success());
}
