//! Bytes → [`SipMessage`] (RFC 3261 §7, §18.3, §25), datagram rules.
//!
//! [`parse`] takes one whole message: a UDP datagram, or a message cut from a stream by
//! [`framing::frame`](super::framing::frame). It tolerates what RFC 4475 §3.1.1 calls valid
//! (leading CRLFs, folding, white space around colons, compact and odd-case names, unknown
//! methods and headers, LF-only lines) and refuses the rest with a [`ParseError`] whose
//! `status` and `reason` form the response line. When the request is good enough to answer
//! (Via, From, To, Call-ID and CSeq parsed) the error carries a [`Partial`] so the shell can
//! send that response instead of dropping the request.
//!
//! Content-Length follows §18.3: a body longer than it is truncated, a shorter one is a 400,
//! and without it the body is the rest of the datagram. Header bytes that are not UTF-8 (GBK
//! display names from some carriers) are decoded lossily rather than refused.
//!
//! The parser never panics, does not use regular expressions, and is linear in input size.

use std::borrow::Cow;

use bytes::Bytes;
use thiserror::Error;

use super::fields::{parse_headers, Fields};
use super::lex::is_token;
use super::message::{CSeq, Method, NameAddr, Request, Response, Scheme, SipMessage, Uri, Via};
use super::uri::parse_uri;

/// Size limits applied while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message accepted; larger ones get 513.
    pub max_message: usize,
    /// Most header lines accepted; more get 513.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: 65_535,
            max_headers: 256,
        }
    }
}

/// Why a message was refused, as the status and reason phrase to answer with.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{status} {reason}")]
pub struct ParseError {
    /// 400, 505, 513, …
    pub status: u16,
    /// Short ASCII reason phrase naming the fault, e.g.
    /// `Bad Request (Content-Length larger than body)`.
    pub reason: String,
    /// The fields needed to answer, when the message was a request that far readable.
    pub partial: Option<Box<Partial>>,
}

impl ParseError {
    pub(crate) fn new(status: u16, reason: impl Into<String>) -> ParseError {
        ParseError {
            status,
            reason: reason.into(),
            partial: None,
        }
    }

    pub(crate) fn bad(what: impl std::fmt::Display) -> ParseError {
        ParseError::new(400, format!("Bad Request ({what})"))
    }

    /// The error response to send, when the request was identifiable.
    pub fn response(&self) -> Option<Response> {
        self.partial
            .as_ref()
            .map(|p| p.response(self.status, &self.reason))
    }
}

/// What survived of a refused request: enough to build its error response (§8.2.6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partial {
    /// The request method when the request line was readable.
    pub method: Option<Method>,
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
}

impl Partial {
    pub fn response(&self, status: u16, reason: &str) -> Response {
        Response::reply_to(
            status,
            reason,
            &self.via,
            &self.from,
            &self.to,
            &self.call_id,
            &self.cseq,
        )
    }
}

pub(crate) enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: String },
}

