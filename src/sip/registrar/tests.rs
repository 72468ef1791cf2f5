//! Tests of the registrar on a virtual clock: authentication flow, bindings, expiry, NAT.

use super::*;
use crate::sip::digest::{
    parse_auth_params, response_digest, Algorithm, DigestConfig, QopAuth, WallAnchor,
};
use crate::sip::lockout::LockoutConfig;
use crate::sip::message::{CSeq, Headers, Param, Via};
use crate::sip::peer::{ConnId, Transport};

const DOMAIN: &str = "rexian.example.cn";

use crate::sip::digest::test_origin as origin;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn registrar(t0: Instant, lockout: LockoutConfig) -> Registrar {
    let anchor = WallAnchor {
        instant: t0,
        unix_secs: 1_790_000_000,
    };
    let digest = DigestAuth::new(DigestConfig::new(
        "rexian",
        b"registrar test secret",
        anchor,
        [3; 32],
    ));
    Registrar::new(RegistrarConfig::default(), digest, Lockout::new(lockout))
}

fn account(user: &str, pw: &str) -> AccountCredentials {
    AccountCredentials::from_password(user, "rexian", pw)
}

fn udp(addr: &str) -> Peer {
    Peer::udp(addr.parse().expect("test address"))
}

fn contact(user: &str, host: &str, expires: Option<u32>, q: Option<&str>) -> ContactEntry {
    let mut uri = Uri::sip(Some(user), host, Some(5060));
    if host.starts_with("tcp") {
        uri.params.push(Param::new("transport", Some("tcp".into())));
    }
    ContactEntry::Contact(ContactSpec {
        uri,
        expires,
        q: q.map(|q| Q::parse(q).expect("test q")),
    })
}

/// A phone registering one AOR, answering challenges with SHA-256 digest.
struct Phone {
    user: String,
    password: String,
    call_id: String,
    cseq: u32,
    peer: Peer,
    nonce: Option<String>,
    nc: u32,
}

impl Phone {
    fn new(user: &str, password: &str, peer: Peer) -> Phone {
        Phone {
            user: user.into(),
            password: password.into(),
            call_id: format!("{user}-reg@phone"),
            cseq: 0,
            peer,
            nonce: None,
            nc: 0,
        }
    }

    fn request(&mut self, expires: Option<u32>) -> Request {
        self.cseq += 1;
        let mut headers = Headers::new();
        if let Some(e) = expires {
            headers.push("Expires", e.to_string());
        }
        let mut from = NameAddr::new(Uri::sip(Some(&self.user), DOMAIN, None));
        from.set_tag("ph1");
        Request {
            method: Method::Register,
            uri: Uri::sip(None, DOMAIN, None),
            via: vec![Via {
                transport: "UDP".into(),
                host: "192.168.1.20".into(),
                port: Some(5060),
                params: vec![Param::new("branch", Some(format!("z9hG4bK{}", self.cseq)))],
            }],
            from,
            to: NameAddr::new(Uri::sip(Some(&self.user), DOMAIN, None)),
            call_id: self.call_id.clone(),
            cseq: CSeq {
                seq: self.cseq,
                method: Method::Register,
            },
            max_forwards: Some(70),
            headers,
            body: Default::default(),
        }
    }

    fn authorize(&mut self, req: &mut Request) {
        let Some(nonce) = self.nonce.clone() else {
            return;
        };
        self.nc += 1;
        let nc = format!("{:08x}", self.nc);
        let uri = req.uri.to_string();
        let ha1 = account(&self.user, &self.password).ha1_sha256;
        let q = QopAuth {
            nc: &nc,
            cnonce: "abc123",
        };
        let resp = response_digest(Algorithm::Sha256, &ha1, &nonce, Some(q), "REGISTER", &uri);
        req.headers.push(
            "Authorization",
            format!(
                "Digest username=\"{}\", realm=\"rexian\", nonce=\"{nonce}\", uri=\"{uri}\", \
                 response=\"{resp}\", algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"abc123\"",
                self.user
            ),
        );
    }

    /// Sends REGISTER, answering up to two challenges, and returns the last response.
    fn register(
        &mut self,
        reg: &mut Registrar,
        now: Instant,
        contacts: &[ContactEntry],
        expires: Option<u32>,
        acct: Option<&AccountCredentials>,
    ) -> Response {
        for _ in 0..3 {
            let mut req = self.request(expires);
            self.authorize(&mut req);
            let resp = reg.handle_register(now, &req, self.peer, contacts, acct);
            if resp.status != 401 {
                return resp;
            }
            self.nonce = Some(nonce_of(&resp));
            self.nc = 0;
        }
        panic!("still challenged after three rounds");
    }

