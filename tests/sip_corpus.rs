//! Data-driven parser and validation tests over `tests/data/sip/`.
//!
//! - `valid/*.sip` must parse, and the re-serialised message must parse to equal values.
//! - `invalid/NNN_*.sip` must be refused with status NNN and a reason phrase containing the
//!   text in the `.reason` sidecar.
//! - `validate/NNN_*.sip` must parse; `validate()` must pass (NNN = 200) or refuse with NNN
//!   and exactly the headers in the `.headers` sidecar (none when there is no sidecar).

use std::fs;
use std::path::{Path, PathBuf};

use rexian::sip::message::{Method, SipMessage};
use rexian::sip::parse::{parse, Limits};
use rexian::sip::validate::{reject_response, validate, Capabilities};

const LIMITS: Limits = Limits {
    max_message: 16_384,
    max_headers: 256,
};

fn files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sip")
        .join(dir);
    let mut v: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no cases in {dir}");
    v
}

fn expected_status(p: &Path) -> u16 {
    let stem = p.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
    stem.get(..3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{stem}: name must start with a status"))
}

fn sidecar(p: &Path, ext: &str) -> Option<String> {
    fs::read_to_string(p.with_extension(ext)).ok()
}

#[test]
fn valid_messages_parse_and_round_trip() {
    for p in files("valid") {
        let bytes = fs::read(&p).expect("read case");
        let msg =
            parse(&bytes, &LIMITS).unwrap_or_else(|e| panic!("{}: refused: {e}", p.display()));
        let again = parse(&msg.to_bytes(), &LIMITS)
            .unwrap_or_else(|e| panic!("{}: re-serialised form refused: {e}", p.display()));
        assert_eq!(
            msg,
            again,
            "{}: round trip changed the message",
            p.display()
        );
    }
}

#[test]
fn invalid_messages_are_refused_with_named_status_and_reason() {
    for p in files("invalid") {
        let bytes = fs::read(&p).expect("read case");
        let want = sidecar(&p, "reason").expect("invalid case needs a .reason sidecar");
        let err = match parse(&bytes, &LIMITS) {
            Ok(m) => panic!("{}: accepted: {m:?}", p.display()),
            Err(e) => e,
        };
        assert_eq!(
            err.status,
            expected_status(&p),
            "{}: {}",
            p.display(),
            err.reason
        );
        assert!(
            err.reason.contains(want.trim()),
            "{}: reason {:?} does not name {:?}",
            p.display(),
            err.reason,
            want.trim()
        );
        assert!(
            err.reason.is_ascii() && err.reason.len() < 100,
            "{}",
            p.display()
        );
    }
}

#[test]
fn identifiable_invalid_requests_carry_what_a_response_needs() {
    for name in [
        "400_clerr_content_length_larger_than_body",
        "400_ltgtruri_request_uri_in_brackets",
        "505_badvers_unknown_protocol_version",
        "400_mismatch01_cseq_method_differs",
        "513_message_too_large",
    ] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/sip/invalid")
            .join(format!("{name}.sip"));
        let err = parse(&fs::read(&p).expect("read case"), &LIMITS).expect_err(name);
        let resp = err
            .response()
            .unwrap_or_else(|| panic!("{name}: no partial"));
        assert_eq!(resp.status, err.status);
        assert!(!resp.via.is_empty(), "{name}");
        let wire = resp.to_bytes();
        assert!(
            parse(&wire, &LIMITS).is_ok(),
            "{name}: error response does not parse"
        );
    }
}

fn caps() -> Capabilities {
    Capabilities {
        allowed: vec![
            Method::Invite,
            Method::Ack,
            Method::Bye,
            Method::Cancel,
            Method::Options,
            Method::Register,
            Method::Prack,
            Method::Update,
            Method::Info,
        ],
        known_extensions: vec![],
        supported: vec!["100rel".into(), "timer".into(), "replaces".into()],
        accept: vec!["application/sdp".into(), "multipart/mixed".into()],
        local: vec![("192.0.2.10".into(), None)],
        domains: vec!["gov.example".into()],
    }
}

#[test]
fn validation_cases_get_the_named_status_and_headers() {
    for p in files("validate") {
        let bytes = fs::read(&p).expect("read case");
        let req = match parse(&bytes, &LIMITS) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("{}: not a request: {other:?}", p.display()),
        };
        let status = expected_status(&p);
        match validate(&req, &caps()) {
            Ok(()) => assert_eq!(status, 200, "{}: accepted", p.display()),
            Err(rej) => {
                assert_eq!(rej.status, status, "{}", p.display());
                let want: Vec<(String, String)> = sidecar(&p, "headers")
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.split_once(": "))
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                assert_eq!(rej.headers, want, "{}", p.display());
                let resp = reject_response(&req, &rej);
                assert!(parse(&resp.to_bytes(), &LIMITS).is_ok(), "{}", p.display());
            }
        }
    }
}

fn load(dir: &str, name: &str) -> SipMessage {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sip")
        .join(dir)
        .join(format!("{name}.sip"));
    parse(&fs::read(&p).expect("read case"), &LIMITS).expect(name)
}

fn request(name: &str) -> rexian::sip::message::Request {
    match load("valid", name) {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("{name}: response"),
    }
}

#[test]
fn selected_valid_cases_parse_to_the_intended_values() {
    let ws = request("wsinv_short_tortuous_invite");
    assert_eq!(ws.via.len(), 3);
    assert_eq!(ws.via[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(ws.to.tag(), Some("1918181833n"));
    assert_eq!(ws.from.tag(), Some("98asjd8"));
    assert_eq!(ws.cseq.seq, 9);
    assert_eq!(ws.max_forwards, Some(68));
    assert_eq!(
        ws.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );

    let im = request("intmeth_wide_range_of_characters");
    assert!(matches!(im.method, Method::Extension(ref m) if m.starts_with("!interesting")));
    assert!(im.uri.password.is_some());

    let dbl = request("dblreq_extra_octets_after_body");
    assert_eq!(dbl.method, Method::Register);
    assert!(dbl.body.is_empty());

    assert_eq!(
        request("transports_varied_and_unknown").via[3].transport,
        "UNKNOWN"
    );
    assert_eq!(
        request("semiuri_semicolon_in_user").uri.user.as_deref(),
        Some("user;par=u%40example.net")
    );
    assert_eq!(
        request("semiuri_semicolon_in_user")
            .headers
            .get_all("Accept")
            .count(),
        6
    );

    let mp = request("mpart01_multipart_body");
    assert!(mp.body.starts_with(b"--boundary42\r\n"));
    assert!(mp.body.ends_with(b"--boundary42--\r\n"));

    let noreason = match load("valid", "noreason_empty_reason_phrase") {
        SipMessage::Response(r) => r,
        SipMessage::Request(_) => panic!("request"),
    };
    assert_eq!((noreason.status, noreason.reason.as_str()), (100, ""));

    assert_eq!(
        request("register_unregister_star").headers.get("Contact"),
        Some("*")
    );
    let prack = request("prack_with_rack_and_no_content_length");
    assert_eq!(prack.headers.get("RAck"), Some("776656 101 INVITE"));
}
