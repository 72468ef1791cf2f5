//! Session timers (RFC 4028): negotiating Session-Expires / Min-SE and the refresher, and a
//! pure deadline machine that says when to refresh and when to give up with a BYE.
//!
//! UAS: [`uas_negotiate`] on an INVITE or UPDATE gives either a 422 to send (with `Min-SE`) or
//! the values to put in the 2xx ([`UasDecision::apply`]). UAC: [`uac_offer`] stamps the
//! request; a 422 goes to [`uac_retry_interval`]; a 2xx to [`uac_accept`]. Either way, once a
//! session interval is agreed, a [`SessionTimer`] runs per dialog: the refresher re-INVITEs or
//! UPDATEs at half the interval; the other side sends BYE at `interval − min(32 s, interval/3)`
//! after the last refresh (RFC 4028 §10).

use std::fmt;
use std::time::{Duration, Instant};

use crate::sip::message::{Request, Response};

/// Who refreshes the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// The Session-Expires header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// Seconds.
    pub interval: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(value: &str) -> Result<SessionExpires, SessionTimerError> {
        let mut parts = value.split(';');
        let interval = parts
            .next()
            .and_then(|v| v.trim().parse().ok())
            .ok_or(SessionTimerError::BadHeader("Session-Expires"))?;
        let mut refresher = None;
        for p in parts {
            let (name, val) = p.split_once('=').unwrap_or((p, ""));
            if name.trim().eq_ignore_ascii_case("refresher") {
                refresher = match val.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => return Err(SessionTimerError::BadHeader("Session-Expires")),
                };
            }
        }
        Ok(SessionExpires {
            interval,
            refresher,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.interval)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionTimerError {
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    #[error("422 without a usable Min-SE")]
    No422MinSe,
}

/// Our session-timer policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The interval we ask for or accept at most, seconds (RFC 4028 recommends 1800).
    pub interval: u32,
    /// The smallest interval we accept, seconds (never below 90).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            interval: 1800,
            min_se: 90,
        }
    }
}

fn min_se_of(headers: &crate::sip::message::Headers) -> Result<Option<u32>, SessionTimerError> {
    match headers.get("Min-SE") {
        None => Ok(None),
        Some(v) => v
            .split(';')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .map(Some)
            .ok_or(SessionTimerError::BadHeader("Min-SE")),
    }
}

/// What a UAS answers a session-refreshing request with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UasDecision {
    /// Send `422 Session Interval Too Small` with this `Min-SE`.
    TooSmall { min_se: u32 },
    /// Put this Session-Expires in the 2xx (and `Require: timer` when `require_timer`).
    Accept {
        session_expires: SessionExpires,
        require_timer: bool,
    },
}

impl UasDecision {
    /// Writes the decision into the response (a 422 or the 2xx).
    pub fn apply(&self, resp: &mut Response) {
        match *self {
            UasDecision::TooSmall { min_se } => resp.headers.set("Min-SE", min_se.to_string()),
            UasDecision::Accept {
                session_expires,
                require_timer,
            } => {
                resp.headers
                    .set("Session-Expires", session_expires.to_string());
                if require_timer && !resp.headers.has_token("Require", "timer") {
                    resp.headers.push("Require", "timer");
                }
            }
        }
    }

    /// The status the decision calls for: 422 or the caller's 2xx.
    pub fn is_too_small(&self) -> bool {
        matches!(self, UasDecision::TooSmall { .. })
    }
}

/// The UAS side of RFC 4028 §9 for an INVITE or UPDATE.
pub fn uas_negotiate(
    req: &Request,
    cfg: &SessionTimerConfig,
) -> Result<UasDecision, SessionTimerError> {
    let uac_supports =
        req.headers.has_token("Supported", "timer") || req.headers.has_token("Require", "timer");
    let req_min_se = min_se_of(&req.headers)?.unwrap_or(90);
    let floor = req_min_se.max(cfg.min_se);
    let offered = match req.headers.get("Session-Expires") {
        Some(v) => Some(SessionExpires::parse(v)?),
        None => None,
    };
    if let Some(se) = offered {
        if se.interval < cfg.min_se {
            return Ok(UasDecision::TooSmall { min_se: cfg.min_se });
        }
    }
    let interval = offered
        .map_or(cfg.interval, |se| se.interval.min(cfg.interval))
        .max(floor);
    let refresher = match offered.and_then(|se| se.refresher) {
        Some(r) if uac_supports || r == Refresher::Uas => r,
        _ if uac_supports => Refresher::Uac,
        _ => Refresher::Uas,
    };
    Ok(UasDecision::Accept {
        session_expires: SessionExpires {
            interval,
            refresher: Some(refresher),
        },
        require_timer: refresher == Refresher::Uac,
    })
}

