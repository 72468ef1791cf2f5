//! The validated dialplan as call control sees it: plain values, no serde, no files.
//!
//! `crate::dialplan` reads `dialplans/*.toml`, checks every reference and builds one
//! [`Dialplan`]; call control keeps an `Arc` of it per call, so a reload changes only new calls.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// How a legacy number joined 12345 (热线归并).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeType {
    /// 12345 itself.
    Main,
    /// 整体并入: retired number, calls land in the 12345 queue tagged with the old line.
    Whole,
    /// 双号并行: kept number with its own seats; 12345 agents take overflow.
    Dual,
    /// 设分中心: the department keeps number and seats; 12345 transfers or three-ways to it.
    SubCentre,
}

impl MergeType {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeType::Main => "main",
            MergeType::Whole => "whole",
            MergeType::Dual => "dual",
            MergeType::SubCentre => "subcentre",
        }
    }
}

/// One number callers dial.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub number: String,
    pub name: String,
    pub department: Option<String>,
    pub merge: MergeType,
    /// The queue whose prompts, timers and rating rule the call follows.
    pub queue: String,
    /// Dual-number lines: how long a call waits for the line's own seats before 12345 agents
    /// may take it too.
    pub overflow_after: Option<Duration>,
    /// Dual-number lines with expert seats (设专家座席).
    pub experts: bool,
    /// Sub-centres: the number 12345 dials to reach the department's own seats.
    pub subcentre_dial: Option<String>,
    /// Overrides the queue's satisfaction-rating switch for this line.
    pub rating: Option<bool>,
}

/// A queue: what callers hear and how long things may take.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub name: String,
    /// Prompt names played after the trunk call is answered.
    pub greeting: Vec<String>,
    pub moh: String,
    pub max_wait: Duration,
    /// Callers waiting (or ringing an agent) beyond which a new caller gets `on_max_wait` at
    /// once; `None` = no limit.
    pub max_length: Option<usize>,
    /// What a caller who waited `max_wait` (or found the queue full) gets.
    pub on_max_wait: Overflow,
    /// Position announcements while waiting; `None` = never.
    pub announce_every: Option<Duration>,
    /// Add the expected wait in minutes to each position announcement.
    pub announce_expected_wait: bool,
    pub ring_timeout: Duration,
    pub wrap_up: Duration,
    pub rating: bool,
    /// DTMF key that leaves a callback request while queued.
    pub callback_key: Option<char>,
    /// Calls made to reach a caller who asked for a callback, and the pause between them.
    pub callback_attempts: u32,
    pub callback_retry: Duration,
}

/// What happens to a caller who waited `max_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Record a callback request, tell the caller, hang up.
    Callback,
    /// Tell the caller all seats are busy, hang up.
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Agent,
    Expert,
    Leader,
}

/// One account's place in call handling.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConf {
    pub id: String,
    pub name: Option<String>,
    pub role: Role,
    /// Lines (skills) the agent takes: the main number and/or dual-number lines.
    pub lines: Vec<String>,
    pub ready_on_register: bool,
}

/// Agents: the listed ones, and the rule for accounts without an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Agents {
    pub default_lines: Vec<String>,
    pub default_ready_on_register: bool,
    pub listed: BTreeMap<String, AgentConf>,
}

impl Agents {
    /// The configuration of `id`; an account with no entry is a 12345 agent.
    pub fn conf(&self, id: &str) -> AgentConf {
        self.listed.get(id).cloned().unwrap_or_else(|| AgentConf {
            id: id.to_string(),
            name: None,
            role: Role::Agent,
            lines: self.default_lines.clone(),
            ready_on_register: self.default_ready_on_register,
        })
    }
}

/// Days a window applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Days {
    /// Bit 0 = Monday … bit 6 = Sunday.
    Weekdays(u8),
    /// Unix days (days since 1970-01-01, local).
    Dates(Vec<i64>),
}

impl Days {
    pub fn contains(&self, unix_day: i64) -> bool {
        match self {
            // 1970-01-01 was a Thursday (index 3).
            Days::Weekdays(mask) => mask & (1 << (unix_day + 3).rem_euclid(7)) != 0,
            Days::Dates(d) => d.contains(&unix_day),
        }
    }
}

