//! The `[media]` section of the daemon's configuration.
//!
//! ```toml
//! [media]
//! rtp_ports = "20000-29999"   # even ports carry RTP, the next odd port RTCP
//! dead_media_secs = 60        # a leg silent this long (no RTP nor RTCP) is reported
//! recordings = "recordings"   # optional; defaults to the top-level `recordings`
//! threads = 1                 # engine threads; calls are spread over them round-robin
//! measure_holding = false     # histogram of how long the engine holds each packet
//! io_uring = true             # io_uring where the kernel offers it, else epoll
//! ```

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// An inclusive UDP port range for media; only its even ports start a leg (RTP on the even
/// port, RTCP on the one above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Why a port range was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PortRangeError {
    #[error("port range {0:?}: expected FIRST-LAST, e.g. \"20000-29999\"")]
    Syntax(String),
    #[error("port range {0}-{1}: needs at least one even port with its odd neighbour, above 1023")]
    Empty(u16, u16),
}

impl PortRange {
    /// The even ports in the range whose RTCP neighbour is also in it.
    pub fn rtp_ports(self) -> impl Iterator<Item = u16> {
        let start = self.first + (self.first & 1);
        (start as u32..self.last as u32)
            .step_by(2)
            .map(|p| p as u16)
    }

    /// How many legs the range can hold.
    pub fn legs(self) -> usize {
        self.rtp_ports().count()
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PortRangeError::Syntax(s.to_string());
        let (a, b) = s.trim().split_once('-').ok_or_else(syntax)?;
        let first: u16 = a.trim().parse().map_err(|_| syntax())?;
        let last: u16 = b.trim().parse().map_err(|_| syntax())?;
        let r = PortRange { first, last };
        if first < 1024 || first > last || r.legs() == 0 {
            return Err(PortRangeError::Empty(first, last));
        }
        Ok(r)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Media engine settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    pub rtp_ports: PortRange,
    /// Seconds without RTP or RTCP from a leg before `DeadMedia` is reported (paused on hold).
    pub dead_media_secs: u64,
    /// Where recordings go; `None` uses the daemon's top-level `recordings` directory.
    pub recordings: Option<PathBuf>,
    /// How often the recording writer rewrites WAV headers (what a `kill -9` can lose).
    pub recording_flush_secs: u64,
    /// How far recordings trail real time so reordered packets still land in place (ms).
    pub recording_delay_ms: u64,
    /// Engine threads (each one socket loop with its own calls); 0 means one per core.
    pub threads: usize,
    /// Have the kernel stamp each packet's arrival and keep a histogram of how long the
    /// engine held it (in `stats()`). A diagnostic: it costs about a tenth of the engine's
    /// CPU at high load.
    pub measure_holding: bool,
    /// Read and send through io_uring where the kernel offers it (Linux 6.1+); false, or a
    /// kernel or seccomp profile without it, uses epoll. Both carry the same calls.
    pub io_uring: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: PortRange {
                first: 20000,
                last: 29999,
            },
            dead_media_secs: 60,
            recordings: None,
            recording_flush_secs: 1,
            recording_delay_ms: 200,
            threads: 1,
            measure_holding: false,
            io_uring: true,
        }
    }
}

impl MediaConfig {
    pub fn dead_media_after(&self) -> Duration {
        Duration::from_secs(self.dead_media_secs.max(1))
    }

    /// How many engine threads to start: `threads`, or one per core for 0 (at most 64).
    pub fn engine_threads(&self) -> usize {
        let n = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        n.clamp(1, 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_count_even_ports_with_their_rtcp_neighbour() {
        let r: PortRange = "20000-20009".parse().unwrap();
        assert_eq!(
            r.rtp_ports().collect::<Vec<_>>(),
            [20000, 20002, 20004, 20006, 20008]
        );
        let r: PortRange = " 20001 - 20006 ".parse().unwrap();
        assert_eq!(r.rtp_ports().collect::<Vec<_>>(), [20002, 20004]);
        assert_eq!(
            "20000-20000".parse::<PortRange>(),
            Err(PortRangeError::Empty(20000, 20000))
        );
        assert!(matches!(
            "20000".parse::<PortRange>(),
            Err(PortRangeError::Syntax(_))
        ));
        assert!(matches!(
            "80-90".parse::<PortRange>(),
            Err(PortRangeError::Empty(..))
        ));
        assert_eq!(
            "65530-65535".parse::<PortRange>().unwrap().legs(),
            3,
            "the top of the port space does not overflow"
        );
    }

    #[test]
    fn the_section_reads_from_toml_with_defaults() {
        let c: MediaConfig = toml::from_str("rtp_ports = \"30000-30099\"").unwrap();
        assert_eq!(c.rtp_ports.legs(), 50);
        assert_eq!(c.dead_media_secs, 60);
        assert_eq!(c.engine_threads(), 1);
        let c: MediaConfig = toml::from_str("threads = 4").unwrap();
        assert_eq!(c.engine_threads(), 4);
        let c: MediaConfig = toml::from_str("threads = 0").unwrap();
        assert!(c.engine_threads() >= 1);
        assert!(
            c.io_uring,
            "io_uring where the kernel offers it, by default"
        );
        let c: MediaConfig = toml::from_str("io_uring = false").unwrap();
        assert!(!c.io_uring);
        assert!(toml::from_str::<MediaConfig>("rtp_ports = \"x\"").is_err());
        assert!(toml::from_str::<MediaConfig>("rtp_port = \"30000-30099\"").is_err());
    }
}
