//! Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760): challenges,
//! stateless nonces, parsing of `Authorization: Digest …` and verification of the response.
//!
//! - Challenges: two `WWW-Authenticate` values, SHA-256 first and MD5 second (RFC 8760 §2.4),
//!   both `qop="auth"`, sharing one nonce.
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
        Ok(DigestCredentials {
            username: Pii::new(take("username").ok_or(DigestError::Missing("username"))?),
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

    /// `WWW-Authenticate` (or `Proxy-Authenticate`) values to send: SHA-256 first, then
    /// MD5, sharing one fresh nonce.
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.new_nonce(now);
        [Algorithm::Sha256, Algorithm::Md5]
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
        };
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
        } else if !(creds.uri == request_uri || creds.uri.eq_ignore_ascii_case(request_uri)) {
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
            match u32::from_str_radix(q.nc, 16) {
                Ok(nc) if q.nc.len() == 8 && nc > 0 => {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test secret, 32 bytes long......";
    const URI: &str = "sip:rexian.example.cn";

    /// Origin of the virtual clock; tests only ever add durations to it.
    fn origin() -> Instant {
        Instant::now()
    }

    fn auth(t0: Instant) -> DigestAuth {
        let anchor = WallAnchor {
            instant: t0,
            unix_secs: 1_790_000_000,
        };
        DigestAuth::new(DigestConfig::new("rexian", SECRET, anchor, [7; 32]))
    }

    /// Builds client credentials the way a phone does, independently of `response_digest`.
    fn client(alg: &str, user: &str, pw: &str, nonce: &str, nc: u32) -> DigestCredentials {
        let hx = |s: String| {
            if alg.starts_with("SHA") {
                hex::encode(Sha256::digest(s))
            } else {
                hex::encode(Md5::digest(s))
            }
        };
        let ha1 = hx(format!("{user}:rexian:{pw}"));
        let ha2 = hx(format!("REGISTER:{URI}"));
        let nc = format!("{nc:08x}");
        let response = hx(format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
        DigestCredentials {
            username: Pii::new(user.to_string()),
            realm: "rexian".into(),
            nonce: nonce.into(),
            uri: URI.into(),
            response,
            algorithm: Some(alg.into()),
            qop: Some("auth".into()),
            nc: Some(nc),
            cnonce: Some("c0ffee".into()),
            opaque: None,
        }
    }

    fn nonce_of(challenge: &str) -> String {
        let params = parse_auth_params(challenge.strip_prefix("Digest").unwrap()).unwrap();
        params.into_iter().find(|(n, _)| n == "nonce").unwrap().1
    }

    #[test]
    fn md5_qop_auth_matches_rfc2617_example() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
        let q = QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        let r = response_digest(
            Algorithm::Md5,
            &ha1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(q),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn sha256_qop_auth_matches_rfc7616_example_and_independent_values() {
        let ha1_7616 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let q = QopAuth {
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        };
        let r = response_digest(
            Algorithm::Sha256,
            &ha1_7616,
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(q),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        // Values computed with Python's hashlib.
        let sip = ha1(Algorithm::Sha256, "1001", "rexian", "s3cr3t pass");
        assert_eq!(
            sip,
            "ed080536e83097e6ebb3234993e9b3555e85e709c6ff1b7406aea023f7d649f4"
        );
        let q = QopAuth {
            nc: "0000000a",
            cnonce: "xyz",
        };
        let reg = |alg, qop| response_digest(alg, &sip, "abcdef0123", qop, "REGISTER", URI);
        assert_eq!(
            reg(Algorithm::Sha256, Some(q)),
            "19d66e645339e5965e303efdbc767e7ddc88d46edd530966839d98fbc41730aa"
        );
        assert_eq!(
            reg(Algorithm::Sha256, None),
            "736117b24c750c812e6ef71f32dd674e2d9bafd330141caaa1289c6253e741cb"
        );
        assert_eq!(
            reg(Algorithm::Sha256Sess, Some(q)),
            "0504c4b4eac3cb2b35d4fc86c1d48277ceaba4c4b04c5fd6bd49b163e1905ddb"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_vectors() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mac = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn challenges_offer_sha256_then_md5_with_one_nonce() {
        let t0 = origin();
        let mut a = auth(t0);
        let c = a.challenges(t0, false);
        assert_eq!(c.len(), 2);
        assert!(c[0].contains("algorithm=SHA-256") && c[0].contains("qop=\"auth\""));
        assert!(c[1].contains("algorithm=MD5") && c[0].starts_with("Digest realm=\"rexian\""));
        assert_eq!(nonce_of(&c[0]), nonce_of(&c[1]));
        assert!(!c[0].contains("stale"));
        assert!(a.challenges(t0, true)[0].ends_with(", stale=true"));
    }

    #[test]
    fn right_password_verifies_for_both_algorithms() {
        let t0 = origin();
        let mut a = auth(t0);
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        for alg in ["SHA-256", "MD5"] {
            let nonce = a.new_nonce(t0);
            let c = client(alg, "1001", "pw", &nonce, 1);
            assert_eq!(a.verify(t0, &c, "REGISTER", URI, Some(&acct)), Verdict::Ok);
        }
    }

    #[test]
    fn rfc2069_response_without_qop_verifies() {
        let t0 = origin();
        let mut a = auth(t0);
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        let nonce = a.new_nonce(t0);
        let ha2 = hex::encode(Md5::digest(format!("REGISTER:{URI}")));
        let response = hex::encode(Md5::digest(format!("{}:{nonce}:{ha2}", acct.ha1_md5)));
        let mut c = client("MD5", "1001", "pw", &nonce, 1);
        (c.qop, c.nc, c.cnonce, c.algorithm, c.response) = (None, None, None, None, response);
        assert_eq!(a.verify(t0, &c, "REGISTER", URI, Some(&acct)), Verdict::Ok);
    }

    #[test]
    fn expired_nonce_with_right_password_is_stale_and_wrong_password_is_rejected() {
        let t0 = origin();
        let mut a = auth(t0);
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        let nonce = a.new_nonce(t0);
        let later = t0 + Duration::from_secs(301);
        let good = client("SHA-256", "1001", "pw", &nonce, 1);
        assert_eq!(
            a.verify(later, &good, "REGISTER", URI, Some(&acct)),
            Verdict::Stale
        );
        let bad = client("SHA-256", "1001", "guess", &nonce, 1);
        assert_eq!(
            a.verify(later, &bad, "REGISTER", URI, Some(&acct)),
            Verdict::Rejected(RejectReason::WrongResponse)
        );
    }

    #[test]
    fn tampered_or_foreign_nonce_is_rejected() {
        let t0 = origin();
        let mut a = auth(t0);
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        let nonce = a.new_nonce(t0);
        // Push the issue time forward by flipping a time digit: the MAC no longer fits.
        let mut tampered = nonce.clone().into_bytes();
        tampered[15] = if tampered[15] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        for n in [
            tampered.as_str(),
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "zz",
            "",
        ] {
            let c = client("MD5", "1001", "pw", n, 1);
            assert_eq!(
                a.verify(t0, &c, "REGISTER", URI, Some(&acct)),
                Verdict::Rejected(RejectReason::BadNonce)
            );
        }
        // Another secret's nonce is foreign too.
        let mut other = DigestAuth::new(DigestConfig::new(
            "rexian",
            b"another secret",
            WallAnchor {
                instant: t0,
                unix_secs: 1_790_000_000,
            },
            [7; 32],
        ));
        let c = client("MD5", "1001", "pw", &other.new_nonce(t0), 1);
        assert_eq!(
            a.verify(t0, &c, "REGISTER", URI, Some(&acct)),
            Verdict::Rejected(RejectReason::BadNonce)
        );
    }

    #[test]
    fn nonce_from_a_restarted_worker_with_same_secret_verifies() {
        let t0 = origin();
        let mut first = auth(t0);
        let nonce = first.new_nonce(t0);
        // The second process started 100 s later, anchored to the same wall clock.
        let t1 = t0 + Duration::from_secs(100);
        let mut second = DigestAuth::new(DigestConfig::new(
            "rexian",
            SECRET,
            WallAnchor {
                instant: t1,
                unix_secs: 1_790_000_100,
            },
            [9; 32],
        ));
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        let c = client("SHA-256", "1001", "pw", &nonce, 1);
        assert_eq!(
            second.verify(t1, &c, "REGISTER", URI, Some(&acct)),
            Verdict::Ok
        );
    }

    #[test]
    fn replayed_nonce_count_is_stale_and_higher_count_passes() {
        let t0 = origin();
        let mut a = auth(t0);
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        let nonce = a.new_nonce(t0);
        let c1 = client("MD5", "1001", "pw", &nonce, 1);
        assert_eq!(a.verify(t0, &c1, "REGISTER", URI, Some(&acct)), Verdict::Ok);
        assert_eq!(
            a.verify(t0, &c1, "REGISTER", URI, Some(&acct)),
            Verdict::Stale
        );
        let c2 = client("MD5", "1001", "pw", &nonce, 2);
        assert_eq!(a.verify(t0, &c2, "REGISTER", URI, Some(&acct)), Verdict::Ok);
    }

    #[test]
    fn unknown_user_fails_like_wrong_password() {
        let t0 = origin();
        let mut a = auth(t0);
        let nonce = a.new_nonce(t0);
        let c = client("SHA-256", "1001", "pw", &nonce, 1);
        assert_eq!(
            a.verify(t0, &c, "REGISTER", URI, None),
            Verdict::Rejected(RejectReason::WrongResponse)
        );
    }

    #[test]
    fn uri_realm_algorithm_and_qop_mismatches_are_rejected() {
        let t0 = origin();
        let mut a = auth(t0);
        let acct = AccountCredentials::from_password("1001", "rexian", "pw");
        let nonce = a.new_nonce(t0);
        let c = client("MD5", "1001", "pw", &nonce, 1);
        let check = |a: &mut DigestAuth, c: &DigestCredentials, uri: &str| {
            a.verify(t0, c, "REGISTER", uri, Some(&acct))
        };
        assert_eq!(
            check(&mut a, &c, "sip:elsewhere.example"),
            Verdict::Rejected(RejectReason::UriMismatch)
        );
        let mut r = c.clone();
        r.realm = "other".into();
        assert_eq!(
            check(&mut a, &r, URI),
            Verdict::Rejected(RejectReason::RealmMismatch)
        );
        let mut r = c.clone();
        r.algorithm = Some("SHA-512-256".into());
        assert_eq!(
            check(&mut a, &r, URI),
            Verdict::Rejected(RejectReason::UnsupportedAlgorithm)
        );
        let mut r = c.clone();
        r.qop = Some("auth-int".into());
        assert_eq!(
            check(&mut a, &r, URI),
            Verdict::Rejected(RejectReason::BadQop)
        );
        let mut r = c.clone();
        r.opaque = Some("nope".into());
        assert_eq!(
            check(&mut a, &r, URI),
            Verdict::Rejected(RejectReason::OpaqueMismatch)
        );
    }

    #[test]
    fn credentials_parse_quotes_escapes_and_commas() {
        let v = "Digest username=\"10\\\"01\", realm=\"rex,ian\",nonce=\"abc\" ,uri=\"sip:a\", \
                 response=\"00\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"x y\",,";
        let c = DigestCredentials::parse(v).unwrap();
        assert_eq!(c.username.expose(), "10\"01");
        assert_eq!(c.realm, "rex,ian");
        assert_eq!(c.algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.cnonce.as_deref(), Some("x y"));
        assert!(!format!("{c:?}").contains("10\"01"));
    }

    #[test]
    fn garbage_credentials_return_errors_without_panicking() {
        let bad = [
            "",
            "Basic dXNlcjpwYXNz",
            "Digest",
            "Digest username",
            "Digest username=",
            "Digest username=\"open",
            "Digest username=\"esc\\",
            "Digest a=1 b=2",
            "Digest a=1, a=2",
            "Digest =x",
            "Digest 用户=\"名\"",
            "Digest username=\"名\\",
            "Digest username=\"é\\é\", realm=x",
        ];
        for v in bad {
            assert!(DigestCredentials::parse(v).is_err(), "{v}");
        }
        assert_eq!(
            DigestCredentials::parse(&format!("Digest a=\"{}\"", "x".repeat(9000))),
            Err(DigestError::TooLong)
        );
        let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            parse_auth_params(&many.join(",")),
            Err(DigestError::TooManyParams)
        );
        // Every prefix of a valid value, cut at any char boundary, is handled.
        let v = "Digest username=\"张三\\\"\", realm=\"r\", nonce=n, uri=\"u\", response=\"r\"";
        for (i, _) in v.char_indices() {
            let _ = DigestCredentials::parse(&v[..i]);
        }
    }
}
