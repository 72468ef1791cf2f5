//! Any bytes: parse must not panic; whatever parses must re-serialise into something that
//! parses to the same values.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rexian::sip::parse::{parse, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(msg) = parse(data, &limits) {
        let again = parse(&msg.to_bytes(), &limits).expect("re-serialised message parses");
        assert_eq!(msg, again);
    } else if let Err(e) = parse(data, &limits) {
        assert!(e.reason.is_ascii());
        if let Some(resp) = e.response() {
            parse(&resp.to_bytes(), &limits).expect("error response parses");
        }
    }
});
