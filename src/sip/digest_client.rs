//! The client side of SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
//! read a 401's `WWW-Authenticate` or a 407's `Proxy-Authenticate`, and compute the
//! `Authorization` / `Proxy-Authorization` a carrier expects when rexian registers to it or
//! calls through it. Sans-IO and pure: the caller supplies the `cnonce` and the `nc`.
//!
//! Of several challenges SHA-256 is preferred to MD5 (RFC 8760 §2.4); `-sess` variants and
//! `qop=auth` are answered, `qop=auth-int` alone is not (no carrier asks for it). The hashing
//! is the server's own ([`crate::sip::digest::response_digest`]), so both sides agree.

use std::fmt;

use thiserror::Error;

use crate::sip::digest::{ha1, parse_auth_params, quote, response_digest, Algorithm, QopAuth};
use crate::sip::message::{Request, Response};

/// What an account at a carrier is: kept out of logs (the password never prints).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub username: String,
    pub password: String,
    /// Only answer challenges of this realm (any realm when `None`).
    pub realm: Option<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestClientError {
    #[error("the response carries no digest challenge")]
    NoChallenge,
    #[error("malformed challenge")]
    Malformed,
    #[error("challenge without {0}")]
    Missing(&'static str),
    #[error("unsupported algorithm or qop")]
    Unsupported,
    #[error("challenge for realm {0:?}, not the configured one")]
    WrongRealm(String),
}

/// One parsed `Digest` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth`; the answer then carries `cnonce` and `nc`.
    pub qop_auth: bool,
    pub stale: bool,
}

