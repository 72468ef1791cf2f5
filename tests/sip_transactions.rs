//! The transaction layer on a virtual clock: every test moves time by adding Durations to one
//! starting Instant; nothing sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rexian::sip::message::{
    CSeq, Headers, Method, NameAddr, Param, Request, Response, SipMessage, Uri, Via,
};
use rexian::sip::peer::{ConnId, Peer, Transmit, Transport};
use rexian::sip::transaction::{
    ClientInviteState, ClientState, Retransmit2xx, Retransmit2xxAction, ServerInviteState,
    ServerState, TimerConfig, TransactionConfig, TransactionLayer, TxError, TxEvent, TxState,
};

fn addr() -> SocketAddr {
    "10.0.0.1:5060".parse().unwrap()
}

fn udp() -> Peer {
    Peer::udp(addr())
}

fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: addr(),
        conn: Some(ConnId(7)),
    }
}

fn via(branch: &str) -> Via {
    Via {
        transport: "UDP".into(),
        host: "10.0.0.1".into(),
        port: Some(5060),
        params: vec![Param::new("branch", Some(branch.to_string()))],
    }
}

fn request(method: Method, branch: &str, call_id: &str, cseq: u32) -> Request {
    let mut from = NameAddr::new(Uri::sip(Some("alice"), "a.example", None));
    from.set_tag("fromtag");
    Request {
        method: method.clone(),
        uri: Uri::sip(Some("12345"), "hotline.example", None),
        via: vec![via(branch)],
        from,
        to: NameAddr::new(Uri::sip(Some("12345"), "hotline.example", None)),
        call_id: call_id.into(),
        cseq: CSeq { seq: cseq, method },
        max_forwards: Some(70),
        headers: Headers::new(),
        body: Default::default(),
    }
}

fn invite(branch: &str, call_id: &str, cseq: u32) -> Request {
    request(Method::Invite, branch, call_id, cseq)
}

fn options(branch: &str) -> Request {
    request(Method::Options, branch, "opt-1", 1)
}

