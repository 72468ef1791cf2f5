//! Runs rexian's parser and rsip 0.4.0 over `tests/data/sip/` and counts, per parser, valid
//! messages accepted, invalid messages refused, and panics.
//!
//! "Accepted" for rsip means `SipMessage::try_from` succeeded and the typed Via, From, To,
//! Call-ID and CSeq headers could be read (rsip parses headers lazily).

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use rexian::sip::parse::{parse, Limits};
use rsip::prelude::*;

#[derive(Default)]
struct Tally {
    valid_ok: usize,
    invalid_refused: usize,
    panics: usize,
    valid_missed: Vec<String>,
    invalid_missed: Vec<String>,
}

fn rsip_accepts(bytes: &[u8]) -> bool {
    let Ok(msg) = rsip::SipMessage::try_from(bytes) else {
        return false;
    };
    let typed = |m: &rsip::SipMessage| -> Result<(), rsip::Error> {
        m.via_header()?.typed()?;
        m.from_header()?.typed()?;
        m.to_header()?.typed()?;
        m.call_id_header()?;
        m.cseq_header()?.typed()?;
        Ok(())
    };
    typed(&msg).is_ok()
}

fn rexian_accepts(bytes: &[u8]) -> bool {
    let limits = Limits {
        max_message: 16_384,
        max_headers: 256,
    };
    parse(bytes, &limits).is_ok()
}

fn run(name: &str, accepts: fn(&[u8]) -> bool, root: &Path) -> Tally {
    let mut t = Tally::default();
    for (dir, valid) in [("valid", true), ("validate", true), ("invalid", false)] {
        let mut files: Vec<_> = fs::read_dir(root.join(dir))
            .expect("corpus dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sip"))
            .collect();
        files.sort();
        for p in files {
            let bytes = fs::read(&p).expect("read");
            let stem = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match catch_unwind(AssertUnwindSafe(|| accepts(&bytes))) {
                Err(_) => t.panics += 1,
                Ok(ok) if ok == valid => {
                    if valid {
                        t.valid_ok += 1
                    } else {
                        t.invalid_refused += 1
                    }
                }
                Ok(_) if valid => t.valid_missed.push(format!("{dir}/{stem}")),
                Ok(_) => t.invalid_missed.push(format!("{dir}/{stem}")),
            }
        }
    }
    eprintln!("{name}: valid rejected: {:?}", t.valid_missed);
    eprintln!("{name}: invalid accepted: {:?}", t.invalid_missed);
    t
}

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sip");
    let count = |d: &str| {
        fs::read_dir(root.join(d))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "sip"))
                    .count()
            })
            .unwrap_or(0)
    };
    let (nv, ni) = (count("valid") + count("validate"), count("invalid"));
    println!("| parser | valid parsed (of {nv}) | invalid rejected (of {ni}) | panics |");
    println!("| --- | --- | --- | --- |");
    for (name, f) in [
        ("rexian", rexian_accepts as fn(&[u8]) -> bool),
        ("rsip 0.4.0", rsip_accepts),
    ] {
        let t = run(name, f, &root);
        println!(
            "| {name} | {} | {} | {} |",
            t.valid_ok, t.invalid_refused, t.panics
        );
    }
}
