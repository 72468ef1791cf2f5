//! Taking a leg out of one relay and into another (a consult call joining the caller's
//! call), and sending RFC 4733 telephone events of our own to a leg.
//!
//! A detached leg carries its whole state: the outgoing stream's SSRC, sequence and
//! timestamp mapping, its RTCP counters and latch. In the new relay it is isolated until
//! connected; whatever feeds it next is a new source for its [`super::Continuity`], so the
//! phone sees one stream rebased onto the wall clock, exactly as after a transfer inside a
//! call.

use std::time::{Duration, Instant};

use super::{Channel, Leg, LegId, Output, Relay, RelayError, Route, Transmit};
use crate::media::rtp;
use crate::media::stream::Source;

/// A leg between two relays ([`Relay::detach_leg`] → [`Relay::attach_leg`]).
#[derive(Debug)]
pub struct DetachedLeg(Box<Leg>);

impl DetachedLeg {
    pub fn id(&self) -> LegId {
        self.0.id
    }
}

/// Samples of one 20 ms frame at 8 kHz: how far a telephone event advances the clock.
const FRAME_SAMPLES: u32 = 160;

impl Relay {
    /// Removes a leg and returns its state for [`Relay::attach_leg`] on another relay. Its
    /// peer (if bridged) is left isolated.
    pub fn detach_leg(&mut self, id: LegId) -> Result<DetachedLeg, RelayError> {
        let i = self.index(id)?;
        let mut leg = self.legs.remove(i);
        let was_party = leg.party.take().is_some();
        leg.mix_in = false;
        leg.hears_mix = false;
        self.after_leg_gone(id, was_party);
        Ok(DetachedLeg(Box::new(leg)))
    }

    /// Adds a leg detached from another relay, isolated. Dead-media detection restarts from
    /// `now`; the outgoing stream continues where it was.
    pub fn attach_leg(&mut self, now: Instant, leg: DetachedLeg) {
        let mut leg = *leg.0;
        self.remove_leg(leg.id);
        leg.route = Route::Isolated;
        leg.party = None;
        leg.mix_in = false;
        leg.hears_mix = false;
        leg.last_rx = now;
        leg.dead = false;
        self.legs.push(leg);
        self.timeout_due = true;
    }

    /// The telephone-event payload type negotiated on a leg, if any.
    pub fn dtmf_pt(&self, id: LegId) -> Option<u8> {
        self.legs
            .iter()
            .find(|l| l.id == id)
            .and_then(|l| l.cfg.dtmf_pt)
    }