fn reply(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
    let mut r = req.response(status);
    if let Some(t) = to_tag {
        r.to.set_tag(t);
    }
    r
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(TransactionConfig {
        id_prefix: "t".into(),
        ..TransactionConfig::default()
    })
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn transmits(l: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

fn events(l: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.bytes).into_owned()
}

/// Runs every timer due up to `t0 + until`, returning what was sent and reported, stamped with
/// the offset from `t0` at which it happened.
#[allow(clippy::type_complexity)]
fn run_until(
    l: &mut TransactionLayer,
    t0: Instant,
    until: Duration,
) -> (Vec<(Duration, Transmit)>, Vec<(Duration, TxEvent)>) {
    let (mut sent, mut evs) = (Vec::new(), Vec::new());
    while let Some(at) = l.poll_timeout() {
        if at > t0 + until {
            break;
        }
        l.handle_timeout(at);
        sent.extend(transmits(l).into_iter().map(|t| (at - t0, t)));
        evs.extend(events(l).into_iter().map(|e| (at - t0, e)));
    }
    (sent, evs)
}

fn offsets<T>(v: &[(Duration, T)]) -> Vec<Duration> {
    v.iter().map(|(d, _)| *d).collect()
}

// ---------------------------------------------------------------- INVITE client

#[test]
fn invite_client_retransmits_on_timer_a_at_half_one_and_a_half_three_and_a_half_seconds() {
    let mut l = layer();
    let t0 = Instant::now();
    l.send_request(t0, invite("z9hG4bKa", "c1", 1), udp())
        .unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    let (sent, _) = run_until(&mut l, t0, secs(31.9));
    assert_eq!(
        offsets(&sent),
        [0.5, 1.5, 3.5, 7.5, 15.5, 31.5].map(secs).to_vec()
    );
    assert!(sent.iter().all(|(_, t)| text(t).starts_with("INVITE ")));
}

#[test]
fn invite_client_does_not_retransmit_over_tcp() {
    let mut l = layer();
    let t0 = Instant::now();
    l.send_request(t0, invite("z9hG4bKa", "c1", 1), tcp())
        .unwrap();
    transmits(&mut l);
    let (sent, evs) = run_until(&mut l, t0, secs(40.0));
    assert!(sent.is_empty());
    assert!(matches!(evs[0], (d, TxEvent::Timeout { .. }) if d == secs(32.0)));
}

#[test]
fn invite_client_timer_b_fires_at_32s_with_timeout_and_stops_retransmitting() {
    let mut l = layer();
    let t0 = Instant::now();
    let tx = l
        .send_request(t0, invite("z9hG4bKa", "c1", 1), udp())
        .unwrap();
    transmits(&mut l);
    let (sent, evs) = run_until(&mut l, t0, secs(100.0));
    assert!(sent.iter().all(|(d, _)| *d < secs(32.0)));
    let evs: Vec<_> = evs.into_iter().map(|(d, e)| (d.as_secs(), e)).collect();
    assert_eq!(
        evs,
        vec![
            (32, TxEvent::Timeout { tx }),
            (32, TxEvent::Terminated { tx })
        ]
    );
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn invite_client_provisional_stops_timer_a_and_timer_b() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKa", "c1", 1);
    let tx = l.send_request(t0, inv.clone(), udp()).unwrap();
    transmits(&mut l);
    l.receive(
        t0 + secs(0.2),
        SipMessage::Response(reply(&inv, 180, Some("b"))),
        udp(),
    );
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { resp, .. }] if resp.status == 180));
    let (sent, evs) = run_until(&mut l, t0, secs(100.0));
    assert!(sent.is_empty() && evs.is_empty());
    assert_eq!(
        l.state(tx),
        Some(TxState::ClientInvite(ClientInviteState::Proceeding))
    );
}

#[test]
fn invite_client_acks_a_failure_with_the_same_branch_and_reacks_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKfail", "c1", 4);
    let tx = l.send_request(t0, inv.clone(), udp()).unwrap();
    transmits(&mut l);
    let busy = reply(&inv, 486, Some("callee"));
    l.receive(t0 + secs(1.0), SipMessage::Response(busy.clone()), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let ack = text(&sent[0]);
    assert!(
        ack.starts_with("ACK sip:12345@hotline.example SIP/2.0\r\n"),
        "{ack}"
    );
    assert!(ack.contains("branch=z9hG4bKfail"));
    assert!(ack.contains("CSeq: 4 ACK"));
    assert!(ack.contains("tag=callee"));
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { resp, .. }] if resp.status == 486));

    // The retransmitted 486 is ACKed again and not reported.
    l.receive(t0 + secs(2.0), SipMessage::Response(busy), udp());
    assert_eq!(transmits(&mut l).len(), 1);
    assert!(events(&mut l).is_empty());
    assert_eq!(
        l.state(tx),
        Some(TxState::ClientInvite(ClientInviteState::Completed))
    );

    // Timer D: 32 s after the first final response.
    let (_, evs) = run_until(&mut l, t0, secs(60.0));
    assert_eq!(evs, vec![(secs(33.0), TxEvent::Terminated { tx })]);
}

#[test]
fn invite_client_over_tcp_terminates_as_soon_as_the_failure_is_acked() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKa", "c1", 1);
    let tx = l.send_request(t0, inv.clone(), tcp()).unwrap();
    transmits(&mut l);
    l.receive(t0, SipMessage::Response(reply(&inv, 503, Some("x"))), tcp());
    assert_eq!(transmits(&mut l).len(), 1);
    assert!(events(&mut l).contains(&TxEvent::Terminated { tx }));
    assert!(l.is_empty());
}

