//! UAS-side checks on a parsed request before it reaches a transaction user (RFC 3261 §8.2,
//! §16.3 for Max-Forwards and loops, RFC 4475 §3.3): which requests must be refused, with
//! which status and which headers (Allow, Accept, Unsupported).
//!
//! Checks that need state (merged requests, §8.2.2.2) belong to the transaction layer. Loop
//! detection tells loops from spirals by the [`loop_token`] the sender put in its branch.

use super::header::{parse_content_type, parse_token_list, ContentType};
use super::message::{reason_phrase, Method, Request, Response, Scheme, Via};

/// What this element accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Methods allowed here (sent in `Allow`).
    pub allowed: Vec<Method>,
    /// Extension methods understood but perhaps not allowed here; standard methods are
    /// always known.
    pub known_extensions: Vec<String>,
    /// Option tags we support (`100rel`, `timer`, `replaces`, …).
    pub supported: Vec<String>,
    /// Body types we accept (`application/sdp`, …), sent in `Accept`.
    pub accept: Vec<String>,
    /// Our own sent-by addresses as they appear in Via (`host`, port or `None` for 5060).
    pub local: Vec<(String, Option<u16>)>,
    /// Domains we are the UAS for, besides the `local` hosts.
    pub domains: Vec<String>,
}

impl Capabilities {
    /// True when a method is standard or a listed extension.
    pub fn is_known(&self, m: &Method) -> bool {
        match m {
            Method::Extension(name) => self.known_extensions.iter().any(|k| k == name),
            _ => true,
        }
    }

    fn allow_value(&self) -> String {
        let names: Vec<&str> = self.allowed.iter().map(Method::as_str).collect();
        names.join(", ")
    }

    fn is_local_host(&self, host: &str, port: Option<u16>) -> bool {
        let port = port.unwrap_or(5060);
        self.local
            .iter()
            .any(|(h, p)| h.eq_ignore_ascii_case(host) && p.unwrap_or(5060) == port)
    }

    /// True when the Request-URI names us (one of our hosts or domains).
    pub fn is_for_us(&self, req: &Request) -> bool {
        let host = &req.uri.host;
        self.local.iter().any(|(h, _)| h.eq_ignore_ascii_case(host))
            || self.domains.iter().any(|d| d.eq_ignore_ascii_case(host))
    }
}

/// A refusal: the status, its reason phrase, and headers the response must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Reject {
    fn new(status: u16) -> Reject {
        Reject {
            status,
            reason: reason_phrase(status).to_string(),
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &str, value: String) -> Reject {
        self.headers.push((name.to_string(), value));
        self
    }
}

/// Runs the checks in RFC 3261 §8.2 order (after the proxy-style hop and loop checks).
pub fn validate(req: &Request, caps: &Capabilities) -> Result<(), Reject> {
    // §16.3 step 3 / RFC 4475 §3.3.11: no hops left, unless it is an OPTIONS for us.
    if req.max_forwards == Some(0) && !(req.method == Method::Options && caps.is_for_us(req)) {
        return Err(Reject::new(483));
    }
    // §16.3 step 4: a request that already went through us has looped, unless its loop
    // token shows it came back changed (a spiral).
    for (i, v) in req.via.iter().enumerate() {
        if caps.is_local_host(&v.host, v.port) && is_loop(req, v, req.via.get(i + 1)) {
            return Err(Reject::new(482));
        }
    }
    // §8.2.1: methods.
    if !caps.allowed.contains(&req.method) {
        let status = if caps.is_known(&req.method) { 405 } else { 501 };
        return Err(Reject::new(status).with("Allow", caps.allow_value()));
    }
    // §8.2.2.1: URI scheme (RFC 4475 §3.3.2, §3.3.3).
    if !matches!(req.uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
        return Err(Reject::new(416));
    }
    // §8.2.2.3: Require / Proxy-Require, not applied to ACK and CANCEL (RFC 4475 §3.3.5).
    if req.method != Method::Ack && req.method != Method::Cancel {
        let mut unsupported: Vec<&str> = Vec::new();
        for name in ["Require", "Proxy-Require"] {
            for v in req.headers.get_all(name) {
                for tag in parse_token_list(v).unwrap_or_default() {
                    let ok = caps.supported.iter().any(|s| s.eq_ignore_ascii_case(tag));
                    if !ok && !unsupported.iter().any(|u| u.eq_ignore_ascii_case(tag)) {
                        unsupported.push(tag);
                    }
                }
            }
        }
        if !unsupported.is_empty() {
            return Err(Reject::new(420).with("Unsupported", unsupported.join(", ")));
        }
    }
    // §8.2.3: body type and encoding (RFC 4475 §3.3.6).
    let accept = || caps.accept.join(", ");
    if !req.body.is_empty() {
        let Some(ct) = req.headers.get("Content-Type") else {
            let mut r = Reject::new(400);
            r.reason = "Bad Request (body without Content-Type)".to_string();
            return Err(r);
        };
        // INFO also carries DTMF as softphones and trunks send it (`session::info`).
        let info_dtmf = |t: &ContentType| {
            req.method == Method::Info
                && (t.is("application/dtmf-relay") || t.is("application/dtmf"))
        };
        let accepted = parse_content_type(ct)
            .map(|t| caps.accept.iter().any(|a| t.is(a)) || info_dtmf(&t))
            .unwrap_or(false);
        if !accepted {
            return Err(Reject::new(415).with("Accept", accept()));
        }
        let identity = |e: &str| e.is_empty() || e.eq_ignore_ascii_case("identity");
        if !req.headers.get_all("Content-Encoding").all(identity) {
            return Err(Reject::new(415)
                .with("Accept", accept())
                .with("Accept-Encoding", "identity".to_string()));
        }
    }
    // RFC 4475 §3.3.15: an INVITE whose Accept rules out every type we can answer with.
    if req.method == Method::Invite && req.headers.contains("Accept") {
        let acceptable = req.headers.get_all("Accept").any(|a| {
            a.is_empty()
                || parse_content_type(a).is_ok_and(|t| {
                    (t.media_type == "*" && t.subtype == "*")
                        || caps.accept.iter().any(|c| {
                            t.is(c)
                                || (t.subtype == "*"
                                    && c.split('/')
                                        .next()
                                        .is_some_and(|m| m.eq_ignore_ascii_case(&t.media_type)))
                        })
                })
        });
        if !acceptable {
            let mut r = Reject::new(406).with("Accept", accept());
            r.reason = "Not Acceptable".to_string();
            return Err(r);
        }
    }
    Ok(())
}