    /// Sends one RFC 4733 event payload to a leg with its negotiated telephone-event payload
    /// type. `start` marks the first packet of an event (marker bit, a new event timestamp);
    /// later packets of the event repeat that timestamp. Each packet advances the leg's local
    /// clock by 20 ms, and forwarded media to the leg pauses while events go out.
    pub fn send_event(
        &mut self,
        now: Instant,
        id: LegId,
        payload: [u8; 4],
        start: bool,
    ) -> Result<(), RelayError> {
        let i = self.index(id)?;
        let Some(pt) = self.legs[i].cfg.dtmf_pt else {
            return Err(RelayError::NoTelephoneEvent(id));
        };
        let Some(dst) = self.legs[i].rtp_dst() else {
            return Ok(());
        };
        let mut b = self.buf();
        let l = &mut self.legs[i];
        if start {
            l.event_ts = l.local_ts;
        }
        let seq = l.local_seq;
        l.local_seq = seq.wrapping_add(1);
        l.local_ts = l.local_ts.wrapping_add(FRAME_SAMPLES);
        l.local_until = Some(now + Duration::from_millis(100));
        let Some(m) = l.out.map(Source::Local, seq, l.event_ts, now) else {
            self.recycle(b);
            return Ok(());
        };
        rtp::write_header(&mut b, start, pt, m.seq, m.ts, l.out_ssrc);
        b.extend_from_slice(&payload);
        Self::count_tx(l, payload.len(), b.len());
        let leg = l.id;
        self.out.push_back(Output::Transmit(Transmit {
            leg,
            channel: Channel::Rtp,
            dst,
            bytes: b,
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::media::dtmf::{event_payloads, EventPayload};
    use crate::media::g711::Law;
    use crate::media::relay::{LegConfig, RelayConfig};
    use crate::media::rtp::RtpHeader;

    fn cfg(port: u16) -> LegConfig {
        let a: SocketAddr = format!("192.0.2.1:{port}").parse().unwrap();
        LegConfig {
            law: Law::Ulaw,
            audio_pt: 0,
            dtmf_pt: Some(101),
            remote_rtp: Some(a),
            remote_rtcp: None,
            on_hold: false,
        }
    }

    fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut b = Vec::new();
        rtp::write_header(&mut b, false, 0, seq, ts, ssrc);
        b.extend_from_slice(&[0xFF; 160]);
        b
    }

    /// Every RTP packet sent to `leg`, parsed.
    fn sent_to(r: &mut Relay, leg: LegId) -> Vec<(RtpHeader, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(o) = r.poll_output() {
            if let Output::Transmit(t) = o {
                if t.leg == leg && t.channel == Channel::Rtp {
                    let h = RtpHeader::parse(&t.bytes).unwrap();
                    v.push((h, h.payload(&t.bytes).to_vec()));
                }
            }
        }
        v
    }

    #[test]
    fn a_moved_leg_keeps_its_outgoing_stream_continuous_in_the_new_relay() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let (caller, agent, expert) = (LegId(1), LegId(2), LegId(3));
        let mut a = Relay::new(RelayConfig::default(), t0);
        let mut b = Relay::new(RelayConfig::default(), t0);
        a.add_leg(t0, caller, cfg(1000));
        a.add_leg(t0, agent, cfg(2000));
        a.connect(caller, agent).unwrap();
        b.add_leg(t0, expert, cfg(3000));
        let mut before = Vec::new();
        for k in 0..5u16 {
            a.handle_packet(
                ms(20 * k as u64),
                agent,
                "192.0.2.1:2000".parse().unwrap(),
                &rtp(100 + k, 8000 + 160 * k as u32, 7),
            )
            .unwrap();
            before.extend(sent_to(&mut a, caller));
        }
        assert_eq!(before.len(), 5);
        let moved = a.detach_leg(caller).unwrap();
        assert_eq!(moved.id(), caller);
        assert!(a.stats(caller).is_none());
        b.attach_leg(ms(100), moved);
        b.connect(caller, expert).unwrap();
        b.handle_packet(
            ms(120),
            expert,
            "192.0.2.1:3000".parse().unwrap(),
            &rtp(9000, 123_456, 99),
        )
        .unwrap();
        let after = sent_to(&mut b, caller);
        assert_eq!(after.len(), 1);
        let (last, _) = before[4];
        let (next, _) = after[0];
        assert_eq!(next.ssrc, last.ssrc, "the caller keeps hearing one SSRC");
        assert_eq!(next.sequence, last.sequence.wrapping_add(1));
        let dts = next.timestamp.wrapping_sub(last.timestamp);
        assert!(
            (160..=400).contains(&dts),
            "timestamp follows the wall clock: {dts}"
        );
        assert!(next.marker, "a rebase carries the marker");
        assert_eq!(
            a.detach_leg(caller).unwrap_err(),
            RelayError::UnknownLeg(caller)
        );
    }

    #[test]
    fn telephone_events_go_out_with_the_legs_payload_type_and_one_timestamp_per_digit() {
        let t0 = Instant::now();
        let mut r = Relay::new(RelayConfig::default(), t0);
        let leg = LegId(1);
        r.add_leg(t0, leg, cfg(1000));
        let payloads = event_payloads('5', 100, 20).unwrap();
        for (k, p) in payloads.iter().enumerate() {
            r.send_event(t0 + Duration::from_millis(20 * k as u64), leg, *p, k == 0)
                .unwrap();
        }
        let sent = sent_to(&mut r, leg);
        assert_eq!(sent.len(), payloads.len());
        assert!(sent.iter().all(|(h, _)| h.payload_type == 101));
        assert!(sent[0].0.marker && sent[1..].iter().all(|(h, _)| !h.marker));
        assert!(sent.iter().all(|(h, _)| h.timestamp == sent[0].0.timestamp));
        for w in sent.windows(2) {
            assert_eq!(w[1].0.sequence, w[0].0.sequence.wrapping_add(1));
        }
        let last = EventPayload::parse(&sent.last().unwrap().1).unwrap();
        assert!(last.end);
        assert_eq!(last.event, 5);
        let mut plain = cfg(1000);
        plain.dtmf_pt = None;
        r.add_leg(t0, LegId(2), plain);
        assert_eq!(
            r.send_event(t0, LegId(2), payloads[0], true),
            Err(RelayError::NoTelephoneEvent(LegId(2)))
        );
    }
}
