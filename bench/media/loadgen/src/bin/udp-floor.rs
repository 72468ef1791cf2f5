//! The kernel's floor under a relay on this machine: what one forwarded packet costs in
//! syscalls alone. A packet through rexian is one `recvfrom` and one `sendto` (which, on
//! loopback, also runs the receiver's UDP input); this times exactly that pair, 172-byte
//! datagrams (a 20 ms G.711 packet) between two loopback sockets, in one thread — no epoll,
//! no user-space work. Also times a bare syscall (`getppid`) for scale.
//!
//! `taskset -c 0 udp-floor [PAIRS]` prints one `key=value` line.

use std::net::UdpSocket;
use std::time::Instant;

fn main() {
    let pairs: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let t = Instant::now();
    for _ in 0..pairs {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::getppid() };
    }
    let bare = t.elapsed().as_nanos() as f64 / pairs as f64;

    let a = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
    let to = b.local_addr().expect("bound socket has an address");
    let packet = [0x80u8; 172];
    let mut buf = [0u8; 2048];
    // Warm up the route and socket caches.
    for _ in 0..10_000 {
        a.send_to(&packet, to).expect("send on loopback");
        b.recv_from(&mut buf).expect("receive on loopback");
    }
    let t = Instant::now();
    for _ in 0..pairs {
        a.send_to(&packet, to).expect("send on loopback");
        b.recv_from(&mut buf).expect("receive on loopback");
    }
    let pair = t.elapsed().as_nanos() as f64 / pairs as f64;
    println!(
        "syscall_ns={bare:.0} send_recv_pair_ns={pair:.0} relay_only_calls_per_core_at_floor={:.0}",
        // A call is 100 forwarded packets a second (50 each way).
        1e9 / pair / 100.0
    );
}
