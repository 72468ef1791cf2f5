//! The outbound INVITE leg on a virtual clock, as when rexian rings an agent's phone: ringing,
//! reliable early media with PRACK, answer and ACK (again on a retransmitted 2xx), refusal,
//! CANCEL before the answer and the 2xx that crosses it, no answer at all.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rexian::sip::digest_client::ClientCredentials;
use rexian::sip::message::{Method, NameAddr, Request, SipMessage, Uri, Via};
use rexian::sip::parse::{parse, Limits};
use rexian::sip::peer::Peer;
use rexian::sip::session::uac::{OutboundCall, Phase, UacSession};
use rexian::sip::session::{EndCause, LegConfig, SessionEvent};
use rexian::sip::transaction::{TransactionConfig, TransactionLayer, TxEvent};

const PHONE: &str = "127.0.0.1:25060";
const OURS: &str = "v=0\r\no=rexian 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\n";
const THEIRS: &str = "v=0\r\no=phone 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";

struct Harness {
    txl: TransactionLayer,
    now: Instant,
    leg: UacSession,
    events: Vec<SessionEvent>,
    /// The INVITE as it reached the phone.
    invite: Request,
}

fn config() -> LegConfig {
    LegConfig {
        local_contact: NameAddr::new(Uri::sip(Some("rexian"), "127.0.0.1", Some(5060))),
        via: Via {
            transport: "UDP".into(),
            host: "127.0.0.1".into(),
            port: Some(5060),
            params: Vec::new(),
        },
        session_timer: Default::default(),
        timers: Default::default(),
        use_100rel: true,
        allow: "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE, INFO".into(),
        supported: "100rel, timer".into(),
    }
}

impl Harness {
    fn ring_agent() -> Harness {
        Harness::start(None)
    }

    fn start(credentials: Option<ClientCredentials>) -> Harness {
        let mut txl = TransactionLayer::new(TransactionConfig::default());
        // The one real clock reading: every later instant is this plus virtual time.
        let now = Instant::now();
        let call = OutboundCall {
            target: Uri::sip(Some("7001"), "127.0.0.1", Some(25060)),
            peer: Peer::udp(PHONE.parse().unwrap()),
            from: NameAddr::new(Uri::sip(Some("12345"), "127.0.0.1", None)),
            to: NameAddr::new(Uri::sip(Some("7001"), "127.0.0.1", None)),
            call_id: "agent-call-1".into(),
            sdp: Bytes::from_static(OURS.as_bytes()),
            headers: vec![("X-Rexian-Line".into(), "12345".into())],
            credentials,
        };
        let leg = UacSession::start(now, &mut txl, call, "ourtag", config()).unwrap();
        let mut h = Harness {
            txl,
            now,
            leg,
            events: Vec::new(),
            invite: Request::default_for_tests(),
        };
        h.invite = h.requests().remove(0);
        h
    }

    /// The phone answers the INVITE with `status` (tagged), plus `extra` headers and a body.
    fn reply(&mut self, status: u16, extra: &str, body: &str) {
        let inv = self.invite.clone();
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let text = format!(
            "SIP/2.0 {status} Whatever\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=phone1\r\n\
             Call-ID: {}\r\nCSeq: {} INVITE\r\nContact: <sip:7001@{PHONE}>\r\n{extra}{ct}\
             Content-Length: {}\r\n\r\n{body}",
            inv.via[0],
            inv.from,
            inv.to,
            inv.call_id,
            inv.cseq.seq,
            body.len()
        );
        self.deliver(&text);
    }

    fn deliver(&mut self, text: &str) {
        let msg = parse(text.as_bytes(), &Limits::default()).expect("test message parses");
        self.txl
            .receive(self.now, msg, Peer::udp(PHONE.parse().unwrap()));
        self.pump();
    }

