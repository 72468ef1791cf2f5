//! Typed parsers for header values (RFC 3261 §20, RFC 3262, RFC 4028) and the compact-name
//! table (§7.3.3). Each parser takes the unfolded value (text after the colon) and returns a
//! typed value or a [`SyntaxError`] naming the fault; numbers are overflow-checked.

pub use super::lex::SyntaxError;
use super::lex::{is_token, parse_decimal, parse_params, skip_ws, split_commas, unquote};
use super::message::{CSeq, Method, NameAddr, Param, Via};
use super::uri::{parse_name_addr, split_hostport};

/// Known header names in canonical spelling, with compact forms (RFC 3261 §7.3.3, RFC 3515,
/// RFC 3892, RFC 3841, RFC 4028, RFC 6665, RFC 3265).
const KNOWN: &[(&str, Option<&str>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some("a")),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some("u")),
    ("Authentication-Info", None),
    ("Authorization", None),
    ("Call-ID", Some("i")),
    ("Call-Info", None),
    ("Contact", Some("m")),
    ("Content-Disposition", None),
    ("Content-Encoding", Some("e")),
    ("Content-Language", None),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("CSeq", None),
    ("Date", None),
    ("Error-Info", None),
    ("Event", Some("o")),
    ("Expires", None),
    ("From", Some("f")),
    ("Identity", Some("y")),
    ("In-Reply-To", None),
    ("Max-Forwards", None),
    ("MIME-Version", None),
    ("Min-Expires", None),
    ("Min-SE", None),
    ("Organization", None),
    ("P-Asserted-Identity", None),
    ("Path", None),
    ("Priority", None),
    ("Privacy", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("RAck", None),
    ("Reason", None),
    ("Record-Route", None),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Reject-Contact", Some("j")),
    ("Reply-To", None),
    ("Request-Disposition", Some("d")),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("RSeq", None),
    ("Server", None),
    ("Service-Route", None),
    ("Session-Expires", Some("x")),
    ("Subject", Some("s")),
    ("Subscription-State", None),
    ("Supported", Some("k")),
    ("Timestamp", None),
    ("To", Some("t")),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some("v")),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// The canonical long name of a known header, given any case or its compact form
/// (`v` → `Via`, `call-id` → `Call-ID`). `None` for headers this table does not know.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    if name.len() == 1 {
        KNOWN
            .iter()
            .find(|(_, c)| c.is_some_and(|c| c.eq_ignore_ascii_case(name)))
            .map(|(n, _)| *n)
    } else {
        KNOWN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, _)| *n)
    }
}

/// Headers whose comma-joined values are separate list elements (split one per entry).
pub fn is_list_header(canonical: &str) -> bool {
    matches!(
        canonical,
        "Accept"
            | "Accept-Encoding"
            | "Accept-Language"
            | "Allow"
            | "Allow-Events"
            | "Contact"
            | "Content-Encoding"
            | "Path"
            | "Proxy-Require"
            | "Record-Route"
            | "Require"
            | "Route"
            | "Service-Route"
            | "Supported"
            | "Unsupported"
    )
}

/// Parses a Via value, which may hold several comma-separated entries (§20.42).
pub fn parse_via_list(value: &str) -> Result<Vec<Via>, SyntaxError> {
    split_commas(value)?.into_iter().map(parse_via).collect()
}

/// Parses one `SIP/2.0/TRANSPORT host[:port];params` entry. White space is allowed around
/// the slashes and colon (`SIP / 2.0 / UDP`).
pub fn parse_via(value: &str) -> Result<Via, SyntaxError> {
    const BAD: SyntaxError = SyntaxError("bad Via");
    let mut parts = value.splitn(3, '/');
    let proto = parts.next().ok_or(BAD)?.trim();
    let version = parts.next().ok_or(BAD)?.trim();
    let rest = parts.next().ok_or(BAD)?.trim_start();
    if !proto.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return Err(SyntaxError("bad Via protocol"));
    }
    let rb = rest.as_bytes();
    let mut i = 0;
    while i < rb.len() && super::lex::is_token_byte(rb[i]) {
        i += 1;
    }
    let transport = &rest[..i];
    if transport.is_empty() {
        return Err(SyntaxError("bad Via transport"));
    }
    let j = skip_ws(rb, i);
    if j == i {
        return Err(SyntaxError("bad Via sent-by"));
    }
    // sent-by runs to the first ';' (or end); blanks around ':' are removed.
    let after = &rest[j..];
    let end = after.find(';').unwrap_or(after.len());
    let sent_by =
        squeeze_colon_ws(after[..end].trim_end()).ok_or(SyntaxError("bad Via sent-by"))?;
    let (host, port) = split_hostport(&sent_by).map_err(|_| SyntaxError("bad Via sent-by"))?;
    let params = parse_params(&after[end..]).map_err(via_param_error)?;
    for p in &params {
        if p.name.eq_ignore_ascii_case("rport") {
            if let Some(v) = &p.value {
                parse_decimal(v, 65535).map_err(|_| SyntaxError("bad Via rport"))?;
            }
        } else if p.name.eq_ignore_ascii_case("branch") && p.value.is_none() {
            return Err(SyntaxError("bad Via branch"));
        }
    }
    Ok(Via {
        transport: transport.to_ascii_uppercase(),
        host: host.to_string(),
        port,
        params,
    })
}

