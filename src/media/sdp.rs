//! SDP (RFC 4566) for G.711 audio calls and the offer/answer rules of RFC 3264: parse and
//! write session descriptions, answer an offer with rexian's own address, build offers for the
//! other leg, detect hold, and record per-leg payload-type numbers (telephone-event may be 101
//! on one leg and 96 on the other).
//!
//! Lines we don't model are kept (`other`) so a description survives parse → write.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use thiserror::Error;

use super::g711::Law;

/// Why an SDP body can't be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("SDP has no audio media line")]
    NoAudio,
    #[error("no common codec (we support PCMU and PCMA)")]
    NoCommonCodec,
    #[error("audio media has no connection address")]
    NoConnection,
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The direction an answer takes for an offer with this direction (RFC 3264 §6.1).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// `a=rtpmap:<pt> <name>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<u8>,
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub fmtps: Vec<(u8, String)>,
    pub ptime: Option<u32>,
    pub direction: Option<Direction>,
    /// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605).
    pub rtcp: Option<(u16, Option<IpAddr>)>,
    pub other: Vec<String>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin_user: String,
    pub session_id: u64,
    pub session_version: u64,
    pub origin_addr: IpAddr,
    pub session_name: String,
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<Media>,
    pub other: Vec<String>,
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    // "IN IP4 1.2.3.4" (a TTL suffix "/127" only occurs with multicast; strip it anyway).
    let mut it = s.split_whitespace();
    let (_net, _kind, addr) = (it.next()?, it.next()?, it.next()?);
    addr.split('/').next()?.parse().ok()
}

fn parse_direction(s: &str) -> Option<Direction> {
    Some(match s {
        "sendrecv" => Direction::SendRecv,
        "sendonly" => Direction::SendOnly,
        "recvonly" => Direction::RecvOnly,
        "inactive" => Direction::Inactive,
        _ => return None,
    })
}