#[test]
fn invite_client_2xx_is_accepted_and_retransmitted_2xx_reach_the_tu_until_timer_m() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKok", "c1", 1);
    let tx = l.send_request(t0, inv.clone(), udp()).unwrap();
    transmits(&mut l);
    let ok = reply(&inv, 200, Some("callee"));
    l.receive(t0 + secs(1.0), SipMessage::Response(ok.clone()), udp());
    assert!(
        transmits(&mut l).is_empty(),
        "the TU sends the ACK for a 2xx"
    );
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { resp, .. }] if resp.status == 200));
    assert_eq!(
        l.state(tx),
        Some(TxState::ClientInvite(ClientInviteState::Accepted))
    );

    l.receive(t0 + secs(1.5), SipMessage::Response(ok.clone()), udp());
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { tx: t, .. }] if *t == tx));

    let (sent, evs) = run_until(&mut l, t0, secs(60.0));
    assert!(sent.is_empty());
    assert_eq!(evs, vec![(secs(33.0), TxEvent::Terminated { tx })]);

    l.receive(t0 + secs(40.0), SipMessage::Response(ok), udp());
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::StrayResponse { .. }]
    ));
}

#[test]
fn invite_client_cancel_waits_for_a_provisional_then_goes_out_with_the_invite_branch() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKc", "c1", 1);
    let tx = l.send_request(t0, inv.clone(), udp()).unwrap();
    transmits(&mut l);
    assert_eq!(l.cancel(t0, tx), Ok(None));
    assert!(transmits(&mut l).is_empty());

    l.receive(
        t0 + secs(0.1),
        SipMessage::Response(reply(&inv, 180, Some("b"))),
        udp(),
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let cancel = text(&sent[0]);
    assert!(cancel.starts_with("CANCEL sip:12345@hotline.example SIP/2.0"));
    assert!(cancel.contains("branch=z9hG4bKc") && cancel.contains("CSeq: 1 CANCEL"));

    // The CANCEL's 200 and the INVITE's 487 are told apart by CSeq method.
    let mut cancel_ok = reply(&inv, 200, Some("b"));
    cancel_ok.cseq.method = Method::Cancel;
    l.receive(t0 + secs(0.2), SipMessage::Response(cancel_ok), udp());
    l.receive(
        t0 + secs(0.3),
        SipMessage::Response(reply(&inv, 487, Some("b"))),
        udp(),
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(text(&sent[0]).starts_with("ACK "));
    let evs = events(&mut l);
    assert!(evs
        .iter()
        .any(|e| matches!(e, TxEvent::Response { tx: t, resp } if *t == tx && resp.status == 487)));
}

#[test]
fn invite_client_that_never_answers_after_cancel_ends_after_64_t1() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKc", "c1", 1);
    let tx = l.send_request(t0, inv.clone(), tcp()).unwrap();
    l.receive(t0, SipMessage::Response(reply(&inv, 180, None)), tcp());
    let cancel_tx = l.cancel(t0 + secs(10.0), tx).unwrap().unwrap();
    events(&mut l);
    let (_, evs) = run_until(&mut l, t0, secs(60.0));
    assert!(evs.contains(&(secs(42.0), TxEvent::Timeout { tx })));
    assert!(evs.contains(&(secs(42.0), TxEvent::Timeout { tx: cancel_tx })));
    assert_eq!(l.cancel(t0, tx), Err(TxError::NothingToCancel(tx)));
}

// ---------------------------------------------------------------- non-INVITE client

