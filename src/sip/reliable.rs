//! Reliable provisional responses (RFC 3262, `100rel`): RSeq numbering and retransmission on
//! the UAS side, PRACK building and duplicate suppression on the UAC side.
//!
//! UAS ([`ReliableUas`], one per INVITE server transaction): [`ReliableUas::prepare`] stamps
//! `Require: 100rel` and `RSeq` on a 1xx, which the TU then sends with
//! `TransactionLayer::respond`. On each [`ReliableUas::poll_timeout`] deadline the TU calls
//! [`ReliableUas::handle_timeout`] and, on [`ReliableAction::Resend`], responds with the same
//! 1xx again (T1, doubling). A PRACK goes to [`ReliableUas::on_prack`]; a PRACK that matches
//! nothing is answered 481. If 64*T1 pass without PRACK ([`ReliableAction::GiveUp`]) the TU
//! should reject the INVITE with a 5xx (RFC 3262 §3). Only one reliable provisional may be
//! unacknowledged at a time.
//!
//! UAC ([`ReliableUac`], one per early dialog): [`ReliableUac::on_provisional`] says whether a
//! 1xx needs a PRACK; [`build_prack`] makes it inside the dialog.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sip::dialog::{Dialog, DialogError};
use crate::sip::message::{Method, Request, Response, Via};
use crate::sip::transaction::TimerConfig;

/// The RAck header value: `RSeq CSeq-number Method`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RAck {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
}

