//! Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760): challenges,
//! stateless nonces, parsing of `Authorization: Digest …` and verification of the response.
//!
//! - Challenges: one `WWW-Authenticate` value per configured algorithm, most preferred first
//!   (RFC 8760 §2.4), all `qop="auth"`, sharing one nonce. RFC 8760 clients take the topmost
//!   one they support, but deployed ones do not all: sipp answers only the first and fails if
//!   it is not MD5, and baresip 1.0 refuses the whole 401 if any challenge is not MD5. So the
//!   daemon's default (see `config::AuthConfig`) is MD5 alone, and a site whose phones all speak
//!   SHA-256 configures `["SHA-256", "MD5"]` or `["SHA-256"]`.
//! - Nonces are stateless: issue time (wall-clock seconds) and a random salt, authenticated by
//!   HMAC-SHA-256 under a server secret. Any worker holding the secret verifies any nonce, also
//!   after a restart. An authentic but expired nonce with otherwise right credentials yields
//!   [`Verdict::Stale`], so the phone retries silently (`stale=true`).
//! - Accounts are stored as HA1 hashes only ([`ha1`], [`AccountCredentials`]).
//! - No enumeration: an unknown user is verified against a dummy HA1, with the same hashing
//!   work and a constant-time comparison, so it fails exactly like a wrong password.
//! - Replay: the last `nc` seen per nonce is kept in a bounded cache (per process).
//!
//! Time enters as `Instant`; a [`WallAnchor`] given once by the shell turns it into the
//! wall-clock seconds written into nonces.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use md5::Md5;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::pii::Pii;

/// Longest `Authorization` value accepted; real ones are a few hundred bytes.
pub const MAX_CREDENTIALS_LEN: usize = 8192;
/// Most auth-params accepted in one credentials value.
pub const MAX_AUTH_PARAMS: usize = 32;
/// Longest username accepted; keeps per-username state (lockout) small.
pub const MAX_USERNAME_LEN: usize = 128;

/// A digest algorithm (RFC 7616 §3.4.2, RFC 8760).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Algorithm tokens are case-insensitive.
    pub fn from_token(token: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// The plain algorithm a `-sess` variant is built on.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    fn is_sha256(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha256Sess)
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Length of a hex digest of this algorithm.
    fn hex_len(self) -> usize {
        if self.is_sha256() {
            64
        } else {
            32
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn h(alg: Algorithm, data: &str) -> String {
    if alg.is_sha256() {
        hex::encode(Sha256::digest(data.as_bytes()))
    } else {
        hex::encode(Md5::digest(data.as_bytes()))
    }
}

/// The stored secret of an account: `H(user:realm:password)` in lowercase hex. For the `-sess`
/// variants this is the same value as for the plain algorithm (the session key is derived
/// from it per request).
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    h(alg, &format!("{user}:{realm}:{password}"))
}

/// `nc` and `cnonce` of a `qop=auth` response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QopAuth<'a> {
    pub nc: &'a str,
    pub cnonce: &'a str,
}

/// The `response` value a client computes (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1). With
/// `qop = None` this is the RFC 2069 form. A `-sess` algorithm without a cnonce has no
/// defined value; the plain HA1 is used then, which no correct client will match.
pub fn response_digest(
    alg: Algorithm,
    ha1_hex: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
    method: &str,
    uri: &str,
) -> String {
    let key = match (alg.is_sess(), qop) {
        (true, Some(q)) => h(alg, &format!("{ha1_hex}:{nonce}:{}", q.cnonce)),
        _ => ha1_hex.to_string(),
    };
    let ha2 = h(alg, &format!("{method}:{uri}"));
    match qop {
        Some(q) => h(
            alg,
            &format!("{key}:{nonce}:{}:{}:auth:{ha2}", q.nc, q.cnonce),
        ),
        None => h(alg, &format!("{key}:{nonce}:{ha2}")),
    }
}

/// HMAC-SHA-256 (RFC 2104) over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Equality that looks at every byte whatever the contents (lengths are public).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Pairs a monotonic instant with the wall-clock time it stands for, so nonces carry
/// wall-clock seconds without this module reading a clock. The shell reads both clocks once
/// at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallAnchor {
    pub instant: Instant,
    /// Seconds since the Unix epoch at `instant`.
    pub unix_secs: u64,
}