/// Stamps an outgoing INVITE/UPDATE with `Supported: timer`, `Session-Expires` and `Min-SE`.
/// First try: `interval` and `min_se` from [`SessionTimerConfig`]. After a 422: both set to
/// [`uac_retry_interval`] (RFC 4028 §7.4 requires the retry's Min-SE to carry the 422's value).
pub fn uac_offer(req: &mut Request, interval: u32, min_se: u32) {
    if !req.headers.has_token("Supported", "timer") {
        req.headers.push("Supported", "timer");
    }
    let min_se = min_se.max(90);
    let se = SessionExpires {
        interval: interval.max(min_se),
        refresher: None,
    };
    req.headers.set("Session-Expires", se.to_string());
    req.headers.set("Min-SE", min_se.to_string());
}

/// The interval to retry with after a 422 (RFC 4028 §7.4): the peer's Min-SE.
pub fn uac_retry_interval(resp: &Response) -> Result<u32, SessionTimerError> {
    min_se_of(&resp.headers)?.ok_or(SessionTimerError::No422MinSe)
}

/// The session interval a 2xx settles on, if any (RFC 4028 §7.2). A 2xx without refresher is
/// taken to make the UAC the refresher.
pub fn uac_accept(resp: &Response) -> Result<Option<SessionExpires>, SessionTimerError> {
    match resp.headers.get("Session-Expires") {
        None => Ok(None),
        Some(v) => {
            let mut se = SessionExpires::parse(v)?;
            se.refresher.get_or_insert(Refresher::Uac);
            Ok(Some(se))
        }
    }
}

/// What to do on a [`SessionTimer`] deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimerAction {
    Wait,
    /// Send a refreshing re-INVITE or UPDATE.
    Refresh,
    /// The session expired without a refresh: send BYE.
    Expire,
}

/// The per-dialog session timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    refresh_at: Option<Instant>,
    expire_at: Option<Instant>,
}

impl SessionTimer {
    /// Starts (or restarts, after each successful refresh) at `now`. `we_are_uac` is our role
    /// in the transaction that negotiated `se`.
    pub fn new(now: Instant, se: SessionExpires, we_are_uac: bool) -> SessionTimer {
        let mut t = SessionTimer {
            interval: Duration::ZERO,
            we_refresh: false,
            refresh_at: None,
            expire_at: None,
        };
        t.refreshed(now, se, we_are_uac);
        t
    }

    /// A refresh succeeded (2xx to a re-INVITE/UPDATE in either direction).
    pub fn refreshed(&mut self, now: Instant, se: SessionExpires, we_are_uac: bool) {
        let refresher = se.refresher.unwrap_or(Refresher::Uac);
        self.interval = Duration::from_secs(u64::from(se.interval));
        self.we_refresh = (refresher == Refresher::Uac) == we_are_uac;
        self.refresh_at = self.we_refresh.then(|| now + self.interval / 2);
        let margin = Duration::from_secs(32).min(self.interval / 3);
        self.expire_at = Some(now + self.interval - margin);
    }