/// A time window on some days, in local seconds of the day, `start < end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub days: Days,
    pub start: u32,
    pub end: u32,
}

impl Window {
    /// Whether local time (unix day, second of day) falls inside.
    pub fn contains(&self, day: i64, second: u32) -> bool {
        self.days.contains(day) && self.start <= second && second < self.end
    }
}

/// 领导接听日: a named seat gets first offer of the lines' calls in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderWindow {
    pub name: String,
    pub seat: String,
    /// Empty = every line.
    pub lines: Vec<String>,
    pub window: Window,
}

/// A department expert's seat (专家座席), reached by three-way call or transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpertSeat {
    pub name: String,
    /// An account ID registered to rexian, or a SIP URI for a remote seat.
    pub target: String,
    pub lines: Vec<String>,
    /// Empty = always.
    pub hours: Vec<Window>,
}

/// An address block in an ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a) as u128, self.prefix, 32)
                    == masked(u32::from(b) as u128, self.prefix, 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), self.prefix, 128) == masked(u128::from(b), self.prefix, 128)
            }
            (IpAddr::V6(a), IpAddr::V4(b)) | (IpAddr::V4(b), IpAddr::V6(a)) => {
                // An IPv4-mapped peer matches IPv4 blocks and vice versa.
                match a.to_ipv4_mapped() {
                    Some(m) if self.addr.is_ipv4() => Cidr {
                        addr: IpAddr::V4(m),
                        prefix: self.prefix,
                    }
                    .contains(IpAddr::V4(b)),
                    _ => false,
                }
            }
        }
    }
}

/// Why a text is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address block (like 10.0.0.0/8 or 2001:db8::/32)")]
pub struct BadCidr(pub String);

impl FromStr for Cidr {
    type Err = BadCidr;
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128). Host bits must be 0.
    fn from_str(s: &str) -> Result<Cidr, BadCidr> {
        let bad = || BadCidr(s.to_string());
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => width,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > width {
            return Err(bad());
        }
        let cidr = Cidr { addr, prefix };
        // Host bits set (10.0.0.1/8) is almost always a typo for a different block.
        if !cidr.contains(addr) || cidr_host_bits(addr, prefix) {
            return Err(bad());
        }
        Ok(cidr)
    }
}

fn cidr_host_bits(addr: IpAddr, prefix: u8) -> bool {
    let (bits, width) = match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, 32u8),
        IpAddr::V6(a) => (u128::from(a), 128u8),
    };
    let host = width - prefix;
    host > 0
        && (if host >= 128 {
            bits
        } else {
            bits & ((1u128 << host) - 1)
        }) != 0
}

/// Digest credentials rexian presents to a carrier.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkAuth {
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
}

impl std::fmt::Debug for TrunkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkAuth")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// A carrier gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Trunk {
    pub name: String,
    /// Where outbound calls go (`host:port`); `None` = inbound only.
    pub address: Option<String>,
    /// Sources whose INVITEs are accepted as this trunk's.
    pub acl: Vec<Cidr>,
    pub auth: Option<TrunkAuth>,
    /// REGISTER to the carrier (needs `auth`).
    pub register: bool,
    /// Numbers the trunk delivers; `None` = every configured line.
    pub numbers: Option<Vec<String>>,
    pub max_calls: u32,
    /// Part of `max_calls` kept free for emergency hand-offs.
    pub emergency_reserved: u32,
    /// Present the citizen's own number on outbound calls (号码透传).
    pub pass_caller_id: bool,
    /// OPTIONS health-check interval; `None`: not checked (no address, or turned off).
    pub options_interval_secs: Option<u32>,
}

impl Trunk {
    pub fn accepts_from(&self, ip: IpAddr) -> bool {
        self.acl.iter().any(|c| c.contains(ip))
    }
    pub fn delivers(&self, number: &str) -> bool {
        self.numbers
            .as_ref()
            .is_none_or(|n| n.iter().any(|x| x == number))
    }
}

/// Named prompts and the files behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompts {
    /// Name → file path (as configured, resolved against the dialplans directory).
    pub files: BTreeMap<String, std::path::PathBuf>,
    pub restricted: String,
    pub rating: String,
    pub rating_thanks: String,
    pub no_agent: String,
    pub all_busy: String,
    pub callback_ack: String,
    pub goodbye: String,
    /// Played to the caller while a blind transfer rings (none: music on hold only).
    pub transferring: Option<String>,
    /// Played when a transfer failed, before the caller goes back to an agent.
    pub transfer_failed: Option<String>,
}