#[test]
fn non_invite_client_timer_e_doubles_up_to_t2_and_timer_f_times_out_at_32s() {
    let mut l = layer();
    let t0 = Instant::now();
    let tx = l.send_request(t0, options("z9hG4bKo"), udp()).unwrap();
    transmits(&mut l);
    let (sent, evs) = run_until(&mut l, t0, secs(100.0));
    assert_eq!(
        offsets(&sent),
        [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
            .map(secs)
            .to_vec()
    );
    assert_eq!(
        evs,
        vec![
            (secs(32.0), TxEvent::Timeout { tx }),
            (secs(32.0), TxEvent::Terminated { tx })
        ]
    );
}

#[test]
fn non_invite_client_retransmits_every_t2_once_proceeding() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKo");
    l.send_request(t0, req.clone(), udp()).unwrap();
    transmits(&mut l);
    run_until(&mut l, t0, secs(0.6));
    transmits(&mut l);
    l.receive(
        t0 + secs(0.7),
        SipMessage::Response(reply(&req, 100, None)),
        udp(),
    );
    let (sent, _) = run_until(&mut l, t0, secs(12.0));
    // The interval already scheduled (1 s) runs out, then every T2.
    assert_eq!(offsets(&sent), [1.5, 5.5, 9.5].map(secs).to_vec());
}

#[test]
fn non_invite_client_absorbs_retransmitted_finals_until_timer_k() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKo");
    let tx = l.send_request(t0, req.clone(), udp()).unwrap();
    transmits(&mut l);
    let ok = reply(&req, 200, Some("x"));
    l.receive(t0 + secs(0.1), SipMessage::Response(ok.clone()), udp());
    assert_eq!(events(&mut l).len(), 1);
    l.receive(t0 + secs(0.2), SipMessage::Response(ok), udp());
    assert!(events(&mut l).is_empty());
    assert_eq!(l.state(tx), Some(TxState::Client(ClientState::Completed)));
    let (sent, evs) = run_until(&mut l, t0, secs(10.0));
    assert_eq!(sent.len(), 0);
    assert_eq!(evs, vec![(secs(5.1), TxEvent::Terminated { tx })]);
}

#[test]
fn non_invite_client_over_tcp_never_retransmits_and_ends_on_the_final() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKo");
    let tx = l.send_request(t0, req.clone(), tcp()).unwrap();
    transmits(&mut l);
    let (sent, _) = run_until(&mut l, t0, secs(10.0));
    assert!(sent.is_empty());
    l.receive(t0, SipMessage::Response(reply(&req, 200, None)), tcp());
    assert!(events(&mut l).contains(&TxEvent::Terminated { tx }));
}

#[test]
fn request_without_branch_gets_one_and_reused_branch_is_refused() {
    let mut l = layer();
    let t0 = Instant::now();
    let mut req = options("x");
    req.via[0].params.clear();
    l.send_request(t0, req, udp()).unwrap();
    assert!(text(&transmits(&mut l)[0]).contains("branch=z9hG4bKt"));
    l.send_request(t0, options("z9hG4bKdup"), udp()).unwrap();
    assert_eq!(
        l.send_request(t0, options("z9hG4bKdup"), udp()),
        Err(TxError::DuplicateBranch)
    );
    let ack = request(Method::Ack, "z9hG4bKack", "c", 1);
    assert_eq!(
        l.send_request(t0, ack, udp()),
        Err(TxError::AckIsNotATransaction)
    );
}

// ---------------------------------------------------------------- INVITE server

fn incoming_invite(
    l: &mut TransactionLayer,
    now: Instant,
    req: &Request,
    from: Peer,
) -> rexian::sip::transaction::TxId {
    l.receive(now, SipMessage::Request(req.clone()), from);
    let evs = events(l);
    match &evs[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("expected one request event, got {other:?}"),
    }
}

