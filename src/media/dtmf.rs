//! DTMF: RFC 4733 telephone-event packets (receive with de-duplication of the retransmitted
//! end packets, send with the end packet three times) and SIP INFO bodies
//! (`application/dtmf-relay` as `Signal=5\r\nDuration=160`, and `application/dtmf`).

use thiserror::Error;

/// Why a DTMF payload or INFO body was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DtmfError {
    #[error("telephone-event payload must be at least 4 bytes, got {0}")]
    Short(usize),
    #[error("event {0} is not a DTMF digit")]
    NotDigit(u8),
    #[error("INFO body has no usable signal")]
    NoSignal,
}

/// The digit for an RFC 4733 event code (0–15).
pub fn event_to_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + event - 12) as char,
        _ => return None,
    })
}

/// The RFC 4733 event code for a digit.
pub fn digit_to_event(digit: char) -> Option<u8> {
    Some(match digit.to_ascii_uppercase() {
        d @ '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        d @ 'A'..='D' => d as u8 - b'A' + 12,
        _ => return None,
    })
}

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    /// Duration so far, in timestamp units (8 kHz).
    pub duration: u16,
}

impl EventPayload {
    pub fn parse(p: &[u8]) -> Result<EventPayload, DtmfError> {
        if p.len() < 4 {
            return Err(DtmfError::Short(p.len()));
        }
        Ok(EventPayload {
            event: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3F,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            ((self.end as u8) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A digit recognised once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    pub digit: char,
    pub duration_ms: u32,
}

/// Receives telephone-event packets of one stream and reports each digit exactly once.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    /// The event in progress: (RTP timestamp, event, duration so far).
    current: Option<(u32, u8, u16)>,
    /// RTP timestamp of the last event already reported (its retransmitted ends are dropped).
    last_reported: Option<u32>,
    /// A second digit completed by the same packet (see [`DtmfReceiver::take_pending`]).
    pending: Option<Digit>,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet (its RTP timestamp and payload). Returns a digit when one completes.
    /// A packet of a new event while an older one never ended reports the older one; if that
    /// packet is itself an end, the newer digit waits in [`DtmfReceiver::take_pending`].
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<Digit>, DtmfError> {
        let ev = EventPayload::parse(payload)?;
        let digit = event_to_digit(ev.event).ok_or(DtmfError::NotDigit(ev.event))?;
        if self.last_reported == Some(timestamp) {
            return Ok(None); // retransmitted end
        }
        let mut out = None;
        if let Some((ts, e, dur)) = self.current {
            if ts != timestamp {
                // The previous event lost its end packets: report it now.
                self.last_reported = Some(ts);
                out = event_to_digit(e).map(|d| Digit {
                    digit: d,
                    duration_ms: dur as u32 / 8,
                });
                self.current = None;
            }
        }
        if ev.end {
            self.current = None;
            self.last_reported = Some(timestamp);
            let d = Digit {
                digit,
                duration_ms: ev.duration as u32 / 8,
            };
            if out.is_some() {
                self.pending = Some(d);
                return Ok(out);
            }
            return Ok(Some(d));
        }
        let dur = self
            .current
            .map_or(ev.duration, |(_, _, d)| d.max(ev.duration));
        self.current = Some((timestamp, ev.event, dur));
        Ok(out)
    }
}

impl DtmfReceiver {
    /// A digit completed together with an older one by the last packet, if any.
    pub fn take_pending(&mut self) -> Option<Digit> {
        self.pending.take()
    }
}

/// The payloads to send for one digit: an update every `ptime_ms` while the tone lasts, then
/// the end packet three times. All share one RTP timestamp; the first carries the marker bit.
pub fn event_payloads(
    digit: char,
    duration_ms: u32,
    ptime_ms: u32,
) -> Result<Vec<[u8; 4]>, DtmfError> {
    let event = digit_to_event(digit).ok_or(DtmfError::NoSignal)?;
    let step = (ptime_ms.max(10) * 8) as u16;
    let total = (duration_ms * 8).clamp(step as u32, u16::MAX as u32) as u16;
    let mut v = Vec::new();
    let mut d = step;
    while d < total {
        v.push(
            EventPayload {
                event,
                end: false,
                volume: 10,
                duration: d,
            }
            .to_bytes(),
        );
        d = d.saturating_add(step);
    }
    for _ in 0..3 {
        v.push(
            EventPayload {
                event,
                end: true,
                volume: 10,
                duration: total,
            }
            .to_bytes(),
        );
    }
    Ok(v)
}

/// Parses a SIP INFO body by its content type (`application/dtmf-relay` or `application/dtmf`).
pub fn parse_info(content_type: &str, body: &str) -> Result<Digit, DtmfError> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let signal_char = |s: &str| -> Option<char> {
        let s = s.trim();
        match s {
            "10" => Some('*'),
            "11" => Some('#'),
            _ => {
                let mut c = s.chars();
                let d = c.next()?;
                (c.next().is_none() && digit_to_event(d).is_some()).then(|| d.to_ascii_uppercase())
            }
        }
    };
    match ct.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration_ms = 160;
            for line in body.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "signal" => digit = signal_char(v),
                    "duration" => duration_ms = v.trim().parse().unwrap_or(duration_ms),
                    _ => {}
                }
            }
            digit
                .map(|digit| Digit { digit, duration_ms })
                .ok_or(DtmfError::NoSignal)
        }
        "application/dtmf" => signal_char(body)
            .map(|digit| Digit {
                digit,
                duration_ms: 160,
            })
            .ok_or(DtmfError::NoSignal),
        _ => Err(DtmfError::NoSignal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_reports_a_digit_once_despite_three_end_packets() {
        let mut rx = DtmfReceiver::new();
        let pkts = event_payloads('5', 100, 20).unwrap();
        assert_eq!(pkts.len(), 4 + 3);
        let mut got = Vec::new();
        for p in &pkts {
            if let Some(d) = rx.on_packet(1000, p).unwrap() {
                got.push(d);
            }
        }
        assert_eq!(
            got,
            vec![Digit {
                digit: '5',
                duration_ms: 100
            }]
        );
        // The next digit has another timestamp.
        let pkts = event_payloads('#', 60, 20).unwrap();
        let got: Vec<_> = pkts
            .iter()
            .filter_map(|p| rx.on_packet(3000, p).unwrap())
            .collect();
        assert_eq!(
            got,
            vec![Digit {
                digit: '#',
                duration_ms: 60
            }]
        );
    }

    #[test]
    fn receiver_reports_an_event_whose_end_packets_were_lost() {
        let mut rx = DtmfReceiver::new();
        let p = EventPayload {
            event: 1,
            end: false,
            volume: 10,
            duration: 480,
        }
        .to_bytes();
        assert_eq!(rx.on_packet(100, &p).unwrap(), None);
        let q = EventPayload {
            event: 2,
            end: false,
            volume: 10,
            duration: 160,
        }
        .to_bytes();
        assert_eq!(
            rx.on_packet(900, &q).unwrap(),
            Some(Digit {
                digit: '1',
                duration_ms: 60
            })
        );
        assert!(rx.on_packet(900, &[1]).is_err());
        // An end packet of a newer event after an older one lost its ends: both digits come out.
        let mut rx = DtmfReceiver::new();
        let a = EventPayload {
            event: 3,
            end: false,
            volume: 10,
            duration: 160,
        }
        .to_bytes();
        let b = EventPayload {
            event: 4,
            end: true,
            volume: 10,
            duration: 800,
        }
        .to_bytes();
        assert_eq!(rx.on_packet(2000, &a).unwrap(), None);
        assert_eq!(rx.on_packet(4000, &b).unwrap().map(|d| d.digit), Some('3'));
        assert_eq!(
            rx.take_pending(),
            Some(Digit {
                digit: '4',
                duration_ms: 100
            })
        );
        assert_eq!(rx.on_packet(4000, &b).unwrap(), None);
    }

    #[test]
    fn info_bodies_parse_both_content_types() {
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n").unwrap(),
            Digit {
                digit: '5',
                duration_ms: 160
            }
        );
        assert_eq!(
            parse_info("Application/DTMF-Relay", "Signal= #\nDuration= 250")
                .unwrap()
                .digit,
            '#'
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=11\r\n")
                .unwrap()
                .digit,
            '#'
        );
        assert_eq!(parse_info("application/dtmf", "7").unwrap().digit, '7');
        assert_eq!(
            parse_info("application/dtmf-relay", "Duration=100"),
            Err(DtmfError::NoSignal)
        );
        assert_eq!(parse_info("text/plain", "5"), Err(DtmfError::NoSignal));
    }

    #[test]
    fn digits_and_events_map_both_ways() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(event_to_digit(digit_to_event(d).unwrap()), Some(d));
        }
        assert_eq!(event_to_digit(16), None);
    }
}