    /// One authenticated attempt, fetching a nonce first when the phone has none.
    fn attempt(
        &mut self,
        reg: &mut Registrar,
        now: Instant,
        acct: Option<&AccountCredentials>,
    ) -> Response {
        if self.nonce.is_none() {
            let req = self.request(None);
            self.nonce = Some(nonce_of(&reg.handle_register(
                now,
                &req,
                self.peer,
                &[],
                None,
            )));
        }
        let mut req = self.request(None);
        self.authorize(&mut req);
        reg.handle_register(now, &req, self.peer, &[], acct)
    }
}

fn nonce_of(resp: &Response) -> String {
    let c = resp.headers.get("WWW-Authenticate").expect("a challenge");
    let params = parse_auth_params(c.trim_start_matches("Digest")).expect("our own syntax");
    params
        .into_iter()
        .find(|(n, _)| n == "nonce")
        .expect("nonce param")
        .1
}

fn contact_values(resp: &Response) -> Vec<&str> {
    resp.headers.get_all("Contact").collect()
}

#[test]
fn register_without_credentials_is_challenged_md5_then_sha256() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let req = phone.request(None);
    let resp = reg.handle_register(t0, &req, phone.peer, &[], None);
    assert_eq!(resp.status, 401);
    let ch: Vec<_> = resp.headers.get_all("WWW-Authenticate").collect();
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=MD5") && ch[1].contains("algorithm=SHA-256"));
    assert!(resp.to.tag().is_some());
    assert_eq!(reg.metrics().challenges, 1);
}

#[test]
fn binding_with_several_contacts_lists_all_with_remaining_expires() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let contacts = [
        contact("1001", "192.168.1.20", None, Some("0.5")),
        contact("1001", "192.168.1.21", Some(120), Some("1")),
    ];
    let resp = phone.register(&mut reg, t0, &contacts, Some(600), Some(&acct));
    assert_eq!(resp.status, 200);
    assert_eq!(
        contact_values(&resp),
        [
            "<sip:1001@192.168.1.21:5060>;expires=120;q=1",
            "<sip:1001@192.168.1.20:5060>;expires=600;q=0.5",
        ]
    );
    let live = reg.contacts_for("1001", t0 + secs(30));
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].contact.host, "192.168.1.21");
    assert_eq!(reg.metrics().registrations, 1);
    // A query (no Contact) lists the bindings with what remains of them.
    let resp = phone.register(&mut reg, t0 + secs(100), &[], None, Some(&acct));
    assert_eq!(
        contact_values(&resp),
        [
            "<sip:1001@192.168.1.21:5060>;expires=20;q=1",
            "<sip:1001@192.168.1.20:5060>;expires=500;q=0.5",
        ]
    );
}

#[test]
fn refresh_extends_the_same_binding() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let c = [contact("1001", "192.168.1.20", None, None)];
    phone.register(&mut reg, t0, &c, Some(300), Some(&acct));
    let resp = phone.register(&mut reg, t0 + secs(200), &c, Some(300), Some(&acct));
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.20:5060>;expires=300"]
    );
    let live = reg.contacts_for("1001", t0 + secs(400));
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].expires_at, t0 + secs(500));
}

#[test]
fn bindings_expire_by_time() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let c = [
        contact("1001", "192.168.1.20", Some(60), None),
        contact("1001", "192.168.1.21", Some(120), None),
    ];
    phone.register(&mut reg, t0, &c, None, Some(&acct));
    assert_eq!(reg.next_expiry(), Some(t0 + secs(60)));
    assert!(reg.expire(t0 + secs(59)).is_empty());
    assert_eq!(reg.contacts_for("1001", t0 + secs(60)).len(), 1);
    let gone = reg.expire(t0 + secs(60));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, "1001");
    assert_eq!(reg.next_expiry(), Some(t0 + secs(120)));
    reg.expire(t0 + secs(120));
    assert_eq!(reg.next_expiry(), None);
    assert_eq!(reg.binding_count(), 0);
    assert_eq!(reg.metrics().expired_bindings, 2);
}

