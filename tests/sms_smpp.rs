//! SMS over SMPP 3.4 against the fake SMSC in `tests/support/fake_smsc.rs`: a real daemon
//! binds as a transceiver, submits queued messages in UCS-2 with its message id, records the
//! receipts the fake sends back, and matches a handset's reply to the survey.

#[path = "support/fake_smsc.rs"]
mod fake_smsc;
#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use fake_smsc::FakeSmsc;
use rexian::pii::Pii;
use rexian::sms::outbox::{self, enqueue, NewSms, SmsKind};
use rexian::sms::survey;
use rexian::store::Store;
use support::{wait_for, Daemon};

async fn wait_state(store: &Store, id: &str, want: &str) {
    let mut last = String::new();
    let r = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            last = outbox::get(store.pool(), id).await.unwrap().unwrap().state;
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "message {id} stayed {last:?}, wanted {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_receipts_and_replies_over_smpp() {
    let smsc = FakeSmsc::start("secret");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[sms]
rate_per_sec = 20
retry_base_secs = 1
retry_max_secs = 2

[sms.smpp]
addr = "{}"
system_id = "rexian"
password = "secret"
source_addr = "12345"
enquire_link_secs = 1
"#,
            smsc.addr
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let store = Store::open(&Store::sqlite_url(&daemon.data_dir()))
        .await
        .unwrap();
    let long = format!("【12345热线】{}", "您的诉求已转交市住建局办理。".repeat(8));
    let msgs = [
        (
            "13800138000",
            SmsKind::TicketNumber,
            "【12345热线】工单编号GD0042。".to_string(),
        ),
        (
            "13800138001",
            SmsKind::Survey,
            "【12345热线】回复1满意，2基本满意，3不满意。".to_string(),
        ),
        ("13800138002", SmsKind::RedWarning, long.clone()),
    ];
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let mut ids = Vec::new();
    for (phone, kind, body) in &msgs {
        ids.push(
            enqueue(
                &mut tx,
                NewSms {
                    phone: Pii::new(phone.to_string()),
                    kind: *kind,
                    body: body.clone(),
                    ticket_id: Some("GD0042".into()),
                },
            )
            .await
            .unwrap(),
        );
    }
    tx.commit().await.unwrap();

    let got = wait_for(
        "3 submit_sm at the fake SMSC",
        Duration::from_secs(60),
        || {
            let r = smsc.received();
            (r.len() >= 3).then_some(r)
        },
    );
    assert_eq!(got.len(), 3, "each message once: {got:?}");
    for ((phone, _, body), id) in msgs.iter().zip(&ids) {
        let r = got
            .iter()
            .find(|r| &r.rexian_id == id)
            .unwrap_or_else(|| panic!("message {id} not seen by its id"));
        assert_eq!(r.destination, format!("86{phone}"));
        assert_eq!(&r.text, body);
    }
    // The fake's receipts (stat:DELIVRD, matched by the SMSC's id) mark them delivered.
    for id in &ids {
        wait_state(&store, id, "delivered").await;
    }
    let m = outbox::get(store.pool(), &ids[0]).await.unwrap().unwrap();
    assert!(m.gateway_ref.as_deref().unwrap().starts_with('F'));

    // A handset answers the survey with 3 (full-width), then writes something else.
    assert!(smsc.send_mo("8613800138001", "３"));
    let visits = wait_for("a return-visit task", Duration::from_secs(60), || {
        let v = futures_block(survey::return_visits(store.pool(), true, 10));
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(visits[0].sms_id, ids[1]);
    assert_eq!(visits[0].ticket_id.as_deref(), Some("GD0042"));
    assert!(smsc.send_mo("8613800138009", "请问进度？"));
    let kept = wait_for("the unmatched reply", Duration::from_secs(60), || {
        let v = futures_block(survey::unmatched(store.pool(), 10));
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(kept[0].body, "请问进度？");
    assert_eq!(kept[0].source, "smpp");
    assert_eq!(smsc.binds(), 1, "one session throughout");
    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");
}

/// Runs a store query from the blocking poll loop.
fn futures_block<T>(f: impl std::future::Future<Output = Result<T, rexian::sms::SmsError>>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_link_is_rebound_and_nothing_is_lost() {
    let smsc = FakeSmsc::start_dropping("secret", Some(3));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rexian.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sms]\nretry_base_secs = 1\nretry_max_secs = 2\n[sms.smpp]\naddr = \"{}\"\n\
             system_id = \"rexian\"\npassword = \"secret\"\nsource_addr = \"12345\"\n\
             delivery_receipts = false\n",
            smsc.addr
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let store = Store::open(&Store::sqlite_url(&daemon.data_dir()))
        .await
        .unwrap();
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let msg = NewSms {
            phone: Pii::new(format!("1370013{i:04}")),
            kind: SmsKind::YellowWarning,
            body: format!("【12345热线】黄灯预警：工单GD{i:04}即将到期。"),
            ticket_id: None,
        };
        ids.push(enqueue(&mut tx, msg).await.unwrap());
    }
    tx.commit().await.unwrap();
    for id in &ids {
        wait_state(&store, id, "submitted").await;
    }
    let got: Vec<String> = smsc.received().into_iter().map(|r| r.rexian_id).collect();
    for id in &ids {
        let n = got.iter().filter(|g| *g == id).count();
        assert!(n >= 1, "{id} never reached the SMSC");
    }
    assert_eq!(
        got.len(),
        ids.len() + 1,
        "only the unanswered one again: {got:?}"
    );
    assert_eq!(
        got.iter().filter(|g| **g == got[2]).count(),
        2,
        "the submit cut off is the one repeated: {got:?}"
    );
    assert_eq!(smsc.binds(), 2, "bound again after the drop");
    assert!(daemon.terminate().success());
}