impl WallAnchor {
    pub fn unix_secs_at(&self, now: Instant) -> u64 {
        match now.checked_duration_since(self.instant) {
            Some(d) => self.unix_secs.saturating_add(d.as_secs()),
            None => self
                .unix_secs
                .saturating_sub(self.instant.duration_since(now).as_secs()),
        }
    }
}

/// Settings of the digest authenticator.
#[derive(Clone)]
pub struct DigestConfig {
    pub realm: String,
    /// Key that authenticates nonces; shared by all workers, kept across restarts.
    pub secret: Vec<u8>,
    /// How long a nonce is accepted before the answer becomes `stale=true`.
    pub nonce_ttl: Duration,
    /// How far in the future a nonce's issue time may lie (clock drift between workers).
    pub max_clock_skew: Duration,
    /// Nonces whose last `nc` is remembered for replay detection.
    pub replay_cache_entries: usize,
    pub anchor: WallAnchor,
    /// Seeds the generator of nonce salts; the shell draws it from the OS.
    pub rng_seed: [u8; 32],
    /// The algorithms challenged with, most preferred first (RFC 8760 §2.4). A response with
    /// an algorithm not in this list is refused.
    pub algorithms: Vec<Algorithm>,
}

impl DigestConfig {
    /// Defaults: nonces live 5 minutes, 30 s skew, 10 000 nonces tracked for replay.
    pub fn new(realm: &str, secret: &[u8], anchor: WallAnchor, rng_seed: [u8; 32]) -> Self {
        DigestConfig {
            realm: realm.to_string(),
            secret: secret.to_vec(),
            nonce_ttl: Duration::from_secs(300),
            max_clock_skew: Duration::from_secs(30),
            replay_cache_entries: 10_000,
            anchor,
            rng_seed,
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
        }
    }
}

impl fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestConfig")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("nonce_ttl", &self.nonce_ttl)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("replay_cache_entries", &self.replay_cache_entries)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The HA1 hashes of one account, as the store keeps them (lowercase hex).
#[derive(Clone, PartialEq, Eq)]
pub struct AccountCredentials {
    /// `MD5(user:realm:password)`, 32 hex digits.
    pub ha1_md5: String,
    /// `SHA-256(user:realm:password)`, 64 hex digits.
    pub ha1_sha256: String,
}

impl AccountCredentials {
    /// Both hashes from a clear password (for provisioning and tests).
    pub fn from_password(user: &str, realm: &str, password: &str) -> Self {
        AccountCredentials {
            ha1_md5: ha1(Algorithm::Md5, user, realm, password),
            ha1_sha256: ha1(Algorithm::Sha256, user, realm, password),
        }
    }

    fn ha1_for(&self, alg: Algorithm) -> &str {
        if alg.is_sha256() {
            &self.ha1_sha256
        } else {
            &self.ha1_md5
        }
    }
}

impl fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountCredentials(<redacted>)")
    }
}