#[test]
fn server_invite_sends_100_trying_immediately() {
    let mut l = layer();
    let t0 = Instant::now();
    incoming_invite(&mut l, t0, &invite("z9hG4bKs", "c1", 1), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(text(&sent[0]).starts_with("SIP/2.0 100 Trying\r\n"));
    assert_eq!(sent[0].peer, udp());
}

#[test]
fn server_invite_100_trying_can_be_turned_off() {
    let mut l = TransactionLayer::new(TransactionConfig {
        send_trying: false,
        ..TransactionConfig::default()
    });
    incoming_invite(&mut l, Instant::now(), &invite("z9hG4bKs", "c1", 1), udp());
    assert!(transmits(&mut l).is_empty());
}

#[test]
fn server_invite_retransmitted_invite_resends_the_last_response_and_is_not_reported() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    transmits(&mut l);
    l.respond(t0, tx, reply(&inv, 180, Some("me"))).unwrap();
    transmits(&mut l);
    l.receive(t0 + secs(0.5), SipMessage::Request(inv), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(text(&sent[0]).starts_with("SIP/2.0 180 Ringing"));
    assert!(events(&mut l).is_empty());
}

#[test]
fn server_invite_failure_retransmits_on_timer_g_until_the_ack_then_timer_i_ends_it() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    transmits(&mut l);
    l.respond(t0, tx, reply(&inv, 486, Some("me"))).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    let (sent, _) = run_until(&mut l, t0, secs(12.0));
    assert_eq!(
        offsets(&sent),
        [0.5, 1.5, 3.5, 7.5, 11.5].map(secs).to_vec()
    );

    let mut ack = request(Method::Ack, "z9hG4bKs", "c1", 1);
    ack.to.set_tag("me");
    l.receive(t0 + secs(12.0), SipMessage::Request(ack.clone()), udp());
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Confirmed))
    );
    l.receive(t0 + secs(13.0), SipMessage::Request(ack), udp());
    assert!(
        events(&mut l).is_empty(),
        "ACKs for a failure stay in the transaction"
    );

    let (sent, evs) = run_until(&mut l, t0, secs(60.0));
    assert!(sent.is_empty());
    assert_eq!(evs, vec![(secs(17.0), TxEvent::Terminated { tx })]);
}

#[test]
fn server_invite_timer_h_reports_a_timeout_when_the_ack_never_comes() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    l.respond(t0, tx, reply(&inv, 404, Some("me"))).unwrap();
    let (_, evs) = run_until(&mut l, t0, secs(60.0));
    assert_eq!(
        evs,
        vec![
            (secs(32.0), TxEvent::Timeout { tx }),
            (secs(32.0), TxEvent::Terminated { tx })
        ]
    );
}

#[test]
fn server_invite_2xx_is_accepted_absorbs_retransmits_and_ends_on_timer_l() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    transmits(&mut l);
    let ok = reply(&inv, 200, Some("me"));
    l.respond(t0, tx, ok.clone()).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Accepted))
    );

    // A retransmitted INVITE is absorbed; the TU re-sends its 2xx itself.
    l.receive(t0 + secs(0.4), SipMessage::Request(inv.clone()), udp());
    assert!(transmits(&mut l).is_empty() && events(&mut l).is_empty());
    l.respond(t0 + secs(0.5), tx, ok).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(
        l.respond(t0, tx, reply(&inv, 486, Some("me"))),
        Err(TxError::WrongState { tx, status: 486 })
    );

    // The ACK for a 2xx carries a new branch and reaches the TU.
    let mut ack = request(Method::Ack, "z9hG4bKack2xx", "c1", 1);
    ack.to.set_tag("me");
    l.receive(t0 + secs(1.0), SipMessage::Request(ack), udp());
    assert!(matches!(&events(&mut l)[..], [TxEvent::AckFor2xx { .. }]));

    let (_, evs) = run_until(&mut l, t0, secs(60.0));
    assert_eq!(evs, vec![(secs(32.0), TxEvent::Terminated { tx })]);
}

#[test]
fn server_invite_over_tcp_never_retransmits_its_failure() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKs", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, tcp());
    transmits(&mut l);
    l.respond(t0, tx, reply(&inv, 486, Some("me"))).unwrap();
    transmits(&mut l);
    let mut ack = request(Method::Ack, "z9hG4bKs", "c1", 1);
    ack.to.set_tag("me");
    let (sent, _) = run_until(&mut l, t0, secs(10.0));
    assert!(sent.is_empty());
    l.receive(t0 + secs(10.0), SipMessage::Request(ack), tcp());
    assert!(events(&mut l).contains(&TxEvent::Terminated { tx }));
}

