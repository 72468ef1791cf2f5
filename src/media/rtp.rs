//! RTP fixed header (RFC 3550 §5.1): parse and write, plus RTP/RTCP demultiplexing and
//! RFC 3550 appendix A.1/A.3/A.8 receive statistics (extended sequence, loss, jitter).
//!
//! Parsing never panics: short or malformed input yields an [`RtpError`].

use thiserror::Error;

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RtpError {
    #[error("packet too short: {0} bytes")]
    TooShort(usize),
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    #[error("CSRC list or header extension runs past the end of the packet")]
    Truncated,
    #[error("padding length {0} is invalid")]
    BadPadding(u8),
}

/// The parsed fixed header and where the payload lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub padding: bool,
    pub extension: bool,
    pub csrc_count: u8,
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Offset of the payload in the packet (after CSRCs and extension).
    pub payload_offset: usize,
    /// Payload length, without padding.
    pub payload_len: usize,
}

/// Size of a header with no CSRC and no extension.
pub const FIXED_HEADER_LEN: usize = 12;

impl RtpHeader {
    /// Parses the header of `packet`.
    pub fn parse(packet: &[u8]) -> Result<RtpHeader, RtpError> {
        if packet.len() < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort(packet.len()));
        }
        let b0 = packet[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = b0 & 0x20 != 0;
        let extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let b1 = packet[1];
        let mut offset = FIXED_HEADER_LEN + 4 * csrc_count as usize;
        if packet.len() < offset {
            return Err(RtpError::Truncated);
        }
        if extension {
            if packet.len() < offset + 4 {
                return Err(RtpError::Truncated);
            }
            let words = u16::from_be_bytes([packet[offset + 2], packet[offset + 3]]) as usize;
            offset += 4 + 4 * words;
            if packet.len() < offset {
                return Err(RtpError::Truncated);
            }
        }
        let mut end = packet.len();
        if padding {
            let pad = packet[end - 1];
            if pad == 0 || pad as usize > end - offset {
                return Err(RtpError::BadPadding(pad));
            }
            end -= pad as usize;
        }
        Ok(RtpHeader {
            padding,
            extension,
            csrc_count,
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
            payload_offset: offset,
            payload_len: end - offset,
        })
    }

    /// The payload slice of `packet` (which must be the packet this header was parsed from).
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        packet
            .get(self.payload_offset..self.payload_offset + self.payload_len)
            .unwrap_or(&[])
    }
}

/// Appends a 12-byte header (no padding, extension or CSRC) to `out`.
pub fn write_header(
    out: &mut Vec<u8>,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) {
    out.push(0x80);
    out.push(((marker as u8) << 7) | (payload_type & 0x7F));
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
}

/// Whether a datagram looks like RTCP rather than RTP (RFC 5761 §4: packet types 192–223).
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 8 && packet[0] >> 6 == 2 && (192..=223).contains(&packet[1])
}

/// Receive statistics for one source (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    started: bool,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    pub received: u64,
    /// Duplicates, and packets too old to tell (more than 128 behind the highest).
    pub duplicates_or_late: u64,
    /// Bit k set: sequence `max_seq - k` was received.
    seen: u128,
    expected_prior: u64,
    received_prior: u64,
    transit: i64,
    /// Interarrival jitter in timestamp units, scaled by 16 (as in A.8).
    jitter_q4: u64,
}

impl ReceiveStats {
    /// Forgets the previous source; the next packet starts the new one.
    pub fn reset(&mut self) {
        *self = ReceiveStats::default();
    }

