//! SIP, SIPS, tel and other URIs (RFC 3261 §19.1, §25.1) and the `name-addr` / `addr-spec`
//! forms of From, To, Contact, Route and Record-Route (§20.10), parsed into [`Uri`] and
//! [`NameAddr`]; plus URI comparison by the rules of §19.1.4.
//!
//! User, password and host are kept as written (escapes not decoded) so a URI writes back
//! byte-for-byte; [`uri_eq`] decodes before comparing.

use super::lex::{is_token_byte, is_ws, parse_params, quoted_end, SyntaxError};
use super::message::{NameAddr, Param, Scheme, Uri};

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Checks that every `%` starts a `%HH` escape and every other byte passes `ok`.
fn check_escaped(s: &str, ok: impl Fn(u8) -> bool, what: &'static str) -> Result<(), SyntaxError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(SyntaxError(what));
            }
            i += 3;
        } else if ok(b[i]) {
            i += 1;
        } else {
            return Err(SyntaxError(what));
        }
    }
    Ok(())
}

fn is_user_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_paramchar(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_header_byte(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&'
        )
}

/// Characters that may never appear in any URI we accept: white space, controls, and the
/// delimiters that end a URI inside a header (`<`, `>`, `"`).
fn is_forbidden(b: u8) -> bool {
    b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"')
}

/// Parses a URI. `sip`/`sips` are broken into parts and checked; other schemes (tel included)
/// must be `scheme:text` without white space or delimiters and keep their text in `opaque`.
pub fn parse_uri(s: &str) -> Result<Uri, SyntaxError> {
    if s.is_empty() {
        return Err(SyntaxError("empty URI"));
    }
    if s.bytes().any(is_forbidden) {
        return Err(SyntaxError("illegal character in URI"));
    }
    let colon = s.find(':').ok_or(SyntaxError("URI without scheme"))?;
    let scheme_text = &s[..colon];
    let sb = scheme_text.as_bytes();
    if sb.is_empty()
        || !sb[0].is_ascii_alphabetic()
        || !sb
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(SyntaxError("bad URI scheme"));
    }
    let rest = &s[colon + 1..];
    let scheme = if scheme_text.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme_text.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else {
        let scheme = if scheme_text.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other(scheme_text.to_string())
        };
        if rest.is_empty() {
            return Err(SyntaxError("empty URI"));
        }
        return Ok(Uri {
            scheme,
            user: None,
            password: None,
            host: String::new(),
            port: None,
            params: Vec::new(),
            headers: None,
            opaque: Some(rest.to_string()),
        });
    };
    parse_sip_rest(scheme, rest)
}

fn parse_sip_rest(scheme: Scheme, rest: &str) -> Result<Uri, SyntaxError> {
    // The user part may hold `;`, `?` and `/` but never an unescaped `@`; hosts, params and
    // headers never hold `@` either. So the first `@` ends the userinfo.
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (mut user, mut password) = (None, None);
    if let Some(ui) = userinfo {
        let (u, p) = match ui.find(':') {
            Some(c) => (&ui[..c], Some(&ui[c + 1..])),
            None => (ui, None),
        };
        if u.is_empty() {
            return Err(SyntaxError("empty URI user"));
        }
        check_escaped(u, is_user_byte, "bad URI user")?;
        if let Some(p) = p {
            check_escaped(p, is_password_byte, "bad URI password")?;
        }
        user = Some(u.to_string());
        password = p.map(str::to_string);
    }
    let (hostpart, headers) = match hostpart.find('?') {
        Some(q) => (&hostpart[..q], Some(&hostpart[q + 1..])),
        None => (hostpart, None),
    };
    if let Some(h) = headers {
        check_escaped(h, is_header_byte, "bad URI headers")?;
    }
    let (hostport, params_text) = match hostpart.find(';') {
        Some(p) => (&hostpart[..p], &hostpart[p..]),
        None => (hostpart, ""),
    };
    let (host, port) = split_hostport(hostport)?;
    let params = parse_uri_params(params_text)?;
    Ok(Uri {
        scheme,
        user,
        password,
        host: host.to_string(),
        port,
        params,
        headers: headers.map(str::to_string),
        opaque: None,
    })
}

/// Splits `host[:port]`, host being a name, IPv4 address or `[IPv6]` reference.
pub fn split_hostport(s: &str) -> Result<(&str, Option<u16>), SyntaxError> {
    let (host, port_text) = if s.starts_with('[') {
        let close = s.find(']').ok_or(SyntaxError("bad IPv6 reference"))?;
        let inner = &s[1..close];
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(SyntaxError("bad IPv6 reference"));
        }
        let after = &s[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(SyntaxError("junk after IPv6 reference")),
        };
        (&s[..close + 1], port)
    } else {
        match s.find(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(SyntaxError("empty host"));
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(SyntaxError("bad host"));
    }
    let port = match port_text {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SyntaxError("bad port"));
            }
            Some(p.parse::<u16>().map_err(|_| SyntaxError("bad port"))?)
        }
    };
    Ok((host, port))
}