/// Why an `Authorization` value could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("credentials longer than {MAX_CREDENTIALS_LEN} bytes")]
    TooLong,
    #[error("authorization scheme is not Digest")]
    NotDigest,
    #[error("malformed auth-param at byte {0}")]
    Malformed(usize),
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    #[error("auth-param `{0}` appears more than once")]
    Duplicate(String),
    #[error("more than {MAX_AUTH_PARAMS} auth-params")]
    TooManyParams,
    #[error("missing auth-param `{0}`")]
    Missing(&'static str),
    #[error("username longer than {MAX_USERNAME_LEN} bytes")]
    UsernameTooLong,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Parses `name=value, name="quoted \"value\"", …` (RFC 7235 auth-params). Names are
/// lower-cased; empty list elements are skipped; each name may appear once.
pub fn parse_auth_params(input: &str) -> Result<Vec<(String, String)>, DigestError> {
    if input.len() > MAX_CREDENTIALS_LEN {
        return Err(DigestError::TooLong);
    }
    let b = input.as_bytes();
    let mut i = 0;
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        while i < b.len() && (is_ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(DigestError::Malformed(i));
        }
        // Slicing is safe: `start` and `i` sit next to ASCII bytes or at the end.
        let name = input[start..i].to_ascii_lowercase();
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(DigestError::Malformed(i));
        }
        i += 1;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(DigestError::UnterminatedQuote),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => match b.get(i + 1) {
                        None => return Err(DigestError::UnterminatedQuote),
                        Some(&c) => {
                            v.push(c);
                            i += 2;
                        }
                    },
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).map_err(|_| DigestError::Malformed(i))?
        } else {
            let vstart = i;
            while i < b.len() && !is_ws(b[i]) && b[i] != b',' && b[i] != b'"' {
                i += 1;
            }
            if i == vstart {
                return Err(DigestError::Malformed(i));
            }
            input[vstart..i].to_string()
        };
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] != b',' {
            return Err(DigestError::Malformed(i));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(DigestError::Duplicate(name));
        }
        if out.len() == MAX_AUTH_PARAMS {
            return Err(DigestError::TooManyParams);
        }
        out.push((name, value));
    }
}

/// The params of one `Authorization: Digest …` value.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: Pii<String>,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    /// Raw token; absent means MD5.
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
}

impl DigestCredentials {
    /// Reads a full header value, scheme included (`Digest username="…", …`).
    pub fn parse(value: &str) -> Result<DigestCredentials, DigestError> {
        if value.len() > MAX_CREDENTIALS_LEN {
            return Err(DigestError::TooLong);
        }
        let v = value.trim_start();
        let end = v.bytes().position(is_ws).unwrap_or(v.len());
        // `end` is an ASCII whitespace position or the length: a char boundary.
        if !v[..end].eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        let mut params = parse_auth_params(&v[end..])?;
        let mut take = |name: &str| {
            params
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| params.swap_remove(i).1)
        };
        let username = take("username").ok_or(DigestError::Missing("username"))?;
        if username.len() > MAX_USERNAME_LEN {
            return Err(DigestError::UsernameTooLong);
        }
        Ok(DigestCredentials {
            username: Pii::new(username),
            realm: take("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: take("nonce").ok_or(DigestError::Missing("nonce"))?,
            uri: take("uri").ok_or(DigestError::Missing("uri"))?,
            response: take("response").ok_or(DigestError::Missing("response"))?,
            algorithm: take("algorithm"),
            qop: take("qop"),
            nc: take("nc"),
            cnonce: take("cnonce"),
            opaque: take("opaque"),
        })
    }
}

impl fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("algorithm", &self.algorithm)
            .field("qop", &self.qop)
            .field("nc", &self.nc)
            .finish_non_exhaustive()
    }
}

/// Why credentials were refused. For the shell's logs only: the wire answer is the same
/// 401 whatever the reason, and an unknown user reads as [`RejectReason::WrongResponse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// Not issued by us (bad MAC, bad encoding) or issued too far in the future.
    BadNonce,
    RealmMismatch,
    UriMismatch,
    UnsupportedAlgorithm,
    /// `qop` other than `auth`, or `qop=auth` without `nc`/`cnonce`.
    BadQop,
    OpaqueMismatch,
    /// Wrong password or unknown user.
    WrongResponse,
}

/// The result of checking credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Right password, but the nonce expired or its `nc` was already used: challenge again
    /// with `stale=true`.
    Stale,
    Rejected(RejectReason),
}

