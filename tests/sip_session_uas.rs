//! The inbound INVITE leg on a virtual clock: answer with and without an offer in the INVITE,
//! reliable provisionals and PRACK, UPDATE and re-INVITE offers, INFO DTMF, CANCEL, BYE, a
//! missing ACK or PRACK, and session timers — messages as a trunk sends them, through the real
//! transaction layer.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rexian::sip::message::{NameAddr, Param, Response, SipMessage, Uri, Via};
use rexian::sip::parse::{parse, Limits};
use rexian::sip::peer::Peer;
use rexian::sip::session::uas::{Phase, UasSession};
use rexian::sip::session::{EndCause, LegConfig, SessionError, SessionEvent};
use rexian::sip::session_timer::SessionTimerConfig;
use rexian::sip::transaction::{TransactionConfig, TransactionLayer, TxEvent};

const TRUNK: &str = "127.0.0.1:5090";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const OURS: &str = "v=0\r\no=rexian 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

struct Harness {
    txl: TransactionLayer,
    now: Instant,
    leg: Option<UasSession>,
    /// Everything the leg reported, in order.
    events: Vec<SessionEvent>,
}

fn config() -> LegConfig {
    let mut via = Via {
        transport: "UDP".into(),
        host: "127.0.0.1".into(),
        port: Some(5060),
        params: Vec::new(),
    };
    via.params.push(Param::new("rport", None));
    LegConfig {
        local_contact: NameAddr::new(Uri::sip(Some("rexian"), "127.0.0.1", Some(5060))),
        via,
        session_timer: SessionTimerConfig::default(),
        timers: Default::default(),
        use_100rel: true,
        allow: "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE, INFO".into(),
        supported: "100rel, timer".into(),
    }
}

impl Harness {
    fn new() -> Harness {
        Harness {
            txl: TransactionLayer::new(TransactionConfig::default()),
            // The one real clock reading: every later instant is this plus virtual time.
            now: Instant::now(),
            leg: None,
            events: Vec::new(),
        }
    }

    fn leg(&mut self) -> &mut UasSession {
        self.leg.as_mut().expect("a leg")
    }

    /// The trunk sends `text` (CRLF line ends added).
    fn deliver(&mut self, text: &str) {
        let wire = text.replace('\n', "\r\n");
        let msg = parse(wire.as_bytes(), &Limits::default()).expect("test message parses");
        self.txl
            .receive(self.now, msg, Peer::udp(TRUNK.parse().unwrap()));
        self.pump();
    }

    fn pump(&mut self) {
        while let Some(ev) = self.txl.poll_event() {
            let now = self.now;
            match ev {
                TxEvent::Request { tx, req, from } => {
                    if req.to.tag().is_none() {
                        let leg = UasSession::new(tx, req, from, "ourtag".into(), 77, config());
                        match leg {
                            Ok(l) => self.leg = Some(l),
                            Err(resp) => {
                                self.txl.respond(now, tx, *resp).unwrap();
                            }
                        }
                    } else if let Some(leg) = self.leg.as_mut() {
                        let rest = leg.on_request(now, &mut self.txl, tx, req);
                        assert!(rest.is_none(), "unexpected unhandled request");
                    }
                }
                TxEvent::AckFor2xx { ack, .. } => self.leg().on_ack(now, &ack),
                TxEvent::Cancelled { .. } => self.leg().on_cancelled(),
                TxEvent::Response { tx, resp } => {
                    let leg = self.leg.as_mut().expect("a leg");
                    leg.on_response(now, &mut self.txl, tx, &resp);
                }
                _ => {}
            }
        }
        if let Some(leg) = self.leg.as_mut() {
            while let Some(e) = leg.poll_event() {
                self.events.push(e);
            }
        }
    }