// ---------------------------------------------------------------- non-INVITE server

#[test]
fn server_non_invite_absorbs_retransmits_while_trying_and_resends_the_final_after() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKso");
    let tx = incoming_invite(&mut l, t0, &req, udp());
    assert!(transmits(&mut l).is_empty(), "no 100 for non-INVITE");
    l.receive(t0 + secs(0.5), SipMessage::Request(req.clone()), udp());
    assert!(transmits(&mut l).is_empty() && events(&mut l).is_empty());

    l.respond(t0 + secs(0.6), tx, reply(&req, 200, Some("me")))
        .unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    l.receive(t0 + secs(1.5), SipMessage::Request(req), udp());
    let sent = transmits(&mut l);
    assert!(text(&sent[0]).starts_with("SIP/2.0 200 OK"));
    assert_eq!(l.state(tx), Some(TxState::Server(ServerState::Completed)));

    let (_, evs) = run_until(&mut l, t0, secs(60.0));
    assert_eq!(evs, vec![(secs(32.6), TxEvent::Terminated { tx })]);
}

#[test]
fn server_non_invite_over_tcp_ends_when_the_final_is_sent() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKso");
    let tx = incoming_invite(&mut l, t0, &req, tcp());
    l.respond(t0, tx, reply(&req, 200, Some("me"))).unwrap();
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
    assert!(l.is_empty());
    assert_eq!(
        l.respond(t0, tx, reply(&req, 200, None)),
        Err(TxError::UnknownTransaction(tx))
    );
}

#[test]
fn same_branch_from_another_sent_by_is_a_different_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKsame");
    incoming_invite(&mut l, t0, &req, udp());
    let mut other = req.clone();
    other.via[0].host = "10.0.0.2".into();
    l.receive(t0, SipMessage::Request(other), udp());
    assert!(matches!(&events(&mut l)[..], [TxEvent::Request { .. }]));
    assert_eq!(l.len(), 2);
}

#[test]
fn rfc2543_requests_without_magic_cookie_still_match_their_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let mut inv = invite("old", "c2543", 3);
    inv.via[0].params.clear();
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    l.respond(t0, tx, reply(&inv, 603, Some("me"))).unwrap();
    transmits(&mut l);
    l.receive(t0 + secs(0.2), SipMessage::Request(inv.clone()), udp());
    assert_eq!(transmits(&mut l).len(), 1);
    let mut ack = inv.clone();
    ack.method = Method::Ack;
    ack.cseq.method = Method::Ack;
    l.receive(t0 + secs(0.3), SipMessage::Request(ack), udp());
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Confirmed))
    );
}

#[test]
fn received_and_rport_are_stamped_on_the_top_via() {
    let mut l = layer();
    let t0 = Instant::now();
    let mut req = options("z9hG4bKnat");
    req.via[0].host = "192.168.1.20".into();
    req.via[0].params.push(Param::new("rport", None));
    let from = Peer::udp("203.0.113.9:40000".parse().unwrap());
    l.receive(t0, SipMessage::Request(req), from);
    let Some(TxEvent::Request { tx, req, .. }) = l.poll_event() else {
        panic!("expected a request");
    };
    assert_eq!(req.via[0].received(), Some("203.0.113.9"));
    assert_eq!(req.via[0].rport(), Some(Some(40000)));
    l.respond(t0, tx, req.response(200)).unwrap();
    let sent = transmits(&mut l);
    assert_eq!(sent[0].peer, from);
    let wire = text(&sent[0]);
    assert!(wire.contains(";received=203.0.113.9") && wire.contains(";rport=40000"));
}

// ---------------------------------------------------------------- CANCEL, strays, failures