/// Parses one whole SIP message (datagram rules; see the module doc).
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<SipMessage, ParseError> {
    let skip = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let msg = &bytes[skip..];
    if msg.is_empty() {
        return Err(ParseError::bad("empty message"));
    }
    let (head_len, body_start) =
        find_head_end(msg).ok_or_else(|| ParseError::bad("no empty line after headers"))?;
    let head: Cow<'_, str> = String::from_utf8_lossy(&msg[..head_len]);
    let (first, rest) = match head.find('\n') {
        Some(n) => (&head[..n], &head[n + 1..]),
        None => (&head[..], ""),
    };
    let first = first.strip_suffix('\r').unwrap_or(first);
    let start = parse_start_line(first);
    let is_request = !matches!(start, Ok(StartLine::Response { .. }))
        && !first
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"));
    let fields = parse_headers(rest, limits);

    let with_partial = |mut err: ParseError, f: &Fields, s: Option<&StartLine>| {
        if is_request {
            err.partial = f.partial(s);
        }
        err
    };
    if bytes.len() > limits.max_message {
        let e = ParseError::new(513, "Message Too Large");
        return Err(with_partial(e, &fields, start.as_ref().ok()));
    }
    let start = match start {
        Ok(s) => s,
        Err(e) => return Err(with_partial(e, &fields, None)),
    };
    if let Some(e) = &fields.error {
        return Err(with_partial(e.clone(), &fields, Some(&start)));
    }
    let body = &msg[body_start..];
    let body = match fields.content_length {
        Some(cl) if cl > body.len() => {
            let e = ParseError::bad("Content-Length larger than body");
            return Err(with_partial(e, &fields, Some(&start)));
        }
        Some(cl) => &body[..cl],
        None => body,
    };
    let missing = |name: &str| ParseError::bad(format_args!("missing {name}"));
    if fields.via.is_empty() {
        return Err(missing("Via"));
    }
    let Fields {
        via,
        from,
        to,
        call_id,
        cseq,
        max_forwards,
        headers,
        ..
    } = fields;
    let from = from.ok_or_else(|| missing("From"))?;
    let to = to.ok_or_else(|| missing("To"))?;
    let call_id = call_id.ok_or_else(|| missing("Call-ID"))?;
    let cseq = cseq.ok_or_else(|| missing("CSeq"))?;
    let body = Bytes::copy_from_slice(body);
    match start {
        StartLine::Request { method, uri } => {
            if cseq.method != method {
                let partial = Partial {
                    method: Some(method),
                    via,
                    from,
                    to,
                    call_id,
                    cseq,
                };
                let mut e = ParseError::bad("CSeq method does not match");
                e.partial = Some(Box::new(partial));
                return Err(e);
            }
            Ok(SipMessage::Request(Request {
                method,
                uri,
                via,
                from,
                to,
                call_id,
                cseq,
                max_forwards,
                headers,
                body,
            }))
        }
        StartLine::Response { status, reason } => Ok(SipMessage::Response(Response {
            status,
            reason,
            via,
            from,
            to,
            call_id,
            cseq,
            headers,
            body,
        })),
    }
}

/// Length of the header section (without its final empty line) and where the body starts.
/// Lines end in CRLF or a bare LF.
pub(crate) fn find_head_end(msg: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(n) = memchr::memchr(b'\n', &msg[from..]) {
        let nl = from + n;
        // The line after this newline is empty if it is "\r\n" or "\n".
        match msg.get(nl + 1) {
            Some(b'\n') => return Some((nl + 1, nl + 2)),
            Some(b'\r') if msg.get(nl + 2) == Some(&b'\n') => return Some((nl + 1, nl + 3)),
            _ => {}
        }
        from = nl + 1;
    }
    None
}

