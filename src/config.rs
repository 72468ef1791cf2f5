//! The daemon's own settings (`--config FILE`, TOML), merged with command-line flags.
//!
//! Every key has a default that gives the demo configuration: SIP on 0.0.0.0:5060 (UDP and
//! TCP), HTTP on 127.0.0.1:8080, SQLite under `./data`, the dialplans in `./dialplans`,
//! recordings in `./recordings`. Unknown keys are refused with file:line, so a typo never
//! silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dialplan::{parse_toml, DialplanError};
use crate::sip::digest::Algorithm;

/// Settings as read from the file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    sip: Option<SocketAddr>,
    http: Option<SocketAddr>,
    tls: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    data: Option<PathBuf>,
    database: Option<String>,
    dialplans: Option<PathBuf>,
    recordings: Option<PathBuf>,
    realm: Option<String>,
    max_connections: Option<usize>,
    max_message_bytes: Option<usize>,
    #[serde(default)]
    auth: Option<AuthConfig>,
    sms: Option<crate::sms::config::SmsConfig>,
    media: Option<crate::shell::media::MediaConfig>,
}

/// Registrar authentication policy.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Seconds a nonce stays fresh before `stale=true`.
    pub nonce_ttl_secs: u64,
    /// Failures from one (address, user) pair that trigger a lockout…
    pub lockout_failures: u32,
    /// …within this many seconds…
    pub lockout_window_secs: u64,
    /// …and how long the lockout lasts.
    pub lockout_secs: u64,
    /// Addresses never locked out (trunks, a branch office's NAT).
    pub exempt: Vec<std::net::IpAddr>,
    pub min_expires: u32,
    pub max_expires: u32,
    /// Digest algorithms offered, most preferred first: `"MD5"`, `"SHA-256"`. The default is
    /// MD5 alone: baresip 1.0 (libre) refuses a 401 that carries any non-MD5 challenge and sipp
    /// answers only the first one, so offering SHA-256 is a choice for sites whose phones all
    /// speak RFC 8760 (`["SHA-256", "MD5"]`, or `["SHA-256"]` to require it).
    pub algorithms: Vec<String>,
}

impl AuthConfig {
    /// The configured algorithms; only valid ones survive [`Config::check`].
    pub fn digest_algorithms(&self) -> Vec<Algorithm> {
        self.algorithms
            .iter()
            .filter_map(|a| Algorithm::from_token(a))
            .collect()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            nonce_ttl_secs: 300,
            lockout_failures: 5,
            lockout_window_secs: 600,
            lockout_secs: 900,
            exempt: Vec::new(),
            min_expires: 60,
            max_expires: 3600,
            algorithms: vec!["MD5".into()],
        }
    }
}

/// The effective configuration of one daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub data: PathBuf,
    pub database: Option<String>,
    pub dialplans: PathBuf,
    pub recordings: PathBuf,
    pub realm: String,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    pub auth: AuthConfig,
    /// `[sms]`; `None` runs the daemon with SMS off.
    pub sms: Option<crate::sms::config::SmsConfig>,
    /// The `[media]` section: RTP ports, dead-media timeout, recordings.
    pub media: crate::shell::media::MediaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sip: "0.0.0.0:5060".parse().expect("literal address"),
            http: "127.0.0.1:8080".parse().expect("literal address"),
            tls: None,
            tls_cert: None,
            tls_key: None,
            data: PathBuf::from("data"),
            database: None,
            dialplans: PathBuf::from("dialplans"),
            recordings: PathBuf::from("recordings"),
            realm: "rexian".to_string(),
            max_connections: 4096,
            max_message_bytes: 65_535,
            auth: AuthConfig::default(),
            sms: None,
            media: Default::default(),
        }
    }
}

