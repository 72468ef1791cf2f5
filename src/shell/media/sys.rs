//! The few Linux calls the media loop needs that std does not offer: a level-triggered epoll
//! set (one `recv` per readiness, no extra `EAGAIN` read as edge-triggered polling needs), an
//! eventfd that wakes the loop when a command arrives, a receive that also returns the
//! kernel's receive time (`SO_TIMESTAMPNS`), and socket addresses to and from the kernel's
//! form. With `uring.rs`, all `unsafe` of the media shell lives here, each block with the
//! reason it is sound.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
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

/// Asks the kernel to stamp every datagram `fd` receives with its arrival time.
pub fn enable_receive_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: passes a live c_int of the stated size; the result is checked.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One datagram into `buf`: its length, its source and, when the socket stamps arrivals,
/// the kernel's receive time (since the Unix epoch, `CLOCK_REALTIME`).
pub fn recv_stamped(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Duration>)> {
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    // Room for one cmsghdr with a timespec (SCM_TIMESTAMPNS), 8-byte aligned.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>();
    // SAFETY: every pointer in `msg` points at a live buffer of the stated size for the
    // duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let src = sockaddr(addr, msg.msg_namelen)
        .ok_or_else(|| io::Error::other("datagram without an IP source"))?;
    let control = &control_bytes(&control)[..msg.msg_controllen.min(size_of::<[u64; 8]>())];
    Ok((n as usize, src, stamp_of(control)))
}

fn control_bytes(c: &[u64; 8]) -> &[u8] {
    // SAFETY: a [u64; 8] is 64 initialised bytes; u8 has no alignment requirement.
    unsafe { std::slice::from_raw_parts(c.as_ptr().cast(), size_of::<[u64; 8]>()) }
}

/// The arrival time in a received datagram's control messages (`SCM_TIMESTAMPNS`, since the
/// Unix epoch), if there is one.
pub fn stamp_of(control: &[u8]) -> Option<Duration> {
    // An aligned copy for the CMSG macros; one stamp message takes 32 bytes.
    let mut aligned = [0u64; 8];
    let n = control.len().min(size_of::<[u64; 8]>());
    if n == 0 {
        return None;
    }
    // SAFETY: copies `n` ≤ 64 bytes between live buffers that do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(control.as_ptr(), aligned.as_mut_ptr().cast(), n) };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_control = aligned.as_mut_ptr().cast();
    msg.msg_controllen = n;
    let mut stamp = None;
    // SAFETY: the CMSG macros walk `aligned`, bounded by `msg_controllen`; a SCM_TIMESTAMPNS
    // message carries one timespec, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    stamp
}

/// A socket address as the kernel wrote it (`len` bytes of `storage`), if it is IPv4 or IPv6.
pub fn sockaddr(storage: libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: the kernel filled `storage` with an address of its family and said how long it
    // is; `as_socket` reads it only as that family.
    unsafe { socket2::SockAddr::new(storage, len) }.as_socket()
}
