//! An engine thread's socket I/O: io_uring ([`super::uring`]) where the kernel offers it
//! (Linux 6.1+, not forbidden by a seccomp profile), the level-triggered epoll set of
//! [`super::sys`] otherwise or when `[media] io_uring = false`. The engine's logic is the
//! same over both; only how a packet comes in and goes out differs:
//!
//! | | epoll | io_uring |
//! |---|---|---|
//! | a packet in | `epoll_wait` reports the socket, one `recvfrom` | a completion of the socket's multishot receive |
//! | a packet out | one `sendto` at once | queued, sent by the loop's next `io_uring_enter` |
//! | a loop round | 1 + 2 syscalls per packet | 1 syscall |

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use super::sys::Epoll;
use super::uring::Uring;

pub(super) enum Io {
    Epoll(Epoll),
    Uring(Box<Uring>),
}

impl Io {
    /// io_uring when asked for and available, else epoll; `wake` is the command eventfd,
    /// reported as `wake_token`.
    pub fn new(wake: RawFd, wake_token: u64, io_uring: bool, stamps: bool) -> io::Result<Io> {
        if io_uring {
            match Uring::new(wake, stamps) {
                Ok(u) => return Ok(Io::Uring(Box::new(u))),
                Err(e) => {
                    tracing::info!(error = %e, "io_uring unavailable; the media engine uses epoll")
                }
            }
        }
        Io::epoll(wake, wake_token)
    }

    fn epoll(wake: RawFd, wake_token: u64) -> io::Result<Io> {
        let poll = Epoll::new(1024)?;
        poll.add(wake, wake_token)?;
        Ok(Io::Epoll(poll))
    }

    /// Called first thing on the engine thread: enables the ring for it, or falls back to
    /// epoll if the kernel refuses (no socket is watched yet).
    pub fn enable(&mut self, wake: RawFd, wake_token: u64) -> io::Result<()> {
        if let Io::Uring(u) = self {
            if let Err(e) = u.enable() {
                tracing::info!(error = %e, "io_uring refused; the media engine uses epoll");
                *self = Io::epoll(wake, wake_token)?;
            }
        }
        Ok(())
    }

    /// Starts reading `sock`, reported as `token`.
    pub fn watch(&mut self, sock: &UdpSocket, token: u64) -> io::Result<()> {
        match self {
            Io::Epoll(p) => p.add(sock.as_raw_fd(), token),
            Io::Uring(u) => u.watch(sock.as_raw_fd(), token),
        }
    }

    /// Stops reading `sock`; afterwards it may be closed or moved to another thread.
    pub fn unwatch(&mut self, sock: &UdpSocket, token: u64) {
        match self {
            Io::Epoll(p) => p.remove(sock.as_raw_fd()),
            Io::Uring(u) => u.unwatch(sock.as_raw_fd(), token),
        }
    }

    /// Sends (or queues) one datagram; false when it was refused at once. With io_uring a
    /// later refusal is counted in [`Uring::send_errors`]. `connected` says `sock` is
    /// connected to `dst` ([`super::filter`]): the datagram then goes without an address.
    pub fn send(
        &mut self,
        sock: &UdpSocket,
        bytes: &[u8],
        dst: SocketAddr,
        connected: bool,
    ) -> bool {
        let to = (!connected).then_some(dst);
        match self {
            Io::Epoll(_) => match to {
                Some(dst) => sock.send_to(bytes, dst).is_ok(),
                None => sock.send(bytes).is_ok(),
            },
            Io::Uring(u) => u.send(sock.as_raw_fd(), bytes, to).is_ok(),
        }
    }
}
