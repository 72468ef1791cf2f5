//! Tests of digest authentication: known vectors, nonces on a virtual clock, parsing.

use super::*;

const SECRET: &[u8] = b"test secret, 32 bytes long......";
const URI: &str = "sip:rexian.example.cn";

use crate::sip::digest::test_origin as origin;

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
fn challenges_follow_the_configured_order_with_one_nonce() {
    let t0 = origin();
    let mut a = auth(t0);
    let c = a.challenges(t0, false);
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("algorithm=MD5") && c[0].contains("qop=\"auth\""));
    assert!(c[1].contains("algorithm=SHA-256") && c[0].starts_with("Digest realm=\"rexian\""));
    assert_eq!(nonce_of(&c[0]), nonce_of(&c[1]));
    assert!(!c[0].contains("stale"));
    assert!(a.challenges(t0, true)[0].ends_with(", stale=true"));
}

#[test]
fn an_algorithm_left_out_of_the_configuration_is_neither_offered_nor_accepted() {
    let t0 = origin();
    let anchor = WallAnchor {
        instant: t0,
        unix_secs: 1_790_000_000,
    };
    let mut cfg = DigestConfig::new("rexian", SECRET, anchor, [7; 32]);
    cfg.algorithms = vec![Algorithm::Sha256];
    let mut a = DigestAuth::new(cfg);
    let c = a.challenges(t0, false);
    assert_eq!(c.len(), 1);
    assert!(c[0].contains("algorithm=SHA-256"));
    let acct = AccountCredentials::from_password("1001", "rexian", "pw");
    let nonce = a.new_nonce(t0);
    let md5 = client("MD5", "1001", "pw", &nonce, 1);
    assert_eq!(
        a.verify(t0, &md5, "REGISTER", URI, Some(&acct)),
        Verdict::Rejected(RejectReason::UnsupportedAlgorithm)
    );
    let sha = client("SHA-256", "1001", "pw", &nonce, 2);
    assert_eq!(
        a.verify(t0, &sha, "REGISTER", URI, Some(&acct)),
        Verdict::Ok
    );
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

#[test]
fn nonce_count_must_be_eight_hex_digits() {
    let t0 = origin();
    let mut a = auth(t0);
    let acct = AccountCredentials::from_password("1001", "rexian", "pw");
    let nonce = a.new_nonce(t0);
    for nc in ["+0000001", "1", "000000001", "00000000"] {
        let mut c = client("MD5", "1001", "pw", &nonce, 1);
        let ha1 = acct.ha1_md5.clone();
        let q = QopAuth {
            nc,
            cnonce: "c0ffee",
        };
        c.response = response_digest(Algorithm::Md5, &ha1, &nonce, Some(q), "REGISTER", URI);
        c.nc = Some(nc.into());
        assert_eq!(
            a.verify(t0, &c, "REGISTER", URI, Some(&acct)),
            Verdict::Rejected(RejectReason::BadQop),
            "{nc}"
        );
    }
}

#[test]
fn random_credentials_never_panic() {
    let mut rng = StdRng::from_seed([1; 32]);
    let alphabet: Vec<char> = "Digest usernam=\",\\ \t\r\nabc\"=,,\\\\é用0x"
        .chars()
        .collect();
    for _ in 0..20_000 {
        let len = (rng.next_u32() % 80) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(rng.next_u32() as usize) % alphabet.len()])
            .collect();
        let _ = DigestCredentials::parse(&s);
        let _ = DigestCredentials::parse(&format!("Digest {s}"));
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        let _ = DigestCredentials::parse(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn the_digest_uri_may_omit_the_request_uris_user_part_but_not_name_another_target() {
    assert!(digest_uri_matches(
        "sip:*21@10.0.0.1:5060",
        "sip:*21@10.0.0.1:5060"
    ));
    assert!(digest_uri_matches(
        "sip:10.0.0.1:5060",
        "sip:*21@10.0.0.1:5060"
    ));
    assert!(digest_uri_matches(
        "SIP:10.0.0.1:5060",
        "sip:*21@10.0.0.1:5060"
    ));
    assert!(!digest_uri_matches(
        "sip:10.0.0.2:5060",
        "sip:*21@10.0.0.1:5060"
    ));
    assert!(!digest_uri_matches(
        "sip:110@10.0.0.1:5060",
        "sip:*21@10.0.0.1:5060"
    ));
    assert!(!digest_uri_matches("sip:10.0.0.1:5060", "sip:10.0.0.1"));
}
