//! A small SMPP 3.4 PDU codec: the operations an ESME sending reminders and surveys needs.
//!
//! bind_transceiver, submit_sm, deliver_sm, enquire_link, unbind, generic_nack and their
//! responses; optional parameters (TLVs) are kept as raw tag/value pairs. Sans-IO:
//! [`decode`] takes bytes and returns a frame and how many bytes it used, [`Frame::encode`]
//! returns bytes. Texts go as UCS-2 (data_coding 8, UTF-16BE); a text longer than 140 octets
//! goes in the `message_payload` TLV.

/// Command ids (SMPP 3.4 §5.1.2.1).
pub mod id {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    pub const DELIVER_SM: u32 = 0x0000_0005;
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
}

/// TLV tags used here.
pub mod tag {
    /// The SMSC's id of the message a receipt is about.
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    pub const MESSAGE_STATE: u16 = 0x0427;
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// Vendor-specific range: rexian's own message id (the outbox UUID).
    pub const REXIAN_MESSAGE_ID: u16 = 0x1400;
}

/// Largest PDU accepted; a peer announcing more is broken or hostile.
pub const MAX_PDU: usize = 64 * 1024;

/// UCS-2 data coding.
pub const DC_UCS2: u8 = 0x08;

/// Why bytes are not a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("command_length {0} out of range")]
    Length(usize),
    #[error("PDU body ends inside a field")]
    Truncated,
    #[error("C-string field without its NUL")]
    Unterminated,
}

/// submit_sm and deliver_sm share their body layout.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ShortMessage {
    pub service_type: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub source_addr: String,
    pub dest_ton: u8,
    pub dest_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub registered_delivery: u8,
    pub data_coding: u8,
    pub short_message: Vec<u8>,
    pub tlvs: Vec<(u16, Vec<u8>)>,
}

impl ShortMessage {
    pub fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// The message octets: `short_message`, or `message_payload` when that is used.
    pub fn payload(&self) -> &[u8] {
        match self.tlv(tag::MESSAGE_PAYLOAD) {
            Some(p) if self.short_message.is_empty() => p,
            _ => &self.short_message,
        }
    }

    /// The text, decoded by its data coding (UCS-2, else ASCII/Latin-1 as UTF-8 lossy).
    pub fn text(&self) -> String {
        decode_text(self.data_coding, self.payload())
    }

    /// Puts `text` in UCS-2, in `short_message` or in `message_payload` when it is long.
    pub fn set_text(&mut self, text: &str) {
        let octets = encode_ucs2(text);
        self.data_coding = DC_UCS2;
        if octets.len() <= 140 {
            self.short_message = octets;
        } else {
            self.short_message.clear();
            self.tlvs.push((tag::MESSAGE_PAYLOAD, octets));
        }
    }
}

/// The body of a PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    BindTransceiver {
        system_id: String,
        password: String,
        system_type: String,
    },
    BindTransceiverResp {
        system_id: String,
    },
    SubmitSm(ShortMessage),
    SubmitSmResp {
        message_id: String,
    },
    DeliverSm(ShortMessage),
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Unbind,
    UnbindResp,
    GenericNack,
    /// A command this codec does not know; answered with generic_nack.
    Other {
        command_id: u32,
    },
}

/// One PDU: status, sequence number and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub status: u32,
    pub sequence: u32,
    pub body: Body,
}

impl Frame {
    pub fn new(sequence: u32, body: Body) -> Frame {
        Frame {
            status: 0,
            sequence,
            body,
        }
    }