#[test]
fn expires_zero_removes_a_contact_by_header_or_param() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let both = [
        contact("1001", "192.168.1.20", None, None),
        contact("1001", "192.168.1.21", None, None),
    ];
    phone.register(&mut reg, t0, &both, None, Some(&acct));
    let resp = phone.register(
        &mut reg,
        t0 + secs(1),
        &[contact("1001", "192.168.1.20", Some(0), None)],
        None,
        Some(&acct),
    );
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.21:5060>;expires=3599"]
    );
    let resp = phone.register(
        &mut reg,
        t0 + secs(2),
        &[contact("1001", "192.168.1.21", None, None)],
        Some(0),
        Some(&acct),
    );
    assert_eq!(resp.status, 200);
    assert!(contact_values(&resp).is_empty());
    assert!(reg.contacts_for("1001", t0 + secs(2)).is_empty());
}

#[test]
fn star_with_expires_zero_removes_all_and_otherwise_is_400() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let both = [
        contact("1001", "192.168.1.20", None, None),
        contact("1001", "192.168.1.21", None, None),
    ];
    phone.register(&mut reg, t0, &both, None, Some(&acct));
    let star = [ContactEntry::Star];
    let resp = phone.register(&mut reg, t0, &star, Some(60), Some(&acct));
    assert_eq!(resp.status, 400);
    let mixed = [ContactEntry::Star, both[0].clone()];
    assert_eq!(
        phone
            .register(&mut reg, t0, &mixed, Some(0), Some(&acct))
            .status,
        400
    );
    assert_eq!(reg.binding_count(), 2);
    let resp = phone.register(&mut reg, t0, &star, Some(0), Some(&acct));
    assert_eq!(resp.status, 200);
    assert_eq!(reg.binding_count(), 0);
}

#[test]
fn too_brief_interval_gets_423_with_min_expires_and_long_one_is_clamped() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let c = [contact("1001", "192.168.1.20", Some(30), None)];
    let resp = phone.register(&mut reg, t0, &c, None, Some(&acct));
    assert_eq!(resp.status, 423);
    assert_eq!(resp.headers.get("Min-Expires"), Some("60"));
    assert_eq!(reg.binding_count(), 0);
    let c = [contact("1001", "192.168.1.20", None, None)];
    let resp = phone.register(&mut reg, t0, &c, Some(86_400), Some(&acct));
    assert_eq!(
        contact_values(&resp),
        ["<sip:1001@192.168.1.20:5060>;expires=3600"]
    );
}

#[test]
fn out_of_order_cseq_in_same_call_id_is_rejected_and_changes_nothing() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let c = [contact("1001", "192.168.1.20", None, None)];
    phone.register(&mut reg, t0, &c, Some(600), Some(&acct));
    let stored = reg.contacts_for("1001", t0)[0].cseq;
    // A delayed REGISTER with an older CSeq in the same Call-ID.
    phone.cseq = stored - 1;
    let resp = phone.register(&mut reg, t0 + secs(5), &c, Some(0), Some(&acct));
    assert_eq!(resp.status, 500);
    assert_eq!(reg.contacts_for("1001", t0 + secs(5)).len(), 1);
    // Another Call-ID (another device or a reboot) may replace it whatever its CSeq.
    phone.call_id = "after-reboot".into();
    phone.cseq = 0;
    let resp = phone.register(&mut reg, t0 + secs(6), &c, Some(0), Some(&acct));
    assert_eq!(resp.status, 200);
    assert_eq!(reg.binding_count(), 0);
}

#[test]
fn nat_binding_keeps_the_source_peer() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let peer = Peer {
        transport: Transport::Tcp,
        addr: "203.0.113.50:49152".parse().expect("test address"),
        conn: Some(ConnId(42)),
    };
    let mut phone = Phone::new("1001", "pw", peer);
    let c = [contact("1001", "tcp-10.0.0.8", None, None)];
    assert_eq!(
        phone.register(&mut reg, t0, &c, None, Some(&acct)).status,
        200
    );
    let b = &reg.contacts_for("1001", t0)[0];
    assert_eq!(b.contact.host, "tcp-10.0.0.8");
    assert_eq!(b.peer, peer);
    // A refresh from a new NAT mapping moves the binding to the new hop.
    phone.peer = udp("203.0.113.50:50000");
    phone.register(&mut reg, t0 + secs(10), &c, None, Some(&acct));
    let live = reg.contacts_for("1001", t0 + secs(10));
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].peer, phone.peer);
    assert!(!format!("{live:?}").contains("1001"));
}

