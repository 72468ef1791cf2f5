//! The demo prompt set under prompts/zh loads as valid 8 kHz mono prompts.

use rexian::media::prompt::{queue_position_names, Prompt};

#[test]
fn the_shipped_demo_prompts_all_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/zh");
    let mut n = 0;
    let mut total = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        total += bytes.len();
        Prompt::from_wav_bytes(&path.display().to_string(), &bytes).unwrap();
        n += 1;
    }
    assert!(n >= 20);
    // Small enough to keep in the repository: recorded prompts replace these in deployments.
    assert!(total < 2_000_000, "demo set is {total} bytes");
    for k in 0..=99 {
        for name in queue_position_names(k) {
            assert!(dir.join(format!("{name}.wav")).exists(), "{name}");
        }
    }
}