    /// Moves the virtual clock on by `d`, firing every deadline on the way in order.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [
                self.txl.poll_timeout(),
                self.leg.as_ref().and_then(|l| l.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.txl.handle_timeout(self.now);
                    if let Some(leg) = self.leg.as_mut() {
                        leg.handle_timeout(self.now, &mut self.txl);
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// What went out to the trunk since the last call, parsed.
    fn sent(&mut self) -> Vec<SipMessage> {
        let mut out = Vec::new();
        while let Some(t) = self.txl.poll_transmit() {
            out.push(parse(&t.bytes, &Limits::default()).expect("we send valid SIP"));
        }
        out
    }

    fn responses(&mut self) -> Vec<Response> {
        self.sent()
            .into_iter()
            .filter_map(|m| match m {
                SipMessage::Response(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

/// The length of `body` once `deliver` has made every line end CRLF.
fn wire_len(body: &str) -> usize {
    body.replace("\r\n", "\n").replace('\n', "\r\n").len()
}

fn invite(extra: &str, body: &str) -> String {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_string()
    };
    format!(
        "INVITE sip:12345@127.0.0.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {TRUNK};branch=z9hG4bKinv1\n\
         From: <sip:13800138000@carrier.example>;tag=trunk1\n\
         To: <sip:12345@127.0.0.1>\n\
         Call-ID: call-1@carrier.example\n\
         CSeq: 10 INVITE\n\
         Contact: <sip:trunk@{TRUNK}>\n\
         Max-Forwards: 70\n\
         Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE, INFO\n\
         {extra}{ct}Content-Length: {}\n\n{}",
        wire_len(body),
        body.replace("\r\n", "\n")
    )
}

fn in_dialog(method: &str, cseq: u32, branch: &str, extra: &str, body: &str) -> String {
    // INFO bodies name their own type in `extra`.
    let ct = if body.is_empty() || method == "INFO" {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_string()
    };
    let body = body.replace("\r\n", "\n");
    format!(
        "{method} sip:rexian@127.0.0.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {TRUNK};branch={branch}\n\
         From: <sip:13800138000@carrier.example>;tag=trunk1\n\
         To: <sip:12345@127.0.0.1>;tag=ourtag\n\
         Call-ID: call-1@carrier.example\n\
         CSeq: {cseq} {cseq_method}\n\
         Contact: <sip:trunk@{TRUNK}>\n\
         Max-Forwards: 70\n\
         {extra}{ct}Content-Length: {}\n\n{}",
        wire_len(&body),
        body,
        cseq_method = method,
    )
}

fn ack(body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    in_dialog("ACK", 10, "z9hG4bKack1", ct, body)
}

fn sdp() -> Bytes {
    Bytes::from_static(OURS.as_bytes())
}

#[test]
fn a_trunk_call_is_answered_with_sdp_acked_and_ended_by_bye() {
    let mut h = Harness::new();
    h.deliver(&invite("", OFFER));
    let first = h.responses();
    assert_eq!(first[0].status, 100, "100 Trying at once");
    assert_eq!(h.leg().initial_offer().map(|b| b.len()), Some(OFFER.len()));
    let now = h.now;
    h.leg
        .as_mut()
        .unwrap()
        .ring(now, &mut h.txl, 180, None)
        .unwrap();
    h.leg
        .as_mut()
        .unwrap()
        .answer(now, &mut h.txl, Some(sdp()))
        .unwrap();
    let sent = h.responses();
    assert_eq!(sent[0].status, 180);
    assert_eq!(sent[0].to.tag(), Some("ourtag"));
    let ok = &sent[1];
    assert_eq!(ok.status, 200);
    assert_eq!(&ok.body[..], OURS.as_bytes());
    assert!(ok.headers.get("Contact").unwrap().contains("rexian@"));
    assert!(ok.headers.get("Session-Expires").is_some());
    assert_eq!(h.leg().phase(), Phase::AwaitingAck);
    h.deliver(&ack(""));
    assert_eq!(h.leg().phase(), Phase::Up);
    assert_eq!(h.events, vec![SessionEvent::Confirmed]);
    // No retransmission of the 2xx after the ACK.
    h.advance(Duration::from_secs(10));
    assert!(h.responses().is_empty());
    h.deliver(&in_dialog("BYE", 11, "z9hG4bKbye1", "", ""));
    assert_eq!(h.responses()[0].status, 200);
    assert_eq!(
        h.events.last(),
        Some(&SessionEvent::Ended {
            cause: EndCause::RemoteBye
        })
    );
}

#[test]
fn a_late_offer_invite_gets_our_offer_in_the_2xx_and_the_answer_in_the_ack() {
    let mut h = Harness::new();
    h.deliver(&invite("", ""));
    h.sent();
    assert!(h.leg().initial_offer().is_none());
    let now = h.now;
    let leg = h.leg.as_mut().unwrap();
    assert_eq!(
        leg.answer(now, &mut h.txl, None),
        Err(SessionError::SdpRequired)
    );
    leg.answer(now, &mut h.txl, Some(sdp())).unwrap();
    assert_eq!(&h.responses()[0].body[..], OURS.as_bytes());
    h.deliver(&ack(OFFER));
    assert_eq!(
        h.events,
        vec![
            SessionEvent::Answer {
                sdp: Bytes::from(OFFER)
            },
            SessionEvent::Confirmed
        ]
    );
}

#[test]
fn early_media_goes_reliably_and_the_2xx_waits_for_the_prack() {
    let mut h = Harness::new();
    h.deliver(&invite("Supported: 100rel, timer\n", OFFER));
    h.sent();
    let now = h.now;
    let leg = h.leg.as_mut().unwrap();
    leg.ring(now, &mut h.txl, 183, Some(sdp())).unwrap();
    let p = h.responses().remove(0);
    assert_eq!(p.status, 183);
    assert!(p.headers.has_token("Require", "100rel"));
    let rseq = p.headers.get("RSeq").unwrap().to_string();
    assert_eq!(&p.body[..], OURS.as_bytes(), "the answer rides the 183");
    let now = h.now;
    assert_eq!(
        h.leg.as_mut().unwrap().answer(now, &mut h.txl, None),
        Err(SessionError::PrackPending)
    );
    // Not PRACKed within T1: the 183 goes again.
    h.advance(Duration::from_millis(600));
    let again = h.responses();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].headers.get("RSeq").unwrap(), rseq);
    h.deliver(&in_dialog(
        "PRACK",
        11,
        "z9hG4bKprack1",
        &format!("RAck: {rseq} 10 INVITE\n"),
        "",
    ));
    assert_eq!(h.responses()[0].status, 200, "PRACK answered");
    let now = h.now;
    h.leg
        .as_mut()
        .unwrap()
        .answer(now, &mut h.txl, None)
        .unwrap();
    let ok = h.responses().remove(0);
    assert_eq!(ok.status, 200);
    assert!(
        ok.body.is_empty(),
        "the offer was answered in the 183 already"
    );
    // The 183 is not retransmitted any more.
    h.deliver(&ack(""));
    h.advance(Duration::from_secs(5));
    assert!(h.responses().iter().all(|r| r.status != 183));
}

#[test]
fn a_reliable_provisional_never_pracked_fails_the_invite() {
    let mut h = Harness::new();
    h.deliver(&invite("Require: 100rel\n", OFFER));
    h.sent();
    let now = h.now;
    h.leg
        .as_mut()
        .unwrap()
        .ring(now, &mut h.txl, 180, None)
        .unwrap();
    let r = h.responses().remove(0);
    assert!(
        r.headers.get("RSeq").is_some(),
        "required 100rel: every 1xx reliable"
    );
    h.advance(Duration::from_secs(33));
    let finals: Vec<_> = h
        .responses()
        .into_iter()
        .filter(|r| r.status >= 200)
        .collect();
    assert_eq!(finals[0].status, 500);
    assert_eq!(
        h.events.last(),
        Some(&SessionEvent::Ended {
            cause: EndCause::NoPrack
        })
    );
}

#[test]
fn an_unacknowledged_2xx_is_retransmitted_then_the_call_is_ended_with_bye() {
    let mut h = Harness::new();
    h.deliver(&invite("", OFFER));
    h.sent();
    let now = h.now;
    h.leg
        .as_mut()
        .unwrap()
        .answer(now, &mut h.txl, Some(sdp()))
        .unwrap();
    h.sent();
    h.advance(Duration::from_secs(40));
    let sent = h.sent();
    let oks = sent
        .iter()
        .filter(|m| matches!(m, SipMessage::Response(r) if r.status == 200))
        .count();
    assert!(oks >= 5, "2xx retransmitted on T1 doubling to T2: {oks}");
    assert!(sent
        .iter()
        .any(|m| matches!(m, SipMessage::Request(r) if r.method.as_str() == "BYE")));
    assert_eq!(
        h.events.last(),
        Some(&SessionEvent::Ended {
            cause: EndCause::NoAck
        })
    );
}

#[test]
fn cancel_before_the_answer_ends_the_leg_and_the_invite_gets_487() {
    let mut h = Harness::new();
    h.deliver(&invite("", OFFER));
    h.sent();
    h.deliver(&format!(
        "CANCEL sip:12345@127.0.0.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {TRUNK};branch=z9hG4bKinv1\n\
         From: <sip:13800138000@carrier.example>;tag=trunk1\n\
         To: <sip:12345@127.0.0.1>\n\
         Call-ID: call-1@carrier.example\n\
         CSeq: 10 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n"
    ));
    let statuses: Vec<u16> = h.responses().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&487),
        "{statuses:?}"
    );
    assert_eq!(
        h.events,
        vec![SessionEvent::Ended {
            cause: EndCause::Cancelled
        }]
    );
    let now = h.now;
    assert_eq!(
        h.leg.as_mut().unwrap().answer(now, &mut h.txl, Some(sdp())),
        Err(SessionError::NotRinging)
    );
}

fn up(h: &mut Harness, extra: &str) {
    h.deliver(&invite(extra, OFFER));
    let now = h.now;
    h.leg
        .as_mut()
        .unwrap()
        .answer(now, &mut h.txl, Some(sdp()))
        .unwrap();
    h.deliver(&ack(""));
    h.sent();
    h.events.clear();
}

#[test]
fn an_update_offer_mid_call_is_put_to_call_control_and_answered() {
    let mut h = Harness::new();
    up(&mut h, "");
    let hold = OFFER.replace("m=audio 40000", "m=audio 40002") + "a=sendonly\r\n";
    h.deliver(&in_dialog("UPDATE", 11, "z9hG4bKupd1", "", &hold));
    assert!(h.responses().is_empty(), "waits for call control's answer");
    assert!(
        matches!(&h.events[0], SessionEvent::Offer { sdp } if sdp.ends_with(b"a=sendonly\r\n"))
    );
    // A second offer while one is pending gets 500 with Retry-After.
    h.deliver(&in_dialog("UPDATE", 12, "z9hG4bKupd2", "", &hold));
    let r = h.responses().remove(0);
    assert_eq!(r.status, 500);
    assert!(r.headers.get("Retry-After").is_some());
    let now = h.now;
    let answer = Bytes::from(OURS.to_string() + "a=recvonly\r\n");
    h.leg
        .as_mut()
        .unwrap()
        .accept_offer(now, &mut h.txl, answer.clone())
        .unwrap();
    let ok = h.responses().remove(0);
    assert_eq!((ok.status, ok.cseq.seq), (200, 11));
    assert_eq!(ok.body, answer);
}

#[test]
fn a_refused_re_invite_offer_leaves_the_call_up() {
    let mut h = Harness::new();
    up(&mut h, "");
    h.deliver(&in_dialog("INVITE", 11, "z9hG4bKre1", "", OFFER));
    let now = h.now;
    h.leg
        .as_mut()
        .unwrap()
        .reject_offer(now, &mut h.txl, 488)
        .unwrap();
    let statuses: Vec<u16> = h.responses().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&488), "{statuses:?}");
    assert_eq!(h.leg().phase(), Phase::Up);
}

