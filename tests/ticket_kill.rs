//! A SIGKILL at an arbitrary moment of ticket traffic leaves every ticket consistent: its
//! history numbered 1..n without gaps, replayable, and its projection equal to the replay.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use rexian::store::tickets::state_key;
use rexian::store::Store;
use support::Daemon;

fn post(addr: SocketAddr, path: &str, token: &str, body: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.get(9..12)?.parse().ok()?;
    Some((status, buf.split_once("\r\n\r\n")?.1.to_string()))
}

fn token(d: &Daemon, role: &str, id: &str) -> String {
    let out = d.cli(&["token", "create", "--role", role, "--id", id]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_kill_mid_traffic_leaves_every_ticket_and_its_history_consistent() {
    let mut d = Daemon::start(&[]);
    let admin = token(&d, "admin", "root");
    let agent = token(&d, "agent", "7001");
    let unit = token(&d, "unit", "u1");
    let (st, _) = post(
        d.http,
        "/api/v1/units",
        &admin,
        r#"{"id":"u1","name":"单位"}"#,
    )
    .unwrap();
    assert_eq!(st, 201);

    let created = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (enough_tx, enough_rx) = mpsc::channel();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (addr, agent, unit) = (d.http, agent.clone(), unit.clone());
        let (created, stop, enough_tx) = (created.clone(), stop.clone(), enough_tx.clone());
        workers.push(std::thread::spawn(move || {
            let body =
                r#"{"type":"help","facts":"路灯不亮","contact":"13800138000","dispatch_to":"u1"}"#;
            while !stop.load(Ordering::Relaxed) {
                let Some((201, t)) = post(addr, "/api/v1/tickets", &agent, body) else {
                    return;
                };
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                let id = v["id"].as_str().unwrap().to_string();
                if created.fetch_add(1, Ordering::SeqCst) + 1 == 40 {
                    let _ = enough_tx.send(());
                }
                for (path, b) in [
                    ("sign", "{}"),
                    ("handle", r#"{"summary":"已修复"}"#),
                    ("reply", "{}"),
                ] {
                    if post(addr, &format!("/api/v1/tickets/{id}/{path}"), &unit, b).is_none() {
                        return;
                    }
                }
            }
        }));
    }
    // Kill while the workers are still writing.
    enough_rx.recv().expect("workers created 40 tickets");
    d.child.kill().expect("SIGKILL");
    d.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&Store::sqlite_url(&d.data_dir()))
            .await
            .unwrap();
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM tickets ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(ids.len() >= 40, "{} tickets", ids.len());
        for id in &ids {
            let h = store.history(id).await.unwrap();
            let seqs: Vec<i64> = h.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, (1..=h.len() as i64).collect::<Vec<_>>(), "{id}");
            let row = store.ticket(id).await.unwrap().unwrap();
            assert_eq!(
                row.seq,
                h.len() as i64,
                "{id}: projection behind its history"
            );
            let folded = store.ticket_state(id).await.unwrap();
            assert_eq!(row.status, state_key(folded.state), "{id}");
            assert_eq!(
                row.lead_unit.as_deref(),
                folded.unit.as_ref().map(|u| u.0.as_str()),
                "{id}"
            );
        }
        // Orphan history rows (a history without its ticket) cannot exist either.
        let orphans: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ticket_events WHERE ticket_id NOT IN (SELECT id FROM tickets)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(orphans, 0);
    });
}
