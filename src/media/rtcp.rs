//! RTCP (RFC 3550 §6): reading compound packets — sender reports, receiver reports, SDES
//! CNAME and BYE — enough to tell a peer is alive and what it reports; and writing the
//! SR/RR + SDES (+ BYE) compounds that the relay sends on each leg from its own counters.
//!
//! Parsing never panics; a malformed compound yields an [`RtcpError`].

use thiserror::Error;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

/// Why a datagram is not a usable RTCP compound packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RtcpError {
    #[error("RTCP packet too short: {0} bytes")]
    TooShort(usize),
    #[error("unsupported RTCP version {0}")]
    BadVersion(u8),
    #[error("RTCP length field runs past the end of the datagram")]
    BadLength,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from that source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// What a compound packet told us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtcpSummary {
    /// The SSRC of the first SR/RR (the sender of the compound).
    pub sender_ssrc: Option<u32>,
    pub sender_info: Option<SenderInfo>,
    pub reports: Vec<ReportBlock>,
    pub cname: Option<String>,
    pub bye: Vec<u32>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_blocks(body: &[u8], count: usize, out: &mut Vec<ReportBlock>) {
    for i in 0..count {
        let at = i * 24;
        if body.len() < at + 24 {
            return;
        }
        let lost_raw = be32(body, at + 4) & 0x00FF_FFFF;
        let cumulative_lost = ((lost_raw << 8) as i32) >> 8;
        out.push(ReportBlock {
            ssrc: be32(body, at),
            fraction_lost: body[at + 4],
            cumulative_lost,
            extended_highest_seq: be32(body, at + 8),
            jitter: be32(body, at + 12),
            last_sr: be32(body, at + 16),
            delay_since_last_sr: be32(body, at + 20),
        });
    }
}