    /// Records a packet; `arrival` is in timestamp units on the same clock as `ts`.
    pub fn update(&mut self, seq: u16, ts: u32, arrival: u32) {
        if !self.started {
            self.started = true;
            self.base_seq = seq as u32;
            self.max_seq = seq;
            self.received = 1;
            self.seen = 1;
            self.transit = arrival.wrapping_sub(ts) as i32 as i64;
            return;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta != 0 && delta < 0x8000 {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
            self.seen = if delta >= 128 {
                1
            } else {
                (self.seen << delta) | 1
            };
        } else {
            let back = self.max_seq.wrapping_sub(seq) as u32;
            if back < 128 && self.seen & (1u128 << back) == 0 {
                self.seen |= 1u128 << back; // reordered, not a duplicate
            } else {
                self.duplicates_or_late += 1;
            }
        }
        self.received += 1;
        let transit = arrival.wrapping_sub(ts) as i32 as i64;
        if self.received > 1 {
            let d = (transit - self.transit).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = transit;
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(self.max_seq as u32)
    }

    /// Packets expected so far.
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        (self.extended_max() as u64 + 1).saturating_sub(self.base_seq as u64)
    }

    /// Cumulative packets lost (never negative here; duplicates don't offset loss).
    pub fn lost(&self) -> u64 {
        self.expected()
            .saturating_sub(self.received - self.duplicates_or_late.min(self.received))
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// Fraction lost since the previous call (8-bit fixed point), for a report block.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let received = self.received - self.duplicates_or_late.min(self.received);
        let exp_int = expected.saturating_sub(self.expected_prior);
        let rec_int = received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        if exp_int == 0 || rec_int >= exp_int {
            0
        } else {
            (((exp_int - rec_int) << 8) / exp_int).min(255) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, ts: u32) -> Vec<u8> {
        let mut v = Vec::new();
        write_header(&mut v, true, 8, seq, ts, 0xDEADBEEF);
        v.extend_from_slice(&[0xD5; 160]);
        v
    }

    #[test]
    fn header_round_trips() {
        let p = packet(65535, u32::MAX);
        let h = RtpHeader::parse(&p).unwrap();
        assert!(h.marker && !h.padding && !h.extension);
        assert_eq!(
            (h.payload_type, h.sequence, h.timestamp, h.ssrc),
            (8, 65535, u32::MAX, 0xDEADBEEF)
        );
        assert_eq!(h.payload(&p).len(), 160);
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // 2 CSRCs
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension, 1 word
        p.extend_from_slice(&[7, 7, 7]); // payload
        p.extend_from_slice(&[0, 0, 3]); // padding of 3
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!(h.csrc_count, 2);
        assert_eq!(h.payload(&p), &[7, 7, 7]);
    }

    #[test]
    fn garbage_never_panics_and_gives_typed_errors() {
        assert_eq!(RtpHeader::parse(&[]), Err(RtpError::TooShort(0)));
        assert_eq!(RtpHeader::parse(&[0u8; 12]), Err(RtpError::BadVersion(0)));
        assert_eq!(
            RtpHeader::parse(&[0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Truncated)
        );
        let mut pad = packet(1, 1);
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 255;
        assert_eq!(RtpHeader::parse(&pad), Err(RtpError::BadPadding(255)));
        let mut x: u32 = 1;
        for len in 0..200 {
            let mut buf = vec![0u8; len];
            for b in buf.iter_mut() {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                *b = (x >> 24) as u8;
            }
            if len > 0 {
                buf[0] = 0x80 | (buf[0] & 0x3F);
            }
            let _ = RtpHeader::parse(&buf);
            let _ = is_rtcp(&buf);
        }
    }

    #[test]
    fn rtcp_is_told_apart_from_rtp() {
        assert!(!is_rtcp(&packet(1, 1)));
        assert!(is_rtcp(&[0x80, 200, 0, 6, 0, 0, 0, 1]));
    }

    #[test]
    fn stats_count_loss_across_sequence_wrap() {
        let mut s = ReceiveStats::default();
        let mut seq = 65530u16;
        for i in 0..20u32 {
            if i != 7 {
                s.update(seq, i * 160, i * 160);
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.expected(), 20);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.jitter(), 0);
        assert_eq!(s.take_fraction_lost(), (256 / 20) as u8);
    }
}
