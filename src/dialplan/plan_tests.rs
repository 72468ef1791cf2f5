//! Table-driven tests of the call-handling dialplan files: the shipped demo set loads, and
//! every refusal names the right file and line.

use std::path::{Path, PathBuf};

use super::load::load_str;
use crate::call::plan::{MergeType, Role};

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans")
}

fn demo(name: &str) -> String {
    std::fs::read_to_string(demo_dir().join(name)).unwrap()
}

#[test]
fn the_demo_set_loads_with_the_sanmenxia_numbers() {
    let plan = super::load(&demo_dir()).unwrap();
    let count = |m| plan.lines.iter().filter(|l| l.merge == m).count();
    assert_eq!(count(MergeType::Main), 1);
    assert_eq!(count(MergeType::Whole), 12);
    assert_eq!(count(MergeType::Dual), 9);
    assert_eq!(count(MergeType::SubCentre), 2);
    assert_eq!(plan.main, "12345");
    assert_eq!(plan.line("12345").unwrap().queue, "main");
    assert_eq!(plan.line("12300").unwrap().queue, "main");
    let trunk = plan.trunk_for("127.0.0.1".parse().unwrap()).unwrap();
    assert!(trunk.delivers("12345"));
    assert!(plan.trunk_for("192.0.2.1".parse().unwrap()).is_none());
    let anyone = plan.agents.conf("7001");
    assert_eq!(anyone.lines, vec!["12345".to_string()]);
    assert_eq!(anyone.role, Role::Agent);
    assert!(anyone.ready_on_register);
    assert!(plan.is_emergency("110") && plan.is_emergency("122"));
    assert_eq!(plan.leader_windows.len(), 1);
    assert_eq!(plan.features.login, "*21");
    assert!(plan.outbound_allowed("13800138000"));
    assert!(plan.outbound_allowed("03982345678"));
    assert!(plan.outbound_allowed("110") && plan.outbound_allowed("12366"));
    assert!(!plan.outbound_allowed("0012125550100"));
    assert!(!plan.outbound_allowed("01012345678"));
}

