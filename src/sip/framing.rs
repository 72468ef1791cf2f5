//! Cutting messages out of a TCP/TLS byte stream (RFC 3261 §18.3): on a stream the header
//! section ends at the first empty line and Content-Length is mandatory, since it is the only
//! way to find where the body ends. CRLF keep-alives (RFC 5626 §3.5.1) between messages are
//! reported separately so the shell can answer a double-CRLF ping with a single CRLF pong.

use super::header::{canonical_name, parse_content_length};
use super::parse::{find_head_end, ParseError};

/// What the front of a stream buffer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One message of `len` bytes (headers and body); pass `&buf[..len]` to `parse`.
    Complete { len: usize },
    /// More bytes are needed.
    Incomplete,
    /// `len` bytes of CRLF keep-alive: 4 for a ping (CRLFCRLF), 2 for a pong (CRLF).
    KeepAlive { len: usize },
    /// The stream cannot be framed; answer if possible and close the connection.
    Malformed(ParseError),
}

fn malformed(status: u16, reason: &str) -> Framing {
    Framing::Malformed(ParseError {
        status,
        reason: reason.to_string(),
        partial: None,
    })
}

/// Frames the message at the front of `buf`, refusing messages larger than `max` bytes.
pub fn frame(buf: &[u8], max: usize) -> Framing {
    if buf.starts_with(b"\r\n\r\n") {
        return Framing::KeepAlive { len: 4 };
    }
    if buf.starts_with(b"\r\n") {
        // "\r\n\r" may be the start of a ping; a lone "\r\n" is a pong.
        return match buf.get(2) {
            Some(b'\r') if buf.len() == 3 => Framing::Incomplete,
            _ => Framing::KeepAlive { len: 2 },
        };
    }
    if buf.len() < 2 && buf.first().is_none_or(|&b| b == b'\r') {
        return Framing::Incomplete;
    }
    let window = &buf[..buf.len().min(max)];
    let Some((head_len, body_start)) = find_head_end(window) else {
        return if buf.len() >= max {
            malformed(513, "Message Too Large (headers)")
        } else {
            Framing::Incomplete
        };
    };
    let head = &window[..head_len];
    let mut content_length: Option<usize> = None;
    let mut lines = head.split(|&b| b == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = std::str::from_utf8(&line[..colon]).unwrap_or("").trim_end();
        if canonical_name(name) != Some("Content-Length") {
            continue;
        }
        // The value may be folded onto continuation lines.
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(cont) =
            lines.next_if(|l| l.first().is_some_and(|&b| b == b' ' || b == b'\t'))
        {
            value.push(' ');
            value.push_str(&String::from_utf8_lossy(cont));
        }
        let Ok(cl) = parse_content_length(&value) else {
            return malformed(400, "Bad Request (bad Content-Length)");
        };
        if content_length.is_some_and(|old| old != cl) {
            return malformed(400, "Bad Request (conflicting Content-Length)");
        }
        content_length = Some(cl);
    }
    let Some(cl) = content_length else {
        return malformed(400, "Bad Request (missing Content-Length on stream)");
    };
    let total = match body_start.checked_add(cl) {
        Some(t) if t <= max => t,
        _ => return malformed(513, "Message Too Large"),
    };
    if buf.len() < total {
        Framing::Incomplete
    } else {
        Framing::Complete { len: total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody";

    #[test]
    fn frames_complete_message_and_leaves_the_rest() {
        let mut buf = MSG.to_vec();
        buf.extend_from_slice(b"INVITE");
        assert_eq!(frame(&buf, 65535), Framing::Complete { len: MSG.len() });
    }

    #[test]
    fn waits_for_headers_and_body() {
        for n in 1..MSG.len() {
            assert_eq!(frame(&MSG[..n], 65535), Framing::Incomplete, "prefix {n}");
        }
    }

    #[test]
    fn reports_keepalive_ping_and_pong() {
        assert_eq!(
            frame(b"\r\n\r\nOPTIONS", 100),
            Framing::KeepAlive { len: 4 }
        );
        assert_eq!(frame(b"\r\nOPT", 100), Framing::KeepAlive { len: 2 });
        assert_eq!(frame(b"\r\n", 100), Framing::KeepAlive { len: 2 });
        assert_eq!(frame(b"\r\n\r", 100), Framing::Incomplete);
        assert_eq!(frame(b"\r", 100), Framing::Incomplete);
    }

    #[test]
    fn reads_compact_and_folded_content_length() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nl :\r\n  2\r\n\r\nokNEXT";
        assert_eq!(frame(m, 1000), Framing::Complete { len: m.len() - 4 });
    }

    #[test]
    fn conflicting_content_lengths_are_malformed() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\nabc";
        assert!(
            matches!(frame(m, 1000), Framing::Malformed(e) if e.reason.contains("conflicting"))
        );
    }

    #[test]
    fn stream_without_content_length_is_malformed() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        match frame(m, 1000) {
            Framing::Malformed(e) => assert!(e.reason.contains("missing Content-Length")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversize_headers_and_bodies_are_malformed() {
        let endless = vec![b'a'; 200];
        assert!(matches!(frame(&endless, 100), Framing::Malformed(e) if e.status == 513));
        let big = b"X sip:a@b SIP/2.0\r\nContent-Length: 4000000000\r\n\r\n";
        assert!(matches!(frame(big, 65535), Framing::Malformed(e) if e.status == 513));
        let neg = b"X sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(frame(neg, 65535), Framing::Malformed(e) if e.status == 400));
    }
}
