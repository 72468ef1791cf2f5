//! Any bytes: framing must not panic and a complete frame must lie inside the buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rexian::sip::framing::{frame, Framing};

fuzz_target!(|data: &[u8]| {
    match frame(data, 4096) {
        Framing::Complete { len } | Framing::KeepAlive { len } => {
            assert!(len > 0 && len <= data.len())
        }
        Framing::Incomplete | Framing::Malformed(_) => {}
    }
});