/// Parses a compound RTCP datagram.
pub fn parse(datagram: &[u8]) -> Result<RtcpSummary, RtcpError> {
    if datagram.len() < 8 {
        return Err(RtcpError::TooShort(datagram.len()));
    }
    let mut s = RtcpSummary::default();
    let mut rest = datagram;
    while rest.len() >= 4 {
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let count = (rest[0] & 0x1F) as usize;
        let pt = rest[1];
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        if len > rest.len() {
            return Err(RtcpError::BadLength);
        }
        let body = &rest[4..len];
        match pt {
            PT_SR if body.len() >= 24 => {
                let ssrc = be32(body, 0);
                s.sender_ssrc.get_or_insert(ssrc);
                s.sender_info = Some(SenderInfo {
                    ntp: ((be32(body, 4) as u64) << 32) | be32(body, 8) as u64,
                    rtp_timestamp: be32(body, 12),
                    packet_count: be32(body, 16),
                    octet_count: be32(body, 20),
                });
                parse_blocks(&body[24..], count, &mut s.reports);
            }
            PT_RR if body.len() >= 4 => {
                s.sender_ssrc.get_or_insert(be32(body, 0));
                parse_blocks(&body[4..], count, &mut s.reports);
            }
            PT_SDES => {
                // First chunk only: SSRC then items (type, len, text) until a zero type.
                let mut i = 4;
                while i + 2 <= body.len() && body[i] != 0 {
                    let (kind, n) = (body[i], body[i + 1] as usize);
                    let Some(text) = body.get(i + 2..i + 2 + n) else {
                        break;
                    };
                    if kind == 1 {
                        s.cname = Some(String::from_utf8_lossy(text).into_owned());
                    }
                    i += 2 + n;
                }
            }
            PT_BYE => {
                for k in 0..count {
                    if body.len() >= 4 * k + 4 {
                        s.bye.push(be32(body, 4 * k));
                    }
                }
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(s)
}

fn push_block(out: &mut Vec<u8>, b: &ReportBlock) {
    out.extend_from_slice(&b.ssrc.to_be_bytes());
    let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
    out.extend_from_slice(&(((b.fraction_lost as u32) << 24) | lost).to_be_bytes());
    out.extend_from_slice(&b.extended_highest_seq.to_be_bytes());
    out.extend_from_slice(&b.jitter.to_be_bytes());
    out.extend_from_slice(&b.last_sr.to_be_bytes());
    out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
}

fn patch_length(out: &mut [u8], start: usize) {
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

/// Appends an SR (when `sender` is given) or RR, then an SDES with `cname`, and a BYE when
/// `bye` is set. At most 31 report blocks are written.
pub fn write_compound(
    out: &mut Vec<u8>,
    ssrc: u32,
    sender: Option<&SenderInfo>,
    blocks: &[ReportBlock],
    cname: &str,
    bye: bool,
) {
    let blocks = &blocks[..blocks.len().min(31)];
    let start = out.len();
    out.push(0x80 | blocks.len() as u8);
    out.push(if sender.is_some() { PT_SR } else { PT_RR });
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(si) = sender {
        out.extend_from_slice(&si.ntp.to_be_bytes());
        out.extend_from_slice(&si.rtp_timestamp.to_be_bytes());
        out.extend_from_slice(&si.packet_count.to_be_bytes());
        out.extend_from_slice(&si.octet_count.to_be_bytes());
    }
    for b in blocks {
        push_block(out, b);
    }
    patch_length(out, start);

    let start = out.len();
    out.extend_from_slice(&[0x81, PT_SDES, 0, 0]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let name = &cname.as_bytes()[..cname.len().min(255)];
    out.push(1);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    // End of items plus padding to a 32-bit boundary (at least one zero octet).
    out.push(0);
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
    patch_length(out, start);

    if bye {
        out.extend_from_slice(&[0x81, PT_BYE, 0, 1]);
        out.extend_from_slice(&ssrc.to_be_bytes());
    }
}

/// The middle 32 bits of a 64-bit NTP timestamp (for LSR).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_round_trips_with_sdes_and_bye() {
        let si = SenderInfo {
            ntp: 0x1122_3344_5566_7788,
            rtp_timestamp: 160,
            packet_count: 5,
            octet_count: 800,
        };
        let rb = ReportBlock {
            ssrc: 9,
            fraction_lost: 12,
            cumulative_lost: -3,
            extended_highest_seq: 70000,
            jitter: 4,
            last_sr: 1,
            delay_since_last_sr: 2,
        };
        let mut out = Vec::new();
        write_compound(&mut out, 42, Some(&si), &[rb], "rexian@leg1", true);
        assert_eq!(out.len() % 4, 0);
        let s = parse(&out).unwrap();
        assert_eq!(s.sender_ssrc, Some(42));
        assert_eq!(s.sender_info, Some(si));
        assert_eq!(s.reports, vec![rb]);
        assert_eq!(s.cname.as_deref(), Some("rexian@leg1"));
        assert_eq!(s.bye, vec![42]);
    }

    #[test]
    fn receiver_report_without_blocks_parses() {
        let mut out = Vec::new();
        write_compound(&mut out, 7, None, &[], "x", false);
        let s = parse(&out).unwrap();
        assert_eq!(s.sender_ssrc, Some(7));
        assert!(s.sender_info.is_none() && s.reports.is_empty());
    }

    #[test]
    fn malformed_compounds_give_errors_not_panics() {
        assert_eq!(parse(&[0x80, 200]), Err(RtcpError::TooShort(2)));
        assert_eq!(
            parse(&[0x80, 200, 0, 50, 0, 0, 0, 0]),
            Err(RtcpError::BadLength)
        );
        assert_eq!(
            parse(&[0x00, 200, 0, 1, 0, 0, 0, 0]),
            Err(RtcpError::BadVersion(0))
        );
        // An SR claiming 31 blocks but carrying none, and an SDES with a runaway item length.
        let _ = parse(&[
            0x9F, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let _ = parse(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 200, 0, 0]);
    }
}
