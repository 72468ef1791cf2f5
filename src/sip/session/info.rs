//! DTMF carried in SIP INFO bodies, as softphones and some trunks send it instead of RFC 4733.
//!
//! `application/dtmf-relay` (`Signal=5\r\nDuration=160`) and `application/dtmf` (a bare digit).
//! Anything else is not DTMF; a malformed body is not a digit either, never a panic.

/// The digit and its duration (ms, 0 when not given) of an INFO body of `content_type`.
pub fn dtmf_from_info(content_type: &str, body: &[u8]) -> Option<(char, u32)> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    match ct.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration = 0;
            for line in text.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "signal" => digit = signal(v.trim()),
                    "duration" => duration = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            digit.map(|d| (d, duration))
        }
        "application/dtmf" => signal(text.trim()).map(|d| (d, 0)),
        _ => None,
    }
}

/// One DTMF symbol, also as its RFC 4733 event number (10 = `*`, 11 = `#`).
fn signal(v: &str) -> Option<char> {
    match v {
        "10" => return Some('*'),
        "11" => return Some('#'),
        _ => {}
    }
    let mut chars = v.chars();
    let c = chars.next()?.to_ascii_uppercase();
    if chars.next().is_some() {
        return None;
    }
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies_give_digit_and_duration() {
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some(('5', 160))
        );
        assert_eq!(
            dtmf_from_info("Application/DTMF-Relay; x=y", b"Signal= *\nDuration=100"),
            Some(('*', 100))
        );
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", b"Signal=11\r\n"),
            Some(('#', 0))
        );
        assert_eq!(dtmf_from_info("application/dtmf", b"7"), Some(('7', 0)));
    }

    #[test]
    fn anything_else_is_not_a_digit() {
        assert_eq!(dtmf_from_info("application/dtmf-relay", b"Signal=55"), None);
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", b"Duration=1"),
            None
        );
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", &[0xff, 0xfe]),
            None
        );
        assert_eq!(dtmf_from_info("text/plain", b"5"), None);
        assert_eq!(dtmf_from_info("application/dtmf", b"E"), None);
    }
}
