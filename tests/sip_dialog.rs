//! Dialog creation, routing and CSeq rules (RFC 3261 §12), on message values built by hand.

use rexian::sip::dialog::{reject, Dialog, DialogError, DialogId, DialogState, Dialogs, Role};
use rexian::sip::message::{CSeq, Headers, Method, NameAddr, Param, Request, Response, Uri, Via};

fn via(branch: &str) -> Via {
    Via {
        transport: "UDP".into(),
        host: "192.0.2.10".into(),
        port: Some(5060),
        params: vec![Param::new("branch", Some(branch.to_string()))],
    }
}

fn name(user: &str, host: &str) -> NameAddr {
    NameAddr::new(Uri::sip(Some(user), host, None))
}

fn route(host: &str, lr: bool) -> NameAddr {
    let mut uri = Uri::sip(None, host, None);
    if lr {
        uri.params.push(Param::new("lr", None));
    }
    NameAddr::new(uri)
}

fn invite(call_id: &str, cseq: u32) -> Request {
    let mut from = name("caller", "carrier.example");
    from.set_tag("remote1");
    Request {
        method: Method::Invite,
        uri: Uri::sip(Some("12345"), "hotline.example", None),
        via: vec![via("z9hG4bKinv")],
        from,
        to: name("12345", "hotline.example"),
        call_id: call_id.into(),
        cseq: CSeq {
            seq: cseq,
            method: Method::Invite,
        },
        max_forwards: Some(70),
        headers: Headers::new(),
        body: Default::default(),
    }
}

fn in_dialog(d: &Dialog, method: Method, seq: u32) -> Request {
    // A request as the peer would send it in dialog `d` (tags swapped).
    let mut req = invite(&d.id.call_id, seq);
    req.method = method.clone();
    req.cseq = CSeq { seq, method };
    req.from = d.remote.clone();
    req.to = d.local.clone();
    req
}

fn our_contact() -> NameAddr {
    name("rexian", "192.0.2.10:5060")
}

fn ok_with_tag(req: &Request, status: u16, tag: &str) -> Response {
    let mut r = req.response(status);
    r.to.set_tag(tag);
    r
}

fn uac_invite() -> Request {
    let mut req = invite("uac-call", 7);
    req.from = name("rexian", "hotline.example");
    req.from.set_tag("local1");
    req.to = name("agent42", "pbx.example");
    req
}

fn uas_dialog() -> Dialog {
    let req = invite("uas-call", 10);
    Dialog::new_uas(
        &req,
        "local9",
        &[route("p1.example", true), route("p2.example", true)],
        Some(&name("caller", "203.0.113.5:5062")),
        our_contact(),
        DialogState::Confirmed,
    )
    .unwrap()
}

#[test]
fn uac_dialog_from_2xx_reverses_record_route_and_targets_the_contact() {
    let inv = uac_invite();
    let ok = ok_with_tag(&inv, 200, "remote7");
    let d = Dialog::new_uac(
        &inv,
        &ok,
        &[route("near.example", true), route("far.example", true)],
        Some(&name("agent42", "198.51.100.7:5070")),
        our_contact(),
    )
    .unwrap();
    assert_eq!(
        d.id,
        DialogId {
            call_id: "uac-call".into(),
            local_tag: "local1".into(),
            remote_tag: "remote7".into()
        }
    );
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.role, Role::Uac);
    assert_eq!(d.route_set[0].uri.host, "far.example");
    assert_eq!(d.remote_target.host, "198.51.100.7:5070");
    assert_eq!(d.local_seq, 7);
    assert_eq!(d.next_hop().host, "far.example");
}

#[test]
fn uac_early_dialog_from_a_tagged_180_is_confirmed_by_the_2xx_with_a_new_route_set() {
    let inv = uac_invite();
    let ringing = ok_with_tag(&inv, 180, "remote7");
    let mut d = Dialog::new_uac(&inv, &ringing, &[], None, our_contact()).unwrap();
    assert_eq!(d.state, DialogState::Early);
    assert_eq!(
        d.remote_target, inv.uri,
        "no Contact on the 180: Request-URI"
    );
    d.confirm_uac(
        &[route("a.example", true), route("b.example", true)],
        Some(&name("agent42", "198.51.100.7")),
    );
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.route_set[0].uri.host, "b.example");
    assert_eq!(d.remote_target.host, "198.51.100.7");
}

#[test]
fn responses_without_a_to_tag_or_2xx_without_contact_make_no_dialog() {
    let inv = uac_invite();
    let untagged = inv.response(180);
    assert_eq!(
        Dialog::new_uac(&inv, &untagged, &[], None, our_contact()),
        Err(DialogError::MissingTag("To"))
    );
    let ok = ok_with_tag(&inv, 200, "r");
    assert_eq!(
        Dialog::new_uac(&inv, &ok, &[], None, our_contact()),
        Err(DialogError::MissingContact)
    );
}