fn is_version_syntax(v: &str) -> bool {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &v[4..])
    else {
        return false;
    };
    match rest.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn check_version(v: &str) -> Result<(), ParseError> {
    if !is_version_syntax(v) {
        return Err(ParseError::bad("bad SIP version"));
    }
    if &v[4..] != "2.0" {
        return Err(ParseError::new(505, "Version Not Supported"));
    }
    Ok(())
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
        check_version(version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::bad("bad status code"));
        }
        let status: u16 = code
            .parse()
            .map_err(|_| ParseError::bad("bad status code"))?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::bad("bad status code"));
        }
        if reason.bytes().any(|b| b < b' ' && b != b'\t') {
            return Err(ParseError::bad("bad reason phrase"));
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.to_string(),
        });
    }
    let parts: Vec<&str> = line.splitn(5, ' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        let ends_with_version = parts.last().is_some_and(|p| is_version_syntax(p));
        let reason = if parts.iter().any(|p| p.is_empty()) {
            "extra spaces in request line"
        } else if parts.len() > 3 && ends_with_version {
            "whitespace in Request-URI"
        } else {
            "malformed request line"
        };
        return Err(ParseError::bad(reason));
    }
    let (m, u, v) = (parts[0], parts[1], parts[2]);
    if !is_token(m) {
        return Err(ParseError::bad("bad method"));
    }
    check_version(v)?;
    if u.starts_with('<') {
        return Err(ParseError::bad("Request-URI in <>"));
    }
    let uri = parse_uri(u).map_err(|e| ParseError::bad(format_args!("bad Request-URI: {e}")))?;
    if uri.headers.is_some() && matches!(uri.scheme, Scheme::Sip | Scheme::Sips) {
        return Err(ParseError::bad("Request-URI has headers"));
    }
    Ok(StartLine::Request {
        method: Method::from_token(m),
        uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:12345@gov.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:probe@carrier.example>;tag=1928\r\n\
        To: <sip:12345@gov.example>\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 63104 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    fn req(s: &str) -> Request {
        match parse(s.as_bytes(), &Limits::default()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn err(s: &[u8]) -> ParseError {
        parse(s, &Limits::default()).expect_err("should be refused")
    }

    #[test]
    fn parses_plain_options() {
        let r = req(OPTIONS);
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.via[0].branch(), Some("z9hG4bK776"));
        assert_eq!(r.max_forwards, Some(70));
        assert_eq!(r.cseq.seq, 63104);
        assert!(r.body.is_empty());
        assert!(!r.headers.contains("Content-Length"));
    }

    #[test]
    fn round_trips_through_display() {
        let r = req(OPTIONS);
        let again = req(std::str::from_utf8(&r.to_bytes()).unwrap());
        assert_eq!(r, again);
    }

    #[test]
    fn skips_leading_crlf_and_unfolds_compact_headers() {
        let m = "\r\n\r\nINVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>\r\n ;tag=9\r\nt:sip:a@b\r\ni : 1@h\r\nSubject:\r\n\tHello\r\ncSeQ: 1 INVITE\r\nl: 0\r\n\r\n";
        let r = req(m);
        assert_eq!(r.from.tag(), Some("9"));
        assert_eq!(r.call_id, "1@h");
        assert_eq!(r.headers.get("Subject"), Some("Hello"));
    }

    #[test]
    fn truncates_body_longer_than_content_length() {
        let m = OPTIONS.replace("Content-Length: 0", "Content-Length: 3") + "abcdef";
        assert_eq!(&req(&m).body[..], b"abc");
    }

    #[test]
    fn refuses_body_shorter_than_content_length_with_partial() {
        let m = OPTIONS.replace("Content-Length: 0", "Content-Length: 30") + "abc";
        let e = err(m.as_bytes());
        assert_eq!(e.status, 400);
        assert_eq!(e.reason, "Bad Request (Content-Length larger than body)");
        let resp = e.response().expect("identifiable");
        assert_eq!(resp.call_id, "a84b4c76e66710");
        assert_eq!(resp.status, 400);
    }

    #[test]
    fn missing_content_length_takes_the_rest() {
        let m = OPTIONS.replace("Content-Length: 0\r\n", "") + "xyz";
        assert_eq!(&req(&m).body[..], b"xyz");
    }

    #[test]
    fn refuses_conflicting_content_lengths_and_negative() {
        let m = OPTIONS.replace("Content-Length: 0", "Content-Length: 0\r\nl: 5") + "12345";
        assert!(err(m.as_bytes())
            .reason
            .contains("conflicting Content-Length"));
        let m = OPTIONS.replace("Content-Length: 0", "Content-Length: -9");
        assert!(err(m.as_bytes()).reason.contains("Content-Length"));
    }

    #[test]
    fn bad_version_is_505_with_partial() {
        let e = err(OPTIONS
            .replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia")
            .as_bytes());
        assert_eq!(e.status, 505);
        assert!(e.partial.is_some());
    }

    #[test]
    fn request_line_faults_are_named() {
        let cases = [
            ("OPTIONS  sip:12345@gov.example SIP/2.0", "extra spaces"),
            ("OPTIONS sip:12345@gov.example SIP/2.0 ", "extra spaces"),
            (
                "OPTIONS <sip:12345@gov.example> SIP/2.0",
                "Request-URI in <>",
            ),
            (
                "OPTIONS sip:12345@gov.example; lr SIP/2.0",
                "whitespace in Request-URI",
            ),
            (
                "OPTIONS sip:1@gov.example?Route=%3Csip:x%3E SIP/2.0",
                "Request-URI has headers",
            ),
        ];
        for (line, want) in cases {
            let m = OPTIONS.replace("OPTIONS sip:12345@gov.example SIP/2.0", line);
            let e = err(m.as_bytes());
            assert_eq!(e.status, 400, "{line}");
            assert!(e.reason.contains(want), "{line}: {}", e.reason);
            assert!(e.partial.is_some(), "{line}");
        }
    }

    #[test]
    fn cseq_method_mismatch_is_refused() {
        let e = err(OPTIONS.replace("63104 OPTIONS", "63104 INVITE").as_bytes());
        assert!(e.reason.contains("CSeq method"));
        assert_eq!(e.partial.unwrap().method, Some(Method::Options));
    }

    #[test]
    fn missing_mandatory_header_is_named() {
        for h in [
            "Call-ID: a84b4c76e66710\r\n",
            "To: <sip:12345@gov.example>\r\n",
        ] {
            let e = err(OPTIONS.replace(h, "").as_bytes());
            let name = h.split(':').next().unwrap();
            assert_eq!(e.reason, format!("Bad Request (missing {name})"));
        }
    }

    #[test]
    fn oversize_is_513() {
        let limits = Limits {
            max_message: 100,
            ..Limits::default()
        };
        let e = parse(OPTIONS.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.status, 513);
        assert!(e.partial.is_some());
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        let m = OPTIONS.replace("From: <sip:probe", "From: \"Probe <sip:probe");
        assert!(err(m.as_bytes()).reason.contains("unbalanced quotes"));
    }

    #[test]
    fn parses_response_without_reason_phrase() {
        let m = OPTIONS.replace("OPTIONS sip:12345@gov.example SIP/2.0", "SIP/2.0 100 ");
        match parse(m.as_bytes(), &Limits::default()).unwrap() {
            SipMessage::Response(r) => assert_eq!((r.status, r.reason.as_str()), (100, "")),
            SipMessage::Request(_) => panic!("response expected"),
        }
        let big = OPTIONS.replace(
            "OPTIONS sip:12345@gov.example SIP/2.0",
            "SIP/2.0 4294967301 x",
        );
        assert!(err(big.as_bytes()).partial.is_none());
    }

    #[test]
    fn splits_list_headers_and_keeps_unknown_ones() {
        let m = OPTIONS.replace(
            "Content-Length: 0",
            "Supported: 100rel, timer\r\nNewFangled: ;;,,;;\r\nContent-Length: 0",
        );
        let r = req(&m);
        assert_eq!(r.headers.get_all("Supported").count(), 2);
        assert_eq!(r.headers.get("NewFangled"), Some(";;,,;;"));
    }

    #[test]
    fn error_response_copies_the_request_identity() {
        let m = OPTIONS.replace(
            "Content-Length: 0",
            "Content-Length: 0\r\nContent-Type: nonsense",
        );
        let e = err(m.as_bytes());
        assert!(e.reason.contains("Content-Type"));
        let resp = e.response().expect("identifiable");
        assert_eq!(resp.reason, e.reason);
        assert_eq!(resp.cseq.method, Method::Options);
        assert_eq!(resp.from.tag(), Some("1928"));
        let wire = resp.to_bytes();
        assert!(wire.starts_with(b"SIP/2.0 400 Bad Request (bad Content-Type)\r\n"));
    }

    #[test]
    fn refused_response_carries_no_partial() {
        let m = OPTIONS
            .replace("OPTIONS sip:12345@gov.example SIP/2.0", "SIP/2.0 200 OK")
            .replace("Content-Length: 0", "Content-Length: 9");
        assert!(err(m.as_bytes()).partial.is_none());
    }

    #[test]
    fn too_many_headers_is_513() {
        let limits = Limits {
            max_headers: 5,
            ..Limits::default()
        };
        let e = parse(OPTIONS.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.status, 513);
    }

    #[test]
    fn non_utf8_display_name_is_tolerated() {
        let mut m = OPTIONS
            .replace("From: <sip:probe", "From: \"XX\" <sip:probe")
            .into_bytes();
        let at = m.windows(2).position(|w| w == b"XX").expect("marker");
        m[at] = 0xd5; // GBK lead byte
        m[at + 1] = 0xc5;
        let r = match parse(&m, &Limits::default()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("{other:?}"),
        };
        assert!(r.from.display.is_some());
    }

    #[test]
    fn never_panics_on_prefixes_of_a_message() {
        let m = OPTIONS.as_bytes();
        for n in 0..m.len() {
            let _ = parse(&m[..n], &Limits::default());
        }
        let _ = parse(&[0xff, 0xfe, b'\n', b'\n'], &Limits::default());
    }
}