fn parse_uri_params(s: &str) -> Result<Vec<Param>, SyntaxError> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    // `s` starts with ';'; skip it, then each piece is `name[=value]`.
    for piece in s[1..].split(';') {
        let (name, value) = match piece.find('=') {
            Some(e) => (&piece[..e], Some(&piece[e + 1..])),
            None => (piece, None),
        };
        if name.is_empty() {
            return Err(SyntaxError("empty URI parameter"));
        }
        check_escaped(name, is_paramchar, "bad URI parameter")?;
        if let Some(v) = value {
            if v.is_empty() {
                return Err(SyntaxError("empty URI parameter value"));
            }
            check_escaped(v, is_paramchar, "bad URI parameter")?;
        }
        out.push(Param::new(name, value.map(str::to_string)));
    }
    Ok(out)
}

/// Parses a `name-addr` (`["Display"] <uri>`) or an `addr-spec` (bare URI), followed by
/// header parameters such as `;tag=`. In the bare form the URI ends at the first `;`, and a
/// URI holding `?` or `,` must be bracketed (§20.10).
pub fn parse_name_addr(s: &str) -> Result<NameAddr, SyntaxError> {
    let s = s.trim_matches(|c| c == ' ' || c == '\t');
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(SyntaxError("empty address"));
    }
    let (display, open) = if b[0] == b'"' {
        let end = quoted_end(b, 0).ok_or(SyntaxError("unbalanced quotes"))?;
        let mut i = end;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'<' {
            return Err(SyntaxError("quoted display name without <URI>"));
        }
        (Some(&s[..end]), Some(i))
    } else {
        match s.find('<') {
            Some(lt) => {
                let d = s[..lt].trim_end_matches([' ', '\t']);
                if d.is_empty() {
                    (None, Some(lt))
                } else {
                    // Unquoted display names are tokens separated by white space; UTF-8 names
                    // sent unquoted by some phones are tolerated.
                    if !d.bytes().all(|b| is_token_byte(b) || is_ws(b) || b >= 0x80) {
                        return Err(SyntaxError("bad display name"));
                    }
                    (Some(d), Some(lt))
                }
            }
            None => (None, None),
        }
    };
    let (uri, params_text) = match open {
        Some(lt) => {
            let close = s[lt..]
                .find('>')
                .map(|c| c + lt)
                .ok_or(SyntaxError("unclosed <URI>"))?;
            (parse_uri(&s[lt + 1..close])?, &s[close + 1..])
        }
        None => {
            let end = s.find([';', ' ', '\t']).unwrap_or(s.len());
            let text = &s[..end];
            if text.contains(['?', ',']) {
                return Err(SyntaxError("URI with ? or , needs <>"));
            }
            (parse_uri(text)?, &s[end..])
        }
    };
    Ok(NameAddr {
        display: display.map(str::to_string),
        uri,
        params: parse_params(params_text)?,
    })
}