impl SessionDescription {
    /// Parses an SDP body (CRLF or LF line ends).
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        let mut sd = SessionDescription {
            origin_user: "-".into(),
            session_id: 0,
            session_version: 0,
            origin_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            session_name: "-".into(),
            connection: None,
            direction: None,
            media: Vec::new(),
            other: Vec::new(),
        };
        let mut saw_v = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let err = |reason| SdpError::Syntax {
                line: line_no,
                reason,
            };
            let (key, value) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or(err("expected <type>=<value>"))?;
            match key {
                "v" => {
                    if value.trim() != "0" {
                        return Err(err("unsupported version"));
                    }
                    saw_v = true;
                }
                "o" => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 6 {
                        return Err(err("o= needs six fields"));
                    }
                    sd.origin_user = f[0].to_string();
                    sd.session_id = f[1].parse().unwrap_or(0);
                    sd.session_version = f[2].parse().unwrap_or(0);
                    sd.origin_addr = f[5].parse().unwrap_or(sd.origin_addr);
                }
                "s" => sd.session_name = value.to_string(),
                "c" => {
                    let ip = parse_ip(value).ok_or(err("bad c= line"))?;
                    match sd.media.last_mut() {
                        Some(m) => m.connection = Some(ip),
                        None => sd.connection = Some(ip),
                    }
                }
                "m" => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(err("m= needs media, port and proto"));
                    }
                    let port = f[1]
                        .split('/')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .ok_or(err("bad m= port"))?;
                    let formats = f[3..].iter().filter_map(|p| p.parse().ok()).collect();
                    sd.media.push(Media {
                        kind: f[0].to_string(),
                        port,
                        proto: f[2].to_string(),
                        formats,
                        ..Default::default()
                    });
                }
                "a" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    if let Some(d) = parse_direction(name) {
                        match sd.media.last_mut() {
                            Some(m) => m.direction = Some(d),
                            None => sd.direction = Some(d),
                        }
                        continue;
                    }
                    let Some(m) = sd.media.last_mut() else {
                        sd.other.push(line.to_string());
                        continue;
                    };
                    match name {
                        "rtpmap" => {
                            let (pt, rest) = arg.split_once(' ').ok_or(err("bad rtpmap"))?;
                            let mut p = rest.trim().split('/');
                            let encoding = p.next().unwrap_or("").to_string();
                            let clock_rate = p
                                .next()
                                .and_then(|c| c.parse().ok())
                                .ok_or(err("bad rtpmap"))?;
                            let channels = p.next().and_then(|c| c.parse().ok());
                            let pt = pt.parse().map_err(|_| err("bad rtpmap payload type"))?;
                            m.rtpmaps.push(RtpMap {
                                pt,
                                encoding,
                                clock_rate,
                                channels,
                            });
                        }
                        "fmtp" => {
                            let (pt, rest) = arg.split_once(' ').ok_or(err("bad fmtp"))?;
                            let pt = pt.parse().map_err(|_| err("bad fmtp payload type"))?;
                            m.fmtps.push((pt, rest.trim().to_string()));
                        }
                        "ptime" => m.ptime = arg.trim().parse().ok(),
                        "rtcp" => {
                            let mut f = arg.splitn(2, ' ');
                            let port = f.next().and_then(|p| p.trim().parse().ok());
                            let addr = f.next().and_then(parse_ip);
                            if let Some(port) = port {
                                m.rtcp = Some((port, addr));
                            }
                        }
                        _ => m.other.push(line.to_string()),
                    }
                }
                _ => match sd.media.last_mut() {
                    Some(m) if key != "t" => m.other.push(line.to_string()),
                    _ if key == "t" => {}
                    _ => sd.other.push(line.to_string()),
                },
            }
        }
        if !saw_v {
            return Err(SdpError::Syntax {
                line: 1,
                reason: "missing v=0",
            });
        }
        Ok(sd)
    }

    /// Writes the description with CRLF line ends.
    pub fn to_sdp(&self) -> String {
        let mut s = String::with_capacity(256);
        let ipkind = |ip: &IpAddr| if ip.is_ipv4() { "IP4" } else { "IP6" };
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            ipkind(&self.origin_addr),
            self.origin_addr,
            self.session_name
        );
        if let Some(c) = &self.connection {
            let _ = write!(s, "c=IN {} {}\r\n", ipkind(c), c);
        }
        s.push_str("t=0 0\r\n");
        for o in &self.other {
            let _ = write!(s, "{o}\r\n");
        }
        if let Some(d) = self.direction {
            let _ = write!(s, "a={}\r\n", d.as_str());
        }
        for m in &self.media {
            let _ = write!(s, "m={} {} {}", m.kind, m.port, m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c=IN {} {}\r\n", ipkind(c), c);
            }
            for r in &m.rtpmaps {
                let _ = write!(s, "a=rtpmap:{} {}/{}", r.pt, r.encoding, r.clock_rate);
                if let Some(ch) = r.channels {
                    let _ = write!(s, "/{ch}");
                }
                s.push_str("\r\n");
            }
            for (pt, p) in &m.fmtps {
                let _ = write!(s, "a=fmtp:{pt} {p}\r\n");
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            if let Some((port, addr)) = m.rtcp {
                match addr {
                    Some(a) => {
                        let _ = write!(s, "a=rtcp:{port} IN {} {a}\r\n", ipkind(&a));
                    }
                    None => {
                        let _ = write!(s, "a=rtcp:{port}\r\n");
                    }
                }
            }
            for o in &m.other {
                let _ = write!(s, "{o}\r\n");
            }
            if let Some(d) = m.direction {
                let _ = write!(s, "a={}\r\n", d.as_str());
            }
        }
        s
    }

    /// The first audio section with a non-zero port.
    pub fn audio(&self) -> Option<(usize, &Media)> {
        self.media
            .iter()
            .enumerate()
            .find(|(_, m)| m.kind == "audio" && m.port != 0)
    }
}