/// Remembers the highest `nc` accepted per nonce, forgetting the oldest nonce when full.
struct NcCache {
    cap: usize,
    last: HashMap<String, u32>,
    order: VecDeque<String>,
}

impl NcCache {
    /// True when `nc` is new for `nonce` (and records it).
    fn accept(&mut self, nonce: &str, nc: u32) -> bool {
        if self.cap == 0 {
            return true;
        }
        if let Some(prev) = self.last.get_mut(nonce) {
            if nc <= *prev {
                return false;
            }
            *prev = nc;
            return true;
        }
        while self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.last.remove(&old);
            }
        }
        self.order.push_back(nonce.to_string());
        self.last.insert(nonce.to_string(), nc);
        true
    }
}

const NONCE_BYTES: usize = 32;

/// Issues challenges and verifies credentials for one realm.
pub struct DigestAuth {
    cfg: DigestConfig,
    rng: StdRng,
    opaque: String,
    dummy: AccountCredentials,
    seen: NcCache,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    pub fn new(cfg: DigestConfig) -> DigestAuth {
        let opaque = hex::encode(
            &hmac_sha256(&cfg.secret, &[b"rexian-opaque\0", cfg.realm.as_bytes()])[..16],
        );
        // An HA1 nobody knows the password of, derived from the secret.
        let dummy_pw = hex::encode(hmac_sha256(&cfg.secret, &[b"rexian-dummy\0"]));
        let dummy = AccountCredentials::from_password("\u{0}", &cfg.realm, &dummy_pw);
        DigestAuth {
            rng: StdRng::from_seed(cfg.rng_seed),
            seen: NcCache {
                cap: cfg.replay_cache_entries,
                last: HashMap::new(),
                order: VecDeque::new(),
            },
            opaque,
            dummy,
            cfg,
        }
    }

    pub fn realm(&self) -> &str {
        &self.cfg.realm
    }

    fn nonce_mac(&self, ts_salt: &[u8]) -> [u8; 32] {
        let realm = self.cfg.realm.as_bytes();
        let realm_len = (realm.len() as u64).to_be_bytes();
        hmac_sha256(
            &self.cfg.secret,
            &[b"rexian-nonce\0", &realm_len, realm, ts_salt],
        )
    }

    /// A fresh nonce: hex of issue time (8 bytes), salt (8) and MAC (16).
    pub fn new_nonce(&mut self, now: Instant) -> String {
        let mut raw = [0u8; NONCE_BYTES];
        raw[..8].copy_from_slice(&self.cfg.anchor.unix_secs_at(now).to_be_bytes());
        self.rng.fill_bytes(&mut raw[8..16]);
        let mac = self.nonce_mac(&raw[..16]);
        raw[16..].copy_from_slice(&mac[..16]);
        hex::encode(raw)
    }

    /// The issue time (Unix seconds) of a nonce we issued, or `None` when it is not ours.
    fn nonce_issued(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != NONCE_BYTES * 2 {
            return None;
        }
        let raw = hex::decode(nonce).ok()?;
        let mac = self.nonce_mac(raw.get(..16)?);
        if !ct_eq(&mac[..16], raw.get(16..)?) {
            return None;
        }
        let ts: [u8; 8] = raw.get(..8)?.try_into().ok()?;
        Some(u64::from_be_bytes(ts))
    }