#[test]
fn info_dtmf_is_reported_and_a_cseq_going_backwards_is_refused() {
    let mut h = Harness::new();
    up(&mut h, "");
    h.deliver(&in_dialog(
        "INFO",
        11,
        "z9hG4bKinfo1",
        "Content-Type: application/dtmf-relay\n",
        "Signal=5\nDuration=160\n",
    ));
    assert_eq!(h.responses()[0].status, 200);
    assert_eq!(
        h.events,
        vec![SessionEvent::Dtmf {
            digit: '5',
            duration_ms: 160
        }]
    );
    h.deliver(&in_dialog("BYE", 9, "z9hG4bKbye0", "", ""));
    assert_eq!(h.responses()[0].status, 500);
    assert_eq!(h.leg().phase(), Phase::Up);
}

#[test]
fn when_rexian_is_the_refresher_it_sends_update_and_the_session_lives_on() {
    let mut h = Harness::new();
    up(
        &mut h,
        "Supported: timer\nSession-Expires: 120;refresher=uas\n",
    );
    h.advance(Duration::from_secs(61));
    let sent = h.sent();
    let update = sent
        .iter()
        .find_map(|m| match m {
            SipMessage::Request(r) if r.method.as_str() == "UPDATE" => Some(r.clone()),
            _ => None,
        })
        .expect("an UPDATE at half the interval");
    assert!(update.body.is_empty());
    assert!(update
        .headers
        .get("Session-Expires")
        .unwrap()
        .starts_with("120"));
    // The trunk answers; the session goes on well past the first interval.
    let branch = update.via[0].branch().unwrap().to_string();
    h.deliver(&format!(
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\n\
         From: <sip:12345@127.0.0.1>;tag=ourtag\nTo: <sip:13800138000@carrier.example>;tag=trunk1\n\
         Call-ID: call-1@carrier.example\nCSeq: {} UPDATE\n\
         Session-Expires: 120;refresher=uac\nContent-Length: 0\n\n",
        update.cseq.seq
    ));
    // Without the refresh the session would have expired at 88 s (120 s less the margin).
    h.advance(Duration::from_secs(50));
    assert_eq!(h.leg().phase(), Phase::Up);
    assert!(h.events.is_empty(), "{:?}", h.events);
}

