//! RTCP on each leg: reading what the peer reports (liveness, SR times for LSR/DLSR, BYE)
//! and sending SR/RR + SDES (+ BYE) built from the relay's own counters.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Channel, Event, Output, Relay, RelayError, Transmit};
use crate::media::rtcp::{self, ReportBlock, SenderInfo};
use crate::media::stream::samples_in;

impl Relay {
    pub(super) fn handle_rtcp(
        &mut self,
        now: Instant,
        i: usize,
        src: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), RelayError> {
        let summary = match rtcp::parse(bytes) {
            Ok(s) => s,
            Err(e) => {
                self.legs[i].stats.malformed += 1;
                return Err(e.into());
            }
        };
        let l = &mut self.legs[i];
        l.stats.rtcp_rx += 1;
        if l.latched_rtcp != Some(src) {
            l.latched_rtcp = Some(src);
            let leg = l.id;
            self.out.push_back(Output::Event(Event::Latched {
                leg,
                channel: Channel::Rtcp,
                addr: src,
            }));
        }
        let l = &mut self.legs[i];
        if let Some(si) = summary.sender_info {
            l.last_sr = Some((rtcp::ntp_middle(si.ntp), now));
        }
        if summary
            .sender_ssrc
            .is_some_and(|s| summary.bye.contains(&s))
            || (!summary.bye.is_empty() && summary.bye.iter().any(|b| Some(*b) == l.in_ssrc))
        {
            let leg = l.id;
            self.out.push_back(Output::Event(Event::RemoteBye { leg }));
        }
        self.note_alive(now, i);
        Ok(())
    }

    fn ntp_at(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start);
        let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
        self.cfg
            .ntp_at_start
            .wrapping_add((d.as_secs() << 32) | frac)
    }

    pub(super) fn send_rtcp(&mut self, now: Instant, i: usize, bye: bool) {
        let Some(dst) = self.legs[i].rtcp_dst() else {
            return;
        };
        let ntp = self.ntp_at(now);
        let mut b = self.buf();
        let l = &mut self.legs[i];
        let sender = (l.out_packets != l.out_packets_at_report).then(|| {
            let (_, ts, at) = l.out.last();
            SenderInfo {
                ntp,
                rtp_timestamp: ts.wrapping_add(samples_in(now.saturating_duration_since(at))),
                packet_count: l.out_packets,
                octet_count: l.out_octets,
            }
        });
        l.out_packets_at_report = l.out_packets;
        let block = l.in_ssrc.map(|ssrc| {
            let (last_sr, dlsr) = match l.last_sr {
                Some((mid, at)) => {
                    let d = now.saturating_duration_since(at);
                    (mid, ((d.as_micros() as u64 * 65536) / 1_000_000) as u32)
                }
                None => (0, 0),
            };
            ReportBlock {
                ssrc,
                fraction_lost: l.rx.take_fraction_lost(),
                cumulative_lost: l.rx.lost().min(0x7F_FFFF) as i32,
                extended_highest_seq: l.rx.extended_max(),
                jitter: l.rx.jitter(),
                last_sr,
                delay_since_last_sr: dlsr,
            }
        });
        let blocks: &[ReportBlock] = match &block {
            Some(b) => std::slice::from_ref(b),
            None => &[],
        };
        rtcp::write_compound(
            &mut b,
            l.out_ssrc,
            sender.as_ref(),
            blocks,
            &self.cfg.cname,
            bye,
        );
        l.stats.rtcp_tx += 1;
        let leg = l.id;
        self.out.push_back(Output::Transmit(Transmit {
            leg,
            channel: Channel::Rtcp,
            dst,
            bytes: b,
        }));
    }

    /// Sends RTCP BYE on every leg (call teardown).
    pub fn close(&mut self, now: Instant) {
        for i in 0..self.legs.len() {
            self.send_rtcp(now, i, true);
        }
    }
}