/// The response for a refusal: §8.2.6 copies of Via/From/To/Call-ID/CSeq, a To tag added when
/// the request had none (any final non-100 response needs one), and the refusal's headers.
pub fn reject_response(req: &Request, reject: &Reject) -> Response {
    let mut resp = req.response_with_reason(reject.status, &reject.reason);
    if resp.to.tag().is_none() {
        resp.to.set_tag(&local_tag(req));
    }
    for (n, v) in &reject.headers {
        resp.headers.push(n.as_str(), v.as_str());
    }
    resp
}

/// FNV-1a over NUL-separated parts: stable across runs and platforms.
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A To tag derived from the request, so retransmissions get the same tag without state.
fn local_tag(req: &Request) -> String {
    let branch = req.top_via().and_then(|v| v.branch()).unwrap_or("");
    let h = fnv(&[&req.call_id, branch, req.from.tag().unwrap_or("")]);
    format!("rx{h:016x}")
}

const LOOP_MARK: &str = "-lt";

/// The loop-detection suffix for a branch we put on a request we send (RFC 3261 §16.6 item
/// 8): a hash of the Request-URI, Call-ID, From and To tags, CSeq number and the Via we
/// received the request with (`upstream`; `None` for requests we originate). Append it to
/// the branch (`z9hG4bK<random>` + token). If the request comes back to us unchanged, its
/// token matches and [`validate`] answers 482; if it comes back changed, it is a spiral and
/// passes. A Via of ours whose branch carries no token is treated as a loop.
pub fn loop_token(req: &Request, upstream: Option<&Via>) -> String {
    let uri = req.uri.to_string();
    let up = upstream.map(Via::to_string).unwrap_or_default();
    let seq = req.cseq.seq.to_string();
    let h = fnv(&[
        &uri,
        &req.call_id,
        req.from.tag().unwrap_or(""),
        req.to.tag().unwrap_or(""),
        &seq,
        &up,
    ]);
    format!("{LOOP_MARK}{h:016x}")
}

