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

use media_loadgen::{pin, Buckets};

const BOUNDS_US: [u64; 7] = [50, 100, 250, 500, 1_000, 2_000, 5_000];

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
        let mut delays = Buckets::new(0, &BOUNDS_US);
        let mut buf = [0u8; 8];
        for _ in 0..packets {
            loop {
                match rx.recv(&mut buf) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("recv: {e}"),
                }
            }
            let sent = Duration::from_nanos(u64::from_le_bytes(buf));
            delays.add(t0.elapsed().saturating_sub(sent));
        }
        delays
    });

    pin(1);
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..packets {
        let sent = t0.elapsed().as_nanos() as u64;
        tx.send_to(&sent.to_le_bytes(), to)
            .expect("send on loopback");
        std::thread::sleep(gap);
    }
    let delays = receiver.join().expect("receiver");
    let total = delays.total();
    println!(
        "receiver={} gap_us={} packets={total} {} over_1ms_pct={:.3}",
        if spin { "spinning" } else { "blocking" },
        gap.as_micros(),
        delays.fields("d"),
        100.0 * delays.at_least(1_000) as f64 / total.max(1) as f64
    );
}