    pub fn we_refresh(&self) -> bool {
        self.we_refresh
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn refresh_deadline(&self) -> Option<Instant> {
        self.refresh_at
    }

    pub fn expiry_deadline(&self) -> Option<Instant> {
        self.expire_at
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.refresh_at, self.expire_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) -> SessionTimerAction {
        if self.expire_at.is_some_and(|t| t <= now) {
            self.expire_at = None;
            self.refresh_at = None;
            return SessionTimerAction::Expire;
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            return SessionTimerAction::Refresh;
        }
        SessionTimerAction::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{CSeq, Headers, Method, NameAddr, Uri, Via};

    fn invite(headers: &[(&str, &str)]) -> Request {
        let mut h = Headers::new();
        for (n, v) in headers {
            h.push(*n, *v);
        }
        Request {
            method: Method::Invite,
            uri: Uri::sip(Some("12345"), "hotline.example", None),
            via: vec![Via {
                transport: "UDP".into(),
                host: "192.0.2.1".into(),
                port: None,
                params: vec![],
            }],
            from: NameAddr::new(Uri::sip(Some("c"), "carrier.example", None)),
            to: NameAddr::new(Uri::sip(Some("12345"), "hotline.example", None)),
            call_id: "st".into(),
            cseq: CSeq {
                seq: 1,
                method: Method::Invite,
            },
            max_forwards: Some(70),
            headers: h,
            body: Default::default(),
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn too_small_interval_gets_422_with_our_min_se() {
        let cfg = SessionTimerConfig {
            interval: 1800,
            min_se: 300,
        };
        let req = invite(&[("Supported", "timer"), ("Session-Expires", "120")]);
        let d = uas_negotiate(&req, &cfg).unwrap();
        assert_eq!(d, UasDecision::TooSmall { min_se: 300 });
        let mut resp = req.response(422);
        d.apply(&mut resp);
        assert_eq!(resp.headers.get("Min-SE"), Some("300"));
        assert_eq!(uac_retry_interval(&resp), Ok(300));
    }

    #[test]
    fn uas_lowers_a_long_interval_and_keeps_the_requested_refresher() {
        let cfg = SessionTimerConfig::default();
        let req = invite(&[
            ("Supported", "timer, 100rel"),
            ("Session-Expires", "7200;refresher=uac"),
            ("Min-SE", "600"),
        ]);
        let d = uas_negotiate(&req, &cfg).unwrap();
        let mut ok = req.response(200);
        d.apply(&mut ok);
        assert_eq!(
            ok.headers.get("Session-Expires"),
            Some("1800;refresher=uac")
        );
        assert!(ok.headers.has_token("Require", "timer"));
    }

    #[test]
    fn uac_without_timer_support_makes_the_uas_refresh() {
        let cfg = SessionTimerConfig::default();
        let d = uas_negotiate(&invite(&[("Session-Expires", "900")]), &cfg).unwrap();
        assert_eq!(
            d,
            UasDecision::Accept {
                session_expires: SessionExpires {
                    interval: 900,
                    refresher: Some(Refresher::Uas)
                },
                require_timer: false
            }
        );
        let none = uas_negotiate(&invite(&[]), &cfg).unwrap();
        assert!(matches!(
            none,
            UasDecision::Accept { session_expires, .. } if session_expires.interval == 1800
        ));
    }

    #[test]
    fn uac_offer_and_2xx_acceptance() {
        let cfg = SessionTimerConfig::default();
        let mut req = invite(&[]);
        uac_offer(&mut req, cfg.interval, cfg.min_se);
        assert!(req.headers.has_token("Supported", "timer"));
        assert_eq!(req.headers.get("Session-Expires"), Some("1800"));
        assert_eq!(req.headers.get("Min-SE"), Some("90"));
        // Retrying after a 422 that asked for 2000 s.
        uac_offer(&mut req, 2000, 2000);
        assert_eq!(req.headers.get("Session-Expires"), Some("2000"));
        assert_eq!(req.headers.get("Min-SE"), Some("2000"));
        assert_eq!(req.headers.get_all("Supported").count(), 1);
        let mut ok = req.response(200);
        ok.headers.push("Session-Expires", "1800;refresher=uas");
        assert_eq!(
            uac_accept(&ok),
            Ok(Some(SessionExpires {
                interval: 1800,
                refresher: Some(Refresher::Uas)
            }))
        );
        assert!(SessionExpires::parse("abc").is_err());
        assert!(SessionExpires::parse("90;refresher=me").is_err());
    }

    #[test]
    fn refresher_refreshes_at_half_the_interval() {
        let t0 = Instant::now();
        let se = SessionExpires {
            interval: 1800,
            refresher: Some(Refresher::Uac),
        };
        let mut t = SessionTimer::new(t0, se, true);
        assert!(t.we_refresh());
        assert_eq!(t.poll_timeout(), Some(t0 + secs(900)));
        assert_eq!(
            t.handle_timeout(t0 + secs(900)),
            SessionTimerAction::Refresh
        );
        assert_eq!(t.poll_timeout(), Some(t0 + secs(1768)));
        t.refreshed(t0 + secs(901), se, true);
        assert_eq!(t.poll_timeout(), Some(t0 + secs(1801)));
    }

    #[test]
    fn non_refresher_sends_bye_a_third_or_32s_before_expiry() {
        let t0 = Instant::now();
        let long = SessionExpires {
            interval: 1800,
            refresher: Some(Refresher::Uac),
        };
        let mut t = SessionTimer::new(t0, long, false);
        assert!(!t.we_refresh());
        assert_eq!(t.refresh_deadline(), None);
        assert_eq!(t.poll_timeout(), Some(t0 + secs(1768)));
        assert_eq!(t.handle_timeout(t0 + secs(1000)), SessionTimerAction::Wait);
        assert_eq!(
            t.handle_timeout(t0 + secs(1768)),
            SessionTimerAction::Expire
        );
        assert_eq!(t.poll_timeout(), None);

        let short = SessionExpires {
            interval: 90,
            refresher: Some(Refresher::Uas),
        };
        let t = SessionTimer::new(t0, short, true);
        assert_eq!(t.expiry_deadline(), Some(t0 + secs(60)));
    }
}