/// Decodes `%HH` escapes. Invalid escapes are kept as written (the parser rejects them first).
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (h(b[i + 1]), h(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn eq_unescaped_ci(a: &str, b: &str) -> bool {
    unescape(a).eq_ignore_ascii_case(&unescape(b))
}

/// URI equality per RFC 3261 §19.1.4: user and password compared case-sensitively after
/// unescaping; host case-insensitively; a missing port differs from an explicit one; `user`,
/// `ttl`, `method`, `maddr` and `transport` must match when either URI has them, other
/// parameters only when both have them; headers must match as a set. Other schemes compare
/// the scheme case-insensitively and the rest exactly after unescaping.
pub fn uri_eq(a: &Uri, b: &Uri) -> bool {
    if !a.scheme.as_str().eq_ignore_ascii_case(b.scheme.as_str()) {
        return false;
    }
    if a.opaque.is_some() || b.opaque.is_some() {
        return match (&a.opaque, &b.opaque) {
            (Some(x), Some(y)) => unescape(x) == unescape(y),
            _ => false,
        };
    }
    let opt_eq = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => unescape(x) == unescape(y),
        (None, None) => true,
        _ => false,
    };
    if !opt_eq(&a.user, &b.user) || !opt_eq(&a.password, &b.password) {
        return false;
    }
    if !eq_unescaped_ci(&a.host, &b.host) || a.port != b.port {
        return false;
    }
    // Duplicate names compare by their first occurrence, which keeps this reflexive.
    for p in a.params.iter().filter_map(|p| a.param(&p.name)) {
        match b.param(&p.name) {
            Some(q) => {
                let same = match (&p.value, &q.value) {
                    (Some(x), Some(y)) => eq_unescaped_ci(x, y),
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    return false;
                }
            }
            None if is_sticky_param(&p.name) => return false,
            None => {}
        }
    }
    if b.params
        .iter()
        .any(|q| is_sticky_param(&q.name) && a.param(&q.name).is_none())
    {
        return false;
    }
    headers_eq(a.headers.as_deref(), b.headers.as_deref())
}

fn is_sticky_param(name: &str) -> bool {
    ["user", "ttl", "method", "maddr", "transport"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

fn headers_eq(a: Option<&str>, b: Option<&str>) -> bool {
    let split = |h: Option<&str>| {
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = h
            .unwrap_or("")
            .split('&')
            .filter(|x| !x.is_empty())
            .map(|x| {
                let (n, v) = x.split_once('=').unwrap_or((x, ""));
                (unescape(n).to_ascii_lowercase(), unescape(v))
            })
            .collect();
        v.sort();
        v
    };
    split(a) == split(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Uri {
        parse_uri(s).unwrap()
    }

    #[test]
    fn parses_full_sip_uri() {
        let x = u("sip:alice:secret@Example.com:5070;transport=tcp;lr?subject=hi&x=%20");
        assert_eq!(x.scheme, Scheme::Sip);
        assert_eq!(x.user.as_deref(), Some("alice"));
        assert_eq!(x.password.as_deref(), Some("secret"));
        assert_eq!(x.host, "Example.com");
        assert_eq!(x.port, Some(5070));
        assert_eq!(x.params.len(), 2);
        assert_eq!(x.headers.as_deref(), Some("subject=hi&x=%20"));
        assert_eq!(
            x.to_string(),
            "sip:alice:secret@Example.com:5070;transport=tcp;lr?subject=hi&x=%20"
        );
    }

    #[test]
    fn parses_ipv6_reference_with_port() {
        let x = u("sips:[2001:db8::10]:5061");
        assert_eq!(x.scheme, Scheme::Sips);
        assert_eq!(x.host, "[2001:db8::10]");
        assert_eq!(x.port, Some(5061));
    }

    #[test]
    fn user_part_may_hold_semicolons_and_question_marks() {
        let x = u("sip:user;par=u%40example.net@example.com");
        assert_eq!(x.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(x.host, "example.com");
        let y = u("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(y.host, "example.com");
        assert!(y.password.is_some());
    }

    #[test]
    fn tel_and_unknown_schemes_are_opaque() {
        let t = u("tel:+86-10-12345");
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.opaque.as_deref(), Some("+86-10-12345"));
        assert_eq!(t.to_string(), "tel:+86-10-12345");
        let o = u("nobodyknowsthisscheme:totallyopaquecontent");
        assert_eq!(o.scheme, Scheme::Other("nobodyknowsthisscheme".into()));
    }

    #[test]
    fn rejects_whitespace_brackets_bad_escapes_and_ports() {
        for bad in [
            "sip:a b@example.com",
            "<sip:a@example.com>",
            "sip:a%4@example.com",
            "sip:a@example.com:99999",
            "sip:a@example.com:",
            "sip:@example.com",
            "sip:a@[::1",
            "sip:a@exa mple.com",
            "sip:a@example.com;;lr",
            "sip:",
            "1sip:a@b",
            "nocolon",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn parses_quoted_token_and_bare_addresses() {
        let a = parse_name_addr(r#""Bob \"B\"" <sip:bob@example.com>;tag=1"#).unwrap();
        assert_eq!(a.display.as_deref(), Some(r#""Bob \"B\"""#));
        assert_eq!(a.tag(), Some("1"));
        let b = parse_name_addr("Bob Smith <sip:bob@example.com>").unwrap();
        assert_eq!(b.display.as_deref(), Some("Bob Smith"));
        let c = parse_name_addr("sip:bob@example.com;tag=9").unwrap();
        assert_eq!(c.uri.params.len(), 0);
        assert_eq!(c.tag(), Some("9"));
        let d = parse_name_addr(r#""caller"<sip:caller@example.com>;tag=3"#).unwrap();
        assert_eq!(d.display.as_deref(), Some("\"caller\""));
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            r#""unterminated <sip:a@b>"#,
            "Bell, Alexander <sip:a@b>",
            "sip:a@b?Route=%3Csip:c%3E",
            "< sip:a@b>",
            "<sip:a@b",
            "\"x\" sip:a@b",
        ] {
            assert!(parse_name_addr(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn compares_uris_per_rfc3261() {
        let eq = |a: &str, b: &str| uri_eq(&u(a), &u(b));
        assert!(eq(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eq(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
        assert!(!eq(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        assert!(!eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
        assert!(!eq("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
        let dup = "sip:a@b;t=x;t=y";
        assert!(eq(dup, dup), "reflexive with duplicate parameters");
    }
}
