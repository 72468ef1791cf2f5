//! Sending a string of DTMF digits as RFC 4733 events, paced on the caller's clock: each
//! digit is its update packets every 20 ms and three end packets
//! ([`super::dtmf::event_payloads`]), then a pause before the next digit. Sans-IO: `poll`
//! takes `now` and yields the packets that are due; the relay puts them on the wire
//! ([`super::relay::Relay::send_event`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::dtmf::{event_payloads, DtmfError};

/// Packets of one event go out this far apart.
const STEP: Duration = Duration::from_millis(20);

/// One packet to send: the payload, and whether it starts an event (marker, new timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: [u8; 4],
    pub start: bool,
}

/// A queue of digits being sent to one leg.
#[derive(Debug)]
pub struct DtmfSender {
    digits: VecDeque<Vec<[u8; 4]>>,
    pos: usize,
    gap_steps: u32,
    wait: u32,
    next_at: Instant,
}

impl DtmfSender {
    /// `duration_ms` of tone per digit and `gap_ms` of silence between digits; the first
    /// packet is due at `now`. Refuses a string with anything but 0-9, *, #, A-D.
    pub fn new(
        now: Instant,
        digits: &str,
        duration_ms: u32,
        gap_ms: u32,
    ) -> Result<DtmfSender, DtmfError> {
        let digits = digits
            .chars()
            .map(|d| event_payloads(d, duration_ms, STEP.as_millis() as u32))
            .collect::<Result<VecDeque<_>, _>>()?;
        Ok(DtmfSender {
            digits,
            pos: 0,
            gap_steps: gap_ms.div_ceil(STEP.as_millis() as u32),
            wait: 0,
            next_at: now,
        })
    }

    /// Appends digits to what is still being sent.
    pub fn extend(&mut self, more: DtmfSender) {
        self.digits.extend(more.digits);
    }

    /// The next packet due at `now`, if any (call until `None`).
    pub fn poll(&mut self, now: Instant) -> Option<EventPacket> {
        while now >= self.next_at {
            self.next_at += STEP;
            if self.wait > 0 {
                self.wait -= 1;
                continue;
            }
            let digit = self.digits.front()?;
            let p = EventPacket {
                payload: digit[self.pos],
                start: self.pos == 0,
            };
            self.pos += 1;
            if self.pos == digit.len() {
                self.digits.pop_front();
                self.pos = 0;
                self.wait = self.gap_steps;
            }
            return Some(p);
        }
        None
    }

    pub fn is_finished(&self) -> bool {
        self.digits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::EventPayload;

    #[test]
    fn digits_go_out_paced_with_a_gap_between_them_and_bad_digits_are_refused() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(t0, "1#", 100, 60).unwrap();
        let mut sent = Vec::new();
        for k in 0..40u64 {
            let now = t0 + Duration::from_millis(20 * k);
            while let Some(p) = s.poll(now) {
                sent.push((k, p));
            }
        }
        assert!(s.is_finished());
        // 100 ms of tone at 20 ms: 4 updates, then 3 end packets; per digit.
        assert_eq!(sent.len(), 14);
        let starts: Vec<u64> = sent
            .iter()
            .filter(|(_, p)| p.start)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(starts, [0, 10], "7 packets, then 3 frames of gap");
        assert!(
            sent.windows(2).all(|w| w[1].0 > w[0].0),
            "one packet per 20 ms"
        );
        let ev: Vec<u8> = sent
            .iter()
            .map(|(_, p)| EventPayload::parse(&p.payload).unwrap().event)
            .collect();
        assert_eq!(ev[0], 1);
        assert_eq!(ev[13], 11);
        assert!(DtmfSender::new(t0, "1x", 100, 60).is_err());
    }

    #[test]
    fn a_late_poll_catches_up_one_packet_per_call() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(t0, "9", 100, 60).unwrap();
        let late = t0 + Duration::from_millis(200);
        let mut n = 0;
        while s.poll(late).is_some() {
            n += 1;
        }
        assert_eq!(n, 7);
        assert!(s.is_finished());
    }
}