fn strip_nonce(resp: &Response) -> Vec<u8> {
    let text = String::from_utf8(resp.to_bytes()).expect("ascii");
    let n = nonce_of(resp);
    text.replace(&n, "NONCE").into_bytes()
}

#[test]
fn unknown_user_and_wrong_password_get_identical_responses_except_nonce() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let mut phone = Phone::new("1001", "guess", udp("198.51.100.7:5060"));
    let first = phone.request(None);
    phone.nonce = Some(nonce_of(&reg.handle_register(
        t0,
        &first,
        phone.peer,
        &[],
        None,
    )));
    let mut req = phone.request(None);
    phone.authorize(&mut req);
    let real = account("1001", "the real one");
    let wrong_pw = reg.handle_register(t0, &req, phone.peer, &[], Some(&real));
    let unknown = reg.handle_register(t0, &req, phone.peer, &[], None);
    assert_eq!(wrong_pw.status, 401);
    assert_ne!(nonce_of(&wrong_pw), nonce_of(&unknown));
    assert_eq!(strip_nonce(&wrong_pw), strip_nonce(&unknown));
    assert_eq!(reg.metrics().auth_failures, 2);
}

#[test]
fn five_failures_lock_the_pair_out_with_403_until_the_ban_ends() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut attacker = Phone::new("1001", "guess", udp("198.51.100.66:5060"));
    let mut t = t0;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        t += secs(10);
        statuses.push(attacker.attempt(&mut reg, t, Some(&acct)).status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 403]);
    assert_eq!(reg.metrics().lockouts, 1);
    // Unknown users from there are locked the same way; the right password doesn't help.
    attacker.password = "pw".into();
    assert_eq!(attacker.attempt(&mut reg, t, Some(&acct)).status, 403);
    assert_eq!(attacker.attempt(&mut reg, t, None).status, 403);
    // The real phone elsewhere is unaffected.
    let mut real = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    assert_eq!(
        real.register(&mut reg, t, &[], None, Some(&acct)).status,
        200
    );
    // After 15 minutes the pair is released.
    let later = t + secs(15 * 60);
    assert_eq!(
        attacker
            .register(&mut reg, later, &[], None, Some(&acct))
            .status,
        200
    );
    let events = reg.drain_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == SecurityEventKind::LockedOut)
            .count(),
        1
    );
    assert!(events.iter().all(|e| !e.to_string().contains("1001")));
    assert!(reg.drain_events().is_empty());
}

#[test]
fn trunk_source_is_never_locked_out() {
    let t0 = origin();
    let trunk = udp("10.20.0.1:5060");
    let mut reg = registrar(
        t0,
        LockoutConfig {
            exempt: vec![trunk.addr.ip()],
            ..LockoutConfig::default()
        },
    );
    let acct = account("trunk1", "pw");
    let mut bad = Phone::new("trunk1", "old password", trunk);
    for i in 0..10 {
        let status = bad.attempt(&mut reg, t0 + secs(i), Some(&acct)).status;
        assert_eq!(status, 401);
    }
    assert_eq!(reg.metrics().lockouts, 0);
}

#[test]
fn expired_nonce_gets_stale_challenge_and_phone_recovers() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let c = [contact("1001", "192.168.1.20", None, None)];
    phone.register(&mut reg, t0, &c, Some(600), Some(&acct));
    // Ten minutes later the phone reuses its nonce.
    let mut req = phone.request(Some(600));
    phone.authorize(&mut req);
    let resp = reg.handle_register(t0 + secs(600), &req, phone.peer, &c, Some(&acct));
    assert_eq!(resp.status, 401);
    assert!(resp
        .headers
        .get_all("WWW-Authenticate")
        .all(|v| v.ends_with("stale=true")));
    assert_eq!(reg.metrics().stale_nonces, 1);
    assert_eq!(reg.metrics().auth_failures, 0);
    let resp = phone.register(&mut reg, t0 + secs(600), &c, Some(600), Some(&acct));
    assert_eq!(resp.status, 200);
}

#[test]
fn account_cannot_register_someone_elses_aor() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let mut req = phone.request(None);
    phone.nonce = Some(nonce_of(&reg.handle_register(
        t0,
        &req,
        phone.peer,
        &[],
        None,
    )));
    req = phone.request(None);
    req.to.uri.user = Some("1002".into());
    phone.authorize(&mut req);
    let resp = reg.handle_register(t0, &req, phone.peer, &[], Some(&acct));
    assert_eq!(resp.status, 403);
}