/// (file, text to replace, replacement, marker on the expected line, reason substring)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const CASES: &[Case] = &[
    // numbers.toml
    ("numbers.toml", "number = \"12301\"", "number = \"12300\"", "number = \"12300\"\nname = \"旅游\"", "duplicate number 12300"),
    ("numbers.toml", "queue = \"main\"", "queue = \"mian\"", "queue = \"mian\"", "unknown queue \"mian\""),
    ("numbers.toml", "number = \"12396\"", "number = \"12-396\"", "12-396", "is not a number"),
    ("numbers.toml", "name = \"旅游\"\ndepartment = \"市文化广电旅游局\"\ntype = \"whole\"", "name = \"旅游\"\ndepartment = \"市文化广电旅游局\"\ntype = \"merged\"", "type = \"merged\"", "type \"merged\""),
    ("numbers.toml", "type = \"dual\"\nqueue = \"dual\"\noverflow_after_secs = 30\nexperts = true\n\n[[line]]\nnumber = \"12329\"", "type = \"dual\"\nqueue = \"dual\"\nexperts = true\n\n[[line]]\nnumber = \"12329\"", "type = \"dual\"", "needs overflow_after_secs"),
    ("numbers.toml", "dial = \"12366\"", "dial = \"tax\"", "dial = \"tax\"", "is not a number"),
    ("numbers.toml", "type = \"whole\"\n\n[[line]]\nnumber = \"12301\"", "type = \"whole\"\noverflow_after_secs = 5\n\n[[line]]\nnumber = \"12301\"", "overflow_after_secs = 5", "only to dual-number"),
    ("numbers.toml", "area_code = \"0398\"", "area_code = \"398\"", "area_code", "area_code \"398\""),
    ("numbers.toml", "type = \"main\"\nqueue", "type = \"main\"\nbogus = 1\nqueue", "bogus", "unknown field"),
    ("numbers.toml", "priority_callers = []", "priority_callers = [\"13800138000\", \"anonymous\"]", "priority_callers", "not a phone number"),
    // queues.toml
    ("queues.toml", "name = \"dual\"", "name = \"main\" # dup", "# dup", "duplicate queue"),
    ("queues.toml", "moh = \"moh\"", "moh = \"jazz\"", "jazz", "unknown prompt \"jazz\""),
    ("queues.toml", "ring_timeout_secs = 15", "ring_timeout_secs = 0", "ring_timeout_secs = 0", "ring_timeout_secs must be between"),
    ("queues.toml", "on_max_wait = \"callback\"         #", "on_max_wait = \"voicemail\"         #", "voicemail", "on_max_wait"),
    ("queues.toml", "callback_key = \"1\"               #", "callback_key = \"12\"               #", "callback_key = \"12\"", "one key"),
    // prompts.toml
    ("prompts.toml", "rating_thanks = \"rating_thanks\"", "rating_thanks = \"thanks_missing\"", "thanks_missing", "missing prompt file"),
    ("prompts.toml", "# greeting_12320 = \"../prompts/zh/greeting.wav\"", "greeting_12320 = \"../prompts/zh/nope.wav\"", "nope.wav", "missing prompt file"),
    ("prompts.toml", "# greeting_12320 = \"../prompts/zh/greeting.wav\"", "greeting_12320 = \"numbers.toml\"", "greeting_12320", "not a readable WAV"),
    ("prompts.toml", "dir = \"../prompts/zh\"", "dir = \"../no-such-dir\"", "no-such-dir", "cannot read prompt directory"),
    // agents.toml
    ("agents.toml", "lines = [\"12329\"]", "lines = [\"12399\"]", "12399", "unknown line \"12399\""),
    ("agents.toml", "lines = [\"12329\"]", "lines = [\"12300\"]", "lines = [\"12300\"]", "is not a skill"),
    ("agents.toml", "id = \"7202\"", "id = \"7201\"", "id = \"7201\"\nname = \"公积金", "duplicate agent 7201"),
    ("agents.toml", "role = \"expert\"", "role = \"boss\"", "role = \"boss\"", "role \"boss\""),
    ("agents.toml", "id = \"7202\"", "id = \"72 02\"", "72 02", "account ID"),
    // schedules.toml
    ("schedules.toml", "seat = \"9001\"", "seat = \"9999\"", "9999", "unknown seat \"9999\""),
    ("schedules.toml", "seat = \"9001\"", "seat = \"7201\"", "seat = \"7201\"", "role = \"leader\""),
    ("schedules.toml", "time = \"09:00-11:00\"", "time = \"11:00-09:00\"", "11:00-09:00", "not a period"),
    ("schedules.toml", "dates = [\"2026-12-01\"]", "dates = [\"2026-13-01\"]", "2026-13-01", "not a date"),
    ("schedules.toml", "time = \"09:00-11:00\"\n", "time = \"09:00-11:00\"\n\n[[leader]]\nname = \"周二\"\nseat = \"9001\"\ndays = [\"tue\"]\ntime = \"10:30-12:00\"\n", "10:30-12:00", "overlapping schedule"),
    ("schedules.toml", "utc_offset = \"+08:00\"", "utc_offset = \"CST\"", "CST", "utc_offset"),
    // experts.toml
    ("experts.toml", "lines = [\"12329\"]", "lines = [\"12315\"]", "12315", "has no expert seats"),
    ("experts.toml", "hours = [\"08:30-12:00\", \"14:30-17:30\"]\n\n[[expert]]\nname = \"公积金", "hours = [\"08:30-12:00\", \"25:00-26:00\"]\n\n[[expert]]\nname = \"公积金", "25:00-26:00", "not a period"),
    ("experts.toml", "target = \"8320\"", "target = \"http://x\"", "http://x", "target"),
    // trunks.toml
    ("trunks.toml", "acl = [\"127.0.0.1/32\", \"::1/128\"]", "acl = [\"127.0.0.1/33\"]", "127.0.0.1/33", "bad CIDR"),
    ("trunks.toml", "acl = [\"127.0.0.1/32\", \"::1/128\"]", "acl = [\n  \"127.0.0.1/32\",\n  \"10.0.0.1/8\",\n]", "10.0.0.1/8", "bad CIDR"),
    ("trunks.toml", "emergency_reserved = 20", "emergency_reserved = 600", "emergency_reserved = 600", "emergency_reserved"),
    ("trunks.toml", "pass_caller_id = true ", "numbers = [\"12345\", \"11111\"]\npass_caller_id = true ", "11111", "unknown number \"11111\""),
    ("trunks.toml", "pass_caller_id = true ", "register = true\npass_caller_id = true ", "register = true", "needs [trunk.auth]"),
    ("trunks.toml", "address = \"127.0.0.1:5080\"", "address = \"127.0.0.1\"", "address = \"127.0.0.1\"", "host:port"),
    // emergency.toml
    ("emergency.toml", "trunks = [\"loopback\"]", "trunks = [\"satellite\"]", "satellite", "unknown trunk"),
    ("emergency.toml", "number = \"12395\"", "number = \"119\"", "number = \"119\"\nname = \"水上", "duplicate emergency number 119"),
    ("emergency.toml", "mode = \"three-way\"", "mode = \"conference\"", "conference", "mode"),
    // features.toml
    ("features.toml", "logout = \"*22\"", "logout = \"*2\"", "logout = \"*2\"", "prefix"),
    ("features.toml", "emergency = \"*0\"", "emergency = \"0\"", "emergency = \"0\"", "must start with"),
    // abuse.toml
    ("abuse.toml", "max_calls = 10", "max_calls = 0", "max_calls = 0", "max_calls must be between"),
    ("abuse.toml", "exempt = []", "exempt = [\"anonymous\"]", "exempt", "not a phone number"),
    // more numbers.toml
    ("numbers.toml", "type = \"main\"\nqueue", "type = \"whole\"\nqueue", "# Numbers", "no line has type = \"main\""),
    ("numbers.toml", "department = \"市通管办\"\ntype = \"whole\"", "department = \"市通管办\"\ntype = \"main\"", "type = \"main\"\n\n[[line]]", "only one line"),
    ("numbers.toml", "overflow_after_secs = 30\nexperts = true\n\n[[line]]\nnumber = \"12329\"", "overflow_after_secs = 7200\nexperts = true\n\n[[line]]\nnumber = \"12329\"", "7200", "overflow_after_secs must be between"),
    ("numbers.toml", "department = \"市通管办\"\ntype = \"whole\"", "department = \"市通管办\"\ntype = \"whole\"\nexperts = true", "experts = true\n\n[[line]]\nnumber = \"12301\"", "belong to dual-number lines"),
    ("numbers.toml", "department = \"市通管办\"\ntype = \"whole\"", "department = \"市通管办\"\ntype = \"whole\"\ndial = \"12300\"", "dial = \"12300\"", "only to sub-centre"),
    ("numbers.toml", "dial = \"12367\"\n", "", "type = \"subcentre\"\n\n[[line]]", "needs dial"),
    // more queues.toml
    ("queues.toml", "name = \"main\"                    #", "name = \"ma in\"                    #", "ma in", "queue name"),
    ("queues.toml", "announce_every_secs = 45         #", "announce_every_secs = 5         #", "announce_every_secs = 5 ", "announce_every_secs must be between"),
    ("queues.toml", "max_wait_secs = 600\nmax_length", "max_wait_secs = 1\nmax_length", "max_wait_secs = 1\n", "max_wait_secs must be between"),
    ("queues.toml", "max_length = 300", "max_length = 0", "max_length = 0", "max_length must be between"),
    ("queues.toml", "announce_every_secs = 45         #", "announce_every_secs = 0         #", "announce_expected_wait = true", "needs announce_every_secs"),
    // more agents.toml
    ("agents.toml", "lines = [\"12329\"]", "lines = [\"12329\", \"12329\"]", "lines = [\"12329\", \"12329\"]", "listed twice"),
    // more schedules.toml
    ("schedules.toml", "lines = [\"12345\"]\ndates", "lines = [\"12399\"]\ndates", "12399", "unknown line"),
    ("schedules.toml", "dates = [\"2026-12-01\"]", "days = [\"mon\"]\ndates = [\"2026-12-01\"]", "\"2026-12-01\"", "not both"),
    ("schedules.toml", "dates = [\"2026-12-01\"]", "days = [\"fri-mon\"]", "fri-mon", "not a day range"),
    // more experts.toml
    ("experts.toml", "name = \"公积金专家席\"", "name = \"卫生专家席\" # dup", "\"卫生专家席\" # dup", "duplicate expert seat"),
    ("experts.toml", "lines = [\"12333\"]", "lines = [\"12399\"]", "12399", "unknown line"),
    ("experts.toml", "hours = [\"08:30-12:00\", \"14:30-17:30\"]\n\n[[expert]]\nname = \"公积金", "hours = [\"08:30-12:00\", \"11:30-17:30\"]\n\n[[expert]]\nname = \"公积金", "11:30-17:30", "overlaps another period"),
    // more trunks.toml
    ("trunks.toml", "pass_caller_id = true ", "pass_caller_id = true\n\n[[trunk]]\nname = \"loopback\"\naddress = \"127.0.0.2:5060\"\nmax_calls = 1\n#", "name = \"loopback\"\naddress", "duplicate trunk"),
    ("trunks.toml", "pass_caller_id = true ", "pass_caller_id = true\n\n[[trunk]]\nname = \"x\"\nmax_calls = 1\n#", "name = \"x\"", "neither acl"),
    ("trunks.toml", "max_calls = 500", "max_calls = 0", "max_calls = 0", "max_calls must be between"),
    ("trunks.toml", "options_interval_secs = 0 ", "options_interval_secs = 7200 ", "options_interval_secs = 7200", "options_interval_secs must be between"),
    ("trunks.toml", "pass_caller_id = true ", "pass_caller_id = true\n\n[[trunk]]\nname = \"y\"\nacl = [\"10.0.0.0/8\"]\nmax_calls = 1\nregister = true\n[trunk.auth]\nusername = \"u\"\npassword = \"p\"\n#", "register = true\n[trunk.auth]", "needs an address"),
    ("trunks.toml", "pass_caller_id = true ", "pass_caller_id = true\n\n[[trunk]]\nname = \"y\"\nacl = [\"10.0.0.0/8\"]\nmax_calls = 1\n[trunk.auth]\nusername = \"\"\npassword = \"p\"\n#", "username = \"\"", "username is empty"),
    // more emergency.toml
    ("emergency.toml", "number = \"12395\"", "number = \"12-395\"", "12-395", "is not a number"),
    ("emergency.toml", "number = \"110\"\nname = \"报警\"", "number = \"999\"\nname = \"报警\"", "[[number]]", "emergency number 110 is missing"),
    // outbound.toml
    ("outbound.toml", "pattern = \"0398NXXXXXX\"", "pattern = \"0398NXXXXX?\"", "0398NXXXXX?", "not a dial pattern"),
    ("outbound.toml", "trunks = [\"loopback\"]", "trunks = [\"nowhere\"]", "nowhere", "unknown trunk"),
    ("outbound.toml", "present = \"12345\"", "present = \"hotline\"", "hotline", "not a number"),
    // more features.toml
    ("features.toml", "login = \"*21\"", "login = \"*2a\"", "*2a", "1–8 keys"),
];

