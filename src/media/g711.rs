//! ITU-T G.711 companding: µ-law (PCMU) and A-law (PCMA) between 16-bit linear PCM and 8-bit
//! code words, plus direct A-law ↔ µ-law transcoding tables for the relay's hot path.
//!
//! Decoding and transcoding are 256-entry tables built at compile time; encoding is a few
//! integer operations (segment = position of the highest set bit), so neither needs a 64 KiB
//! table. Code words are the on-the-wire bytes: µ-law inverted, A-law with even bits toggled.

/// The two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, RTP static payload type 0.
    Ulaw,
    /// A-law, RTP static payload type 8.
    Alaw,
}

impl Law {
    /// The RTP static payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }
    /// The SDP encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Law::Ulaw => "PCMU",
            Law::Alaw => "PCMA",
        }
    }
    /// The code word for digital silence.
    pub fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// Encodes one linear sample as a µ-law code word.
pub const fn ulaw_encode(sample: i16) -> u8 {
    let mut x = sample as i32;
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    if x > ULAW_CLIP {
        x = ULAW_CLIP;
    }
    x += ULAW_BIAS;
    // x is in [132, 32767]; x >> 7 is in [1, 255], so the segment is 0..=7.
    let seg = 31 - ((x >> 7) as u32).leading_zeros() as i32;
    let mant = (x >> (seg + 3)) & 0x0F;
    !((sign | (seg << 4) | mant) as u8)
}

/// Decodes one µ-law code word.
pub const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let seg = ((u >> 4) & 0x07) as i32;
    let mant = (u & 0x0F) as i32;
    let x = (((mant << 3) + ULAW_BIAS) << seg) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -x as i16
    } else {
        x as i16
    }
}

/// Encodes one linear sample as an A-law code word.
pub const fn alaw_encode(sample: i16) -> u8 {
    let x = sample as i32;
    let (sign, mag) = if x >= 0 { (0x80, x) } else { (0x00, -x - 1) };
    let mut m = mag >> 3; // 13-bit magnitude, 0..=4095
    if m > 4095 {
        m = 4095;
    }
    let code = if m < 32 {
        m >> 1
    } else {
        // m in [32, 4095]: the highest set bit is 5..=11, segment 1..=7.
        let seg = 31 - (m as u32).leading_zeros() as i32 - 4;
        (seg << 4) | ((m >> seg) & 0x0F)
    };
    ((sign | code) as u8) ^ 0x55
}

/// Decodes one A-law code word.
pub const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let seg = ((a >> 4) & 0x07) as i32;
    let mant = (a & 0x0F) as i32;
    let m = if seg == 0 {
        (mant << 4) + 8
    } else {
        ((mant << 4) + 0x108) << (seg - 1)
    };
    if a & 0x80 != 0 {
        m as i16
    } else {
        -m as i16
    }
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode(i as u8);
        i += 1;
    }
    t
}

const fn build_ulaw_to_alaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_encode(ulaw_decode(i as u8));
        i += 1;
    }
    t
}

const fn build_alaw_to_ulaw() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_encode(alaw_decode(i as u8));
        i += 1;
    }
    t
}

/// µ-law code word → linear sample.
pub static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_decode();
/// A-law code word → linear sample.
pub static ALAW_TO_LINEAR: [i16; 256] = build_alaw_decode();
/// µ-law code word → A-law code word (decode then encode).
pub static ULAW_TO_ALAW: [u8; 256] = build_ulaw_to_alaw();
/// A-law code word → µ-law code word (decode then encode).
pub static ALAW_TO_ULAW: [u8; 256] = build_alaw_to_ulaw();

/// Decodes code words of `law` into `out` (cleared first).
pub fn decode_into(law: Law, codes: &[u8], out: &mut Vec<i16>) {
    out.clear();
    let table = match law {
        Law::Ulaw => &ULAW_TO_LINEAR,
        Law::Alaw => &ALAW_TO_LINEAR,
    };
    out.extend(codes.iter().map(|&c| table[c as usize]));
}

/// Encodes linear samples as `law` code words appended to `out`.
pub fn encode_into(law: Law, samples: &[i16], out: &mut Vec<u8>) {
    match law {
        Law::Ulaw => out.extend(samples.iter().map(|&s| ulaw_encode(s))),
        Law::Alaw => out.extend(samples.iter().map(|&s| alaw_encode(s))),
    }
}

/// Rewrites code words in place from law `from` to law `to` (no-op when equal).
pub fn transcode_in_place(from: Law, to: Law, codes: &mut [u8]) {
    let table = match (from, to) {
        (Law::Ulaw, Law::Alaw) => &ULAW_TO_ALAW,
        (Law::Alaw, Law::Ulaw) => &ALAW_TO_ULAW,
        _ => return,
    };
    for c in codes {
        *c = table[*c as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_encodes_to_known_code_points() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(Law::Ulaw.silence(), ulaw_encode(0));
        assert_eq!(Law::Alaw.silence(), alaw_encode(0));
    }

    #[test]
    fn full_scale_code_points_match_the_standard() {
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn round_trip_error_stays_within_half_a_quantisation_step() {
        for s in -32000i32..=32000 {
            let x = s as i16;
            let eu = (ulaw_decode(ulaw_encode(x)) as i32 - s).abs();
            assert!(eu <= (s.abs() + 132) / 32 + 1, "µ-law {s}: error {eu}");
            let ea = (alaw_decode(alaw_encode(x)) as i32 - s).abs();
            assert!(ea <= s.abs() / 32 + 9, "A-law {s}: error {ea}");
        }
    }

    #[test]
    fn every_code_word_survives_decode_then_encode() {
        for c in 0..=255u8 {
            // µ-law has two zeros (0x7F = -0, 0xFF = +0); both decode to 0 which encodes as 0xFF.
            if c != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(c)), c, "µ {c:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(c)), c, "A {c:#04x}");
        }
    }

    #[test]
    fn transcoding_tables_match_decode_then_encode() {
        for c in 0..=255u8 {
            assert_eq!(ULAW_TO_ALAW[c as usize], alaw_encode(ulaw_decode(c)));
            assert_eq!(ALAW_TO_ULAW[c as usize], ulaw_encode(alaw_decode(c)));
        }
        let mut buf = [0xFFu8, 0x80, 0x00];
        transcode_in_place(Law::Ulaw, Law::Alaw, &mut buf);
        assert_eq!(buf[0], 0xD5);
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut prev = i32::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let d = ulaw_decode(ulaw_encode(s)) as i32;
            assert!(d >= prev);
            prev = d;
        }
    }
}
