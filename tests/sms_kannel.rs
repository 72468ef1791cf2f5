//! The SMS path through a real gateway: Debian's Kannel (bearerbox + smsbox) with the
//! `fakesmsc` SMSC simulator from `kannel-extras`. rexian submits through Kannel's `sendsms`,
//! fakesmsc receives the texts, Kannel calls rexian's `dlr-url` back, and a reply typed at
//! fakesmsc reaches the survey webhook through Kannel's `get-url`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rexian::pii::Pii;
use rexian::sms::outbox::{self, enqueue, NewSms, SmsKind};
use rexian::store::Store;
use support::{free_tcp_port, http_get, wait_for, Daemon, BIN};

const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

/// Child processes killed (by their own handle) when the test ends.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Lines a child prints, collected by a thread.
fn collect_output(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    for stream in [
        Box::new(out) as Box<dyn std::io::Read + Send>,
        Box::new(err) as Box<dyn std::io::Read + Send>,
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
    }
    lines
}

fn fakesmsc(port: u16, args: &[&str]) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut c = Command::new(FAKESMSC)
        .args(["-H", "127.0.0.1", "-r", &port.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fakesmsc (install kannel-extras)");
    let lines = collect_output(&mut c);
    (c, lines)
}

/// Decodes fakesmsc's `ucs-2` field: URL-encoded UTF-16BE (a 0x20 byte comes as `+`).
fn decode_ucs2(field: &str) -> String {
    let bytes =
        percent_encoding::percent_decode_str(&field.replace('+', "%20")).collect::<Vec<u8>>();
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// `Got message N: <from to type text>` lines fakesmsc printed, as (to, text).
fn received(lines: &Mutex<Vec<String>>) -> Vec<(String, String)> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| {
            let inner = l.split_once("Got message ")?.1.split_once(": <")?.1;
            let inner = inner.strip_suffix('>')?;
            let mut parts = inner.splitn(4, ' ');
            let (_from, to, kind, text) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let text = if kind == "ucs-2" {
                decode_ucs2(text)
            } else {
                text.to_string()
            };
            Some((to.to_string(), text))
        })
        .collect()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn token(data: &Path, role: &str, id: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "create", "--role", role, "--id", id, "--data"])
        .arg(data)
        .env("REXIAN_LOG", "warn")
        .output()
        .expect("rexian token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_through_kannel_and_receipts_and_replies_come_back() {
    let [admin, smsbox, fake, sendsms, http] = [(); 5].map(|_| free_tcp_port());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let gw_token = token(&data, "unit", "sms-gateway");
    let sup_token = token(&data, "supervisor", "s1");
    let base = format!("http://127.0.0.1:{http}");

    // Kannel, from the template under tests/data/kannel.
    let kdir = dir.path().join("kannel");
    std::fs::create_dir_all(&kdir).unwrap();
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kannel/kannel.conf.in"),
    )
    .unwrap();
    let conf = template
        .replace("@ADMIN_PORT@", &admin.to_string())
        .replace("@SMSBOX_PORT@", &smsbox.to_string())
        .replace("@FAKE_PORT@", &fake.to_string())
        .replace("@SENDSMS_PORT@", &sendsms.to_string())
        .replace("@DIR@", &kdir.display().to_string())
        .replace(
            "@INBOUND_URL@",
            &format!("{base}/api/v1/sms/inbound?token={gw_token}"),
        );
    let conf_path = kdir.join("kannel.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut procs = Procs(Vec::new());
    let spawn_box = |bin: &str| {
        Command::new(bin)
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("run {bin} (install kannel): {e}"))
    };
    procs.0.push(spawn_box("/usr/sbin/bearerbox"));
    wait_for(
        "bearerbox to listen for the fake SMSC",
        Duration::from_secs(20),
        || port_open(fake).then_some(()),
    );
    let (sim, sim_lines) = fakesmsc(fake, &["-m", "0", "1 2 text unused"]);
    let mut sim = Procs(vec![sim]);
    procs.0.push(spawn_box("/usr/sbin/smsbox"));
    wait_for("smsbox to offer sendsms", Duration::from_secs(20), || {
        port_open(sendsms).then_some(())
    });

    // rexian, with Kannel's sendsms as its HTTP gateway.
    let config = dir.path().join("rexian.toml");
    std::fs::write(
        &config,
        format!(
            r#"[sms]
rate_per_sec = 50
retry_base_secs = 1
retry_max_secs = 4

[sms.http]
url = "http://127.0.0.1:{sendsms}/cgi-bin/sendsms"
query = {{ username = "rexian", password = "rexian-pw", from = "12345", to = "{{to}}", text = "{{text}}", charset = "UTF-8", coding = "2", dlr-mask = "3", dlr-url = "{base}/api/v1/sms/dlr?token={gw_token}&id={{id}}&type=%d" }}
accept_status = [202]
"#
        ),
    )
    .unwrap();
    let daemon = Daemon::start_in_with_http(
        dir,
        &format!("127.0.0.1:{http}"),
        &["--config", config.to_str().unwrap()],
    );
    let store = Store::open(&Store::sqlite_url(&daemon.data_dir()))
        .await
        .unwrap();

    let msgs = [
        (
            "13800138000",
            SmsKind::TicketNumber,
            "【12345热线】您反映的诉求已受理，工单编号GD0001。",
        ),
        (
            "13800138001",
            SmsKind::DispatchReminder,
            "【12345热线】工单GD0001已派发至市住建局，请及时签收。",
        ),
        (
            "13800138002",
            SmsKind::YellowWarning,
            "【12345热线】黄灯预警：工单GD0002将于3月9日到期。",
        ),
        (
            "+8613800138003",
            SmsKind::Survey,
            "【12345热线】请评价：回复1满意，2基本满意，3不满意。",
        ),
    ];
    let mut tx = rexian::store::begin_write(store.pool()).await.unwrap();
    let mut ids = Vec::new();
    for (phone, kind, body) in msgs {
        ids.push(
            enqueue(
                &mut tx,
                NewSms {
                    phone: Pii::new(phone.to_string()),
                    kind,
                    body: body.to_string(),
                    ticket_id: Some("GD0001".to_string()),
                },
            )
            .await
            .unwrap(),
        );
    }
    tx.commit().await.unwrap();

    // Every text arrives at the simulated SMSC, in Chinese, to the right number.
    let got = wait_for(
        "fakesmsc to receive 4 messages",
        Duration::from_secs(60),
        || {
            let r = received(&sim_lines);
            (r.len() >= msgs.len()).then_some(r)
        },
    );
    let mut want: Vec<(String, String)> = msgs
        .iter()
        .map(|(p, _, b)| (p.trim_start_matches("+86").to_string(), b.to_string()))
        .collect();
    let mut got = got;
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // Kannel reports delivery (DLR type 1) to the dlr-url with our id.
    for id in &ids {
        let mut last = None;
        let done = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let m = outbox::get(store.pool(), id).await.unwrap().unwrap();
                if m.state == "delivered" {
                    return m;
                }
                last = Some(m.state.clone());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let m = done.unwrap_or_else(|_| panic!("no delivery report for {id}; state {last:?}"));
        assert_eq!(m.dlr_status.as_deref(), Some("delivered"));
    }

    // A handset answers 3 to the survey: a return-visit task appears for a supervisor. The
    // fake SMSC takes one simulator at a time, so the receiving one makes way.
    drop(Procs(std::mem::take(&mut sim.0)));
    let (mo, _mo_lines) = fakesmsc(fake, &["-m", "1", "13800138003 12345 text 3"]);
    procs.0.push(mo);
    let visits = wait_for(
        "a return-visit task from the reply",
        Duration::from_secs(60),
        || {
            let (status, body) =
                http_get(daemon.http, "/api/v1/sms/return-visits", Some(&sup_token));
            assert_eq!(status, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            (v.as_array().unwrap().len() == 1).then_some(v)
        },
    );
    assert_eq!(visits[0]["ticket_id"], "GD0001");
    assert_eq!(visits[0]["sms_id"], ids[3].as_str());
    assert_eq!(visits[0]["phone"], "13800138003");

    // The gateway endpoints refuse a request without the gateway's token.
    let (status, _) = http_get(daemon.http, "/api/v1/sms/dlr?id=x&type=1", None);
    assert_eq!(status, 401);
    let (status, _) = http_get(
        daemon.http,
        &format!("/api/v1/sms/dlr?id=x&type=1&token={sup_token}"),
        None,
    );
    assert_eq!(status, 403);
    let status = daemon.terminate();
    assert!(status.success(), "rexian exits 0 on SIGTERM: {status:?}");
    drop(procs);
}
