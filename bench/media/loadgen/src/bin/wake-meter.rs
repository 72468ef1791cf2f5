//! How late this machine delivers a datagram to a thread that waits for it: the floor under
//! any relay's delay tail here, with no relay in the way. A sender thread on one CPU sends a
//! datagram carrying its send time every GAP µs over loopback; a receiver thread on another
//! CPU blocks in `recv` (or, with `--spin`, polls without blocking) and files send → read
//! delays by length.
//!
//! `wake-meter [PACKETS] [GAP_US] [--spin]` (default 20,000 packets 200 µs apart, receiver on
//! CPU 0, sender on CPU 1) prints one `key=value` line. Where the blocking receiver's
//! `over_1ms_pct` is near 1 %, no engine that sleeps between packets can show a p99 under
//! 1 ms on this host.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

const BOUNDS_US: [u64; 7] = [50, 100, 250, 500, 1_000, 2_000, 5_000];

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads `size_of` bytes of it.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    assert!(ok, "cannot run on CPU {cpu}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spin = args.iter().any(|a| a == "--spin");
    let mut nums = args.iter().filter_map(|a| a.parse::<u64>().ok());
    let packets = nums.next().unwrap_or(20_000);
    let gap = Duration::from_micros(nums.next().unwrap_or(200));

    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
    let to = rx.local_addr().expect("bound socket has an address");
    rx.set_nonblocking(spin).expect("socket mode");
    let t0 = Instant::now();
    let receiver = std::thread::spawn(move || {
        pin(0);
        let mut counts = [0u64; BOUNDS_US.len() + 1];
        let mut longest = Duration::ZERO;
        let mut buf = [0u8; 64];
        for _ in 0..packets {
            let n = loop {
                match rx.recv(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("recv: {e}"),
                }
            };
            let sent = u64::from_le_bytes(buf[..8.min(n)].try_into().unwrap_or([0; 8]));
            let d = t0.elapsed().saturating_sub(Duration::from_nanos(sent));
            longest = longest.max(d);
            let us = d.as_micros() as u64;
            let b = BOUNDS_US.iter().position(|&b| us < b).unwrap_or(BOUNDS_US.len());
            counts[b] += 1;
        }
        (counts, longest)
    });

    pin(1);
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..packets {
        let sent = t0.elapsed().as_nanos() as u64;
        tx.send_to(&sent.to_le_bytes(), to).expect("send on loopback");
        std::thread::sleep(gap);
    }
    let (counts, longest) = receiver.join().expect("receiver");
    let total: u64 = counts.iter().sum();
    let over_1ms: u64 = counts[BOUNDS_US.iter().position(|&b| b == 1_000).unwrap_or(0) + 1..]
        .iter()
        .sum();
    let mut line = format!(
        "receiver={} gap_us={} packets={total} ",
        if spin { "spinning" } else { "blocking" },
        gap.as_micros()
    );
    let mut lower = 0;
    for (i, n) in counts.iter().enumerate() {
        match BOUNDS_US.get(i) {
            Some(b) => line.push_str(&format!("d_{lower}_{b}us={n} ")),
            None => line.push_str(&format!("d_over_{lower}us={n} ")),
        }
        lower = BOUNDS_US.get(i).copied().unwrap_or(lower);
    }
    println!(
        "{line}longest_us={} over_1ms_pct={:.3}",
        longest.as_micros(),
        100.0 * over_1ms as f64 / total.max(1) as f64
    );
}