    pub fn command_id(&self) -> u32 {
        match &self.body {
            Body::BindTransceiver { .. } => id::BIND_TRANSCEIVER,
            Body::BindTransceiverResp { .. } => id::BIND_TRANSCEIVER_RESP,
            Body::SubmitSm(_) => id::SUBMIT_SM,
            Body::SubmitSmResp { .. } => id::SUBMIT_SM_RESP,
            Body::DeliverSm(_) => id::DELIVER_SM,
            Body::DeliverSmResp => id::DELIVER_SM_RESP,
            Body::EnquireLink => id::ENQUIRE_LINK,
            Body::EnquireLinkResp => id::ENQUIRE_LINK_RESP,
            Body::Unbind => id::UNBIND,
            Body::UnbindResp => id::UNBIND_RESP,
            Body::GenericNack => id::GENERIC_NACK,
            Body::Other { command_id } => *command_id,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        match &self.body {
            Body::BindTransceiver {
                system_id,
                password,
                system_type,
            } => {
                cstr(&mut b, system_id);
                cstr(&mut b, password);
                cstr(&mut b, system_type);
                b.extend_from_slice(&[0x34, 0, 0]); // interface_version 3.4, addr_ton, addr_npi
                cstr(&mut b, ""); // address_range
            }
            Body::BindTransceiverResp { system_id } => cstr(&mut b, system_id),
            Body::SubmitSm(m) | Body::DeliverSm(m) => {
                cstr(&mut b, &m.service_type);
                b.extend_from_slice(&[m.source_ton, m.source_npi]);
                cstr(&mut b, &m.source_addr);
                b.extend_from_slice(&[m.dest_ton, m.dest_npi]);
                cstr(&mut b, &m.destination_addr);
                b.extend_from_slice(&[m.esm_class, 0, 0]); // esm_class, protocol_id, priority
                cstr(&mut b, ""); // schedule_delivery_time
                cstr(&mut b, ""); // validity_period
                b.extend_from_slice(&[m.registered_delivery, 0, m.data_coding, 0]);
                b.push(m.short_message.len().min(255) as u8);
                b.extend_from_slice(&m.short_message[..m.short_message.len().min(255)]);
                for (t, v) in &m.tlvs {
                    b.extend_from_slice(&t.to_be_bytes());
                    b.extend_from_slice(&(v.len().min(65_535) as u16).to_be_bytes());
                    b.extend_from_slice(&v[..v.len().min(65_535)]);
                }
            }
            Body::SubmitSmResp { message_id } => cstr(&mut b, message_id),
            Body::DeliverSmResp => cstr(&mut b, ""),
            _ => {}
        }
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&len.to_be_bytes());
        b[4..8].copy_from_slice(&self.command_id().to_be_bytes());
        b[8..12].copy_from_slice(&self.status.to_be_bytes());
        b[12..16].copy_from_slice(&self.sequence.to_be_bytes());
        b
    }
}

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, PduError> {
        let v = *self.buf.get(self.pos).ok_or(PduError::Truncated)?;
        self.pos += 1;
        Ok(v)
    }
    fn u16(&mut self) -> Result<u16, PduError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], PduError> {
        let end = self.pos.checked_add(n).ok_or(PduError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(PduError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn cstr(&mut self) -> Result<String, PduError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let nul = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or(PduError::Unterminated)?;
        let s = String::from_utf8_lossy(&rest[..nul]).into_owned();
        self.pos += nul + 1;
        Ok(s)
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

fn short_message(r: &mut Reader<'_>) -> Result<ShortMessage, PduError> {
    let mut m = ShortMessage {
        service_type: r.cstr()?,
        source_ton: r.u8()?,
        source_npi: r.u8()?,
        source_addr: r.cstr()?,
        dest_ton: r.u8()?,
        dest_npi: r.u8()?,
        destination_addr: r.cstr()?,
        esm_class: r.u8()?,
        ..ShortMessage::default()
    };
    let _protocol_id = r.u8()?;
    let _priority = r.u8()?;
    let _schedule = r.cstr()?;
    let _validity = r.cstr()?;
    m.registered_delivery = r.u8()?;
    let _replace = r.u8()?;
    m.data_coding = r.u8()?;
    let _default_msg_id = r.u8()?;
    let len = r.u8()? as usize;
    m.short_message = r.bytes(len)?.to_vec();
    while !r.done() {
        let t = r.u16()?;
        let l = r.u16()? as usize;
        m.tlvs.push((t, r.bytes(l)?.to_vec()));
    }
    Ok(m)
}

/// Decodes one PDU from the front of `buf`: `Ok(None)` when more bytes are needed.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, PduError> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(16..=MAX_PDU).contains(&len) {
        return Err(PduError::Length(len));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let word = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let (command_id, status, sequence) = (word(4), word(8), word(12));
    let mut r = Reader {
        buf: &buf[16..len],
        pos: 0,
    };
    // A response with an error status may carry no body at all.
    let empty = len == 16;
    let body = match command_id {
        id::BIND_TRANSCEIVER => Body::BindTransceiver {
            system_id: r.cstr()?,
            password: r.cstr()?,
            system_type: r.cstr()?,
        },
        id::BIND_TRANSCEIVER_RESP => Body::BindTransceiverResp {
            system_id: if empty { String::new() } else { r.cstr()? },
        },
        id::SUBMIT_SM => Body::SubmitSm(short_message(&mut r)?),
        id::SUBMIT_SM_RESP => Body::SubmitSmResp {
            message_id: if empty { String::new() } else { r.cstr()? },
        },
        id::DELIVER_SM => Body::DeliverSm(short_message(&mut r)?),
        id::DELIVER_SM_RESP => Body::DeliverSmResp,
        id::ENQUIRE_LINK => Body::EnquireLink,
        id::ENQUIRE_LINK_RESP => Body::EnquireLinkResp,
        id::UNBIND => Body::Unbind,
        id::UNBIND_RESP => Body::UnbindResp,
        id::GENERIC_NACK => Body::GenericNack,
        other => Body::Other { command_id: other },
    };
    Ok(Some((
        Frame {
            status,
            sequence,
            body,
        },
        len,
    )))
}

/// UTF-16BE, the UCS-2 of SMPP (characters outside the BMP become surrogate pairs).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// The text of a message octet string under `data_coding`.
pub fn decode_text(data_coding: u8, octets: &[u8]) -> String {
    if data_coding == DC_UCS2 {
        let units: Vec<u16> = octets
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(octets).into_owned()
    }
}

/// A delivery receipt's `id:` and `stat:` (SMPP 3.4 appendix B), from its TLVs or its text.
pub fn receipt_fields(m: &ShortMessage) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(m.payload()).into_owned();
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    let id = m
        .tlv(tag::RECEIPTED_MESSAGE_ID)
        .map(|v| {
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string()
        })
        .or_else(|| field("id:"))?;
    let stat = field("stat:").or_else(|| {
        m.tlv(tag::MESSAGE_STATE)
            .and_then(|v| v.first())
            .map(|s| match s {
                2 => "DELIVRD",
                3 => "EXPIRED",
                4 => "DELETED",
                5 => "UNDELIV",
                6 => "ACCEPTD",
                8 => "REJECTD",
                _ => "UNKNOWN",
            })
            .map(str::to_string)
    })?;
    Some((id, stat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enquire_link_is_sixteen_octets() {
        let b = Frame::new(7, Body::EnquireLink).encode();
        assert_eq!(b, [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(
            decode(&b).unwrap(),
            Some((Frame::new(7, Body::EnquireLink), 16))
        );
        assert_eq!(decode(&b[..15]).unwrap(), None);
    }

    #[test]
    fn bind_transceiver_has_the_spec_layout() {
        let f = Frame::new(
            1,
            Body::BindTransceiver {
                system_id: "rx".into(),
                password: "pw".into(),
                system_type: "".into(),
            },
        );
        let b = f.encode();
        assert_eq!(&b[16..], b"rx\0pw\0\0\x34\0\0\0");
        assert_eq!(b.len(), 27);
        assert_eq!(decode(&b).unwrap().unwrap().0, f);
    }

    #[test]
    fn submit_sm_carries_ucs2_and_our_id() {
        let mut m = ShortMessage {
            source_addr: "12345".into(),
            dest_ton: 1,
            dest_npi: 1,
            destination_addr: "8613800138000".into(),
            registered_delivery: 1,
            tlvs: vec![(tag::REXIAN_MESSAGE_ID, b"abc".to_vec())],
            ..ShortMessage::default()
        };
        m.set_text("回复1");
        let b = Frame::new(2, Body::SubmitSm(m.clone())).encode();
        // data_coding 8, sm_length 6, 56DE 590D 0031, then TLV 0x1400 len 3 "abc".
        assert_eq!(
            &b[b.len() - 16..],
            &[8, 0, 6, 0x56, 0xDE, 0x59, 0x0D, 0, 0x31, 0x14, 0, 0, 3, b'a', b'b', b'c'][..]
        );
        let (back, used) = decode(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        let Body::SubmitSm(got) = back.body else {
            panic!("{back:?}")
        };
        assert_eq!(got.text(), "回复1");
        assert_eq!(got.tlv(tag::REXIAN_MESSAGE_ID), Some(&b"abc"[..]));
    }

    #[test]
    fn long_texts_go_in_message_payload() {
        let mut m = ShortMessage::default();
        let text = "满".repeat(80);
        m.set_text(&text);
        assert!(m.short_message.is_empty());
        let b = Frame::new(3, Body::SubmitSm(m)).encode();
        let Body::SubmitSm(got) = decode(&b).unwrap().unwrap().0.body else {
            panic!()
        };
        assert_eq!(got.text(), text);
    }

    #[test]
    fn receipts_are_read_from_text_or_tlvs() {
        let m = ShortMessage {
            esm_class: 4,
            short_message: b"id:m17 sub:001 dlvrd:001 submit date:2603011200 done date:2603011201 stat:DELIVRD err:000 text:".to_vec(),
            ..ShortMessage::default()
        };
        assert_eq!(receipt_fields(&m), Some(("m17".into(), "DELIVRD".into())));
        let m = ShortMessage {
            esm_class: 4,
            tlvs: vec![
                (tag::RECEIPTED_MESSAGE_ID, b"m18\0".to_vec()),
                (tag::MESSAGE_STATE, vec![5]),
            ],
            ..ShortMessage::default()
        };
        assert_eq!(receipt_fields(&m), Some(("m18".into(), "UNDELIV".into())));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            decode(&[0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(PduError::Length(8))
        );
        let mut b = Frame::new(
            1,
            Body::SubmitSmResp {
                message_id: "x".into(),
            },
        )
        .encode();
        b.truncate(17);
        b[3] = 17;
        assert_eq!(decode(&b), Err(PduError::Unterminated));
        let mut sm = Frame::new(1, Body::DeliverSm(ShortMessage::default())).encode();
        let n = sm.len();
        sm[n - 1] = 200; // sm_length beyond the end
        assert_eq!(decode(&sm), Err(PduError::Truncated));
    }
}