impl Media {
    /// The codec name a payload type maps to (rtpmap, or the static table for 0 and 8).
    pub fn encoding_of(&self, pt: u8) -> Option<&str> {
        if let Some(r) = self.rtpmaps.iter().find(|r| r.pt == pt) {
            return Some(r.encoding.as_str());
        }
        match pt {
            0 => Some("PCMU"),
            8 => Some("PCMA"),
            _ => None,
        }
    }

    fn find(&self, name: &str) -> Option<u8> {
        self.formats.iter().copied().find(|&pt| {
            self.encoding_of(pt)
                .is_some_and(|e| e.eq_ignore_ascii_case(name))
        })
    }
}

/// What one leg agreed on: enough to configure the relay for that leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub law: Law,
    /// The audio payload type used on this leg.
    pub audio_pt: u8,
    /// The telephone-event payload type on this leg, if both sides support it.
    pub dtmf_pt: Option<u8>,
    pub ptime_ms: u32,
    /// Where the peer said to send RTP (None when held with c=0.0.0.0).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// The peer's direction as it declared it.
    pub remote_direction: Direction,
    /// The peer put the call on hold (sendonly/inactive or c=0.0.0.0).
    pub on_hold: bool,
}

/// Our side of a leg: where rexian receives this leg's media.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub addr: IpAddr,
    pub rtp_port: u16,
    pub session_id: u64,
    pub session_version: u64,
    /// Codecs in our order of preference; the answer takes the first of these the offer has.
    pub codecs: Vec<Law>,
    /// Payload type we offer for telephone-event (None: don't offer it).
    pub dtmf_pt: Option<u8>,
    pub ptime_ms: u32,
}

impl LocalMedia {
    pub fn new(addr: IpAddr, rtp_port: u16, session_id: u64) -> Self {
        LocalMedia {
            addr,
            rtp_port,
            session_id,
            session_version: 1,
            codecs: vec![Law::Alaw, Law::Ulaw],
            dtmf_pt: Some(101),
            ptime_ms: 20,
        }
    }

    fn base(&self) -> SessionDescription {
        SessionDescription {
            origin_user: "rexian".into(),
            session_id: self.session_id,
            session_version: self.session_version,
            origin_addr: self.addr,
            session_name: "rexian".into(),
            connection: Some(self.addr),
            direction: None,
            media: Vec::new(),
            other: Vec::new(),
        }
    }

    fn audio_media(&self, pts: &[(u8, Law)], dtmf_pt: Option<u8>, dir: Direction) -> Media {
        let mut m = Media {
            kind: "audio".into(),
            port: self.rtp_port,
            proto: "RTP/AVP".into(),
            ptime: Some(self.ptime_ms),
            direction: Some(dir),
            rtcp: Some((self.rtp_port.wrapping_add(1), None)),
            ..Default::default()
        };
        for &(pt, law) in pts {
            m.formats.push(pt);
            m.rtpmaps.push(RtpMap {
                pt,
                encoding: law.encoding_name().into(),
                clock_rate: 8000,
                channels: None,
            });
        }
        if let Some(pt) = dtmf_pt {
            m.formats.push(pt);
            m.rtpmaps.push(RtpMap {
                pt,
                encoding: "telephone-event".into(),
                clock_rate: 8000,
                channels: None,
            });
            m.fmtps.push((pt, "0-16".into()));
        }
        m
    }

    /// An offer for a leg, `preferred` codec first (e.g. the law the other leg already uses,
    /// so the relay needn't transcode), on hold when `hold` is set.
    pub fn offer(&self, preferred: Option<Law>, hold: bool) -> SessionDescription {
        let mut laws: Vec<Law> = preferred.into_iter().collect();
        laws.extend(
            self.codecs
                .iter()
                .copied()
                .filter(|l| Some(*l) != preferred),
        );
        let pts: Vec<(u8, Law)> = laws.iter().map(|l| (l.static_payload_type(), *l)).collect();
        let dir = if hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let mut sd = self.base();
        sd.media.push(self.audio_media(&pts, self.dtmf_pt, dir));
        sd
    }

