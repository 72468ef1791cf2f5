//! Outbound call records on both real backends: written with direction `outbound` and the
//! ticket they were about; citizens' calls stay `inbound` with no ticket.

mod store_support;

use rexian::store::calls::CallRecordRow;
use rexian::store::Store;
use store_support::{postgres_store, sqlite_store};

fn row(id: &str) -> CallRecordRow {
    CallRecordRow {
        id: id.into(),
        line: "12345".into(),
        line_name: "outbound/phone".into(),
        dialled: "13800138000".into(),
        trunk: Some("loopback".into()),
        caller: "13800138000".into(),
        caller_kind: "mobile".into(),
        arrived_ms: 1_790_000_000_000,
        queue: None,
        queued_ms: None,
        wait_ms: None,
        ring_attempts: 1,
        agent: Some("7001".into()),
        answered_ms: Some(1_790_000_008_000),
        ended_ms: 1_790_000_068_000,
        hangup_cause: "agent_hangup".into(),
        recording: None,
        recording_secs: None,
        abandoned: false,
        rating: None,
        callback_requested: false,
        service_level_met: false,
    }
}

async fn outbound_records(store: &Store) {
    let out = row("c0ffee00-0000-4000-8000-0000000000a1");
    store
        .insert_outbound_record(&out, Some("T-42"))
        .await
        .unwrap();
    assert!(
        store.insert_outbound_record(&out, None).await.is_err(),
        "a call is recorded once"
    );
    assert_eq!(store.call_record(&out.id).await.unwrap(), Some(out.clone()));
    assert_eq!(
        store.call_direction(&out.id).await.unwrap(),
        Some(("outbound".into(), Some("T-42".into())))
    );
    let inbound = row("c0ffee00-0000-4000-8000-0000000000a2");
    store.insert_call_record(&inbound).await.unwrap();
    assert_eq!(
        store.call_direction(&inbound.id).await.unwrap(),
        Some(("inbound".into(), None))
    );
    assert_eq!(store.call_direction("nope").await.unwrap(), None);
}

#[tokio::test]
async fn sqlite_outbound_records_carry_direction_and_ticket() {
    let (store, _dir) = sqlite_store().await;
    outbound_records(&store).await;
}

#[tokio::test]
async fn postgres_outbound_records_carry_direction_and_ticket() {
    outbound_records(&postgres_store().await).await;
}
