//! The few Linux calls the media loop needs that std does not offer: a level-triggered epoll
//! set (one `recv` per readiness, no extra `EAGAIN` read as edge-triggered polling needs) and
//! an eventfd that wakes the loop when a command arrives, and `recvmmsg` to read everything
//! queued on a socket in one call. All `unsafe` of the media shell
//! lives here, each block with the reason it is sound.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A level-triggered epoll set whose entries carry a `u64` token.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: plain syscall with a flag argument; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    /// Watches `fd` for input, reporting `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops watching `fd` (closing the descriptor also does this).
    pub fn remove(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; failure (fd not registered) is harmless and ignored.
        unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Waits up to `timeout` and returns the tokens of ready descriptors.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<impl Iterator<Item = u64> + '_> {
        // Round up so a 0.3 ms wait does not spin at 0 ms.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: the buffer holds `events.len()` entries and outlives the call.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        let n = if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            0
        } else {
            n as usize
        };
        Ok(self.events[..n].iter().map(|e| e.u64))
    }
}

/// A non-blocking eventfd: `notify` from any thread, `drain` in the loop.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64; a full counter (EAGAIN) already means "wake".
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64; EAGAIN (nothing pending) is fine.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// Lowers the calling thread's scheduling priority by `nice` steps (a helper thread that
/// shares a core with an engine thread yields to it). Failure leaves the priority as it was.
pub fn lower_this_thread_priority(nice: i32) {
    // SAFETY: gettid has no preconditions; setpriority with PRIO_PROCESS and a thread id
    // changes only that thread's nice value and touches no memory of ours.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, now + nice);
    }
}

/// Datagrams per `recvmmsg` (a leg's socket rarely holds more than a few: one packet per
/// 20 ms arrives on it, and more only queue when the loop ran late).
pub const RECV_BATCH: usize = 8;
const RECV_BUF: usize = 2048;

/// Reads every datagram queued on a socket, up to [`RECV_BATCH`], with one `recvmmsg`.
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_BUF]; RECV_BATCH]>,
    addrs: [libc::sockaddr_storage; RECV_BATCH],
    iov: [libc::iovec; RECV_BATCH],
    hdrs: [libc::mmsghdr; RECV_BATCH],
    n: usize,
}

// SAFETY: the raw pointers in the C headers only ever point into the batch's own storage
// and are set afresh before each `recvmmsg`; nothing is shared, so moving the batch to the
// engine thread is sound.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new() -> Box<RecvBatch> {
        Box::new(RecvBatch {
            bufs: Box::new([[0; RECV_BUF]; RECV_BATCH]),
            // SAFETY: plain-old-data C structs for which all-zero is a valid value; every
            // pointer in them is set before each use.
            addrs: unsafe { std::mem::zeroed() },
            iov: unsafe { std::mem::zeroed() },
            hdrs: unsafe { std::mem::zeroed() },
            n: 0,
        })
    }

    /// One non-blocking `recvmmsg` on `fd`; returns how many datagrams were read (0 when
    /// nothing was queued or on an error: the socket is simply read again when readable).
    pub fn recv(&mut self, fd: RawFd) -> usize {
        for i in 0..RECV_BATCH {
            self.iov[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            self.iov[i].iov_len = RECV_BUF;
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at a live iovec over a live buffer of the stated size
        // and at a live sockaddr_storage of the stated size, all owned by `self` (boxed, so
        // they stay put) for the duration of the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.n = r.max(0) as usize;
        self.n
    }

    /// The `i`-th datagram of the last `recv` and its source (None for a source that is not
    /// IPv4/IPv6, or past the count).
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.n {
            return None;
        }
        let len = (self.hdrs[i].msg_len as usize).min(RECV_BUF);
        let a = &self.addrs[i];
        let src = match a.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in (family AF_INET) into the storage,
                // which is larger and suitably aligned for it.
                let v4 =
                    unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                SocketAddr::from((
                    Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                    u16::from_be(v4.sin_port),
                ))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6 (family AF_INET6).
                let v6 =
                    unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(v6.sin6_addr.s6_addr),
                    u16::from_be(v6.sin6_port),
                    v6.sin6_flowinfo,
                    v6.sin6_scope_id,
                ))
            }
            _ => return None,
        };
        Some((&self.bufs[i][..len], src))
    }
}