    /// Answers `offer`: one codec (our preference among the offered), telephone-event with the
    /// offerer's payload type, our address and port; other media sections are refused (port 0).
    pub fn answer(
        &self,
        offer: &SessionDescription,
    ) -> Result<(SessionDescription, Negotiated), SdpError> {
        let (idx, m) = offer.audio().ok_or(SdpError::NoAudio)?;
        let (law, pt) = self
            .codecs
            .iter()
            .find_map(|&l| m.find(l.encoding_name()).map(|pt| (l, pt)))
            .ok_or(SdpError::NoCommonCodec)?;
        let dtmf_pt = if self.dtmf_pt.is_some() {
            m.find("telephone-event")
        } else {
            None
        };
        let neg = negotiated(offer, m, law, pt, dtmf_pt, self.ptime_ms)?;
        let mut sd = self.base();
        for (i, om) in offer.media.iter().enumerate() {
            if i == idx {
                sd.media.push(self.audio_media(
                    &[(pt, law)],
                    dtmf_pt,
                    neg.remote_direction.reversed(),
                ));
            } else {
                sd.media.push(Media {
                    kind: om.kind.clone(),
                    port: 0,
                    proto: om.proto.clone(),
                    formats: om.formats.first().copied().into_iter().collect(),
                    ..Default::default()
                });
            }
        }
        Ok((sd, neg))
    }

    /// Reads the answer to an offer we made on this leg.
    pub fn accept_answer(&self, answer: &SessionDescription) -> Result<Negotiated, SdpError> {
        let (_, m) = answer.audio().ok_or(SdpError::NoAudio)?;
        let (law, pt) = m
            .formats
            .iter()
            .find_map(|&pt| {
                let e = m.encoding_of(pt)?;
                [Law::Ulaw, Law::Alaw]
                    .into_iter()
                    .find(|l| e.eq_ignore_ascii_case(l.encoding_name()))
                    .map(|l| (l, pt))
            })
            .ok_or(SdpError::NoCommonCodec)?;
        let dtmf_pt = m.find("telephone-event");
        negotiated(answer, m, law, pt, dtmf_pt, self.ptime_ms)
    }
}

