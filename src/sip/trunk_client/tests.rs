//! Registration and health checks on a virtual clock, with a carrier played by hand.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::digest::{
    test_origin, AccountCredentials, DigestAuth, DigestConfig, DigestCredentials, Verdict,
    WallAnchor,
};
use crate::sip::message::SipMessage;
use crate::sip::parse::{parse, Limits};
use crate::sip::transaction::{TransactionConfig, TxEvent};

const CARRIER: &str = "10.20.0.5:5060";

fn spec(register: bool, options: Option<u64>) -> TrunkSpec {
    TrunkSpec {
        name: "unicom".into(),
        peer: Peer::udp(CARRIER.parse().unwrap()),
        host: "10.20.0.5".into(),
        port: 5060,
        local: "10.20.0.1:5060".parse().unwrap(),
        credentials: Some(ClientCredentials {
            username: "0398123450".into(),
            password: "trunk-pw".into(),
            realm: None,
        }),
        register,
        options_interval: options.map(Duration::from_secs),
    }
}

struct Harness {
    now: Instant,
    txl: TransactionLayer,
    tc: TrunkClients,
    events: Vec<TrunkEvent>,
    /// The carrier's digest server.
    server: DigestAuth,
}

impl Harness {
    fn new(specs: Vec<TrunkSpec>) -> Harness {
        let now = test_origin();
        let anchor = WallAnchor {
            instant: now,
            unix_secs: 1_700_000_000,
        };
        let mut h = Harness {
            now,
            txl: TransactionLayer::new(TransactionConfig::default()),
            tc: TrunkClients::new(TrunkTiming::default()),
            events: Vec::new(),
            server: DigestAuth::new(DigestConfig::new("carrier", &[9; 32], anchor, [3; 32])),
        };
        h.tc.set_trunks(now, &mut h.txl, specs);
        h.tick();
        h
    }

    fn pump(&mut self) {
        while let Some(ev) = self.txl.poll_event() {
            match ev {
                TxEvent::Response { tx, resp } if self.tc.owns(tx) => {
                    self.tc.on_response(self.now, &mut self.txl, tx, &resp)
                }
                TxEvent::Timeout { tx } => self.tc.on_failure(self.now, tx, false),
                TxEvent::TransportError { tx } => self.tc.on_failure(self.now, tx, true),
                _ => {}
            }
        }
        while let Some(e) = self.tc.poll_event() {
            self.events.push(e);
        }
    }

    fn tick(&mut self) {
        self.txl.handle_timeout(self.now);
        self.tc.handle_timeout(self.now, &mut self.txl);
        self.pump();
    }

    /// Moves the clock to `at`, firing every deadline on the way.
    fn advance_to(&mut self, at: Instant) {
        while let Some(t) = [self.txl.poll_timeout(), self.tc.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= at)
        {
            self.now = self.now.max(t);
            self.tick();
        }
        self.now = at;
        self.tick();
    }

    fn advance(&mut self, d: Duration) {
        let at = self.now + d;
        self.advance_to(at);
    }

    /// Requests sent since the last call (retransmissions included).
    fn sent(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        while let Some(t) = self.txl.poll_transmit() {
            if let Ok(SipMessage::Request(r)) = parse(&t.bytes, &Limits::default()) {
                out.push(r);
            }
        }
        out
    }

    fn answer(&mut self, req: &Request, status: u16, extra: &[(&str, String)]) {
        let mut resp = req.response(status);
        resp.to.set_tag("carrier1");
        for (n, v) in extra {
            resp.headers.push(*n, v.clone());
        }
        let msg = parse(&resp.to_bytes(), &Limits::default()).expect("our response parses");
        self.txl
            .receive(self.now, msg, Peer::udp(CARRIER.parse().unwrap()));
        self.pump();
    }

    /// The carrier: challenge a REGISTER without credentials, check the ones given.
    fn carrier_register(&mut self, req: &Request, expires: u32) {
        match req.headers.get("Authorization") {
            None => {
                let ch = self.server.challenges(self.now, false).remove(0);
                self.answer(req, 401, &[("WWW-Authenticate", ch)]);
            }
            Some(v) => {
                let creds = DigestCredentials::parse(v).expect("credentials parse");
                let account =
                    AccountCredentials::from_password("0398123450", "carrier", "trunk-pw");
                let uri = req.uri.to_string();
                let ok = self
                    .server
                    .verify(self.now, &creds, "REGISTER", &uri, Some(&account));
                assert_eq!(ok, Verdict::Ok);
                let contact = format!("{};expires={expires}", req.headers.get("Contact").unwrap());
                self.answer(req, 200, &[("Contact", contact)]);
            }
        }
    }