#[test]
fn when_the_trunk_is_the_refresher_and_stays_silent_the_call_is_ended() {
    let mut h = Harness::new();
    up(
        &mut h,
        "Supported: timer\nSession-Expires: 120;refresher=uac\n",
    );
    h.advance(Duration::from_secs(119));
    let sent = h.sent();
    assert!(sent
        .iter()
        .any(|m| matches!(m, SipMessage::Request(r) if r.method.as_str() == "BYE")));
    assert_eq!(
        h.events,
        vec![SessionEvent::Ended {
            cause: EndCause::SessionExpired
        }]
    );
}

#[test]
fn an_invite_without_contact_or_with_a_tiny_session_interval_is_refused() {
    let mut h = Harness::new();
    h.deliver(&invite("Session-Expires: 30\n", OFFER));
    let finals: Vec<u16> = h.responses().iter().map(|r| r.status).collect();
    assert!(finals.contains(&422), "{finals:?}");
    assert!(h.leg.is_none());
}

#[test]
fn refer_is_accepted_reported_and_answered_with_a_sipfrag_notify() {
    let mut h = Harness::new();
    up(&mut h, "");
    h.deliver(&in_dialog(
        "REFER",
        11,
        "z9hG4bKrefer1",
        "Refer-To: <sip:12366@127.0.0.1>\n",
        "",
    ));
    assert_eq!(h.responses()[0].status, 202);
    assert_eq!(
        h.events,
        vec![SessionEvent::Refer {
            target: "12366".into(),
            replaces: None
        }]
    );
    let now = h.now;
    let Harness { leg, txl, .. } = &mut h;
    leg.as_mut()
        .unwrap()
        .notify_refer(now, txl, 200, "OK", true);
    let notify = h
        .sent()
        .into_iter()
        .find_map(|m| match m {
            SipMessage::Request(r) if r.method.as_str() == "NOTIFY" => Some(r),
            _ => None,
        })
        .expect("a NOTIFY");
    assert_eq!(notify.headers.get("Event"), Some("refer"));
    assert!(notify
        .headers
        .get("Subscription-State")
        .unwrap()
        .starts_with("terminated"));
    assert_eq!(&notify.body[..], b"SIP/2.0 200 OK\r\n");
    // An attended transfer names the dialog to replace; a REFER without Refer-To is refused.
    h.events.clear();
    h.deliver(&in_dialog(
        "REFER",
        12,
        "z9hG4bKrefer2",
        "Refer-To: <sip:7002@127.0.0.1?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>\n",
        "",
    ));
    assert_eq!(
        h.events,
        vec![SessionEvent::Refer {
            target: "7002".into(),
            replaces: Some("abc@host;to-tag=1;from-tag=2".into())
        }]
    );
    h.responses();
    h.deliver(&in_dialog("REFER", 13, "z9hG4bKrefer3", "", ""));
    assert_eq!(h.responses()[0].status, 400);
}