impl RAck {
    pub fn parse(value: &str) -> Result<RAck, ReliableError> {
        let mut parts = value.split_ascii_whitespace();
        let mut num = || {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .ok_or(ReliableError::BadRAck)
        };
        let rseq = num()?;
        let cseq = num()?;
        let method = parts.next().ok_or(ReliableError::BadRAck)?;
        if parts.next().is_some() {
            return Err(ReliableError::BadRAck);
        }
        Ok(RAck {
            rseq,
            cseq,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReliableError {
    #[error("a reliable provisional response is still waiting for its PRACK")]
    Outstanding,
    #[error("only 101–199 responses can be sent reliably")]
    NotReliableStatus,
    #[error("the PRACK matches no reliable provisional response")]
    NoMatch,
    #[error("missing or malformed RAck")]
    BadRAck,
    #[error("malformed RSeq")]
    BadRSeq,
}

impl ReliableError {
    /// The status to answer a PRACK with when this error came from it.
    pub fn status(&self) -> u16 {
        match self {
            ReliableError::NoMatch => 481,
            _ => 400,
        }
    }
}

/// True when the request lets us send provisionals reliably (Supported or Require `100rel`).
pub fn peer_supports_100rel(req: &Request) -> bool {
    req.headers.has_token("Supported", "100rel") || req.headers.has_token("Require", "100rel")
}

/// True when the request insists on reliable provisionals.
pub fn peer_requires_100rel(req: &Request) -> bool {
    req.headers.has_token("Require", "100rel")
}

/// What the UAS should do on a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReliableAction {
    Wait,
    /// Send the outstanding reliable 1xx again.
    Resend,
    /// No PRACK after 64*T1: reject the INVITE with a 5xx.
    GiveUp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Outstanding {
    rack: RAck,
    next: Option<(Instant, Duration)>,
    give_up: Instant,
}

/// UAS side of 100rel for one INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReliableUas {
    /// The RSeq of the next reliable provisional.
    next_rseq: u32,
    outstanding: Option<Outstanding>,
    cfg: TimerConfig,
    reliable_transport: bool,
}

impl ReliableUas {
    /// `initial_rseq` should be chosen at random in 1..2^31 (RFC 3262 §3); `reliable_transport`
    /// turns off retransmission (the 64*T1 give-up still runs).
    pub fn new(initial_rseq: u32, cfg: TimerConfig, reliable_transport: bool) -> ReliableUas {
        ReliableUas {
            next_rseq: initial_rseq.clamp(1, (1 << 31) - 1),
            outstanding: None,
            cfg,
            reliable_transport,
        }
    }

    /// Stamps `Require: 100rel` and `RSeq` on a 101–199 response about to be sent at `now`
    /// and starts its retransmission schedule. Returns the RSeq used.
    pub fn prepare(&mut self, now: Instant, resp: &mut Response) -> Result<u32, ReliableError> {
        if !(101..=199).contains(&resp.status) {
            return Err(ReliableError::NotReliableStatus);
        }
        if self.outstanding.is_some() {
            return Err(ReliableError::Outstanding);
        }
        let rseq = self.next_rseq;
        self.next_rseq = self.next_rseq.wrapping_add(1);
        if !resp.headers.has_token("Require", "100rel") {
            resp.headers.push("Require", "100rel");
        }
        resp.headers.set("RSeq", rseq.to_string());
        self.outstanding = Some(Outstanding {
            rack: RAck {
                rseq,
                cseq: resp.cseq.seq,
                method: resp.cseq.method.clone(),
            },
            next: (!self.reliable_transport).then_some((now + self.cfg.t1, self.cfg.t1)),
            give_up: now + self.cfg.t1x64(),
        });
        Ok(rseq)
    }

    /// True while a reliable provisional awaits its PRACK.
    pub fn is_outstanding(&self) -> bool {
        self.outstanding.is_some()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let o = self.outstanding.as_ref()?;
        Some(o.next.map_or(o.give_up, |(t, _)| t.min(o.give_up)))
    }

    pub fn handle_timeout(&mut self, now: Instant) -> ReliableAction {
        let Some(o) = self.outstanding.as_mut() else {
            return ReliableAction::Wait;
        };
        if o.give_up <= now {
            self.outstanding = None;
            return ReliableAction::GiveUp;
        }
        match o.next {
            Some((at, interval)) if at <= now => {
                let next = interval * 2;
                o.next = Some((at + next, next));
                ReliableAction::Resend
            }
            _ => ReliableAction::Wait,
        }
    }

    /// A PRACK arrived: it must carry an RAck naming the outstanding response (else 481).
    /// Returns the acknowledged RSeq.
    pub fn on_prack(&mut self, prack: &Request) -> Result<u32, ReliableError> {
        let rack = RAck::parse(prack.headers.get("RAck").ok_or(ReliableError::BadRAck)?)?;
        match &self.outstanding {
            Some(o) if o.rack == rack => {
                self.outstanding = None;
                Ok(rack.rseq)
            }
            _ => Err(ReliableError::NoMatch),
        }
    }

    /// The INVITE got its final response: stop retransmitting.
    pub fn finish(&mut self) {
        self.outstanding = None;
    }
}

/// UAC side of 100rel for one early dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReliableUac {
    last_rseq: Option<u32>,
}

impl ReliableUac {
    pub fn new() -> ReliableUac {
        ReliableUac::default()
    }

    /// For a received 1xx: `Ok(Some(rack))` when it is a new reliable provisional to PRACK;
    /// `Ok(None)` when it is unreliable, a retransmission, or out of order (RFC 3262 §4: only
    /// RSeq one above the last is acknowledged).
    pub fn on_provisional(&mut self, resp: &Response) -> Result<Option<RAck>, ReliableError> {
        if !(101..=199).contains(&resp.status) || !resp.headers.has_token("Require", "100rel") {
            return Ok(None);
        }
        let rseq: u32 = resp
            .headers
            .get("RSeq")
            .and_then(|v| v.trim().parse().ok())
            .ok_or(ReliableError::BadRSeq)?;
        if let Some(last) = self.last_rseq {
            if rseq != last.wrapping_add(1) {
                return Ok(None);
            }
        }
        self.last_rseq = Some(rseq);
        Ok(Some(RAck {
            rseq,
            cseq: resp.cseq.seq,
            method: resp.cseq.method.clone(),
        }))
    }
}

/// The PRACK for a reliable provisional, as a new request in its (early) dialog.
pub fn build_prack(dialog: &mut Dialog, rack: &RAck, via: Via) -> Result<Request, DialogError> {
    let mut prack = dialog.new_request(Method::Prack, via)?;
    prack.headers.push("RAck", rack.to_string());
    Ok(prack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::dialog::DialogState;
    use crate::sip::message::{CSeq, Headers, NameAddr, Param, Uri};

    fn invite() -> Request {
        let mut from = NameAddr::new(Uri::sip(Some("caller"), "carrier.example", None));
        from.set_tag("rt");
        let mut headers = Headers::new();
        headers.push("Supported", "timer, 100rel");
        Request {
            method: Method::Invite,
            uri: Uri::sip(Some("12345"), "hotline.example", None),
            via: vec![via("z9hG4bKi")],
            from,
            to: NameAddr::new(Uri::sip(Some("12345"), "hotline.example", None)),
            call_id: "rel-1".into(),
            cseq: CSeq {
                seq: 5,
                method: Method::Invite,
            },
            max_forwards: Some(70),
            headers,
            body: Default::default(),
        }
    }

    fn via(branch: &str) -> Via {
        Via {
            transport: "UDP".into(),
            host: "192.0.2.1".into(),
            port: None,
            params: vec![Param::new("branch", Some(branch.into()))],
        }
    }

    fn prack_with(rack: &str) -> Request {
        let mut p = invite();
        p.method = Method::Prack;
        p.cseq = CSeq {
            seq: 6,
            method: Method::Prack,
        };
        p.headers.push("RAck", rack);
        p
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn uas_stamps_rseq_and_require_and_counts_up() {
        let t0 = Instant::now();
        let inv = invite();
        assert!(peer_supports_100rel(&inv) && !peer_requires_100rel(&inv));
        let mut uas = ReliableUas::new(77, TimerConfig::default(), false);
        let mut ringing = inv.response(180);
        assert_eq!(uas.prepare(t0, &mut ringing), Ok(77));
        assert_eq!(ringing.headers.get("RSeq"), Some("77"));
        assert!(ringing.headers.has_token("Require", "100rel"));
        let mut progress = inv.response(183);
        assert_eq!(
            uas.prepare(t0, &mut progress),
            Err(ReliableError::Outstanding)
        );
        assert_eq!(uas.on_prack(&prack_with("77 5 INVITE")), Ok(77));
        assert_eq!(uas.prepare(t0, &mut progress), Ok(78));
        assert_eq!(
            uas.prepare(t0, &mut inv.response(100)),
            Err(ReliableError::NotReliableStatus)
        );
    }

    #[test]
    fn uas_retransmits_at_t1_doubling_until_prack() {
        let t0 = Instant::now();
        let mut uas = ReliableUas::new(1, TimerConfig::default(), false);
        uas.prepare(t0, &mut invite().response(183)).unwrap();
        let mut resends = Vec::new();
        while let Some(at) = uas.poll_timeout() {
            if at > t0 + secs(5.0) {
                break;
            }
            assert_eq!(uas.handle_timeout(at), ReliableAction::Resend);
            resends.push(at - t0);
        }
        assert_eq!(resends, [0.5, 1.5, 3.5].map(secs));
        uas.on_prack(&prack_with("1 5 INVITE")).unwrap();
        assert_eq!(uas.poll_timeout(), None);
    }

    #[test]
    fn uas_gives_up_after_64_t1_without_prack() {
        let t0 = Instant::now();
        let mut uas = ReliableUas::new(1, TimerConfig::default(), true);
        uas.prepare(t0, &mut invite().response(180)).unwrap();
        assert_eq!(
            uas.poll_timeout(),
            Some(t0 + secs(32.0)),
            "no resends on TCP"
        );
        assert_eq!(uas.handle_timeout(t0 + secs(32.0)), ReliableAction::GiveUp);
        assert!(!uas.is_outstanding());
    }

    #[test]
    fn prack_with_a_wrong_rack_is_481_and_a_garbled_one_400() {
        let t0 = Instant::now();
        let mut uas = ReliableUas::new(10, TimerConfig::default(), false);
        uas.prepare(t0, &mut invite().response(180)).unwrap();
        for bad in ["11 5 INVITE", "10 4 INVITE", "10 5 UPDATE"] {
            let err = uas.on_prack(&prack_with(bad)).unwrap_err();
            assert_eq!(err.status(), 481, "{bad}");
        }
        let err = uas.on_prack(&prack_with("ten 5 INVITE")).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(uas.is_outstanding());
    }

    #[test]
    fn uac_pracks_each_new_rseq_once_and_skips_duplicates_and_gaps() {
        let inv = invite();
        let mut uac = ReliableUac::new();
        let mut ringing = inv.response(180);
        ringing.to.set_tag("uas");
        ringing.headers.push("Require", "100rel");
        ringing.headers.push("RSeq", "300");
        let rack = uac.on_provisional(&ringing).unwrap().unwrap();
        assert_eq!(rack.to_string(), "300 5 INVITE");
        assert_eq!(uac.on_provisional(&ringing), Ok(None), "duplicate");
        let mut gap = ringing.clone();
        gap.headers.set("RSeq", "302");
        assert_eq!(uac.on_provisional(&gap), Ok(None), "out of order");
        let mut next = ringing.clone();
        next.headers.set("RSeq", "301");
        assert!(uac.on_provisional(&next).unwrap().is_some());
        let mut unreliable = inv.response(180);
        unreliable.headers.push("RSeq", "999");
        assert_eq!(uac.on_provisional(&unreliable), Ok(None));

        let mut dialog = Dialog::new_uac(
            &inv,
            &ringing,
            &[],
            Some(&NameAddr::new(Uri::sip(None, "198.51.100.1", None))),
            NameAddr::new(Uri::sip(Some("rexian"), "192.0.2.1", None)),
        )
        .unwrap();
        assert_eq!(dialog.state, DialogState::Early);
        let prack = build_prack(&mut dialog, &rack, via("z9hG4bKp")).unwrap();
        assert_eq!(prack.method, Method::Prack);
        assert_eq!(prack.cseq.seq, 6);
        assert_eq!(prack.headers.get("RAck"), Some("300 5 INVITE"));
        assert_eq!(prack.to.tag(), Some("uas"));
    }

    #[test]
    fn rack_parsing_rejects_missing_and_extra_fields() {
        assert!(RAck::parse("1 2").is_err());
        assert!(RAck::parse("1 2 INVITE x").is_err());
        assert_eq!(
            RAck::parse(" 1  2 INVITE ").unwrap(),
            RAck {
                rseq: 1,
                cseq: 2,
                method: Method::Invite
            }
        );
    }
}