    fn status(&self) -> TrunkStatus {
        self.tc.status(self.now).remove(0)
    }
}

fn only(reqs: Vec<Request>, method: Method) -> Vec<Request> {
    reqs.into_iter().filter(|r| r.method == method).collect()
}

#[test]
fn registers_with_digest_at_start_and_refreshes_at_half_the_granted_time() {
    let mut h = Harness::new(vec![spec(true, None)]);
    let regs = only(h.sent(), Method::Register);
    assert_eq!(regs.len(), 1, "one REGISTER at start");
    let first = regs[0].clone();
    assert_eq!(first.uri.to_string(), "sip:10.20.0.5:5060");
    assert_eq!(first.headers.get("Expires"), Some("3600"));
    assert_eq!(
        first.headers.get("Contact"),
        Some("<sip:0398123450@10.20.0.1:5060>")
    );
    h.carrier_register(&first, 600);
    let again = only(h.sent(), Method::Register);
    assert_eq!(again.len(), 1, "answered the 401");
    assert_eq!(again[0].call_id, first.call_id);
    assert_eq!(again[0].cseq.seq, first.cseq.seq + 1);
    assert_ne!(again[0].via[0].branch(), first.via[0].branch());
    h.carrier_register(&again[0], 600);
    assert_eq!(
        h.events,
        vec![TrunkEvent::Registration {
            trunk: "unicom".into(),
            registered: true
        }]
    );
    assert_eq!(h.status().registered, Some(true));
    assert_eq!(h.status().expires_in, Some(600));

    // Nothing until half of the granted 600 s…
    let start = h.now;
    h.advance(Duration::from_secs(299));
    assert!(only(h.sent(), Method::Register).is_empty());
    // …then a refresh on the same Call-ID.
    h.advance(Duration::from_secs(1));
    let refresh = only(h.sent(), Method::Register);
    assert_eq!(refresh.len(), 1);
    assert_eq!(h.now - start, Duration::from_secs(300));
    assert_eq!(refresh[0].call_id, first.call_id);
    assert!(refresh[0].cseq.seq > again[0].cseq.seq);
    h.carrier_register(&refresh[0], 600);
    let refresh = only(h.sent(), Method::Register);
    h.carrier_register(&refresh[0], 600);
    assert_eq!(h.events.len(), 1, "a refresh is no news");
    assert_eq!(h.status().expires_in, Some(600));

    // Shutdown: Expires 0, answered to its challenge too.
    h.tc.unregister_all(h.now, &mut h.txl);
    let bye = only(h.sent(), Method::Register);
    assert_eq!(bye[0].headers.get("Expires"), Some("0"));
    h.carrier_register(&bye[0], 0);
    let bye = only(h.sent(), Method::Register);
    assert_eq!(bye.len(), 1);
    h.carrier_register(&bye[0], 0);
    assert_eq!(h.status().registered, Some(false));
    assert_eq!(h.tc.poll_timeout(), None, "nothing more is sent");
}

