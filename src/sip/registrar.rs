//! The registrar (RFC 3261 §10.3): authenticates REGISTER requests with digest and lockout,
//! then keeps the bindings of each address-of-record (AOR = the account id, the To user).
//!
//! Each [`Binding`] stores, besides the Contact URI, the [`Peer`] (transport, source address,
//! connection) the REGISTER came from, so requests to a phone behind NAT go to that address or
//! connection (RFC 3581 in spirit) rather than to a private Contact host.
//!
//! The shell drives one REGISTER like this:
//! 1. `auth_username(&req)` → look the account's HA1s up in the store (async).
//! 2. Parse each Contact value into a [`ContactEntry`] (`*` or a name-addr through
//!    [`ContactSpec::from_name_addr`]); a Contact that does not parse gets 400 from the shell.
//! 3. `handle_register(now, &req, peer, &contacts, account.as_ref())` → the response to send.
//! 4. `drain_events()` for the security log; `next_expiry()`/`expire(now)` on its timer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::pii::Pii;
use crate::sip::digest::{
    AccountCredentials, DigestAuth, DigestCredentials, DigestError, RejectReason, Verdict,
};
use crate::sip::lockout::{FailureOutcome, Lockout, SecurityEvent, SecurityEventKind};
use crate::sip::message::{Method, NameAddr, Request, Response, Scheme, Uri};
use crate::sip::peer::{ConnId, Peer};

/// Registrar settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero expirations get `423 Interval Too Brief`.
    pub min_expires: u32,
    /// Longer expirations are shortened to this.
    pub max_expires: u32,
    /// Used when the request suggests none.
    pub default_expires: u32,
    /// Contacts kept per AOR; the least recently refreshed goes first.
    pub max_contacts_per_aor: usize,
    /// Security events kept until drained; the oldest are dropped first.
    pub max_pending_events: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_aor: 10,
            max_pending_events: 1024,
        }
    }
}

/// A Contact `q` value in thousandths (0 … 1000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Q(u16);

impl Q {
    /// Parses `0`, `0.5`, `1`, `1.000` (RFC 3261 §20.10 qvalue).
    pub fn parse(s: &str) -> Option<Q> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac_val = format!("{frac:0<3}").parse::<u16>().ok()?;
        match int {
            "0" => Some(Q(frac_val)),
            "1" if frac_val == 0 => Some(Q(1000)),
            _ => None,
        }
    }

    pub fn thousandths(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Q {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("0"),
            1000.. => f.write_str("1"),
            n => write!(f, "0.{}", format!("{n:03}").trim_end_matches('0')),
        }
    }
}

/// Why a Contact value could not be used.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ContactError {
    #[error("Contact expires parameter is not a number")]
    BadExpires,
    #[error("Contact q parameter is not a qvalue")]
    BadQ,
}

/// One Contact of a REGISTER, already parsed by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactSpec {
    pub uri: Uri,
    /// The `expires` parameter.
    pub expires: Option<u32>,
    pub q: Option<Q>,
}

impl ContactSpec {
    /// Reads `expires` and `q` from a Contact name-addr's parameters. Expirations beyond
    /// 2³²−1 are taken as 2³²−1 (RFC 3261 §20.19).
    pub fn from_name_addr(na: &NameAddr) -> Result<ContactSpec, ContactError> {
        let expires = match na.param("expires").map(|p| p.value.as_deref()) {
            None => None,
            Some(v) => Some(parse_delta(v.unwrap_or("")).ok_or(ContactError::BadExpires)?),
        };
        let q = match na.param("q").map(|p| p.value.as_deref()) {
            None => None,
            Some(v) => Some(Q::parse(v.unwrap_or("")).ok_or(ContactError::BadQ)?),
        };
        Ok(ContactSpec {
            uri: na.uri.clone(),
            expires,
            q,
        })
    }
}

/// A Contact header value: `*` or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactEntry {
    Star,
    Contact(ContactSpec),
}

/// delta-seconds: digits only, saturating at u32::MAX.
fn parse_delta(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// Where an AOR can be reached.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact: Uri,
    pub q: Option<Q>,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    /// The hop the REGISTER arrived on: send requests for this binding here.
    pub peer: Peer,
    /// Last registration or refresh.
    pub updated_at: Instant,
}