#[test]
fn every_refusal_names_file_and_line() {
    let dir = demo_dir();
    for (i, (file, from, to, marker, reason)) in CASES.iter().enumerate() {
        let text = demo(file);
        assert!(text.contains(from), "case {i}: {file} lacks {from:?}");
        let broken = text.replacen(from, to, 1);
        let at = broken
            .find(marker)
            .unwrap_or_else(|| panic!("case {i}: marker {marker:?}"));
        let want_line = super::line_of(&broken, at);
        let err = load_str(&dir, &[(file, &broken)])
            .expect_err(&format!("case {i}: {file} {to:?} accepted"));
        assert_eq!(err.file, dir.join(file), "case {i}: {err}");
        assert_eq!(err.line, want_line, "case {i}: {err}");
        assert!(
            err.reason.contains(reason),
            "case {i}: {err} lacks {reason:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{}:{}: ", dir.join(file).display(), want_line)),
            "{shown}"
        );
    }
}

#[test]
fn a_missing_required_file_is_reported_and_optional_files_default() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["prompts.toml", "queues.toml", "numbers.toml"] {
        std::fs::write(
            tmp.path().join(f),
            demo(f).replace(
                "../prompts/zh",
                demo_dir().join("../prompts/zh").to_str().unwrap(),
            ),
        )
        .unwrap();
    }
    let err = super::load(tmp.path()).unwrap_err();
    assert_eq!(err.file, tmp.path().join("trunks.toml"));
    assert_eq!(err.line, 0);
    std::fs::write(tmp.path().join("trunks.toml"), demo("trunks.toml")).unwrap();
    let plan = super::load(tmp.path()).unwrap();
    assert_eq!(plan.emergency.numbers.len(), 4);
    assert_eq!(plan.agents.conf("x").lines, vec!["12345".to_string()]);
    assert!(plan.leader_windows.is_empty());
}

#[test]
fn check_dir_reports_the_call_plan() {
    let summary = super::check_dir(&demo_dir()).unwrap();
    assert!(summary.contains("24 lines"), "{summary}");
}