/// Emergency hand-off (紧急类热线), carried out by the transfer layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Emergency {
    /// (number, name): 110 报警, 119 火警, 120 急救, 122 交通事故, others by config.
    pub numbers: Vec<(String, String)>,
    /// Three-way (agent briefs, then leaves) or blind.
    pub three_way: bool,
    /// Trunks tried in order.
    pub trunks: Vec<String>,
}

/// Agent feature codes, dialled or sent as DTMF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCodes {
    pub login: String,
    pub logout: String,
    pub ready: String,
    pub not_ready: String,
    /// Followed by a number.
    pub three_way: String,
    pub emergency: String,
    pub blind_transfer: String,
    /// Followed by a number: attended transfer's consultation.
    pub consult: String,
    /// Complete an attended transfer, or leave a three-way call.
    pub complete: String,
    /// Drop the third party and go back to the caller.
    pub back: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            login: "*21".into(),
            logout: "*22".into(),
            ready: "*23".into(),
            not_ready: "*24".into(),
            three_way: "*3".into(),
            emergency: "*0".into(),
            blind_transfer: "##".into(),
            consult: "*4".into(),
            complete: "*5".into(),
            back: "*6".into(),
        }
    }
}

/// A dial pattern in the style engineers know from Asterisk: digits stand for themselves,
/// `X` any digit, `Z` 1–9, `N` 2–9, `[135-7]` one of a set, and a final `.` one or more further
/// digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    items: Vec<[bool; 10]>,
    open_end: bool,
}

/// Why a text is not a dial pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a dial pattern (digits, X, Z, N, [1-5], and a final .)")]
pub struct BadPattern(pub String);

impl FromStr for Pattern {
    type Err = BadPattern;
    fn from_str(s: &str) -> Result<Pattern, BadPattern> {
        let bad = || BadPattern(s.to_string());
        let (body, open_end) = match s.strip_suffix('.') {
            Some(b) => (b, true),
            None => (s, false),
        };
        let mut items = Vec::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            let mut set = [false; 10];
            match c {
                '0'..='9' => set[c as usize - '0' as usize] = true,
                'X' | 'x' => set = [true; 10],
                'Z' | 'z' => set[1..].fill(true),
                'N' | 'n' => set[2..].fill(true),
                '[' => {
                    let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                    let d: Vec<char> = inner.chars().collect();
                    let mut i = 0;
                    while i < d.len() {
                        let a = d[i].to_digit(10).ok_or_else(bad)? as usize;
                        if d.get(i + 1) == Some(&'-') {
                            let b =
                                d.get(i + 2).and_then(|c| c.to_digit(10)).ok_or_else(bad)? as usize;
                            if a > b {
                                return Err(bad());
                            }
                            set[a..=b].fill(true);
                            i += 3;
                        } else {
                            set[a] = true;
                            i += 1;
                        }
                    }
                    if !set.contains(&true) {
                        return Err(bad());
                    }
                }
                _ => return Err(bad()),
            }
            items.push(set);
        }
        if items.is_empty() {
            return Err(bad());
        }
        Ok(Pattern {
            text: s.to_string(),
            items,
            open_end,
        })
    }
}

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn matches(&self, number: &str) -> bool {
        let d = number.as_bytes();
        let fixed = self.items.len();
        let len_ok = if self.open_end {
            d.len() > fixed
        } else {
            d.len() == fixed
        };
        len_ok
            && d.iter().all(u8::is_ascii_digit)
            && self
                .items
                .iter()
                .zip(d)
                .all(|(set, &b)| set[(b - b'0') as usize])
    }
}

/// Outbound calls rexian places for agents and its own features (回访, 督办, callbacks).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outbound {
    /// The number presented on outbound calls (usually 12345).
    pub present: String,
    /// Trunks tried in order.
    pub trunks: Vec<String>,
    /// (name, pattern) of numbers agents may call.
    pub allow: Vec<(String, Pattern)>,
}