impl Binding {
    /// Where requests for this binding go. Over TCP/TLS, the connection the REGISTER came
    /// on (the phone may accept no other). Over UDP, the Contact's own address when it names
    /// the address the REGISTER came from (no NAT between us, though the phone may listen on
    /// another port than it sent from); otherwise the REGISTER's source, the only address a
    /// phone behind NAT can be reached at.
    pub fn target(&self) -> Peer {
        if self.peer.transport != crate::sip::peer::Transport::Udp {
            return self.peer;
        }
        let host = self
            .contact
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) if ip == self.peer.addr.ip() => {
                let port = self.contact.port.unwrap_or(5060);
                Peer::udp(std::net::SocketAddr::new(ip, port))
            }
            _ => self.peer,
        }
    }

    /// Seconds left, rounded up, as written in the 200 OK's `expires`.
    pub fn remaining_secs(&self, now: Instant) -> u64 {
        let d = self.expires_at.saturating_duration_since(now);
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("contact", &Pii::new(self.contact.to_string()))
            .field("q", &self.q)
            .field("expires_at", &self.expires_at)
            .field("cseq", &self.cseq)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Counters for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrarMetrics {
    /// REGISTER requests accepted (new, refresh, removal or query).
    pub registrations: u64,
    /// 401 challenges sent, stale ones included.
    pub challenges: u64,
    pub stale_nonces: u64,
    /// Credentials carrying a nonce we did not issue (not counted as failures).
    pub bad_nonces: u64,
    pub auth_failures: u64,
    /// Pairs that became locked out.
    pub lockouts: u64,
    /// Requests answered 403 because their pair was locked out.
    pub locked_rejections: u64,
    /// Bindings that ran out (removed by `expire`).
    pub expired_bindings: u64,
    /// Security events dropped because nobody drained them.
    pub dropped_events: u64,
}

/// Which challenge a request gets: 401 with `WWW-Authenticate` for REGISTER (a registrar),
/// 407 with `Proxy-Authenticate` for other requests (a proxy-like server, RFC 3261 §22.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    Www,
    Proxy,
}

impl Challenge {
    fn status(self) -> u16 {
        match self {
            Challenge::Www => 401,
            Challenge::Proxy => 407,
        }
    }

    fn challenge_header(self) -> &'static str {
        match self {
            Challenge::Www => "WWW-Authenticate",
            Challenge::Proxy => "Proxy-Authenticate",
        }
    }

    pub fn credentials_header(self) -> &'static str {
        match self {
            Challenge::Www => "Authorization",
            Challenge::Proxy => "Proxy-Authorization",
        }
    }
}

/// The username of the request's first well-formed Digest `Authorization`, for the account
/// lookup. With several realms' credentials in one request, [`Registrar::auth_username`]
/// picks the same ones [`Registrar::handle_register`] will check.
pub fn auth_username(req: &Request) -> Option<String> {
    select_credentials(req, None, "Authorization")
        .ok()
        .flatten()
        .map(|c| c.username.into_inner())
}

