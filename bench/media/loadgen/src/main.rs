//! A G.711 RTP load generator for rexian's media engine.
//!
//! Reads the port file written by `examples/media_engine_server.rs` and, from one UDP socket,
//! sends one 20 ms PCMU stream to every leg of every call (a line of the file is a call),
//! spread evenly over the 20 ms period, with `sendmmsg` in batches of up to 32. rexian
//! latches every leg to this one socket, so everything it forwards comes back here; a second
//! thread reads it with non-blocking `recvmmsg` in a polling loop. A talking stream's payload
//! starts with its send time (ns since start) written as 16 µ-law codes 0x80–0x8F, one per
//! nibble: the codes survive forwarding untouched and also a mix with silent parties (µ-law
//! → linear → µ-law is exact), so the receiver measures the delay through rexian (two
//! loopback hops included, and the mixer's jitter buffer for a conference) and counts losses
//! for the packets sent inside the measurement window.
//!
//! `--talkers all` (default, two-party calls: both talk, each heard by the other) or
//! `--talkers first --hearers 2` (three-way conferences: the first leg of each call talks,
//! the other legs send silence, and each talking packet is heard by two legs).
//!
//! With `--server-pid`, it also reads rexian's CPU time (utime+stime) and RSS from /proc at
//! the window's edges; with `--server-core N` also that core's busy share from /proc/stat
//! (`core_busy_pct`: everything the core did, interrupts and softirqs included). Prints one
//! `key=value` line.
//!
//! The receiver also reads the kernel's receipt stamp of each returning packet
//! (`SO_TIMESTAMPNS`) and reports the delay to it as `kernel_p50_us`/`kernel_p99_us`, which
//! leaves out its own polling. `--spin` makes the sender yield instead of sleeping between
//! packets (a smoother stream where timer wake-ups are late, at the cost of its core).
//!
//! `media-loadgen --ports-file F --server-pid P --warmup 3 --seconds 10 [--spin]`

use std::mem::{size_of, zeroed};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PERIOD_NS: u64 = 20_000_000;
const PACKET: usize = 12 + 160;
const BATCH: usize = 32;
const RECV_BATCH: usize = 256;
/// Delay histogram: 1 µs buckets up to 200 ms (a conference adds its jitter buffer); the last
/// bucket holds everything beyond.
const HIST_US: usize = 200_000;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ") state".
    get(11) + get(12)
}

/// Busy ticks of one core from /proc/stat: user, nice, system, irq and softirq (not idle,
/// iowait or steal). Unlike the process's own time, this includes the receive work the kernel
/// does for the server's sockets in interrupt context, and leaves out the work it does on
/// that core for other processes' sockets only if packet steering sends it elsewhere.
fn core_busy_ticks(core: usize) -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = format!("cpu{core} ");
    s.lines()
        .find(|l| l.starts_with(&name))
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            [0, 1, 2, 5, 6].iter().filter_map(|&i| f.get(i)).sum()
        })
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn sockaddr(port: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut a: libc::sockaddr_in = unsafe { zeroed() };
    a.sin_family = libc::AF_INET as libc::sa_family_t;
    a.sin_port = port.to_be();
    a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    a
}