/// Removes white space that sits next to the port colon (`host : 5060`); other white space
/// is an error.
fn squeeze_colon_ws(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    let has_ws = |t: &str| t.contains([' ', '\t']);
    if !has_ws(s) {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let (h, p) = s.rsplit_once(':')?;
    let (h, p) = (h.trim_end(), p.trim_start());
    if has_ws(h) || has_ws(p) {
        return None;
    }
    Some(std::borrow::Cow::Owned(format!("{h}:{p}")))
}

fn via_param_error(e: SyntaxError) -> SyntaxError {
    match e.0 {
        "empty parameter" => SyntaxError("empty Via parameter"),
        _ => SyntaxError("bad Via parameter"),
    }
}

/// Parses `CSeq: number METHOD`; the number must fit 32 bits (§8.1.1.5).
pub fn parse_cseq(value: &str) -> Result<CSeq, SyntaxError> {
    let v = value.trim();
    let sp = v.find([' ', '\t']).ok_or(SyntaxError("bad CSeq"))?;
    let seq =
        parse_decimal(&v[..sp], u64::from(u32::MAX)).map_err(|_| SyntaxError("bad CSeq number"))?;
    let method = v[sp..].trim();
    if !is_token(method) {
        return Err(SyntaxError("bad CSeq method"));
    }
    Ok(CSeq {
        seq: seq as u32,
        method: Method::from_token(method),
    })
}

/// Parses a comma list of name-addrs (Route, Record-Route, Path, or Contact without `*`).
pub fn parse_name_addr_list(value: &str) -> Result<Vec<NameAddr>, SyntaxError> {
    split_commas(value)?
        .into_iter()
        .map(parse_name_addr)
        .collect()
}

/// A Contact header value: `*` (remove all bindings) or addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    Star,
    Addrs(Vec<NameAddr>),
}

/// Parses a Contact value: `*` or a comma list of addresses.
pub fn parse_contact(value: &str) -> Result<Contact, SyntaxError> {
    if value.trim() == "*" {
        return Ok(Contact::Star);
    }
    parse_name_addr_list(value).map(Contact::Addrs)
}

/// Parses a comma list of tokens (Allow, Supported, Require, Proxy-Require, Unsupported).
/// An empty value is an empty list (`Supported:` is legal).
pub fn parse_token_list(value: &str) -> Result<Vec<&str>, SyntaxError> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let items = split_commas(value)?;
    if items.iter().all(|t| is_token(t)) {
        Ok(items)
    } else {
        Err(SyntaxError("bad token list"))
    }
}

/// A media type with its parameters (`application/sdp`, `multipart/mixed;boundary=x`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<Param>,
}

impl ContentType {
    /// True when this is `type/subtype`, ignoring case.
    pub fn is(&self, type_subtype: &str) -> bool {
        match type_subtype.split_once('/') {
            Some((t, s)) => {
                self.media_type.eq_ignore_ascii_case(t) && self.subtype.eq_ignore_ascii_case(s)
            }
            None => false,
        }
    }

    /// A parameter's value without quotes (`boundary`, `charset`).
    pub fn param(&self, name: &str) -> Option<String> {
        super::message::find_param(&self.params, name)
            .and_then(|p| p.value.as_deref())
            .map(unquote)
    }
}

/// Parses `type/subtype *(;param)` (§20.15). Also used for each element of Accept.
pub fn parse_content_type(value: &str) -> Result<ContentType, SyntaxError> {
    const BAD: SyntaxError = SyntaxError("bad Content-Type");
    let v = value.trim();
    let slash = v.find('/').ok_or(BAD)?;
    let media_type = v[..slash].trim_end();
    let rest = v[slash + 1..].trim_start();
    let end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
    let subtype = &rest[..end];
    if !is_token(media_type) || !is_token(subtype) {
        return Err(BAD);
    }
    let params = parse_params(&rest[end..]).map_err(|_| BAD)?;
    Ok(ContentType {
        media_type: media_type.to_string(),
        subtype: subtype.to_string(),
        params,
    })
}

/// Expires, Min-Expires: delta-seconds that must fit 32 bits.
pub fn parse_delta_seconds(value: &str) -> Result<u32, SyntaxError> {
    parse_decimal(value, u64::from(u32::MAX)).map(|v| v as u32)
}