impl DigestChallenge {
    /// Reads one header value, scheme included (`Digest realm="…", nonce="…", …`).
    pub fn parse(value: &str) -> Result<DigestChallenge, DigestClientError> {
        let v = value.trim_start();
        let end = v.find(|c: char| c.is_ascii_whitespace()).unwrap_or(v.len());
        // `end` is an ASCII whitespace position or the length: a char boundary.
        if !v[..end].eq_ignore_ascii_case("Digest") {
            return Err(DigestClientError::NoChallenge);
        }
        let params = parse_auth_params(&v[end..]).map_err(|_| DigestClientError::Malformed)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(t) => Algorithm::from_token(&t).ok_or(DigestClientError::Unsupported)?,
        };
        let qop_auth = match get("qop") {
            None => false,
            Some(list) => {
                if !list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                {
                    return Err(DigestClientError::Unsupported);
                }
                true
            }
        };
        if algorithm != algorithm.base() && !qop_auth {
            // A -sess key needs a cnonce, which only a qop answer carries.
            return Err(DigestClientError::Unsupported);
        }
        Ok(DigestChallenge {
            realm: get("realm").ok_or(DigestClientError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestClientError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The best challenge among several header values: SHA-256 before MD5, unreadable or
    /// unsupported ones skipped.
    pub fn choose<'a>(
        values: impl Iterator<Item = &'a str>,
    ) -> Result<DigestChallenge, DigestClientError> {
        let mut best: Option<DigestChallenge> = None;
        let mut first_err = DigestClientError::NoChallenge;
        for v in values {
            match DigestChallenge::parse(v) {
                Ok(c) => {
                    let better = best.as_ref().is_none_or(|b| {
                        b.algorithm.base() == Algorithm::Md5
                            && c.algorithm.base() == Algorithm::Sha256
                    });
                    if better {
                        best = Some(c);
                    }
                }
                Err(e) => {
                    if first_err == DigestClientError::NoChallenge {
                        first_err = e;
                    }
                }
            }
        }
        best.ok_or(first_err)
    }

    /// The credentials value (`Digest username="…", …`) for `method` on `uri`. `nc` counts
    /// the requests made with this nonce, from 1.
    pub fn answer(
        &self,
        creds: &ClientCredentials,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let key = ha1(
            self.algorithm.base(),
            &creds.username,
            &self.realm,
            &creds.password,
        );
        let nc_text = format!("{nc:08x}");
        let qop = self.qop_auth.then_some(QopAuth {
            nc: &nc_text,
            cnonce,
        });
        let response = response_digest(self.algorithm, &key, &self.nonce, qop, method, uri);
        let mut out = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", algorithm={}",
            quote(&creds.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            self.algorithm
        );
        if let Some(o) = &self.opaque {
            out.push_str(&format!(", opaque={}", quote(o)));
        }
        if self.qop_auth {
            out.push_str(&format!(
                ", qop=auth, nc={nc_text}, cnonce={}",
                quote(cnonce)
            ));
        }
        out
    }
}

/// Adds credentials answering `challenge` (a 401 or 407 to `req`) to `req`: the
/// `Authorization` for a 401, `Proxy-Authorization` for a 407, replacing any earlier one.
/// The caller then sends `req` again with a new branch and the next CSeq.
pub fn authorize(
    req: &mut Request,
    challenge: &Response,
    creds: &ClientCredentials,
    cnonce: &str,
) -> Result<(), DigestClientError> {
    let (ask, answer) = if challenge.status == 407 {
        ("Proxy-Authenticate", "Proxy-Authorization")
    } else {
        ("WWW-Authenticate", "Authorization")
    };
    let ch = DigestChallenge::choose(challenge.headers.get_all(ask))?;
    if let Some(realm) = &creds.realm {
        if *realm != ch.realm {
            return Err(DigestClientError::WrongRealm(ch.realm));
        }
    }
    let uri = req.uri.to_string();
    let value = ch.answer(creds, req.method.as_str(), &uri, cnonce, 1);
    req.headers.remove(answer);
    req.headers.push(answer, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::digest::{
        test_origin, AccountCredentials, DigestAuth, DigestConfig, DigestCredentials, Verdict,
        WallAnchor,
    };

    fn mufasa(password: &str) -> ClientCredentials {
        ClientCredentials {
            username: "Mufasa".into(),
            password: password.into(),
            realm: None,
        }
    }

    fn field(value: &str, name: &str) -> String {
        let creds = DigestCredentials::parse(value).expect("our own answer parses");
        match name {
            "response" => creds.response,
            "uri" => creds.uri,
            _ => unreachable!("only these are asked for"),
        }
    }

    #[test]
    fn rfc_2617_md5_example() {
        let ch = DigestChallenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(ch.algorithm, Algorithm::Md5);
        assert!(ch.qop_auth);
        let a = ch.answer(
            &mufasa("Circle Of Life"),
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert_eq!(field(&a, "response"), "6629fae49393a05397450978507c4ef1");
        assert!(a.contains("nc=00000001"), "{a}");
        assert!(
            a.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{a}"
        );
    }

    #[test]
    fn rfc_7616_sha256_and_md5_examples() {
        let headers = [
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        ];
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let best = DigestChallenge::choose(headers.iter().copied()).unwrap();
        assert_eq!(best.algorithm, Algorithm::Sha256, "SHA-256 is preferred");
        let a = best.answer(
            &mufasa("Circle of Life"),
            "GET",
            "/dir/index.html",
            cnonce,
            1,
        );
        assert_eq!(
            field(&a, "response"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = DigestChallenge::parse(headers[0]).unwrap();
        let a = md5.answer(
            &mufasa("Circle of Life"),
            "GET",
            "/dir/index.html",
            cnonce,
            1,
        );
        assert_eq!(field(&a, "response"), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn bad_challenges_are_errors_not_panics() {
        for bad in [
            "",
            "Basic realm=\"x\"",
            "Digest",
            "Digest realm=\"x\"",
            "Digest nonce=\"n\"",
            "Digest realm=\"x\", nonce=\"n\", algorithm=SHA-512",
            "Digest realm=\"x\", nonce=\"n\", qop=\"auth-int\"",
            "Digest realm=\"x\", nonce=\"n\", algorithm=MD5-sess",
            "Digest realm=\"x, nonce=\"n\"",
            "Digest realm=\"中文\", nonce=",
        ] {
            assert!(DigestChallenge::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DigestChallenge::choose(std::iter::empty()),
            Err(DigestClientError::NoChallenge)
        );
    }

    #[test]
    fn rfc_2069_form_without_qop() {
        let ch = DigestChallenge::parse("Digest realm=\"r\", nonce=\"n\", stale=TRUE").unwrap();
        assert!(ch.stale && !ch.qop_auth);
        let a = ch.answer(&mufasa("pw"), "REGISTER", "sip:r", "c", 1);
        assert!(!a.contains("qop") && !a.contains("cnonce"), "{a}");
    }

    /// Our client against our server, for both algorithms and the -sess variants.
    #[test]
    fn rexian_digest_server_accepts_the_client() {
        let t0 = test_origin();
        let anchor = WallAnchor {
            instant: t0,
            unix_secs: 1_700_000_000,
        };
        for algs in [
            vec![Algorithm::Md5],
            vec![Algorithm::Sha256],
            vec![Algorithm::Md5, Algorithm::Sha256],
        ] {
            let mut cfg = DigestConfig::new(
                "rexian",
                b"0123456789abcdef0123456789abcdef",
                anchor,
                [7; 32],
            );
            cfg.algorithms = algs.clone();
            let mut server = DigestAuth::new(cfg);
            let account = AccountCredentials::from_password("0398123450", "rexian", "s3cret");
            let creds = ClientCredentials {
                username: "0398123450".into(),
                password: "s3cret".into(),
                realm: Some("rexian".into()),
            };
            let challenges = server.challenges(t0, false);
            let ch = DigestChallenge::choose(challenges.iter().map(String::as_str)).unwrap();
            let want = if algs.contains(&Algorithm::Sha256) {
                Algorithm::Sha256
            } else {
                Algorithm::Md5
            };
            assert_eq!(ch.algorithm, want);
            let uri = "sip:rexian.example:5060";
            let a = ch.answer(&creds, "REGISTER", uri, "abc123", 1);
            assert_eq!(field(&a, "uri"), uri);
            let parsed = DigestCredentials::parse(&a).unwrap();
            let v = server.verify(t0, &parsed, "REGISTER", uri, Some(&account));
            assert_eq!(v, Verdict::Ok, "{algs:?}");
            let wrong = ClientCredentials {
                password: "nope".into(),
                ..creds
            };
            let a = ch.answer(&wrong, "REGISTER", uri, "abc124", 2);
            let parsed = DigestCredentials::parse(&a).unwrap();
            let v = server.verify(t0, &parsed, "REGISTER", uri, Some(&account));
            assert!(matches!(v, Verdict::Rejected(_)), "{v:?}");
        }
    }

    #[test]
    fn authorize_picks_the_header_by_status_and_checks_the_realm() {
        use crate::sip::message::SipMessage;
        use crate::sip::parse::{parse, Limits};
        let raw = "INVITE sip:110@10.0.0.5 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
            From: <sip:12345@10.0.0.1>;tag=a\r\nTo: <sip:110@10.0.0.5>\r\n\
            Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let Ok(SipMessage::Request(mut req)) = parse(raw.as_bytes(), &Limits::default()) else {
            panic!("test request parses");
        };
        let mut resp = req.response(407);
        resp.headers.push(
            "Proxy-Authenticate",
            "Digest realm=\"carrier\", nonce=\"n1\", qop=\"auth\"",
        );
        let creds = ClientCredentials {
            username: "u".into(),
            password: "p".into(),
            realm: Some("carrier".into()),
        };
        authorize(&mut req, &resp, &creds, "cn").unwrap();
        let v = req.headers.get("Proxy-Authorization").expect("added");
        assert!(v.contains("uri=\"sip:110@10.0.0.5\""), "{v}");
        assert!(req.headers.get("Authorization").is_none());
        let other = ClientCredentials {
            realm: Some("elsewhere".into()),
            ..creds
        };
        assert_eq!(
            authorize(&mut req, &resp, &other, "cn"),
            Err(DigestClientError::WrongRealm("carrier".into()))
        );
        let plain = req.response(401);
        assert_eq!(
            authorize(&mut req, &plain, &other, "cn"),
            Err(DigestClientError::NoChallenge)
        );
    }
}
