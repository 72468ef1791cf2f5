//! `trunks.toml`: carrier gateways — who may deliver calls, which numbers, how many at once.
//!
//! ```toml
//! [[trunk]]
//! name = "unicom"
//! acl = ["10.20.0.0/24"]         # sources whose INVITEs are this trunk's
//! address = "10.20.0.5:5060"     # outbound target (optional: inbound only)
//! numbers = ["12345", "12320"]   # optional; every line when left out
//! max_calls = 300
//! emergency_reserved = 10        # kept free for 110/119/120/122 hand-offs
//! pass_caller_id = true          # 号码透传 on outbound calls (needs the carrier's agreement)
//! register = true                # REGISTER to the carrier (needs [trunk.auth])
//! options_interval_secs = 30     # OPTIONS health check (default 30 with an address; 0: off)
//! [trunk.auth]
//! username = "0398123450"
//! password = "…"
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::plan::{Cidr, Line, Trunk, TrunkAuth};

type Text = Spanned<String>;

/// How often a trunk with an address is pinged when `trunks.toml` does not say.
pub const DEFAULT_OPTIONS_INTERVAL_SECS: u32 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    trunk: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Text,
    #[serde(default)]
    acl: Vec<Text>,
    #[serde(default)]
    address: Option<Text>,
    #[serde(default)]
    numbers: Option<Vec<Text>>,
    max_calls: Spanned<i64>,
    #[serde(default)]
    emergency_reserved: Option<Spanned<i64>>,
    #[serde(default)]
    pass_caller_id: bool,
    #[serde(default)]
    register: Option<Spanned<bool>>,
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    options_interval_secs: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    username: Text,
    password: String,
    #[serde(default)]
    realm: Option<String>,
}

fn valid_address(s: &str) -> bool {
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

/// Parses `trunks.toml` against the lines.
pub fn parse(cx: &Ctx, lines: &[Line]) -> Result<Vec<Trunk>, DialplanError> {
    let f: File = cx.parse()?;
    let mut out: Vec<Trunk> = Vec::new();
    for e in &f.trunk {
        let name = e.name.get_ref();
        if name.is_empty() {
            return cx.err(e.name.span(), "a trunk needs a name");
        }
        if out.iter().any(|t| &t.name == name) {
            return cx.err(e.name.span(), format!("duplicate trunk {name:?}"));
        }
        let mut acl = Vec::new();
        for c in &e.acl {
            match c.get_ref().parse::<Cidr>() {
                Ok(v) => acl.push(v),
                Err(err) => return cx.err(c.span(), format!("bad CIDR: {err}")),
            }
        }
        if let Some(a) = &e.address {
            if !valid_address(a.get_ref()) {
                return cx.err(
                    a.span(),
                    format!("address {:?} must be host:port", a.get_ref()),
                );
            }
        }
        if acl.is_empty() && e.address.is_none() {
            return cx.err(
                e.name.span(),
                format!("trunk {name:?} has neither acl (inbound) nor address (outbound)"),
            );
        }
        let numbers = match &e.numbers {
            None => None,
            Some(list) => {
                let mut v: Vec<String> = Vec::new();
                for n in list {
                    if !lines.iter().any(|l| &l.number == n.get_ref()) {
                        return cx.err(
                            n.span(),
                            format!("unknown number {:?} (not in numbers.toml)", n.get_ref()),
                        );
                    }
                    v.push(n.get_ref().clone());
                }
                Some(v)
            }
        };
        let max_calls = *e.max_calls.get_ref();
        if !(1..=100_000).contains(&max_calls) {
            return cx.err(
                e.max_calls.span(),
                format!("max_calls must be between 1 and 100000, not {max_calls}"),
            );
        }
        let reserved = match &e.emergency_reserved {
            None => 0,
            Some(r) => {
                let v = *r.get_ref();
                if v < 0 || v >= max_calls {
                    return cx.err(r.span(), format!("emergency_reserved must be at least 0 and below max_calls ({max_calls})"));
                }
                v
            }
        };
        let auth = e.auth.as_ref().map(|a| TrunkAuth {
            username: a.username.get_ref().clone(),
            password: a.password.clone(),
            realm: a.realm.clone(),
        });
        if let Some(a) = &e.auth {
            if a.username.get_ref().is_empty() {
                return cx.err(a.username.span(), "username is empty");
            }
        }
        let register = match &e.register {
            Some(r) if *r.get_ref() => {
                if auth.is_none() {
                    return cx.err(r.span(), "register = true needs [trunk.auth]");
                }
                if e.address.is_none() {
                    return cx.err(r.span(), "register = true needs an address");
                }
                true
            }
            _ => false,
        };
        let options_interval_secs = match (&e.options_interval_secs, &e.address) {
            (Some(v), _) if !(0..=3600).contains(v.get_ref()) => {
                return cx.err(
                    v.span(),
                    format!(
                        "options_interval_secs must be between 0 (off) and 3600, not {}",
                        v.get_ref()
                    ),
                );
            }
            (Some(v), Some(_)) if *v.get_ref() > 0 => Some(*v.get_ref() as u32),
            (Some(v), None) if *v.get_ref() > 0 => {
                return cx.err(v.span(), "options_interval_secs needs an address");
            }
            (None, Some(_)) => Some(DEFAULT_OPTIONS_INTERVAL_SECS),
            _ => None,
        };
        out.push(Trunk {
            name: name.clone(),
            address: e.address.as_ref().map(|a| a.get_ref().clone()),
            acl,
            auth,
            register,
            numbers,
            max_calls: max_calls as u32,
            emergency_reserved: reserved as u32,
            pass_caller_id: e.pass_caller_id,
            options_interval_secs,
        });
    }
    Ok(out)
}