#[test]
fn cancel_of_a_ringing_invite_answers_200_and_487_with_the_same_tag() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKring", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    l.respond(t0, tx, reply(&inv, 180, Some("ringtag")))
        .unwrap();
    transmits(&mut l);

    let cancel = request(Method::Cancel, "z9hG4bKring", "c1", 1);
    l.receive(t0 + secs(3.0), SipMessage::Request(cancel.clone()), udp());
    let sent: Vec<String> = transmits(&mut l).iter().map(text).collect();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].starts_with("SIP/2.0 200 OK") && sent[0].contains("CSeq: 1 CANCEL"));
    assert!(sent[1].starts_with("SIP/2.0 487 Request Terminated"));
    assert!(sent.iter().all(|s| s.contains("tag=ringtag")));
    let evs = events(&mut l);
    assert!(evs.contains(&TxEvent::Cancelled {
        invite_tx: tx,
        cancel: cancel.clone()
    }));
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Completed))
    );

    // A retransmitted CANCEL gets the same 200 again and nothing new reaches the TU.
    l.receive(t0 + secs(3.5), SipMessage::Request(cancel), udp());
    let sent = transmits(&mut l);
    assert!(sent.iter().any(|t| text(t).contains("CSeq: 1 CANCEL")));
    assert!(events(&mut l).is_empty());
}

#[test]
fn cancel_matching_no_invite_is_answered_481() {
    let mut l = layer();
    let t0 = Instant::now();
    let cancel = request(Method::Cancel, "z9hG4bKnone", "c1", 1);
    l.receive(t0, SipMessage::Request(cancel), udp());
    let sent = transmits(&mut l);
    assert!(text(&sent[0]).starts_with("SIP/2.0 481 "));
    assert!(events(&mut l)
        .iter()
        .all(|e| !matches!(e, TxEvent::Cancelled { .. } | TxEvent::Request { .. })));
}

#[test]
fn cancel_after_the_final_response_is_answered_200_without_effect() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKdone", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    l.respond(t0, tx, reply(&inv, 200, Some("me"))).unwrap();
    transmits(&mut l);
    l.receive(
        t0 + secs(0.1),
        SipMessage::Request(request(Method::Cancel, "z9hG4bKdone", "c1", 1)),
        udp(),
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(text(&sent[0]).starts_with("SIP/2.0 200 OK") && text(&sent[0]).contains("tag=me"));
    assert!(events(&mut l)
        .iter()
        .all(|e| !matches!(e, TxEvent::Cancelled { .. })));
}

#[test]
fn cancel_without_auto_487_leaves_the_invite_to_the_tu() {
    let mut l = TransactionLayer::new(TransactionConfig {
        auto_487_on_cancel: false,
        ..TransactionConfig::default()
    });
    let t0 = Instant::now();
    let inv = invite("z9hG4bKm", "c1", 1);
    let tx = incoming_invite(&mut l, t0, &inv, udp());
    transmits(&mut l);
    l.receive(
        t0,
        SipMessage::Request(request(Method::Cancel, "z9hG4bKm", "c1", 1)),
        udp(),
    );
    assert_eq!(transmits(&mut l).len(), 1);
    assert!(events(&mut l)
        .iter()
        .any(|e| matches!(e, TxEvent::Cancelled { invite_tx, .. } if *invite_tx == tx)));
    assert_eq!(
        l.state(tx),
        Some(TxState::ServerInvite(ServerInviteState::Proceeding))
    );
}

#[test]
fn a_response_matching_no_transaction_is_reported_as_stray() {
    let mut l = layer();
    let t0 = Instant::now();
    let resp = reply(&invite("z9hG4bKnobody", "c9", 1), 200, Some("x"));
    l.receive(t0, SipMessage::Response(resp.clone()), udp());
    assert_eq!(
        events(&mut l),
        vec![TxEvent::StrayResponse { resp, from: udp() }]
    );
    assert!(transmits(&mut l).is_empty());
}

