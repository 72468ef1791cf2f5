//! Any text: URI and name-addr parsing must not panic; a parsed URI must write back to text
//! that parses to an equal URI.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rexian::sip::uri::{parse_name_addr, parse_uri, uri_eq};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = parse_uri(s) {
        let again = parse_uri(&u.to_string()).expect("written URI parses");
        assert_eq!(u, again);
        assert!(uri_eq(&u, &again));
    }
    if let Ok(a) = parse_name_addr(s) {
        let again = parse_name_addr(&a.to_string()).expect("written address parses");
        assert_eq!(a, again);
    }
});