impl Config {
    /// Reads a config file over the defaults.
    pub fn load(path: &Path) -> Result<Config, DialplanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DialplanError::new(path, 0, format!("cannot read: {e}")))?;
        Config::from_toml(path, &text)
    }

    pub fn from_toml(path: &Path, text: &str) -> Result<Config, DialplanError> {
        let f: FileConfig = parse_toml(path, text)?;
        let mut c = Config::default();
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = f.$field { c.$field = v; } )* };
        }
        take!(
            sip,
            http,
            data,
            dialplans,
            recordings,
            realm,
            max_connections,
            max_message_bytes
        );
        c.tls = f.tls;
        c.tls_cert = f.tls_cert;
        c.tls_key = f.tls_key;
        c.database = f.database;
        c.sms = f.sms;
        if let Some(a) = f.auth {
            c.auth = a;
        }
        if let Some(m) = f.media {
            c.media = m;
        }
        c.check(path, text)?;
        Ok(c)
    }

    fn check(&self, path: &Path, text: &str) -> Result<(), DialplanError> {
        use crate::dialplan::line_of_key;
        if self.tls.is_some() && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(DialplanError::new(
                path,
                line_of_key(text, "tls"),
                "tls needs tls_cert and tls_key",
            ));
        }
        if self.max_message_bytes < 1500 {
            return Err(DialplanError::new(
                path,
                line_of_key(text, "max_message_bytes"),
                "max_message_bytes below 1500 would refuse ordinary INVITEs",
            ));
        }
        if self.auth.min_expires > self.auth.max_expires {
            return Err(DialplanError::new(
                path,
                line_of_key(text, "min_expires"),
                "min_expires is larger than max_expires",
            ));
        }
        let algs = &self.auth.algorithms;
        let bad = algs.iter().find(|a| {
            !matches!(
                Algorithm::from_token(a),
                Some(Algorithm::Md5 | Algorithm::Sha256)
            )
        });
        let duplicate = algs
            .iter()
            .enumerate()
            .any(|(i, a)| algs[..i].iter().any(|b| b.eq_ignore_ascii_case(a)));
        if algs.is_empty() || bad.is_some() || duplicate {
            return Err(DialplanError::new(
                path,
                line_of_key(text, "algorithms"),
                match bad {
                    Some(b) => {
                        format!("unknown digest algorithm {b:?}: use \"MD5\" or \"SHA-256\"")
                    }
                    None if duplicate => "algorithms lists one twice".to_string(),
                    None => "algorithms is empty: no phone could register".to_string(),
                },
            ));
        }
        if let Some(sms) = &self.sms {
            sms.check(path, text)?;
        }
        Ok(())
    }

    /// The database URL: the configured one, or SQLite under the data directory.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| crate::store::Store::sqlite_url(&self.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_demo_defaults() {
        let c = Config::from_toml(Path::new("r.toml"), "").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.sip.port(), 5060);
    }

    #[test]
    fn a_misspelt_key_is_refused_with_its_line() {
        let e = Config::from_toml(
            Path::new("r.toml"),
            "sip = \"0.0.0.0:5070\"\nhttpp = \"x\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.reason.contains("httpp"), "{e}");
    }

    #[test]
    fn an_unknown_digest_algorithm_is_refused_with_its_line() {
        let e = Config::from_toml(
            Path::new("r.toml"),
            "[auth]\nalgorithms = [\"SHA-256\", \"SHA-512\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.reason.contains("SHA-512"), "{e}");
        let ok =
            Config::from_toml(Path::new("r.toml"), "[auth]\nalgorithms = [\"sha-256\"]\n").unwrap();
        assert_eq!(ok.auth.digest_algorithms(), vec![Algorithm::Sha256]);
    }

    #[test]
    fn tls_without_a_certificate_is_refused() {
        let e = Config::from_toml(Path::new("r.toml"), "\ntls = \"0.0.0.0:5061\"\n").unwrap_err();
        assert_eq!(e.to_string(), "r.toml:2: tls needs tls_cert and tls_key");
    }
}