#[test]
fn failed_registrations_are_retried_with_doubling_backoff() {
    let mut h = Harness::new(vec![spec(true, None)]);
    let mut gaps = Vec::new();
    let mut last = h.now;
    for _ in 0..9 {
        let regs = only(h.sent(), Method::Register);
        assert_eq!(regs.len(), 1);
        gaps.push((h.now - last).as_secs());
        last = h.now;
        h.answer(&regs[0], 403, &[]);
        let at = h.tc.poll_timeout().expect("a retry is scheduled");
        h.advance_to(at);
    }
    assert_eq!(gaps, [0, 5, 10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(h.status().registered, Some(false));
    assert!(h.events.is_empty());
    // A success resets the backoff.
    let regs = only(h.sent(), Method::Register);
    h.carrier_register(&regs[0], 120);
    let regs = only(h.sent(), Method::Register);
    h.carrier_register(&regs[0], 120);
    assert_eq!(h.status().registered, Some(true));
}

#[test]
fn a_second_challenge_a_timeout_and_a_lapse_are_failures() {
    let mut h = Harness::new(vec![spec(true, None)]);
    let regs = only(h.sent(), Method::Register);
    h.carrier_register(&regs[0], 60);
    let regs = only(h.sent(), Method::Register);
    h.carrier_register(&regs[0], 60);
    assert_eq!(h.status().registered, Some(true));
    // The refresh at 30 s is challenged twice: a failure, retried 5 s later.
    h.advance(Duration::from_secs(30));
    let regs = only(h.sent(), Method::Register);
    h.carrier_register(&regs[0], 60);
    let regs = only(h.sent(), Method::Register);
    let ch = h.server.challenges(h.now, false).remove(0);
    h.answer(&regs[0], 401, &[("WWW-Authenticate", ch)]);
    assert!(
        only(h.sent(), Method::Register).is_empty(),
        "no third try at once"
    );
    // From then on the carrier is silent: every retry times out (Timer F, 32 s), and the
    // registration lapses at 60 s.
    h.advance(Duration::from_secs(5));
    assert_eq!(only(h.sent(), Method::Register).len(), 1);
    h.advance(Duration::from_secs(25));
    assert_eq!(h.status().registered, Some(false));
    assert_eq!(
        h.events.last(),
        Some(&TrunkEvent::Registration {
            trunk: "unicom".into(),
            registered: false
        })
    );
    h.advance(Duration::from_secs(40));
    assert!(
        !only(h.sent(), Method::Register).is_empty(),
        "a retry after the timeout"
    );
}

#[test]
fn options_mark_a_trunk_down_and_up_and_ping_faster_while_down() {
    let mut h = Harness::new(vec![spec(false, Some(20))]);
    let pings = only(h.sent(), Method::Options);
    assert_eq!(pings.len(), 1, "a ping at start");
    assert_eq!(pings[0].uri.to_string(), "sip:10.20.0.5:5060");
    assert_eq!(h.status().up, None);
    // Any answer but a 5xx means up.
    h.answer(&pings[0], 404, &[]);
    assert_eq!(h.status().up, Some(true));
    h.advance(Duration::from_secs(19));
    assert!(only(h.sent(), Method::Options).is_empty());
    h.advance(Duration::from_secs(1));
    let pings = only(h.sent(), Method::Options);
    assert_eq!(pings.len(), 1, "every 20 s");
    // Unanswered for 5 s (retransmitted meanwhile): down.
    h.advance(Duration::from_secs(4));
    assert_eq!(h.status().up, Some(true));
    assert!(
        only(h.sent(), Method::Options).len() >= 2,
        "retransmissions"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(h.status().up, Some(false));
    // While down the trunk is pinged every 5 s, from the unanswered ping.
    let pings = only(h.sent(), Method::Options);
    assert!(
        pings.iter().all(|p| p.call_id == pings[0].call_id),
        "no new ping yet"
    );
    h.advance(Duration::from_secs(1));
    let pings = only(h.sent(), Method::Options);
    let fresh: Vec<_> = pings.iter().filter(|p| p.cseq.seq == 1).collect();
    assert!(!fresh.is_empty());
    // A 503 keeps it down; the next 200 brings it up.
    h.answer(fresh.last().unwrap(), 503, &[]);
    assert_eq!(h.status().up, Some(false));
    h.advance(Duration::from_secs(5));
    let pings = only(h.sent(), Method::Options);
    h.answer(pings.last().unwrap(), 200, &[]);
    assert_eq!(h.status().up, Some(true));
    let ups: Vec<bool> = h
        .events
        .iter()
        .map(|e| match e {
            TrunkEvent::Health { up, .. } => *up,
            TrunkEvent::Registration { .. } => unreachable!("no registration configured"),
        })
        .collect();
    assert_eq!(ups, [true, false, true]);
}

#[test]
fn a_late_answer_to_a_ping_given_up_on_does_not_count_and_a_reload_keeps_state() {
    let mut h = Harness::new(vec![spec(false, Some(30))]);
    let ping = only(h.sent(), Method::Options).remove(0);
    h.advance(Duration::from_secs(5));
    assert_eq!(h.status().up, Some(false));
    h.answer(&ping, 200, &[]);
    assert_eq!(h.status().up, Some(false), "the old ping no longer counts");
    // The same spec again (a reload that did not touch this trunk) keeps its state.
    h.sent();
    let (now, txl) = (h.now, &mut h.txl);
    h.tc.set_trunks(now, txl, vec![spec(false, Some(30))]);
    assert_eq!(h.status().up, Some(false));
    assert!(h.sent().is_empty());
    // Without an interval there are no pings and no state.
    let (now, txl) = (h.now, &mut h.txl);
    h.tc.set_trunks(now, txl, vec![spec(false, None)]);
    // (Pings already out are retransmitted until their transactions end.)
    h.advance(Duration::from_secs(40));
    h.sent();
    h.advance(Duration::from_secs(120));
    assert!(h.sent().is_empty());
    assert_eq!(h.status().up, None);
}