/// Max-Forwards: 0 to 255 (§20.22 and RFC 4475 §3.1.2.4).
pub fn parse_max_forwards(value: &str) -> Result<u32, SyntaxError> {
    parse_decimal(value, 255)
        .map(|v| v as u32)
        .map_err(|_| SyntaxError("bad Max-Forwards"))
}

/// Content-Length: a byte count; anything not fitting `u32` is refused.
pub fn parse_content_length(value: &str) -> Result<usize, SyntaxError> {
    parse_decimal(value, u64::from(u32::MAX))
        .map(|v| v as usize)
        .map_err(|_| SyntaxError("bad Content-Length"))
}

/// RSeq (RFC 3262 §7.1): 1 to 2^32-1.
pub fn parse_rseq(value: &str) -> Result<u32, SyntaxError> {
    match parse_decimal(value, u64::from(u32::MAX)) {
        Ok(v) if v > 0 => Ok(v as u32),
        _ => Err(SyntaxError("bad RSeq")),
    }
}

/// RAck (RFC 3262 §7.2): `rseq cseq METHOD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RAck {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
}

pub fn parse_rack(value: &str) -> Result<RAck, SyntaxError> {
    const BAD: SyntaxError = SyntaxError("bad RAck");
    let mut it = value.split_ascii_whitespace();
    let rseq = it
        .next()
        .ok_or(BAD)
        .and_then(|v| parse_rseq(v).map_err(|_| BAD))?;
    let cseq =
        it.next()
            .ok_or(BAD)
            .and_then(|v| parse_decimal(v, u64::from(u32::MAX)).map_err(|_| BAD))? as u32;
    let method = it.next().filter(|m| is_token(m)).ok_or(BAD)?;
    if it.next().is_some() {
        return Err(BAD);
    }
    Ok(RAck {
        rseq,
        cseq,
        method: Method::from_token(method),
    })
}

/// Session-Expires (RFC 4028 §4): `delta-seconds [;refresher=uac|uas] *(;param)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    /// `uac` or `uas`, lower-cased, when given.
    pub refresher: Option<String>,
    pub params: Vec<Param>,
}

pub fn parse_session_expires(value: &str) -> Result<SessionExpires, SyntaxError> {
    const BAD: SyntaxError = SyntaxError("bad Session-Expires");
    let v = value.trim();
    let end = v.find(';').unwrap_or(v.len());
    let delta = parse_delta_seconds(&v[..end]).map_err(|_| BAD)?;
    let params = parse_params(&v[end..]).map_err(|_| BAD)?;
    let refresher = match super::message::find_param(&params, "refresher") {
        None => None,
        Some(p) => match p.value.as_deref().map(str::to_ascii_lowercase) {
            Some(r) if r == "uac" || r == "uas" => Some(r),
            _ => return Err(BAD),
        },
    };
    Ok(SessionExpires {
        delta,
        refresher,
        params,
    })
}

/// Min-SE (RFC 4028 §5): delta-seconds with optional params (ignored).
pub fn parse_min_se(value: &str) -> Result<u32, SyntaxError> {
    let v = value.trim();
    let end = v.find(';').unwrap_or(v.len());
    parse_params(&v[end..]).map_err(|_| SyntaxError("bad Min-SE"))?;
    parse_delta_seconds(&v[..end]).map_err(|_| SyntaxError("bad Min-SE"))
}