/// Sets a `SOL_SOCKET` option to an int; false if the kernel refused.
fn set_opt(sock: &UdpSocket, opt: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: passes a live c_int of the size given.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

struct Shared {
    t0: Instant,
    /// `t0` on the wall clock, in ns since the epoch: the kernel stamps arrivals by it.
    t0_wall_ns: u64,
    w0: u64,
    w1: u64,
    stop: AtomicBool,
    received: AtomicU64,
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The kernel's receipt stamp (`SO_TIMESTAMPNS`, wall clock) of a received message, in ns
/// since the epoch.
fn kernel_stamp(h: &libc::msghdr) -> Option<u64> {
    // SAFETY: the header's control buffer was filled by recvmmsg up to msg_controllen; the
    // CMSG macros stay inside it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// What the receiver measured: talking packets in the window, and two delay histograms —
/// send to the moment this thread read the packet, and send to the kernel's receipt (which
/// leaves out this thread's own polling and scheduling).
struct Received {
    in_window: u64,
    hist: Vec<u64>,
    kernel_hist: Vec<u64>,
}

fn receiver(sock: UdpSocket, sh: Arc<Shared>) -> Received {
    let mut bufs = vec![[0u8; 256]; RECV_BATCH];
    let mut ctrl = vec![[0u64; 8]; RECV_BATCH];
    let mut kernel_hist = vec![0u64; HIST_US + 1];
    // SAFETY (both): plain-old-data structs, filled in below before use.
    let mut iov: Vec<libc::iovec> = vec![unsafe { zeroed() }; RECV_BATCH];
    let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { zeroed() }; RECV_BATCH];
    let mut hist = vec![0u64; HIST_US + 1];
    let mut in_window = 0u64;
    loop {
        for i in 0..RECV_BATCH {
            iov[i].iov_base = bufs[i].as_mut_ptr().cast();
            iov[i].iov_len = bufs[i].len();
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_hdr.msg_control = ctrl[i].as_mut_ptr().cast();
            hdrs[i].msg_hdr.msg_controllen = size_of::<[u64; 8]>();
            hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at a live iovec over a live buffer of the stated size.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                RECV_BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let now = sh.t0.elapsed().as_nanos() as u64;
        if n <= 0 {
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
            // Poll every 50 µs rather than block: a reader blocked on the socket makes every
            // sender on loopback pay for waking it (an IPI per datagram in a VM), which a NIC
            // would not charge rexian. The delay figures carry this up to ~50 µs (+ timer slack).
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        for i in 0..n as usize {
            let len = hdrs[i].msg_len as usize;
            if len < 12 + 8 || bufs[i][0] >> 6 != 2 || bufs[i][1] & 0x7F >= 72 {
                continue; // not RTP (RTCP goes to our port + 1, but be safe)
            }
            let Some(sent) = stamp_of(&bufs[i][12..len]) else {
                continue; // silence (or a mix without a talker)
            };
            if sent >= sh.w0 && sent < sh.w1 {
                in_window += 1;
                let us = (now.saturating_sub(sent) / 1000) as usize;
                hist[us.min(HIST_US)] += 1;
                if let Some(k) = kernel_stamp(&hdrs[i].msg_hdr) {
                    let at = k.saturating_sub(sh.t0_wall_ns);
                    let us = (at.saturating_sub(sent) / 1000) as usize;
                    kernel_hist[us.min(HIST_US)] += 1;
                }
            }
        }
        sh.received.fetch_add(n as u64, Ordering::Relaxed);
    }
    Received {
        in_window,
        hist,
        kernel_hist,
    }
}

/// The send time written by [`put_stamp`], if the payload holds one.
fn stamp_of(payload: &[u8]) -> Option<u64> {
    let code = payload.get(..16)?;
    code.iter().try_fold(0u64, |acc, &b| {
        (b & 0xF0 == 0x80).then_some((acc << 4) | (b & 0x0F) as u64)
    })
}

fn put_stamp(payload: &mut [u8], stamp: u64) {
    for (i, b) in payload[..16].iter_mut().enumerate() {
        *b = 0x80 | ((stamp >> (60 - 4 * i)) & 0xF) as u8;
    }
}

fn percentile(hist: &[u64], p: f64) -> usize {
    let total: u64 = hist.iter().sum();
    let want = ((total as f64) * p).ceil() as u64;
    let mut acc = 0;
    for (us, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= want.max(1) {
            return us;
        }
    }
    hist.len()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ports_file = arg(&args, "--ports-file").expect("--ports-file FILE");
    let pid: Option<u32> = arg(&args, "--server-pid").and_then(|p| p.parse().ok());
    let core: Option<usize> = arg(&args, "--server-core").and_then(|c| c.parse().ok());
    let warmup: f64 = arg(&args, "--warmup").map_or(3.0, |v| v.parse().expect("--warmup"));
    let seconds: f64 = arg(&args, "--seconds").map_or(10.0, |v| v.parse().expect("--seconds"));

    let text = std::fs::read_to_string(&ports_file).expect("read ports file");
    let mut lines = text.lines();
    let base_rss: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("base_rss_kb "))
        .and_then(|v| v.parse().ok())
        .expect("base_rss_kb line");
    let first_only = arg(&args, "--talkers").is_some_and(|t| t == "first");
    let hearers: u64 = arg(&args, "--hearers").map_or(1, |v| v.parse().expect("--hearers"));
    // Wait for the next packet's time by yielding rather than sleeping: on a host whose
    // timer wake-ups come late, a sleeping sender sends what fell due meanwhile as a burst.
    let spin = args.iter().any(|a| a == "--spin");
    let mut dests: Vec<libc::sockaddr_in> = Vec::new();
    let mut talks: Vec<bool> = Vec::new();
    let mut calls = 0;
    for l in lines {
        calls += 1;
        for (j, p) in l.split_whitespace().enumerate() {
            dests.push(sockaddr(p.parse().expect("port")));
            talks.push(!first_only || j == 0);
        }
    }
    let streams = dests.len();
    assert!(streams > 0, "no calls in {ports_file}");

    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    // Failure only leaves the default buffer sizes.
    set_opt(&sock, libc::SO_RCVBUFFORCE, 32 << 20);
    set_opt(&sock, libc::SO_SNDBUFFORCE, 32 << 20);
    assert!(
        set_opt(&sock, libc::SO_TIMESTAMPNS, 1),
        "SO_TIMESTAMPNS refused"
    );
    let t0 = Instant::now();
    let t0_wall_ns = wall_ns();
    let w0 = (warmup * 1e9) as u64;
    let w1 = w0 + (seconds * 1e9) as u64;
    let sh = Arc::new(Shared {
        t0,
        t0_wall_ns,
        w0,
        w1,
        stop: AtomicBool::new(false),
        received: AtomicU64::new(0),
    });
    let rx_sock = sock.try_clone().expect("clone socket");
    let rx_sh = sh.clone();
    let rx = std::thread::spawn(move || receiver(rx_sock, rx_sh));

    // One prebuilt packet per stream: RTP header (PT 0), then the send time, then silence.
    let mut packets: Vec<[u8; PACKET]> = (0..streams)
        .map(|k| {
            let mut p = [0xFFu8; PACKET];
            p[0] = 0x80;
            p[1] = 0;
            p[8..12].copy_from_slice(&(k as u32 + 1).to_be_bytes());
            p
        })
        .collect();
    // SAFETY (both): plain-old-data structs, filled in before each send.
    let mut iov: Vec<libc::iovec> = vec![unsafe { zeroed() }; BATCH];
    let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { zeroed() }; BATCH];
    let offset = |k: usize| (k as u64 * PERIOD_NS) / streams as u64;
    let due = |g: u64| (g / streams as u64) * PERIOD_NS + offset((g % streams as u64) as usize);
    let end = w1 + 300_000_000;
    let (mut g, mut sent_window, mut sent_total, mut send_fail) = (0u64, 0u64, 0u64, 0u64);
    // Talking packets sent in the window, each heard by `hearers` legs.
    let mut talked_window = 0u64;
    let (mut cpu0, mut cpu1, mut rss) = (None, None, 0);
    let (mut core0, mut core1) = (None, None);
    let mut batch: Vec<u64> = Vec::with_capacity(BATCH);
    loop {
        let now = t0.elapsed().as_nanos() as u64;
        if let Some(pid) = pid {
            if cpu0.is_none() && now >= w0 {
                cpu0 = Some((cpu_ticks(pid), now));
                core0 = core.map(core_busy_ticks);
            }
            if cpu1.is_none() && now >= w1 {
                cpu1 = Some((cpu_ticks(pid), now));
                core1 = core.map(core_busy_ticks);
                rss = rss_kb(pid);
            }
        }
        if now >= end {
            break;
        }
        let sending = now < w1 + 200_000_000; // then give the last packets time to come back
        while sending && due(g) <= now {
            batch.push(g);
            g += 1;
            if batch.len() == BATCH || due(g) > now {
                let stamp = t0.elapsed().as_nanos() as u64;
                for (i, &gi) in batch.iter().enumerate() {
                    let (k, period) =
                        ((gi % streams as u64) as usize, (gi / streams as u64) as u32);
                    let p = &mut packets[k];
                    p[2..4].copy_from_slice(&(period as u16).to_be_bytes());
                    p[4..8].copy_from_slice(&period.wrapping_mul(160).to_be_bytes());
                    if talks[k] {
                        put_stamp(&mut p[12..], stamp);
                    }
                    iov[i].iov_base = p.as_mut_ptr().cast();
                    iov[i].iov_len = PACKET;
                    hdrs[i].msg_hdr.msg_iov = &mut iov[i];
                    hdrs[i].msg_hdr.msg_iovlen = 1;
                    hdrs[i].msg_hdr.msg_name = (&mut dests[k] as *mut libc::sockaddr_in).cast();
                    hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
                }
                // SAFETY: each header points at a live packet and a live sockaddr_in.
                let r = unsafe {
                    libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), batch.len() as u32, 0)
                };
                let ok = r.max(0) as u64;
                send_fail += batch.len() as u64 - ok;
                sent_total += ok;
                if stamp >= w0 && stamp < w1 {
                    sent_window += ok;
                    talked_window += batch[..ok as usize]
                        .iter()
                        .filter(|&&gi| talks[(gi % streams as u64) as usize])
                        .count() as u64;
                }
                batch.clear();
            }
        }
        if spin {
            while (t0.elapsed().as_nanos() as u64) < due(g).min(end) {
                std::thread::yield_now();
            }
        } else {
            let next = due(g).max(now + 500_000).min(end);
            let now2 = t0.elapsed().as_nanos() as u64;
            if next > now2 {
                std::thread::sleep(Duration::from_nanos(next - now2));
            }
        }
    }
    sh.stop.store(true, Ordering::Relaxed);
    let Received {
        in_window: recv_window,
        hist,
        kernel_hist,
    } = rx.join().expect("receiver");
    let total_rx = sh.received.load(Ordering::Relaxed);
    let win = seconds;
    let mut out = format!(
        "calls={calls} streams={streams} sent={sent_window} expected={} received={recv_window} loss={} \
         send_fail={send_fail} pps_each_way={:.0} p50_us={} p99_us={} max_us={} kernel_p50_us={} kernel_p99_us={} sent_total={sent_total} received_total={total_rx}",
        talked_window * hearers,
        (talked_window * hearers).saturating_sub(recv_window),
        sent_window as f64 / win,
        percentile(&hist, 0.50),
        percentile(&hist, 0.99),
        hist.iter().rposition(|&c| c > 0).unwrap_or(0),
        percentile(&kernel_hist, 0.50),
        percentile(&kernel_hist, 0.99),
    );
    if let (Some((c0, t0n)), Some((c1, t1n))) = (cpu0, cpu1) {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpu_us = (c1 - c0) as f64 / hz * 1e6;
        let wall = (t1n - t0n) as f64 / 1e9;
        // rexian reads every packet we send and writes every packet we receive.
        let pkts_in = sent_window as f64;
        out.push_str(&format!(
            " cpu_pct={:.1} cpu_us_per_pkt={:.2} cpu_us_per_call_s={:.1} rss_kb={rss} rss_per_call_kb={:.1}",
            cpu_us / wall / 1e4,
            cpu_us / pkts_in.max(1.0),
            cpu_us / (calls as f64 * wall),
            rss.saturating_sub(base_rss) as f64 / calls as f64,
        ));
        if let (Some(b0), Some(b1)) = (core0, core1) {
            out.push_str(&format!(
                " core_busy_pct={:.1}",
                (b1 - b0) as f64 / hz / wall * 100.0
            ));
        }
    }
    println!("{out}");
}