#[test]
fn malformed_authorization_gets_400_and_wrong_method_405() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let mut req = phone.request(None);
    req.headers
        .push("Authorization", "Digest username=\"unterminated");
    assert_eq!(
        reg.handle_register(t0, &req, phone.peer, &[], None).status,
        400
    );
    assert_eq!(auth_username(&req), None);
    let mut req = phone.request(None);
    req.method = Method::Options;
    let resp = reg.handle_register(t0, &req, phone.peer, &[], None);
    assert_eq!(resp.status, 405);
    assert_eq!(resp.headers.get("Allow"), Some("REGISTER"));
}

#[test]
fn auth_username_reads_the_authorization_header() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let req = phone.request(None);
    assert_eq!(auth_username(&req), None);
    phone.nonce = Some(nonce_of(&reg.handle_register(
        t0,
        &req,
        phone.peer,
        &[],
        None,
    )));
    let mut req = phone.request(None);
    phone.authorize(&mut req);
    assert_eq!(auth_username(&req).as_deref(), Some("1001"));
}

#[test]
fn contact_params_and_qvalues_parse() {
    let mut na = NameAddr::new(Uri::sip(Some("1001"), "192.168.1.20", None));
    na.params
        .push(Param::new("expires", Some("99999999999".into())));
    na.params.push(Param::new("q", Some("0.25".into())));
    let spec = ContactSpec::from_name_addr(&na).expect("valid contact");
    assert_eq!(spec.expires, Some(u32::MAX));
    assert_eq!(spec.q, Q::parse("0.250"));
    assert_eq!(spec.q.map(|q| q.to_string()).as_deref(), Some("0.25"));
    na.params[0].value = Some("soon".into());
    assert_eq!(
        ContactSpec::from_name_addr(&na),
        Err(ContactError::BadExpires)
    );
    for bad in ["", "2", "1.5", "0.1234", "-0", "0.x", ".5"] {
        assert_eq!(Q::parse(bad), None, "{bad}");
    }
    assert_eq!(Q::parse("1.000").map(Q::thousandths), Some(1000));
    assert_eq!(Q::parse("0").map(|q| q.to_string()).as_deref(), Some("0"));
}

#[test]
fn closed_connection_drops_its_bindings_only() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let tcp = Peer {
        transport: Transport::Tcp,
        addr: "203.0.113.50:49152".parse().expect("test address"),
        conn: Some(ConnId(7)),
    };
    let mut a = Phone::new("1001", "pw", tcp);
    let mut b = Phone::new("1002", "pw", udp("203.0.113.51:5060"));
    let c = [contact("x", "tcp-10.0.0.8", None, None)];
    a.register(&mut reg, t0, &c, None, Some(&account("1001", "pw")));
    b.register(&mut reg, t0, &c, None, Some(&account("1002", "pw")));
    assert!(reg.drop_connection(ConnId(8)).is_empty());
    let gone = reg.drop_connection(ConnId(7));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, "1001");
    assert_eq!(reg.binding_count(), 1);
}

#[test]
fn forged_nonce_is_rechallenged_without_counting_a_failure() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    phone.nonce = Some("00".repeat(32));
    for _ in 0..10 {
        let mut req = phone.request(None);
        phone.authorize(&mut req);
        let resp = reg.handle_register(t0, &req, phone.peer, &[], Some(&acct));
        assert_eq!(resp.status, 401);
        assert!(!resp
            .headers
            .get("WWW-Authenticate")
            .unwrap_or("")
            .contains("stale"));
    }
    let m = reg.metrics();
    assert_eq!((m.bad_nonces, m.auth_failures, m.lockouts), (10, 0, 0));
    assert!(reg.drain_events().is_empty());
}

#[test]
fn credentials_for_our_realm_are_chosen_among_several() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let first = phone.request(None);
    phone.nonce = Some(nonce_of(&reg.handle_register(
        t0,
        &first,
        phone.peer,
        &[],
        None,
    )));
    let mut req = phone.request(None);
    req.headers.push(
        "Authorization",
        "Digest username=\"other\", realm=\"elsewhere\", nonce=\"n\", uri=\"u\", response=\"r\"",
    );
    phone.authorize(&mut req);
    assert_eq!(auth_username(&req).as_deref(), Some("other"));
    assert_eq!(reg.auth_username(&req).as_deref(), Some("1001"));
    let c = [contact("1001", "192.168.1.20", None, None)];
    assert_eq!(
        reg.handle_register(t0, &req, phone.peer, &c, Some(&acct))
            .status,
        200
    );
}