fn negotiated(
    sd: &SessionDescription,
    m: &Media,
    law: Law,
    audio_pt: u8,
    dtmf_pt: Option<u8>,
    default_ptime: u32,
) -> Result<Negotiated, SdpError> {
    let ip = m
        .connection
        .or(sd.connection)
        .ok_or(SdpError::NoConnection)?;
    let direction = m.direction.or(sd.direction).unwrap_or_default();
    let null_addr = ip.is_unspecified();
    let remote_rtp = (!null_addr).then(|| SocketAddr::new(ip, m.port));
    let remote_rtcp = match m.rtcp {
        Some((port, addr)) => Some(SocketAddr::new(addr.unwrap_or(ip), port)),
        None => (!null_addr).then(|| SocketAddr::new(ip, m.port.wrapping_add(1))),
    };
    Ok(Negotiated {
        law,
        audio_pt,
        dtmf_pt,
        ptime_ms: m.ptime.unwrap_or(default_ptime),
        remote_rtp,
        remote_rtcp,
        remote_direction: direction,
        on_hold: null_addr || matches!(direction, Direction::SendOnly | Direction::Inactive),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARRIER_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
        m=audio 30000 RTP/AVP 18 0 8 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:96 telephone-event/8000\r\n\
        a=fmtp:96 0-15\r\na=ptime:20\r\na=sendrecv\r\nm=video 30002 RTP/AVP 97\r\n";

    fn local() -> LocalMedia {
        LocalMedia::new("192.0.2.10".parse().unwrap(), 40000, 77)
    }

    #[test]
    fn answer_picks_our_codec_keeps_offer_pts_and_rewrites_address() {
        let offer = SessionDescription::parse(CARRIER_OFFER).unwrap();
        let (ans, neg) = local().answer(&offer).unwrap();
        assert_eq!(
            (neg.law, neg.audio_pt, neg.dtmf_pt),
            (Law::Alaw, 8, Some(96))
        );
        assert_eq!(neg.remote_rtp, Some("10.1.1.1:30000".parse().unwrap()));
        assert_eq!(neg.remote_rtcp, Some("10.1.1.1:30001".parse().unwrap()));
        assert!(!neg.on_hold);
        let text = ans.to_sdp();
        assert!(text.contains("c=IN IP4 192.0.2.10\r\n"), "{text}");
        assert!(text.contains("m=audio 40000 RTP/AVP 8 96\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:96 telephone-event/8000\r\n"));
        assert!(text.contains("m=video 0 RTP/AVP 97\r\n"), "{text}");
        // The answer parses back to the same thing.
        assert_eq!(SessionDescription::parse(&text).unwrap(), ans);
    }

    #[test]
    fn offer_without_g711_is_refused_with_no_common_codec() {
        let offer = SessionDescription::parse(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n",
        )
        .unwrap();
        assert_eq!(local().answer(&offer).unwrap_err(), SdpError::NoCommonCodec);
    }

    #[test]
    fn offer_for_other_leg_puts_preferred_codec_first_and_answer_maps_its_dtmf_pt() {
        let mut l = local();
        l.dtmf_pt = Some(101);
        let offer = l.offer(Some(Law::Ulaw), false).to_sdp();
        assert!(
            offer.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"),
            "{offer}"
        );
        let phone = "v=0\r\no=x 5 5 IN IP4 172.16.0.5\r\ns=x\r\nc=IN IP4 172.16.0.5\r\nt=0 0\r\n\
            m=audio 5004 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:5010\r\n";
        let neg = l
            .accept_answer(&SessionDescription::parse(phone).unwrap())
            .unwrap();
        assert_eq!((neg.law, neg.dtmf_pt), (Law::Ulaw, Some(101)));
        assert_eq!(neg.remote_rtcp, Some("172.16.0.5:5010".parse().unwrap()));
    }

    #[test]
    fn hold_is_detected_from_direction_or_null_address() {
        let base = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        for (extra, hold) in [
            ("c=IN IP4 10.0.0.1\r\na=sendonly\r\n", true),
            ("c=IN IP4 10.0.0.1\r\na=inactive\r\n", true),
            ("c=IN IP4 0.0.0.0\r\n", true),
            ("c=IN IP4 10.0.0.1\r\na=recvonly\r\n", false),
            ("c=IN IP4 10.0.0.1\r\n", false),
        ] {
            let sd = SessionDescription::parse(&format!("{base}{extra}")).unwrap();
            let (ans, neg) = local().answer(&sd).unwrap();
            assert_eq!(neg.on_hold, hold, "{extra}");
            let want = neg.remote_direction.reversed();
            assert_eq!(ans.media[0].direction, Some(want));
        }
        let held = local().offer(None, true).to_sdp();
        assert!(held.contains("a=sendonly\r\n"));
    }

    #[test]
    fn garbage_gives_syntax_errors() {
        assert!(matches!(
            SessionDescription::parse("hello"),
            Err(SdpError::Syntax { .. })
        ));
        assert!(matches!(
            SessionDescription::parse("v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::Syntax { line: 2, .. })
        ));
        assert_eq!(
            local()
                .answer(&SessionDescription::parse("v=0\r\n").unwrap())
                .unwrap_err(),
            SdpError::NoAudio
        );
    }
}