#[test]
fn a_response_for_another_method_with_the_same_branch_is_stray() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = options("z9hG4bKm");
    l.send_request(t0, req.clone(), udp()).unwrap();
    let mut resp = reply(&req, 200, None);
    resp.cseq.method = Method::Info;
    l.receive(t0, SipMessage::Response(resp), udp());
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::StrayResponse { .. }]
    ));
}

#[test]
fn unreachable_peer_fails_its_live_transactions() {
    let mut l = layer();
    let t0 = Instant::now();
    let a = l
        .send_request(t0, invite("z9hG4bK1", "c1", 1), tcp())
        .unwrap();
    let other = Peer {
        conn: Some(ConnId(8)),
        ..tcp()
    };
    let b = l.send_request(t0, options("z9hG4bK2"), other).unwrap();
    l.peer_unreachable(t0, tcp());
    let evs = events(&mut l);
    assert!(evs.contains(&TxEvent::TransportError { tx: a }));
    assert!(!evs.contains(&TxEvent::TransportError { tx: b }));
    assert_eq!(l.len(), 1);
}

#[test]
fn retransmit_2xx_schedule_doubles_to_t2_and_gives_up_at_64_t1() {
    let t0 = Instant::now();
    let mut r = Retransmit2xx::new(t0, &TimerConfig::default(), false);
    let mut resends = Vec::new();
    while let Some(at) = r.poll_timeout() {
        match r.handle_timeout(at) {
            Retransmit2xxAction::Resend => resends.push(at - t0),
            Retransmit2xxAction::GiveUp => {
                assert_eq!(at - t0, secs(32.0));
                break;
            }
            Retransmit2xxAction::Wait => unreachable!("woken only at deadlines"),
        }
    }
    assert_eq!(&resends[..5], &[0.5, 1.5, 3.5, 7.5, 11.5].map(secs));
    assert!(r.is_done());

    let mut r = Retransmit2xx::new(t0, &TimerConfig::default(), false);
    r.ack_received();
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn many_options_transactions_all_end_and_leave_no_timers() {
    let mut l = layer();
    let t0 = Instant::now();
    for i in 0..1000 {
        let req = options(&format!("z9hG4bKbulk{i}"));
        l.receive(t0, SipMessage::Request(req.clone()), udp());
        let Some(TxEvent::Request { tx, .. }) = l.poll_event() else {
            panic!("expected a request");
        };
        l.respond(t0, tx, reply(&req, 200, Some("t"))).unwrap();
    }
    assert_eq!(l.len(), 1000);
    run_until(&mut l, t0, secs(33.0));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn a_request_we_send_that_comes_back_unchanged_is_a_loop_and_retargeted_a_spiral() {
    use rexian::sip::validate::{validate, Capabilities};
    let mut l = layer();
    let mut req = options("unused");
    req.via[0].params.clear(); // the layer picks the branch
    l.send_request(Instant::now(), req, udp()).unwrap();
    let sent = transmits(&mut l).remove(0);
    let SipMessage::Request(mut back) =
        rexian::sip::parse::parse(&sent.bytes, &Default::default()).unwrap()
    else {
        panic!("a request")
    };
    // A proxy sends it back to us: its own Via on top of ours.
    let mut proxy = via("z9hG4bKproxy1");
    proxy.host = "10.9.9.9".into();
    back.via.insert(0, proxy);
    let caps = Capabilities {
        allowed: vec![Method::Options],
        known_extensions: vec![],
        supported: vec![],
        accept: vec!["application/sdp".into()],
        local: vec![("10.0.0.1".into(), Some(5060))],
        domains: vec![],
    };
    let status = validate(&back, &caps).map_err(|r| r.status);
    assert_eq!(status, Err(482));
    back.uri = Uri::sip(Some("12320"), "expert.example", None);
    assert!(validate(&back, &caps).is_ok(), "re-targeted: a spiral");
}