#[test]
fn overlong_username_is_a_bad_request() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let mut req = phone.request(None);
    req.headers.push(
        "Authorization",
        format!(
            "Digest username=\"{}\", realm=\"rexian\", nonce=\"n\", uri=\"u\", response=\"r\"",
            "9".repeat(200)
        ),
    );
    assert_eq!(
        reg.handle_register(t0, &req, phone.peer, &[], None).status,
        400
    );
    assert!(reg.lockout().is_empty());
}

#[test]
fn required_extension_gets_420_with_unsupported() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let mut phone = Phone::new("1001", "pw", udp("198.51.100.7:5060"));
    let mut req = phone.request(None);
    req.headers.push("Require", "path, gruu");
    let resp = reg.handle_register(t0, &req, phone.peer, &[], None);
    assert_eq!(resp.status, 420);
    assert_eq!(resp.headers.get("Unsupported"), Some("path, gruu"));
}

fn binding_at(contact: &str, peer: Peer) -> Binding {
    let uri = match crate::sip::header::parse_contact(contact) {
        Ok(crate::sip::header::Contact::Addrs(mut v)) => v.remove(0).uri,
        _ => unreachable!("a literal contact"),
    };
    let t0 = origin();
    Binding {
        contact: uri,
        q: None,
        expires_at: t0,
        call_id: "c".into(),
        cseq: 1,
        peer,
        updated_at: t0,
    }
}

#[test]
fn requests_go_to_the_register_source_behind_nat_and_to_the_contact_otherwise() {
    let behind_nat = binding_at("<sip:7001@192.168.1.20:5060>", udp("203.0.113.5:40000"));
    assert_eq!(behind_nat.target(), udp("203.0.113.5:40000"));
    let direct = binding_at("<sip:7001@198.51.100.7:5062>", udp("198.51.100.7:40000"));
    assert_eq!(direct.target(), udp("198.51.100.7:5062"));
    let default_port = binding_at("<sip:7001@198.51.100.7>", udp("198.51.100.7:40000"));
    assert_eq!(default_port.target(), udp("198.51.100.7:5060"));
    let tcp = Peer {
        transport: crate::sip::peer::Transport::Tcp,
        addr: "198.51.100.7:40000".parse().unwrap(),
        conn: Some(crate::sip::peer::ConnId(3)),
    };
    let over_tcp = binding_at("<sip:7001@198.51.100.7:5062;transport=tcp>", tcp);
    assert_eq!(over_tcp.target(), tcp, "the REGISTER's connection");
}

#[test]
fn an_agents_invite_is_challenged_407_and_passes_with_proxy_credentials() {
    let t0 = origin();
    let mut reg = registrar(t0, LockoutConfig::default());
    let acct = account("1001", "pw");
    let peer = udp("198.51.100.7:5060");
    let mut invite = Phone::new("1001", "pw", peer).request(None);
    invite.method = Method::Invite;
    invite.cseq.method = Method::Invite;
    invite.uri = Uri::sip(Some("*21"), DOMAIN, None);
    let refused = reg
        .authenticate(t0, &invite, peer, None, Challenge::Proxy)
        .unwrap_err();
    assert_eq!(refused.status, 407);
    let challenge = refused.headers.get("Proxy-Authenticate").unwrap();
    assert!(refused.headers.get("WWW-Authenticate").is_none());
    let at = challenge.find("nonce=\"").unwrap() + 7;
    let nonce = &challenge[at..at + challenge[at..].find('"').unwrap()];
    let uri = invite.uri.to_string();
    let q = QopAuth {
        nc: "00000001",
        cnonce: "c1",
    };
    let digest = response_digest(
        Algorithm::Sha256,
        &acct.ha1_sha256,
        nonce,
        Some(q),
        "INVITE",
        &uri,
    );
    invite.headers.push(
        "Proxy-Authorization",
        format!(
            "Digest username=\"1001\", realm=\"rexian\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{digest}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c1\""
        ),
    );
    assert_eq!(
        reg.auth_username_for(&invite, Challenge::Proxy).as_deref(),
        Some("1001")
    );
    assert_eq!(
        reg.authenticate(t0, &invite, peer, Some(&acct), Challenge::Proxy),
        Ok("1001".to_string())
    );
}