    fn pump(&mut self) {
        while let Some(ev) = self.txl.poll_event() {
            match ev {
                TxEvent::Response { tx, resp } => {
                    self.leg.on_response(self.now, &mut self.txl, tx, &resp)
                }
                TxEvent::Request { tx, req, .. } => {
                    let rest = self.leg.on_request(self.now, &mut self.txl, tx, req);
                    assert!(rest.is_none());
                }
                TxEvent::Timeout { tx } if tx == self.leg.invite_tx() => {
                    self.leg.on_invite_failed(false)
                }
                _ => {}
            }
        }
        while let Some(e) = self.leg.poll_event() {
            self.events.push(e);
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = [self.txl.poll_timeout(), self.leg.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= end)
        {
            self.now = self.now.max(t);
            self.txl.handle_timeout(self.now);
            self.leg.handle_timeout(self.now, &mut self.txl);
            self.pump();
        }
        self.now = end;
    }

    fn requests(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        while let Some(t) = self.txl.poll_transmit() {
            if let Ok(SipMessage::Request(r)) = parse(&t.bytes, &Limits::default()) {
                out.push(r);
            }
        }
        out
    }
}

/// An empty request to fill a field until the real one is read back.
trait ForTests {
    fn default_for_tests() -> Self;
}

impl ForTests for Request {
    fn default_for_tests() -> Request {
        let m = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\nFrom: <sip:x@x>;tag=x\r\nTo: <sip:x@x>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        match parse(m.as_bytes(), &Limits::default()) {
            Ok(SipMessage::Request(r)) => r,
            _ => unreachable!("a literal valid request"),
        }
    }
}

fn methods(reqs: &[Request]) -> Vec<&str> {
    reqs.iter().map(|r| r.method.as_str()).collect()
}

#[test]
fn the_invite_offers_our_sdp_and_an_answered_call_is_acked_and_reacked() {
    let mut h = Harness::ring_agent();
    assert_eq!(h.invite.method, Method::Invite);
    assert_eq!(&h.invite.body[..], OURS.as_bytes());
    assert_eq!(h.invite.headers.get("X-Rexian-Line"), Some("12345"));
    assert!(h.invite.headers.has_token("Supported", "100rel"));
    assert!(h.invite.headers.get("Session-Expires").is_some());
    assert!(h.invite.via[0].branch().unwrap().starts_with("z9hG4bK"));
    h.reply(180, "", "");
    assert_eq!(h.leg.phase(), Phase::Early);
    h.reply(200, "Allow: INVITE, ACK, BYE, UPDATE\r\n", THEIRS);
    let sent = h.requests();
    assert_eq!(methods(&sent), ["ACK"]);
    assert_eq!(sent[0].to.tag(), Some("phone1"));
    assert_eq!(sent[0].uri.to_string(), format!("sip:7001@{PHONE}"));
    assert_eq!(
        h.events,
        vec![
            SessionEvent::Progress {
                status: 180,
                sdp: None
            },
            SessionEvent::Answered {
                sdp: Some(Bytes::from_static(THEIRS.as_bytes()))
            }
        ]
    );
    // Our ACK was lost: the phone sends the 2xx again and gets the ACK again.
    h.reply(200, "", THEIRS);
    assert_eq!(methods(&h.requests()), ["ACK"]);
    assert_eq!(h.events.len(), 2, "no second answer event");
    // The agent hangs up.
    h.deliver(&format!(
        "BYE sip:rexian@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bKbye\r\n\
         From: <sip:7001@127.0.0.1>;tag=phone1\r\nTo: {}\r\nCall-ID: agent-call-1\r\n\
         CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        h.invite.from
    ));
    assert_eq!(
        h.events.last(),
        Some(&SessionEvent::Ended {
            cause: EndCause::RemoteBye
        })
    );
}

#[test]
fn reliable_early_media_is_pracked_and_reported() {
    let mut h = Harness::ring_agent();
    h.reply(183, "Require: 100rel\r\nRSeq: 4711\r\n", THEIRS);
    let sent = h.requests();
    assert_eq!(methods(&sent), ["PRACK"]);
    assert_eq!(
        sent[0].headers.get("RAck"),
        Some(format!("4711 {} INVITE", h.invite.cseq.seq).as_str())
    );
    assert_eq!(
        h.events,
        vec![SessionEvent::Progress {
            status: 183,
            sdp: Some(Bytes::from_static(THEIRS.as_bytes()))
        }]
    );
}

#[test]
fn a_busy_agent_ends_the_leg_with_the_status() {
    let mut h = Harness::ring_agent();
    h.reply(486, "", "");
    assert_eq!(methods(&h.requests()), ["ACK"], "the layer ACKs a failure");
    assert_eq!(
        h.events,
        vec![SessionEvent::Ended {
            cause: EndCause::Rejected(486)
        }]
    );
}

#[test]
fn hanging_up_while_ringing_cancels_and_ends_on_the_487() {
    let mut h = Harness::ring_agent();
    h.reply(180, "", "");
    let now = h.now;
    h.leg.hangup(now, &mut h.txl);
    assert_eq!(methods(&h.requests()), ["CANCEL"]);
    assert!(h
        .events
        .iter()
        .all(|e| !matches!(e, SessionEvent::Ended { .. })));
    h.reply(487, "", "");
    assert_eq!(
        h.events.last(),
        Some(&SessionEvent::Ended {
            cause: EndCause::Local
        })
    );
}

#[test]
fn an_answer_that_crosses_our_cancel_is_acked_then_ended_with_bye() {
    let mut h = Harness::ring_agent();
    h.reply(180, "", "");
    let now = h.now;
    h.leg.hangup(now, &mut h.txl);
    h.requests();
    h.reply(200, "", THEIRS);
    assert_eq!(methods(&h.requests()), ["ACK", "BYE"]);
    assert_eq!(
        h.events.last(),
        Some(&SessionEvent::Ended {
            cause: EndCause::Local
        })
    );
}

#[test]
fn a_phone_that_never_answers_ends_the_leg_after_timer_b() {
    let mut h = Harness::ring_agent();
    h.advance(Duration::from_secs(33));
    assert_eq!(
        h.events,
        vec![SessionEvent::Ended {
            cause: EndCause::NoResponse
        }]
    );
}

fn carrier_account() -> Option<ClientCredentials> {
    Some(ClientCredentials {
        username: "0398123450".into(),
        password: "trunk-secret".into(),
        realm: None,
    })
}

const CHALLENGE: &str =
    "Proxy-Authenticate: Digest realm=\"carrier\", nonce=\"n0nce\", qop=\"auth\"\r\n";

#[test]
fn a_407_is_answered_once_with_credentials_in_a_new_transaction() {
    let mut h = Harness::start(carrier_account());
    let first = h.invite.clone();
    h.reply(407, CHALLENGE, "");
    let sent = h.requests();
    assert_eq!(
        methods(&sent),
        ["ACK", "INVITE"],
        "the 407 is ACKed, the INVITE sent again"
    );
    let again = &sent[1];
    assert_eq!(again.call_id, first.call_id);
    assert_eq!(again.from.tag(), first.from.tag());
    assert_eq!(again.to.tag(), None);
    assert_eq!(again.cseq.seq, first.cseq.seq + 1);
    assert_ne!(again.via[0].branch(), first.via[0].branch());
    assert_eq!(&again.body[..], OURS.as_bytes());
    let auth = again
        .headers
        .get("Proxy-Authorization")
        .expect("credentials");
    assert!(auth.contains("username=\"0398123450\""), "{auth}");
    assert!(
        auth.contains("realm=\"carrier\"") && auth.contains("nc=00000001"),
        "{auth}"
    );
    assert!(!auth.contains("trunk-secret"));
    assert!(h.events.is_empty(), "no end: {:?}", h.events);
    h.invite = again.clone();
    h.reply(200, "", THEIRS);
    assert_eq!(methods(&h.requests()), ["ACK"]);
    assert_eq!(
        h.events,
        vec![SessionEvent::Answered {
            sdp: Some(Bytes::from_static(THEIRS.as_bytes()))
        }]
    );
}

#[test]
fn a_second_challenge_or_none_to_answer_ends_the_leg_as_rejected() {
    let mut h = Harness::start(carrier_account());
    h.reply(407, CHALLENGE, "");
    h.invite = h.requests().remove(1);
    h.reply(407, CHALLENGE, "");
    assert_eq!(methods(&h.requests()), ["ACK"]);
    assert_eq!(
        h.events,
        vec![SessionEvent::Ended {
            cause: EndCause::Rejected(407)
        }]
    );
    // Without credentials the first 401 is final.
    let mut h = Harness::start(None);
    h.reply(
        401,
        "WWW-Authenticate: Digest realm=\"carrier\", nonce=\"n\"\r\n",
        "",
    );
    assert_eq!(methods(&h.requests()), ["ACK"]);
    assert_eq!(
        h.events,
        vec![SessionEvent::Ended {
            cause: EndCause::Rejected(401)
        }]
    );
}