/// The Authorization to check: the first well-formed one for `realm`, else the first
/// well-formed one. `Ok(None)`: no Authorization at all; `Err`: only malformed ones.
fn select_credentials(
    req: &Request,
    realm: Option<&str>,
    header: &str,
) -> Result<Option<DigestCredentials>, DigestError> {
    let mut first_ok = None;
    let mut first_err = None;
    for v in req.headers.get_all(header) {
        match DigestCredentials::parse(v) {
            Ok(c) if realm.is_some_and(|r| r == c.realm) => return Ok(Some(c)),
            Ok(c) => {
                first_ok.get_or_insert(c);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match (first_ok, first_err) {
        (Some(c), _) => Ok(Some(c)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
}

/// Significant parts of a Contact URI, for matching bindings (RFC 3261 §10.3 step 6,
/// §19.1.4 approximately: scheme, user, host case-insensitively, port, transport).
fn contact_key(uri: &Uri) -> String {
    let transport = uri
        .param("transport")
        .and_then(|p| p.value.as_deref())
        .unwrap_or("")
        .to_ascii_lowercase();
    format!(
        "{}:{}@{}:{}; {transport}; {}",
        uri.scheme.as_str().to_ascii_lowercase(),
        uri.user.as_deref().unwrap_or(""),
        uri.host.to_ascii_lowercase(),
        uri.port.unwrap_or(0),
        uri.opaque.as_deref().unwrap_or(""),
    )
}

/// REGISTER handling and the location table.
pub struct Registrar {
    cfg: RegistrarConfig,
    digest: DigestAuth,
    lockout: Lockout,
    bindings: HashMap<String, Vec<Binding>>,
    events: VecDeque<SecurityEvent>,
    metrics: RegistrarMetrics,
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("cfg", &self.cfg)
            .field("aors", &self.bindings.len())
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl Registrar {
    pub fn new(cfg: RegistrarConfig, digest: DigestAuth, lockout: Lockout) -> Registrar {
        Registrar {
            cfg,
            digest,
            lockout,
            bindings: HashMap::new(),
            events: VecDeque::new(),
            metrics: RegistrarMetrics::default(),
        }
    }

    /// The username whose account [`Registrar::handle_register`] (or, for `Proxy`,
    /// [`Registrar::authenticate`]) will need, for the lookup.
    pub fn auth_username_for(&self, req: &Request, kind: Challenge) -> Option<String> {
        select_credentials(req, Some(self.digest.realm()), kind.credentials_header())
            .ok()
            .flatten()
            .map(|c| c.username.into_inner())
    }

    /// The username whose account [`Registrar::handle_register`] will need, for the lookup.
    pub fn auth_username(&self, req: &Request) -> Option<String> {
        self.auth_username_for(req, Challenge::Www)
    }

    /// The authenticator, e.g. to challenge INVITEs from agents with the same realm.
    pub fn digest_mut(&mut self) -> &mut DigestAuth {
        &mut self.digest
    }

    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    pub fn metrics(&self) -> RegistrarMetrics {
        self.metrics
    }

    /// Security events since the last call, oldest first.
    pub fn drain_events(&mut self) -> Vec<SecurityEvent> {
        self.events.drain(..).collect()
    }

    fn push_event(&mut self, kind: SecurityEventKind, now: Instant, source: IpAddr, user: &str) {
        if self.cfg.max_pending_events == 0 {
            self.metrics.dropped_events += 1;
            return;
        }
        while self.events.len() >= self.cfg.max_pending_events {
            self.events.pop_front();
            self.metrics.dropped_events += 1;
        }
        self.events.push_back(SecurityEvent {
            kind,
            source,
            user: Pii::new(user.to_string()),
            at: now,
        });
    }

    /// A response with a To tag derived from the request, so a retransmitted REGISTER gets
    /// the same tag (REGISTER creates no dialog; RFC 3261 §8.2.6.2 asks for a tag).
    fn reply(req: &Request, status: u16) -> Response {
        let mut resp = req.response(status);
        if resp.to.tag().is_none() {
            let mut h = Sha256::new();
            for part in [
                req.call_id.as_bytes(),
                req.from.tag().unwrap_or("").as_bytes(),
                &req.cseq.seq.to_be_bytes(),
            ] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
            resp.to.set_tag(&hex::encode(&h.finalize()[..6]));
        }
        resp
    }

    fn challenge(&mut self, now: Instant, req: &Request, stale: bool, kind: Challenge) -> Response {
        self.metrics.challenges += 1;
        let mut resp = Self::reply(req, kind.status());
        for c in self.digest.challenges(now, stale) {
            resp.headers.push(kind.challenge_header(), c);
        }
        resp
    }

    /// Digest authentication of any request (RFC 3261 §22): REGISTER with `Challenge::Www`
    /// (401), requests such as an agent's INVITE with `Challenge::Proxy` (407). `account`
    /// holds the HA1s of the credentials' username (see [`auth_username`]). `Ok` is the
    /// authenticated username; `Err` the response to send: a (possibly stale) challenge,
    /// 403 when locked out, 400 for malformed credentials. Failures count towards lockout
    /// and raise security events.
    pub fn authenticate(
        &mut self,
        now: Instant,
        req: &Request,
        from: Peer,
        account: Option<&AccountCredentials>,
        kind: Challenge,
    ) -> Result<String, Box<Response>> {
        let creds =
            match select_credentials(req, Some(self.digest.realm()), kind.credentials_header()) {
                Ok(Some(c)) => c,
                Ok(None) => return Err(Box::new(self.challenge(now, req, false, kind))),
                Err(_) => return Err(Box::new(Self::reply(req, 400))),
            };
        let user = creds.username.expose().clone();
        let source = from.addr.ip();
        if self.lockout.is_locked(now, source, &user) {
            self.metrics.locked_rejections += 1;
            return Err(Box::new(Self::reply(req, 403)));
        }
        let uri = req.uri.to_string();
        match self
            .digest
            .verify(now, &creds, req.method.as_str(), &uri, account)
        {
            Verdict::Ok => {}
            Verdict::Stale => {
                self.metrics.stale_nonces += 1;
                return Err(Box::new(self.challenge(now, req, true, kind)));
            }
            // Not a password guess: a nonce we did not issue (or issued under an old secret).
            Verdict::Rejected(RejectReason::BadNonce) => {
                self.metrics.bad_nonces += 1;
                return Err(Box::new(self.challenge(now, req, false, kind)));
            }
            Verdict::Rejected(_) => {
                self.metrics.auth_failures += 1;
                self.push_event(SecurityEventKind::AuthFailure, now, source, &user);
                if let FailureOutcome::LockedOut { .. } =
                    self.lockout.record_failure(now, source, &user)
                {
                    self.metrics.lockouts += 1;
                    self.push_event(SecurityEventKind::LockedOut, now, source, &user);
                    return Err(Box::new(Self::reply(req, 403)));
                }
                return Err(Box::new(self.challenge(now, req, false, kind)));
            }
        }
        self.lockout.record_success(now, source, &user);
        Ok(user)
    }

    /// Answers one REGISTER. `from` is the hop it arrived on; `contacts` are its Contact
    /// values, parsed by the caller; `account` holds the HA1s of the Authorization username
    /// ([`Registrar::auth_username`]), `None` when no such account exists or it is disabled.
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Request,
        from: Peer,
        contacts: &[ContactEntry],
        account: Option<&AccountCredentials>,
    ) -> Response {
        if req.method != Method::Register {
            let mut resp = Self::reply(req, 405);
            resp.headers.push("Allow", "REGISTER");
            return resp;
        }
        if !matches!(req.to.uri.scheme, Scheme::Sip | Scheme::Sips) {
            return Self::reply(req, 404);
        }
        let Some(aor) = req.to.uri.user.clone().filter(|u| !u.is_empty()) else {
            return Self::reply(req, 404);
        };

        // Step 2: this registrar implements no extension a REGISTER could require.
        let required: Vec<&str> = req
            .headers
            .get_all("Require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if !required.is_empty() {
            let mut resp = Self::reply(req, 420);
            resp.headers.push("Unsupported", required.join(", "));
            return resp;
        }

        // Authentication (step 3).
        let user = match self.authenticate(now, req, from, account, Challenge::Www) {
            Ok(user) => user,
            Err(resp) => return *resp,
        };
        // Authorization (step 4): an account registers only its own AOR.
        if user != aor {
            return Self::reply(req, 403);
        }
        self.apply(now, req, from, &aor, contacts)
    }

    /// Steps 5 to 8 of RFC 3261 §10.3, all or nothing.
    fn apply(
        &mut self,
        now: Instant,
        req: &Request,
        from: Peer,
        aor: &str,
        contacts: &[ContactEntry],
    ) -> Response {
        let header_expires = match req.headers.get("Expires") {
            None => None,
            Some(v) => match parse_delta(v) {
                Some(e) => Some(e),
                None => return Self::reply(req, 400),
            },
        };
        let seq = req.cseq.seq;
        let mut current = self.bindings.get(aor).cloned().unwrap_or_default();
        current.retain(|b| b.expires_at > now);

        let star = contacts.iter().any(|c| matches!(c, ContactEntry::Star));
        if star {
            if contacts.len() != 1 || header_expires != Some(0) {
                return Self::reply(req, 400);
            }
            if current
                .iter()
                .any(|b| b.call_id == req.call_id && seq <= b.cseq)
            {
                return Self::reply(req, 500);
            }
            current.clear();
        } else {
            let specs: Vec<&ContactSpec> = contacts
                .iter()
                .filter_map(|c| match c {
                    ContactEntry::Contact(s) => Some(s),
                    ContactEntry::Star => None,
                })
                .collect();
            let mut planned = Vec::with_capacity(specs.len());
            for spec in specs {
                let asked = spec
                    .expires
                    .or(header_expires)
                    .unwrap_or(self.cfg.default_expires);
                if asked != 0 && asked < self.cfg.min_expires {
                    let mut resp = Self::reply(req, 423);
                    resp.headers
                        .push("Min-Expires", self.cfg.min_expires.to_string());
                    return resp;
                }
                planned.push((spec, asked.min(self.cfg.max_expires)));
            }
            let mut touched: HashSet<String> = HashSet::new();
            for (spec, expires) in planned {
                let key = contact_key(&spec.uri);
                let pos = current.iter().position(|b| contact_key(&b.contact) == key);
                if let Some(i) = pos {
                    let b = &current[i];
                    if !touched.contains(&key) && b.call_id == req.call_id && seq <= b.cseq {
                        return Self::reply(req, 500);
                    }
                }
                touched.insert(key);
                let binding = Binding {
                    contact: spec.uri.clone(),
                    q: spec.q,
                    expires_at: now
                        .checked_add(Duration::from_secs(expires.into()))
                        .unwrap_or(now),
                    call_id: req.call_id.clone(),
                    cseq: seq,
                    peer: from,
                    updated_at: now,
                };
                match (pos, expires) {
                    (Some(i), 0) => {
                        current.remove(i);
                    }
                    (Some(i), _) => current[i] = binding,
                    (None, 0) => {}
                    (None, _) => current.push(binding),
                }
            }
            if current.len() > self.cfg.max_contacts_per_aor {
                current.sort_by_key(|b| std::cmp::Reverse(b.updated_at));
                current.truncate(self.cfg.max_contacts_per_aor);
            }
        }

        self.metrics.registrations += 1;
        let mut resp = Self::reply(req, 200);
        for b in sorted(current.clone()) {
            let mut v = format!("<{}>;expires={}", b.contact, b.remaining_secs(now));
            if let Some(q) = b.q {
                v.push_str(&format!(";q={q}"));
            }
            resp.headers.push("Contact", v);
        }
        if current.is_empty() {
            self.bindings.remove(aor);
        } else {
            self.bindings.insert(aor.to_string(), current);
        }
        resp
    }

    /// The live bindings of an AOR, best first (highest q, then most recently refreshed).
    pub fn contacts_for(&self, aor: &str, now: Instant) -> Vec<Binding> {
        let live = self
            .bindings
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        sorted(live)
    }

    /// Removes bindings that ran out by `now` and returns them with their AOR; also lets the
    /// lockout table forget stale entries.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Binding)> {
        let mut gone = Vec::new();
        self.bindings.retain(|aor, list| {
            list.retain(|b| {
                if b.expires_at <= now {
                    gone.push((aor.clone(), b.clone()));
                    false
                } else {
                    true
                }
            });
            !list.is_empty()
        });
        self.metrics.expired_bindings += gone.len() as u64;
        self.lockout.purge(now);
        gone
    }

    /// Removes the bindings reached over a stream connection that closed (their hop is gone;
    /// the phone registers again over a new connection) and returns them with their AOR.
    pub fn drop_connection(&mut self, conn: ConnId) -> Vec<(String, Binding)> {
        let mut gone = Vec::new();
        self.bindings.retain(|aor, list| {
            list.retain(|b| {
                if b.peer.conn == Some(conn) {
                    gone.push((aor.clone(), b.clone()));
                    false
                } else {
                    true
                }
            });
            !list.is_empty()
        });
        gone
    }

    /// When the next binding runs out, for the shell's timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Live and not yet expired bindings across all AORs.
    /// The addresses-of-record that have bindings (some may have just expired).
    pub fn aors(&self) -> impl Iterator<Item = &str> {
        self.bindings.keys().map(String::as_str)
    }

    pub fn binding_count(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }
}

fn sorted(mut v: Vec<Binding>) -> Vec<Binding> {
    v.sort_by(|a, b| {
        let qa = a.q.map_or(1000, Q::thousandths);
        let qb = b.q.map_or(1000, Q::thousandths);
        qb.cmp(&qa).then(b.updated_at.cmp(&a.updated_at))
    });
    v
}

#[cfg(test)]
mod tests;
