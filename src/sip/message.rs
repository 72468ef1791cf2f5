//! SIP messages as typed values (RFC 3261 §7, §20).
//!
//! The headers every transaction and dialog needs (Via, From, To, Call-ID, CSeq, Max-Forwards)
//! are parsed once, at the edge, into fields; a [`Request`] or [`Response`] that exists therefore
//! has them, well-formed. Every other header is kept in [`Headers`], in arrival order, with its
//! name in canonical long form (compact forms such as `v:` or `i:` are expanded by the parser).
//! List headers (Via, Contact, Route, Record-Route, Allow, Supported, Require, …) that arrive
//! comma-joined are split into one entry per value.
//!
//! `Display` writes the wire form; `to_bytes` adds a correct Content-Length.

use std::fmt;

use bytes::Bytes;

/// A request method. Unknown but well-formed tokens are kept as [`Method::Extension`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Update,
    Info,
    Refer,
    Notify,
    Subscribe,
    Message,
    Publish,
    Extension(String),
}

impl Method {
    /// Method names are case-sensitive (RFC 3261 §7.1): `invite` is an extension method.
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URI scheme. `sip` and `sips` are parsed into user/host/port/params; anything else keeps
/// its text in [`Uri::opaque`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other(String),
}

impl Scheme {
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// A generic `;name[=value]` parameter, as it appears on URIs and header values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

impl Param {
    pub fn new(name: impl Into<String>, value: Option<String>) -> Param {
        Param {
            name: name.into(),
            value,
        }
    }
}

/// Finds a parameter by name, ignoring ASCII case (parameter names are case-insensitive).
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Sets (replacing) or adds a parameter.
pub fn set_param(params: &mut Vec<Param>, name: &str, value: Option<String>) {
    match params
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(name))
    {
        Some(p) => p.value = value,
        None => params.push(Param::new(name, value)),
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        match &p.value {
            Some(v) => write!(f, ";{}={}", p.name, v)?,
            None => write!(f, ";{}", p.name)?,
        }
    }
    Ok(())
}

/// A SIP, SIPS or other URI (RFC 3261 §19.1). User and host are kept as they were written
/// (escapes not decoded) so the URI can be written back unchanged; comparison helpers decode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uri {
    pub scheme: Scheme,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Hostname, IPv4 address, or IPv6 reference in brackets (`[::1]`).
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
    /// `?name=value&…` headers, kept raw (without the `?`).
    pub headers: Option<String>,
    /// For schemes other than sip/sips: everything after `scheme:`.
    pub opaque: Option<String>,
}

impl Uri {
    /// A plain `sip:user@host[:port]` URI.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_string),
            password: None,
            host: host.to_string(),
            port,
            params: Vec::new(),
            headers: None,
            opaque: None,
        }
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if let Some(op) = &self.opaque {
            return f.write_str(op);
        }
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write_params(f, &self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

/// `"Display" <uri>;params` — the value of From, To, Contact, Route, Record-Route, Refer-To.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameAddr {
    /// Display name as written, quotes included when it was quoted.
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Vec<Param>,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    pub fn tag(&self) -> Option<&str> {
        find_param(&self.params, "tag").and_then(|p| p.value.as_deref())
    }

    pub fn set_tag(&mut self, tag: &str) {
        set_param(&mut self.params, "tag", Some(tag.to_string()));
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// One Via entry (RFC 3261 §20.42, RFC 3581 for `rport`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, … upper-cased.
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl Via {
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").and_then(|p| p.value.as_deref())
    }

    pub fn received(&self) -> Option<&str> {
        find_param(&self.params, "received").and_then(|p| p.value.as_deref())
    }

    /// `None`: no rport; `Some(None)`: `;rport` without a value; `Some(Some(p))`: filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        find_param(&self.params, "rport").map(|p| p.value.as_deref().and_then(|v| v.parse().ok()))
    }

    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        set_param(&mut self.params, name, value);
    }

    /// True when the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// The CSeq header: a sequence number and the method it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// One header line other than the typed ones, name in canonical long form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The untyped headers, in arrival order. Name lookups ignore ASCII case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// All values of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Removes every entry of a header.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Replaces every entry of a header with one value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    /// True when an option tag appears in a comma-listed header such as Supported or Require.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
}

/// A SIP request. The typed fields are present and well-formed by construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    /// Topmost first.
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub max_forwards: Option<u32>,
    pub headers: Headers,
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub headers: Headers,
    pub body: Bytes,
}

/// Either kind of message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipMessage {
    Request(Request),
    Response(Response),
}

/// The standard reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}

impl Request {
    /// The topmost Via. A parsed request always has one; a hand-built one may not.
    pub fn top_via(&self) -> Option<&Via> {
        self.via.first()
    }

    /// A response to this request per RFC 3261 §8.2.6.2: Via, From, To, Call-ID and CSeq
    /// copied; the To tag is left for the caller to add when the response needs one.
    pub fn response(&self, status: u16) -> Response {
        self.response_with_reason(status, reason_phrase(status))
    }

    pub fn response_with_reason(&self, status: u16, reason: &str) -> Response {
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

    /// The wire form with Content-Length set from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.to_string().into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

impl Response {
    /// A body-less response carrying the request's Via, From, To, Call-ID and CSeq
    /// (RFC 3261 §8.2.6.2). Shared by [`Request::response`] and the parser's error answers.
    pub fn reply_to(
        status: u16,
        reason: &str,
        via: &[Via],
        from: &NameAddr,
        to: &NameAddr,
        call_id: &str,
        cseq: &CSeq,
    ) -> Response {
        Response {
            status,
            reason: reason.to_string(),
            via: via.to_vec(),
            from: from.clone(),
            to: to.clone(),
            call_id: call_id.to_string(),
            cseq: cseq.clone(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    pub fn top_via(&self) -> Option<&Via> {
        self.via.first()
    }

    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.to_string().into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn write_common(
    f: &mut fmt::Formatter<'_>,
    via: &[Via],
    from: &NameAddr,
    to: &NameAddr,
    call_id: &str,
    cseq: &CSeq,
) -> fmt::Result {
    for v in via {
        write!(f, "Via: {v}\r\n")?;
    }
    write!(
        f,
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
    )
}

fn write_rest(f: &mut fmt::Formatter<'_>, headers: &Headers, body_len: usize) -> fmt::Result {
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        write!(f, "{}: {}\r\n", h.name, h.value)?;
    }
    write!(f, "Content-Length: {body_len}\r\n\r\n")
}

/// Writes the start line and headers (not the body, which may not be UTF-8).
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} SIP/2.0\r\n", self.method, self.uri)?;
        write_common(
            f,
            &self.via,
            &self.from,
            &self.to,
            &self.call_id,
            &self.cseq,
        )?;
        if let Some(mf) = self.max_forwards {
            write!(f, "Max-Forwards: {mf}\r\n")?;
        }
        write_rest(f, &self.headers, self.body.len())
    }
}

/// Writes the status line and headers (not the body).
impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0 {} {}\r\n", self.status, self.reason)?;
        write_common(
            f,
            &self.via,
            &self.from,
            &self.to,
            &self.call_id,
            &self.cseq,
        )?;
        write_rest(f, &self.headers, self.body.len())
    }
}

impl SipMessage {
    pub fn call_id(&self) -> &str {
        match self {
            SipMessage::Request(r) => &r.call_id,
            SipMessage::Response(r) => &r.call_id,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            SipMessage::Request(r) => r.to_bytes(),
            SipMessage::Response(r) => r.to_bytes(),
        }
    }
}