/// 系统短期限制使用: more than `max_calls` within `window` restricts the caller for `restrict`.
#[derive(Debug, Clone, PartialEq)]
pub struct AbusePolicy {
    pub enabled: bool,
    pub max_calls: u32,
    pub window: Duration,
    pub restrict: Duration,
    /// Normalised numbers never restricted automatically.
    pub exempt: Vec<String>,
}

impl Default for AbusePolicy {
    fn default() -> Self {
        AbusePolicy {
            enabled: true,
            max_calls: 10,
            window: Duration::from_secs(10 * 60),
            restrict: Duration::from_secs(60 * 60),
            exempt: Vec::new(),
        }
    }
}

/// Everything under `dialplans/` that call handling needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialplan {
    /// The main number (12345).
    pub main: String,
    /// Local area code for landlines dialled without one (三门峡 0398).
    pub area_code: String,
    /// Normalised numbers whose calls go ahead of others in the queue (registered elderly or
    /// disabled callers, 适老化).
    pub priority_callers: Vec<String>,
    /// Local time = UTC + this.
    pub utc_offset_secs: i32,
    pub lines: Vec<Line>,
    pub queues: Vec<Queue>,
    pub agents: Agents,
    pub experts: Vec<ExpertSeat>,
    pub leader_windows: Vec<LeaderWindow>,
    pub trunks: Vec<Trunk>,
    pub prompts: Prompts,
    pub emergency: Emergency,
    pub outbound: Outbound,
    pub features: FeatureCodes,
    pub abuse: AbusePolicy,
}

impl Dialplan {
    pub fn line(&self, number: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.number == number)
    }
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.name == name)
    }
    /// The first trunk whose ACL admits `ip`; `None` = not a trunk (403 unless authenticated).
    pub fn trunk_for(&self, ip: IpAddr) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.accepts_from(ip))
    }
    /// Expert seats serving `line` at local (unix day, second of day).
    pub fn experts_for(&self, line: &str, day: i64, second: u32) -> Vec<&ExpertSeat> {
        self.experts
            .iter()
            .filter(|e| e.lines.iter().any(|l| l == line))
            .filter(|e| e.hours.is_empty() || e.hours.iter().any(|w| w.contains(day, second)))
            .collect()
    }
    /// Whether an outbound call to `number` is allowed: an emergency number, a sub-centre, or a
    /// number matching an `outbound.toml` pattern. Everything else never reaches a trunk.
    pub fn outbound_allowed(&self, number: &str) -> bool {
        self.is_emergency(number)
            || self
                .lines
                .iter()
                .any(|l| l.subcentre_dial.as_deref() == Some(number))
            || self.outbound.allow.iter().any(|(_, p)| p.matches(number))
    }
    pub fn is_emergency(&self, number: &str) -> bool {
        self.emergency.numbers.iter().any(|(n, _)| n == number)
    }
    /// The skill an agent needs to take calls on `line` first: the line itself for dual-number
    /// lines, otherwise the main number.
    pub fn skill_of<'a>(&'a self, line: &'a Line) -> &'a str {
        match line.merge {
            MergeType::Dual => &line.number,
            _ => &self.main,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_parse_and_match() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "::/129",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn dial_patterns_match_like_asterisk() {
        let table = [
            ("1[3-9]XXXXXXXXX", "13800138000", true),
            ("1[3-9]XXXXXXXXX", "12800138000", false),
            ("1[3-9]XXXXXXXXX", "1380013800", false),
            ("0398NXXXXXX", "03982345678", true),
            ("0398NXXXXXX", "03981345678", false),
            ("0Z.", "01012345678", true),
            ("0Z.", "0", false),
            ("0Z.", "01", false),
            ("12345", "12345", true),
        ];
        for (p, n, want) in table {
            assert_eq!(p.parse::<Pattern>().unwrap().matches(n), want, "{p} {n}");
        }
        for bad in ["", ".", "1[3-]", "1[9-3]", "12a", "1[]"] {
            assert!(bad.parse::<Pattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn weekday_masks_count_from_monday() {
        // 2026-11-23 is a Monday: unix day 20780.
        let monday = Days::Weekdays(1);
        assert!(monday.contains(20780));
        assert!(!monday.contains(20781));
        assert!(Days::Weekdays(1 << 6).contains(20786));
    }
}