    /// `WWW-Authenticate` (or `Proxy-Authenticate`) values to send, one per configured
    /// algorithm in order of preference, sharing one fresh nonce.
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.new_nonce(now);
        self.cfg
            .algorithms
            .clone()
            .into_iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm={}, nonce=\"{nonce}\", opaque=\"{}\", algorithm={alg}, qop=\"auth\"",
                    quote(&self.cfg.realm),
                    self.opaque
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Checks credentials for a request with `method` and `request_uri` (the Request-URI as
    /// written). `account` is `None` for an unknown user: the same work is then done against a
    /// dummy HA1, and the answer is the one a wrong password gets.
    pub fn verify(
        &mut self,
        now: Instant,
        creds: &DigestCredentials,
        method: &str,
        request_uri: &str,
        account: Option<&AccountCredentials>,
    ) -> Verdict {
        let parsed_alg = match &creds.algorithm {
            None => Some(Algorithm::Md5),
            Some(t) => Algorithm::from_token(t),
        }
        .filter(|a| self.cfg.algorithms.contains(&a.base()));
        let alg = parsed_alg.unwrap_or(Algorithm::Md5);
        let (qop, qop_ok) = match (&creds.qop, &creds.nc, &creds.cnonce) {
            (None, _, _) => (None, true),
            (Some(q), Some(nc), Some(cnonce)) if q.eq_ignore_ascii_case("auth") => {
                (Some(QopAuth { nc, cnonce }), true)
            }
            _ => (None, false),
        };
        let stored = account
            .map(|a| a.ha1_for(alg))
            .filter(|s| s.len() == alg.hex_len() && s.bytes().all(|b| b.is_ascii_hexdigit()));
        let ha1_hex = match stored {
            Some(s) => s.to_ascii_lowercase(),
            None => self.dummy.ha1_for(alg).to_string(),
        };
        let expected = response_digest(alg, &ha1_hex, &creds.nonce, qop, method, &creds.uri);
        let matches = ct_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) && stored.is_some();

        let now_secs = self.cfg.anchor.unix_secs_at(now);
        let issued = self.nonce_issued(&creds.nonce);
        let reject = if issued
            .is_none_or(|t| t > now_secs.saturating_add(self.cfg.max_clock_skew.as_secs()))
        {
            Some(RejectReason::BadNonce)
        } else if creds.realm != self.cfg.realm {
            Some(RejectReason::RealmMismatch)
        } else if parsed_alg.is_none() {
            Some(RejectReason::UnsupportedAlgorithm)
        } else if !qop_ok {
            Some(RejectReason::BadQop)
        } else if !digest_uri_matches(&creds.uri, request_uri) {
            Some(RejectReason::UriMismatch)
        } else if creds.opaque.as_ref().is_some_and(|o| *o != self.opaque) {
            Some(RejectReason::OpaqueMismatch)
        } else if !matches {
            Some(RejectReason::WrongResponse)
        } else {
            None
        };
        if let Some(r) = reject {
            return Verdict::Rejected(r);
        }
        let issued = issued.unwrap_or(0);
        if now_secs > issued.saturating_add(self.cfg.nonce_ttl.as_secs()) {
            return Verdict::Stale;
        }
        if let Some(q) = qop {
            let well_formed = q.nc.len() == 8 && q.nc.bytes().all(|b| b.is_ascii_hexdigit());
            match u32::from_str_radix(q.nc, 16) {
                Ok(nc) if well_formed && nc > 0 => {
                    if !self.seen.accept(&creds.nonce, nc) {
                        return Verdict::Stale;
                    }
                }
                _ => return Verdict::Rejected(RejectReason::BadQop),
            }
        }
        Verdict::Ok
    }
}

/// Whether the credentials' `uri` names the request's Request-URI (RFC 2617 §3.2.2.5). Some
/// clients (sipp among them) put the Request-URI without its user part there, e.g.
/// `sip:10.0.0.1:5060` for `sip:*21@10.0.0.1:5060`; that is accepted too. The response is
/// computed over whatever `uri` says, and `nc` replay detection covers reuse.
fn digest_uri_matches(given: &str, request_uri: &str) -> bool {
    if given.eq_ignore_ascii_case(request_uri) {
        return true;
    }
    match request_uri.split_once(':') {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => given.eq_ignore_ascii_case(&format!("{scheme}:{host}")),
            None => false,
        },
        None => false,
    }
}

/// A quoted-string with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The origin of the tests' virtual clock: the one place tests read the real clock, since an
/// `Instant` cannot be built otherwise. Tests only ever add durations to it.
#[cfg(test)]
pub(crate) fn test_origin() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests;