/// An Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate value:
/// a scheme (`Digest`) and its `name=value` pairs, values unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParams {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    /// A parameter's unquoted value; names compare case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `Scheme k=v, k="v", …` (RFC 3261 §25.1 `credentials` / `challenge`).
pub fn parse_auth(value: &str) -> Result<AuthParams, SyntaxError> {
    const BAD: SyntaxError = SyntaxError("bad auth header");
    let v = value.trim();
    let end = v.find([' ', '\t']).unwrap_or(v.len());
    let scheme = &v[..end];
    if !is_token(scheme) {
        return Err(BAD);
    }
    let rest = v[end..].trim();
    let mut params = Vec::new();
    if !rest.is_empty() {
        for item in split_commas(rest).map_err(|_| BAD)? {
            let (n, val) = item.split_once('=').ok_or(BAD)?;
            let (n, val) = (n.trim(), val.trim());
            if !is_token(n) || val.is_empty() {
                return Err(BAD);
            }
            let quoted = val.starts_with('"');
            if quoted && (val.len() < 2 || !val.ends_with('"')) {
                return Err(BAD);
            }
            if !quoted
                && !val
                    .bytes()
                    .all(|b| super::lex::is_token_byte(b) || b == b'/' || b == b':')
            {
                return Err(BAD);
            }
            params.push((n.to_string(), unquote(val)));
        }
    }
    Ok(AuthParams {
        scheme: scheme.to_string(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_odd_case_names_map_to_canonical() {
        assert_eq!(canonical_name("v"), Some("Via"));
        assert_eq!(canonical_name("I"), Some("Call-ID"));
        assert_eq!(canonical_name("call-id"), Some("Call-ID"));
        assert_eq!(canonical_name("x"), Some("Session-Expires"));
        assert_eq!(canonical_name("cseq"), Some("CSeq"));
        assert_eq!(canonical_name("NewFangledHeader"), None);
    }

    #[test]
    fn parses_via_lists_with_ipv6_and_params() {
        let v = parse_via_list(
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport;received=10.0.0.1, SIP / 2.0 / tcp [2001:db8::9]:5070 ;branch=z9hG4bK2",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].branch(), Some("z9hG4bK1"));
        assert_eq!(v[0].rport(), Some(None));
        assert_eq!(v[0].received(), Some("10.0.0.1"));
        assert_eq!(v[1].transport, "TCP");
        assert_eq!(v[1].host, "[2001:db8::9]");
        assert_eq!(v[1].port, Some(5070));
    }

    #[test]
    fn via_sent_by_may_have_spaces_around_colon() {
        let v = parse_via("SIP/2.0/UDP host.example.com : 5060;branch=z9hG4bKx").unwrap();
        assert_eq!(v.port, Some(5060));
    }

    #[test]
    fn rejects_broken_vias() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/3.0/UDP host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP host;rport=70000",
            "SIP/2.0/UDP host:0x10",
            "SIP/2.0/UDP host;branch",
        ] {
            assert!(parse_via_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cseq_checks_number_range() {
        let c = parse_cseq(" 4711  INVITE ").unwrap();
        assert_eq!((c.seq, c.method), (4711, Method::Invite));
        assert!(parse_cseq("36893488147419103232 REGISTER").is_err());
        assert!(parse_cseq("-1 INVITE").is_err());
        assert!(parse_cseq("1").is_err());
    }

    #[test]
    fn contact_accepts_star_and_lists() {
        assert_eq!(parse_contact(" * ").unwrap(), Contact::Star);
        match parse_contact("<sip:a@b>;expires=60, \"B\" <sip:c@d>").unwrap() {
            Contact::Addrs(v) => assert_eq!(v.len(), 2),
            Contact::Star => panic!("not a star"),
        }
        assert!(parse_contact("sip:a@b?Route=%3Csip:c%3E").is_err());
    }

    #[test]
    fn token_lists_allow_empty_and_reject_junk() {
        assert_eq!(
            parse_token_list("100rel , timer").unwrap(),
            vec!["100rel", "timer"]
        );
        assert!(parse_token_list("").unwrap().is_empty());
        assert!(parse_token_list("a b").is_err());
    }

    #[test]
    fn parses_content_type_with_params() {
        let c = parse_content_type("multipart/mixed ; boundary=\"unique-boundary-1\"").unwrap();
        assert!(c.is("Multipart/Mixed"));
        assert_eq!(c.param("boundary").as_deref(), Some("unique-boundary-1"));
        assert!(parse_content_type("application").is_err());
    }

    #[test]
    fn numbers_have_overflow_checks() {
        assert_eq!(parse_max_forwards("70"), Ok(70));
        assert!(parse_max_forwards("300").is_err());
        assert!(parse_delta_seconds("10000000000000000000000").is_err());
        assert!(parse_content_length("-999").is_err());
        assert!(parse_content_length("18446744073709551617").is_err());
    }

    #[test]
    fn parses_rack_rseq_and_session_timers() {
        let r = parse_rack("776656 1 INVITE").unwrap();
        assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, Method::Invite));
        assert!(parse_rack("0 1 INVITE").is_err());
        assert!(parse_rseq("0").is_err());
        let s = parse_session_expires("1800;refresher=UAS").unwrap();
        assert_eq!((s.delta, s.refresher.as_deref()), (1800, Some("uas")));
        assert!(parse_session_expires("1800;refresher=me").is_err());
        assert_eq!(parse_min_se("90;x=1"), Ok(90));
    }

    #[test]
    fn parses_digest_credentials() {
        let a = parse_auth(
            "Digest username=\"alice\", realm=\"12345.gov\", nonce=\"a,b\", uri=\"sip:12345.gov\", response=\"0123\", algorithm=MD5, qop=auth, nc=00000001",
        )
        .unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.get("nonce"), Some("a,b"));
        assert_eq!(a.get("ALGORITHM"), Some("MD5"));
        assert_eq!(a.params.len(), 8);
        assert!(parse_auth("Digest realm=\"x").is_err());
        assert_eq!(parse_auth("NoOneKnowsThisScheme").unwrap().params.len(), 0);
    }
}