fn is_loop(req: &Request, ours: &Via, below: Option<&Via>) -> bool {
    let branch = ours.branch().unwrap_or("");
    match branch.rfind(LOOP_MARK) {
        Some(at) if branch.len() - at == LOOP_MARK.len() + 16 => {
            branch[at..] == loop_token(req, below)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::SipMessage;
    use crate::sip::parse::{parse, Limits};

    fn caps() -> Capabilities {
        Capabilities {
            allowed: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
            ],
            known_extensions: vec![],
            supported: vec!["100rel".into(), "timer".into()],
            accept: vec!["application/sdp".into()],
            local: vec![("192.0.2.10".into(), None)],
            domains: vec!["gov.example".into()],
        }
    }

    fn req(method: &str, uri: &str, extra: &str, body: &str) -> Request {
        let m = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKa\r\nMax-Forwards: 70\r\nFrom: <sip:c@carrier.example>;tag=f\r\nTo: <sip:12345@gov.example>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match parse(m.as_bytes(), &Limits::default()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn status(r: &Request) -> Option<u16> {
        validate(r, &caps()).err().map(|r| r.status)
    }

    #[test]
    fn accepts_a_plain_invite() {
        let r = req(
            "INVITE",
            "sip:12345@gov.example",
            "Content-Type: application/sdp\r\n",
            "v=0\r\n",
        );
        assert_eq!(validate(&r, &caps()), Ok(()));
    }

    #[test]
    fn unknown_method_is_501_and_disallowed_known_is_405_with_allow() {
        let r = req("FOO", "sip:12345@gov.example", "", "");
        let e = validate(&r, &caps()).unwrap_err();
        assert_eq!(e.status, 501);
        assert_eq!(
            e.headers[0],
            ("Allow".into(), "INVITE, ACK, BYE, CANCEL, OPTIONS".into())
        );
        assert_eq!(
            status(&req("SUBSCRIBE", "sip:12345@gov.example", "", "")),
            Some(405)
        );
    }

    #[test]
    fn unknown_scheme_is_416() {
        assert_eq!(
            status(&req("OPTIONS", "nobodyknowsthisscheme:opaque", "", "")),
            Some(416)
        );
        assert_eq!(status(&req("OPTIONS", "tel:12345", "", "")), None);
    }

    #[test]
    fn unsupported_require_is_420_listing_tags() {
        let r = req(
            "INVITE",
            "sip:1@gov.example",
            "Require: 100rel, nothere\r\nProxy-Require: foo\r\n",
            "",
        );
        let e = validate(&r, &caps()).unwrap_err();
        assert_eq!(e.status, 420);
        assert_eq!(
            e.headers,
            vec![("Unsupported".into(), "nothere, foo".into())]
        );
        let ack = req("ACK", "sip:1@gov.example", "Require: nothere\r\n", "");
        assert_eq!(status(&ack), None);
    }

    #[test]
    fn unsupported_body_type_is_415_with_accept() {
        let r = req(
            "INVITE",
            "sip:1@gov.example",
            "Content-Type: application/unknownformat\r\n",
            "x",
        );
        let e = validate(&r, &caps()).unwrap_err();
        assert_eq!(
            (e.status, e.headers[0].1.as_str()),
            (415, "application/sdp")
        );
    }

    #[test]
    fn info_may_carry_dtmf_bodies_other_requests_may_not() {
        let mut c = caps();
        c.allowed.push(Method::Info);
        let status = |r: &Request| validate(r, &c).err().map(|e| e.status);
        for ct in ["application/dtmf-relay", "application/dtmf"] {
            let headers = format!("Content-Type: {ct}\r\n");
            let info = req("INFO", "sip:1@gov.example", &headers, "Signal=5\r\n");
            assert_eq!(status(&info), None, "{ct}");
            let invite = req("INVITE", "sip:1@gov.example", &headers, "Signal=5\r\n");
            assert_eq!(status(&invite), Some(415), "{ct}");
        }
    }

    #[test]
    fn zero_max_forwards_is_483_except_options_for_us() {
        let mut r = req("INVITE", "sip:1@gov.example", "", "");
        r.max_forwards = Some(0);
        assert_eq!(status(&r), Some(483));
        let mut o = req("OPTIONS", "sip:1@gov.example", "", "");
        o.max_forwards = Some(0);
        assert_eq!(status(&o), None);
        o.uri.host = "elsewhere.example".into();
        assert_eq!(status(&o), Some(483));
    }

    #[test]
    fn our_own_via_is_a_loop() {
        let mut r = req("INVITE", "sip:1@gov.example", "", "");
        r.via.push(
            crate::sip::header::parse_via("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo").unwrap(),
        );
        assert_eq!(status(&r), Some(482));
    }

    #[test]
    fn returning_unchanged_request_is_a_loop_and_changed_one_a_spiral() {
        let received = req("INVITE", "sip:1@gov.example", "", "");
        // We forward it with our Via on top, carrying the loop token.
        let token = loop_token(&received, received.top_via());
        let ours = format!("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKfwd1{token}");
        let mut back = received.clone();
        back.via
            .insert(0, crate::sip::header::parse_via(&ours).unwrap());
        back.via.insert(
            0,
            crate::sip::header::parse_via("SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKx").unwrap(),
        );
        assert_eq!(status(&back), Some(482));
        let mut spiral = back.clone();
        spiral.uri = crate::sip::uri::parse_uri("sip:2@gov.example").unwrap();
        assert_eq!(status(&spiral), None);
    }

    #[test]
    fn reject_response_adds_to_tag_and_headers() {
        let r = req("FOO", "sip:12345@gov.example", "", "");
        let e = validate(&r, &caps()).unwrap_err();
        let resp = reject_response(&r, &e);
        assert_eq!(resp.status, 501);
        assert!(resp.to.tag().is_some());
        assert_eq!(resp.to.tag(), reject_response(&r, &e).to.tag());
        assert!(resp.headers.get("Allow").is_some());
    }
}