#[test]
fn uas_bye_uses_loose_routes_in_record_route_order_and_the_next_cseq() {
    let mut d = uas_dialog();
    assert_eq!(d.remote_seq, Some(10));
    let bye = d.new_request(Method::Bye, via("z9hG4bKbye")).unwrap();
    assert_eq!(bye.uri.host, "203.0.113.5:5062");
    let routes: Vec<&str> = bye.headers.get_all("Route").collect();
    assert_eq!(routes, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    assert_eq!(bye.cseq.seq, 1);
    assert_eq!(bye.from.tag(), Some("local9"));
    assert_eq!(bye.to.tag(), Some("remote1"));
    assert!(!bye.headers.contains("Contact"), "BYE is no target refresh");
    let info = d.new_request(Method::Info, via("z9hG4bKinfo")).unwrap();
    assert_eq!(info.cseq.seq, 2);
}

#[test]
fn strict_first_route_moves_into_the_request_uri_and_the_target_to_the_last_route() {
    let req = invite("strict", 1);
    let mut d = Dialog::new_uas(
        &req,
        "l",
        &[route("strict.example", false), route("p2.example", true)],
        Some(&name("caller", "203.0.113.5")),
        our_contact(),
        DialogState::Confirmed,
    )
    .unwrap();
    let bye = d.new_request(Method::Bye, via("z9hG4bKs")).unwrap();
    assert_eq!(bye.uri.host, "strict.example");
    let routes: Vec<&str> = bye.headers.get_all("Route").collect();
    assert_eq!(routes, ["<sip:p2.example;lr>", "<sip:caller@203.0.113.5>"]);
}

#[test]
fn reinvite_and_update_carry_our_contact() {
    let mut d = uas_dialog();
    for m in [Method::Invite, Method::Update] {
        let r = d.new_request(m, via("z9hG4bKr")).unwrap();
        assert_eq!(
            r.headers.get("Contact"),
            Some("<sip:rexian@192.0.2.10:5060>")
        );
    }
}

#[test]
fn ack_for_2xx_reuses_the_invite_cseq_and_ack_cancel_are_not_new_requests() {
    let mut d = uas_dialog();
    let reinvite = d.new_request(Method::Invite, via("z9hG4bKre")).unwrap();
    let ack = d.ack_for_2xx(reinvite.cseq.seq, via("z9hG4bKack"));
    assert_eq!(
        ack.cseq,
        CSeq {
            seq: 1,
            method: Method::Ack
        }
    );
    assert_eq!(ack.headers.get_all("Route").count(), 2);
    assert_eq!(d.local_seq, 1);
    assert_eq!(
        d.new_request(Method::Ack, via("x")),
        Err(DialogError::NotForNewRequest(Method::Ack))
    );
    assert!(d.new_request(Method::Cancel, via("x")).is_err());
}

#[test]
fn remote_cseq_going_backwards_or_repeating_is_rejected_with_500() {
    let mut d = uas_dialog();
    let stale = in_dialog(&d, Method::Info, 9);
    let err = d.receive_request(&stale, None).unwrap_err();
    assert_eq!(err, DialogError::CSeqOutOfOrder { last: 10, got: 9 });
    assert_eq!(reject(&stale, &err).status, 500);
    assert!(d
        .receive_request(&in_dialog(&d, Method::Info, 10), None)
        .is_err());
    d.receive_request(&in_dialog(&d, Method::Info, 11), None)
        .unwrap();
    assert_eq!(d.remote_seq, Some(11));
    // ACK keeps its INVITE's number.
    d.receive_request(&in_dialog(&d, Method::Ack, 10), None)
        .unwrap();
}

#[test]
fn reinvite_and_update_refresh_the_remote_target_but_info_does_not() {
    let mut d = uas_dialog();
    let moved = name("caller", "203.0.113.99");
    d.receive_request(&in_dialog(&d, Method::Info, 11), Some(&moved))
        .unwrap();
    assert_eq!(d.remote_target.host, "203.0.113.5:5062");
    d.receive_request(&in_dialog(&d, Method::Invite, 12), Some(&moved))
        .unwrap();
    assert_eq!(d.remote_target.host, "203.0.113.99");
    let again = name("caller", "203.0.113.100");
    d.receive_request(&in_dialog(&d, Method::Update, 13), Some(&again))
        .unwrap();
    assert_eq!(d.remote_target.host, "203.0.113.100");

    // And as UAC, a 2xx to our re-INVITE refreshes it.
    d.refresh_from_response(&Method::Invite, Some(&moved));
    assert_eq!(d.remote_target.host, "203.0.113.99");
}

#[test]
fn requests_for_unknown_dialogs_are_answered_481() {
    let mut dialogs = Dialogs::new();
    let d = uas_dialog();
    let good = in_dialog(&d, Method::Bye, 11);
    let mut unknown = good.clone();
    unknown.from.set_tag("someone-else");
    dialogs.insert(d);
    let err = dialogs.find_for_request(&unknown, None).unwrap_err();
    assert_eq!(err, DialogError::UnknownDialog);
    assert_eq!(reject(&unknown, &err).status, 481);
    let found = dialogs.find_for_request(&good, None).unwrap();
    assert_eq!(found.remote_seq, Some(11));
    assert_eq!(dialogs.len(), 1);
}
