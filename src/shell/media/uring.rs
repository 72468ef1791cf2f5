//! The engine loop's io_uring backend (Linux 6.1+): one ring per engine thread, so a loop
//! round is one `io_uring_enter` however many packets it reads and sends.
//!
//! - Every leg socket has one *multishot* `recvmsg` armed: the kernel reads each datagram
//!   into a buffer it takes from a registered buffer ring ([`BufPool`]) and posts a
//!   completion naming the buffer; the engine copies the packet out and hands the buffer
//!   straight back. No `epoll_wait`, no `recvfrom`, no readiness re-poll.
//! - A send is queued as an `IORING_OP_SEND` with the destination address and
//!   `MSG_DONTWAIT`: the kernel then issues it while it takes the submission (a full socket
//!   buffer fails the send instead of parking it), so its bytes and address sit in a slot of
//!   [`Uring::sends`] only until the submission queue has been taken. Only failures post a
//!   completion (`CQE_SKIP_SUCCESS`).
//! - The command eventfd has a multishot poll armed.
//! - `IORING_SETUP_DEFER_TASKRUN`: the kernel does the receive work only when the loop
//!   enters the ring to wait, never by interrupting the thread while it handles packets.
//!
//! The ring is created disabled and enabled on the engine thread ([`Uring::enable`]): it
//! accepts submissions from that one thread only (`SINGLE_ISSUER`).
//!
//! All `unsafe` here concerns memory the kernel reads or writes after a call returns (the
//! buffer ring, the `recvmsg` header, send slots); each block says why it stays valid.

use std::collections::VecDeque;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{Fd, Fixed, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use super::sys::{sockaddr, stamp_of};

/// What a completion was for, in the top two bits of its `user_data`.
const KIND: u64 = 3 << 62;
const RECV: u64 = 0;
const SEND: u64 = 1 << 62;
const WAKE: u64 = 2 << 62;
const CANCEL: u64 = 3 << 62;

/// Receive buffers: how many, and how big (the `recvmsg` header, the source address, the
/// arrival stamp and the datagram). Running out is not loss: a socket's multishot receive
/// ends (`ENOBUFS`), its datagrams wait in the socket, and the engine re-arms it.
const BUFFERS: u16 = 1024;
const BUFFER_SIZE: usize = 2048;
const GROUP: u16 = 0;
/// Room in the control part of each buffer for one `SCM_TIMESTAMPNS` message.
const CONTROL: usize = 32;
const SQ_ENTRIES: u32 = 1024;
/// The registered-file table's size, at most (it is also held under `RLIMIT_NOFILE`).
const FILES: u32 = 65_536;
const NO_FILE: u32 = u32::MAX;
const CQ_ENTRIES: u32 = 16_384;

/// A completion the engine acts on.
#[derive(Debug, Clone, Copy)]
pub enum Done {
    /// The command eventfd became readable.
    Wake,
    /// A leg socket's multishot receive: a datagram (`res` ≥ 0, read it with
    /// [`Uring::packet`]) or an error; when `more` is false the receive has ended and the
    /// engine re-arms it if the leg is still there. A leg leaving ([`Uring::unwatch`]) drops
    /// what was already read for it: at most the datagrams of one loop round.
    Recv {
        token: u64,
        res: i32,
        flags: u32,
        more: bool,
    },
}

/// The registered buffer ring: page-aligned ring entries (shared with the kernel) and the
/// buffers they point into.
struct BufPool {
    ring: *mut io_uring::types::BufRingEntry,
    ring_bytes: usize,
    slab: Box<[u8]>,
    tail: u16,
}

impl BufPool {
    fn new() -> io::Result<BufPool> {
        let ring_bytes = BUFFERS as usize * size_of::<io_uring::types::BufRingEntry>();
        // SAFETY: an anonymous private mapping; the result is checked before use and it is
        // unmapped only in `Drop`, after the ring (which reads it) is gone.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut pool = BufPool {
            ring: ring.cast(),
            ring_bytes,
            slab: vec![0u8; BUFFERS as usize * BUFFER_SIZE].into_boxed_slice(),
            tail: 0,
        };
        for bid in 0..BUFFERS {
            pool.put(bid);
        }
        pool.publish();
        Ok(pool)
    }

    /// Adds buffer `bid` at the ring's tail (seen by the kernel after [`Self::publish`]).
    fn put(&mut self, bid: u16) {
        let slot = (self.tail & (BUFFERS - 1)) as usize;
        let addr = self.slab[bid as usize * BUFFER_SIZE..].as_ptr() as u64;
        // SAFETY: `slot` < BUFFERS, inside the mapping; the kernel only reads entries between
        // its head and the published tail, and this one is past the published tail.
        unsafe {
            let e = &mut *self.ring.add(slot);
            e.set_addr(addr);
            e.set_len(BUFFER_SIZE as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved field, inside the
        // mapping; the kernel reads it with acquire ordering, so the entries written before
        // this release store are seen complete.
        unsafe {
            let tail = io_uring::types::BufRingEntry::tail(self.ring) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * BUFFER_SIZE;
        &self.slab[start..start + len.min(BUFFER_SIZE)]
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, with its length; nothing uses it afterwards.
        unsafe { libc::munmap(self.ring.cast(), self.ring_bytes) };
    }
}

/// A queued send's bytes and destination, kept until the kernel has taken its submission.
struct SendSlot {
    bytes: Vec<u8>,
    addr: socket2::SockAddr,
}

// SAFETY: the raw pointers (the buffer ring's mapping, the `recvmsg` header's null fields)
// are owned by the value and used by whichever one thread holds it; the engine builds it on
// the starting thread and moves it to its own thread before enabling the ring.
unsafe impl Send for Uring {}

pub struct Uring {
    // Field order is drop order: the ring goes before the memory its requests used. By then
    // no receive is armed (the engine unwatches every leg before it ends) and no send is
    // queued, and the kernel keeps the buffer ring's pages pinned until it lets go of them.
    ring: IoUring,
    pool: BufPool,
    /// The `recvmsg` header every multishot receive was armed with: only its name and
    /// control lengths matter, and [`RecvMsgOut::parse`] needs the same values.
    msg: Box<libc::msghdr>,
    /// Boxed: a queued entry points into its slot, which must not move when the list grows.
    #[allow(clippy::vec_box)]
    sends: Vec<Box<SendSlot>>,
    /// Slots of sends not yet taken by the kernel (the first `queued` of `sends`).
    queued: usize,
    /// Completions read while waiting for a cancellation, for the next [`Self::wait`].
    stash: VecDeque<Done>,
    /// Sockets in the ring's registered-file table (indexed by descriptor), so a request
    /// names its socket without the kernel looking the descriptor up and pinning it each
    /// time; and the table's free places.
    fixed: Vec<u32>,
    free_files: Vec<u32>,
    wake_fd: RawFd,
    /// Sends the kernel refused (counted when their completions arrive).
    pub send_errors: u64,
}

impl Uring {
    /// A disabled ring with the buffer pool registered and the eventfd's poll queued; fails
    /// (and the engine uses epoll) where the kernel lacks what it needs.
    pub fn new(wake_fd: RawFd, stamps: bool) -> io::Result<Uring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_r_disabled()
            .setup_submit_all()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)?;
        let pool = BufPool::new()?;
        // SAFETY: the ring entries live in `pool`'s mapping, which outlives the ring (field
        // order); BUFFERS is a power of two within the kernel's limit.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(pool.ring as u64, BUFFERS, GROUP, 0)?
        };
        // SAFETY: all-zero is a valid msghdr.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { zeroed() });
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_controllen = if stamps { CONTROL } else { 0 };
        let mut u = Uring {
            ring,
            pool,
            msg,
            sends: Vec::new(),
            queued: 0,
            stash: VecDeque::new(),
            fixed: Vec::new(),
            free_files: Vec::new(),
            wake_fd,
            send_errors: 0,
        };
        u.arm_wake()?;
        Ok(u)
    }

    /// Sets up the registered-file table (without it, requests name plain descriptors).
    /// Before Linux 6.4 a file taken out of the table was let go up to a second later, which
    /// would keep a closed leg's port bound; those kernels go without the table.
    fn register_files(&mut self) {
        if !kernel_at_least(6, 4) {
            return;
        }
        // SAFETY: getrlimit fills the struct it is given; failure leaves the zero limit.
        let mut lim: libc::rlimit = unsafe { zeroed() };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        let n = (lim.rlim_cur.min(FILES as u64) as u32) & !63;
        if n > 0 && self.ring.submitter().register_files_sparse(n).is_ok() {
            self.free_files = (0..n).rev().collect();
        }
    }

    /// `fd`'s place in the registered-file table, registering it if it has none yet.
    fn file_slot(&mut self, fd: RawFd) -> Option<u32> {
        let i = usize::try_from(fd).ok()?;
        if let Some(&f) = self.fixed.get(i).filter(|&&f| f != NO_FILE) {
            return Some(f);
        }
        let f = self.free_files.pop()?;
        if self
            .ring
            .submitter()
            .register_files_update(f, &[fd])
            .is_err()
        {
            self.free_files.push(f);
            return None;
        }
        if self.fixed.len() <= i {
            self.fixed.resize(i + 1, NO_FILE);
        }
        self.fixed[i] = f;
        Some(f)
    }

    /// Takes `fd` out of the registered-file table (once no request uses it).
    fn drop_file(&mut self, fd: RawFd) {
        let Some(slot) = usize::try_from(fd).ok().and_then(|i| self.fixed.get_mut(i)) else {
            return;
        };
        let f = std::mem::replace(slot, NO_FILE);
        if f != NO_FILE {
            let _ = self.ring.submitter().register_files_update(f, &[-1]);
            self.free_files.push(f);
        }
    }

    /// The registered place of `fd` if it has one (no registering).
    fn registered(&self, fd: RawFd) -> Option<u32> {
        let i = usize::try_from(fd).ok()?;
        self.fixed.get(i).copied().filter(|&f| f != NO_FILE)
    }

    /// Enables the ring for the calling thread, the only one that may use it from now on.
    pub fn enable(&mut self) -> io::Result<()> {
        self.ring.submitter().register_enable_rings()?;
        self.register_files();
        Ok(())
    }

    fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed here points only at memory that outlives its
            // request: the pool and `msg` live as long as the ring, and a send slot is reused
            // only once the kernel has taken (and so issued) the send ([`Self::taken`]).
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            // The submission queue is full: hand it to the kernel and try again.
            self.ring.submit()?;
            self.taken();
        }
    }

    /// After an `io_uring_enter`: once the kernel has taken every queued entry, every queued
    /// send has been issued (`MSG_DONTWAIT` sends never wait for later), so their slots are
    /// free again.
    fn taken(&mut self) {
        if self.ring.submission().is_empty() {
            self.queued = 0;
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let e = opcode::PollAdd::new(Fd(self.wake_fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKE);
        self.push(&e)
    }

    /// Arms `fd`'s multishot receive; its completions carry `token` (< 2^62).
    pub fn watch(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let e = match self.file_slot(fd) {
            Some(f) => opcode::RecvMsgMulti::new(Fixed(f), &*self.msg, GROUP).build(),
            None => opcode::RecvMsgMulti::new(Fd(fd), &*self.msg, GROUP).build(),
        };
        let pushed = self.push(&e.user_data(RECV | token));
        if pushed.is_err() {
            // Not watched: the table must not keep the socket (nor name it by this fd).
            self.drop_file(fd);
        }
        pushed
    }

    /// Cancels `token`'s receive and waits until the kernel lets go of its socket, so the
    /// socket can be closed (its port reused at once) or handed to another engine thread.
    /// Completions of other requests read meanwhile are kept for the next [`Self::wait`];
    /// those of `token` are dropped.
    pub fn unwatch(&mut self, fd: RawFd, token: u64) {
        self.cancel(token);
        self.drop_file(fd);
    }

    fn cancel(&mut self, token: u64) {
        let e = opcode::AsyncCancel::new(RECV | token)
            .build()
            .user_data(CANCEL | token);
        if let Err(e) = self.push(&e) {
            tracing::warn!(error = %e, "io_uring: cannot queue a receive's cancellation");
            return;
        }
        // Found (0) or found running (EALREADY): its last completion is still to come.
        let (mut cancelled, mut ended) = (None, false);
        let pending = |c: Option<i32>| matches!(c, Some(r) if r == 0 || r == -libc::EALREADY);
        let (mut got, mut cancels) = (Vec::new(), Vec::new());
        while cancelled.is_none() || (pending(cancelled) && !ended) {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                // A signal, or a full completion queue: reap and wait again.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "io_uring: cancelling a receive failed");
                    break;
                }
            }
            self.taken();
            self.reap(&mut got, Some(&mut cancels));
            for &(t, res) in &cancels {
                if t == token {
                    cancelled = Some(res);
                }
            }
            for d in got.drain(..) {
                if let Done::Recv { token: t, more, .. } = d {
                    if t == token {
                        ended |= !more;
                    }
                }
                self.stash.push_back(d);
            }
            cancels.clear();
        }
        // What the kernel posted for `token` is of no use now: its buffers go back.
        let mut i = 0;
        while i < self.stash.len() {
            match self.stash[i] {
                Done::Recv {
                    token: t, flags, ..
                } if t == token => {
                    self.give_back(flags);
                    self.stash.remove(i);
                }
                _ => i += 1,
            }
        }
    }

    /// Queues one datagram from `fd` to `dst` (`None`: to the address `fd` is connected
    /// to); it leaves at the next [`Self::wait`].
    pub fn send(&mut self, fd: RawFd, bytes: &[u8], dst: Option<SocketAddr>) -> io::Result<()> {
        // Room first, so that the slot filled below is never taken for free by a submission
        // that happens before its entry is queued (hence one push below, not `push`'s loop).
        if self.ring.submission().is_full() {
            self.ring.submit()?;
            self.taken();
            if self.ring.submission().is_full() {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
        }
        let unspecified = || socket2::SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0)));
        if self.queued == self.sends.len() {
            self.sends.push(Box::new(SendSlot {
                bytes: Vec::with_capacity(bytes.len().max(256)),
                addr: unspecified(),
            }));
        }
        let i = self.queued;
        self.queued += 1;
        let s = &mut self.sends[i];
        s.bytes.clear();
        s.bytes.extend_from_slice(bytes);
        if let Some(dst) = dst {
            s.addr = dst.into();
        }
        let (ptr, len) = (s.bytes.as_ptr(), s.bytes.len() as u32);
        let (addr, addr_len) = match dst {
            Some(_) => (s.addr.as_ptr(), s.addr.len()),
            None => (std::ptr::null(), 0),
        };
        let e = match self.registered(fd) {
            Some(f) => opcode::Send::new(Fixed(f), ptr, len)
                .dest_addr(addr)
                .dest_addr_len(addr_len)
                .flags(libc::MSG_DONTWAIT)
                .build(),
            None => opcode::Send::new(Fd(fd), ptr, len)
                .dest_addr(addr)
                .dest_addr_len(addr_len)
                .flags(libc::MSG_DONTWAIT)
                .build(),
        };
        let e = e.flags(squeue::Flags::SKIP_SUCCESS).user_data(SEND);
        // SAFETY: the entry points at slot `i` (boxed, reused only after `taken`) and at its
        // bytes; there is room, checked above.
        unsafe { self.ring.submission().push(&e) }
            .map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// Submits what is queued, waits up to `timeout` for a completion (not at all when
    /// completions are already kept), and appends what came back to `out`.
    pub fn wait(&mut self, timeout: Duration, out: &mut Vec<Done>) -> io::Result<()> {
        out.extend(self.stash.drain(..));
        let ts = Timespec::from(if out.is_empty() {
            timeout
        } else {
            Duration::ZERO
        });
        match self
            .ring
            .submitter()
            .submit_with_args(1, &SubmitArgs::new().timespec(&ts))
        {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {} // CQ full: reap first
            Err(e) => return Err(e),
        }
        self.taken();
        self.reap(out, None);
        Ok(())
    }

    /// Reads the completion queue into `got` (and the results of cancellations into
    /// `cancels`, which come only while [`Self::cancel`] waits for them); failed sends are
    /// counted and the eventfd's poll re-armed here.
    fn reap(&mut self, got: &mut Vec<Done>, mut cancels: Option<&mut Vec<(u64, i32)>>) {
        let mut rearm_wake = false;
        for cqe in self.ring.completion() {
            let (data, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            let more = cqueue::more(flags);
            match data & KIND {
                SEND => self.send_errors += 1, // only failures complete

                WAKE => {
                    rearm_wake |= !more;
                    got.push(Done::Wake);
                }
                CANCEL => {
                    if let Some(c) = cancels.as_deref_mut() {
                        c.push((data & !KIND, res));
                    }
                }
                _ => got.push(Done::Recv {
                    token: data & !KIND,
                    res,
                    flags,
                    more,
                }),
            }
        }
        if rearm_wake {
            let _ = self.arm_wake();
        }
    }

    /// Gives the buffer of a receive completion (if it holds one) back to the kernel.
    pub fn give_back(&mut self, flags: u32) {
        if let Some(bid) = cqueue::buffer_select(flags) {
            self.pool.put(bid);
            self.pool.publish();
        }
    }

    /// The datagram of a receive completion, copied into `out`, with its source and (when
    /// stamping) arrival time; its buffer goes back to the kernel. `None` for an error or a
    /// datagram too big for a buffer.
    pub fn packet(
        &mut self,
        res: i32,
        flags: u32,
        out: &mut [u8],
    ) -> Option<(usize, SocketAddr, Option<Duration>)> {
        let bid = cqueue::buffer_select(flags)?;
        let got = (res >= 0)
            .then(|| RecvMsgOut::parse(self.pool.buffer(bid, res as usize), &self.msg).ok())
            .flatten()
            .filter(|m| !m.is_payload_truncated() && m.payload_data().len() <= out.len())
            .and_then(|m| {
                let src = sockaddr_from(m.name_data())?;
                let n = m.payload_data().len();
                out[..n].copy_from_slice(m.payload_data());
                Some((n, src, stamp_of(m.control_data())))
            });
        self.pool.put(bid);
        self.pool.publish();
        got
    }
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: all-zero is a valid utsname; uname fills it with NUL-terminated strings.
    let mut u: libc::utsname = unsafe { zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    // SAFETY: `release` is NUL-terminated within the array (uname succeeded).
    let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    let mut parts = release
        .to_str()
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// A source address as the kernel wrote it into a receive buffer.
fn sockaddr_from(name: &[u8]) -> Option<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let n = name.len().min(size_of::<libc::sockaddr_storage>());
    // SAFETY: copies at most the storage's size from a live slice into a live struct.
    unsafe {
        std::ptr::copy_nonoverlapping(name.as_ptr(), &mut ss as *mut _ as *mut u8, n);
    }
    sockaddr(ss, n as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    //! The backend on real loopback sockets (needs a kernel with io_uring, 6.1+).
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    /// A ring, or `None` (and a note) where the kernel or a seccomp profile refuses one.
    fn ring(stamps: bool) -> Option<(Uring, super::super::sys::EventFd)> {
        if !super::super::io_uring_available() {
            eprintln!("io_uring unavailable here: the engine would use epoll; skipped");
            return None;
        }
        let wake = super::super::sys::EventFd::new().unwrap();
        let mut u = Uring::new(wake.raw(), stamps).unwrap();
        u.enable().unwrap();
        Some((u, wake))
    }

    /// Waits (bounded) until `want` says the completions so far are enough.
    fn until(u: &mut Uring, want: impl Fn(&[Done]) -> bool) -> Vec<Done> {
        let mut all = Vec::new();
        for _ in 0..200 {
            u.wait(Duration::from_millis(10), &mut all).unwrap();
            if want(&all) {
                return all;
            }
        }
        panic!("completions never came: {all:?}");
    }

    #[test]
    fn packets_come_in_with_their_source_and_go_out_to_their_destination() {
        let Some((mut u, wake)) = ring(false) else {
            return;
        };
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        leg.set_nonblocking(true).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.watch(leg.as_raw_fd(), 7).unwrap();
        for i in 0..3u8 {
            phone.send_to(&[i; 172], leg.local_addr().unwrap()).unwrap();
        }
        let got = until(&mut u, |d| d.len() >= 3);
        let mut buf = [0u8; 2048];
        for (i, d) in got.into_iter().enumerate() {
            let Done::Recv {
                token,
                res,
                flags,
                more,
            } = d
            else {
                panic!("{d:?}");
            };
            assert_eq!(token, 7);
            assert!(more, "the multishot receive stays armed");
            let (n, src, stamp) = u.packet(res, flags, &mut buf).unwrap();
            assert_eq!((n, src, stamp), (172, phone.local_addr().unwrap(), None));
            assert!(buf[..n].iter().all(|&b| b == i as u8), "in order, intact");
        }
        // Three times as many datagrams as the pool has buffers, in bursts the socket buffer
        // holds: every buffer goes back as it is read, so the ring wraps and none is lost.
        let total = 3 * BUFFERS as usize;
        let mut seen = 0;
        for burst in (0..total).collect::<Vec<_>>().chunks(128) {
            for &i in burst {
                let b = (i as u32).to_be_bytes();
                phone.send_to(&b, leg.local_addr().unwrap()).unwrap();
            }
            let want = seen + burst.len();
            let got = until(&mut u, |d| d.len() >= burst.len());
            for d in got {
                let Done::Recv {
                    res, flags, more, ..
                } = d
                else {
                    continue;
                };
                let (n, _, _) = u.packet(res, flags, &mut buf).unwrap();
                assert_eq!(&buf[..n], &(seen as u32).to_be_bytes(), "in order");
                seen += 1;
                assert!(more);
            }
            assert_eq!(seen, want);
        }

        // Out: the send leaves at the next wait, from the leg's socket.
        u.send(leg.as_raw_fd(), b"hello", phone.local_addr().ok())
            .unwrap();
        let mut d = Vec::new();
        u.wait(Duration::ZERO, &mut d).unwrap();
        phone
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut r = [0u8; 16];
        let (n, from) = phone.recv_from(&mut r).unwrap();
        assert_eq!((&r[..n], from), (&b"hello"[..], leg.local_addr().unwrap()));
        // Connected to the phone, the leg sends without an address.
        leg.connect(phone.local_addr().unwrap()).unwrap();
        u.send(leg.as_raw_fd(), b"again", None).unwrap();
        u.wait(Duration::ZERO, &mut d).unwrap();
        let (n, from) = phone.recv_from(&mut r).unwrap();
        assert_eq!((&r[..n], from), (&b"again"[..], leg.local_addr().unwrap()));
        assert_eq!(u.send_errors, 0);

        // The command eventfd wakes the ring, again and again.
        for _ in 0..2 {
            wake.notify();
            until(&mut u, |d| d.iter().any(|d| matches!(d, Done::Wake)));
            wake.drain();
        }
    }

    /// A receive that runs out of buffers ends (`ENOBUFS`, no more to come); the datagrams
    /// wait in the socket, and once the buffers are back and the receive armed again, they
    /// all arrive.
    #[test]
    fn a_receive_out_of_buffers_ends_and_armed_again_loses_nothing() {
        let Some((mut u, _wake)) = ring(false) else {
            return;
        };
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        leg.set_nonblocking(true).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.watch(leg.as_raw_fd(), 3).unwrap();
        let total = BUFFERS as u32 + 150;
        let mut held = Vec::new(); // completions whose buffers are kept from the kernel
        let mut ended = None;
        for burst in (0..total).collect::<Vec<_>>().chunks(150) {
            for i in burst {
                phone
                    .send_to(&i.to_be_bytes(), leg.local_addr().unwrap())
                    .unwrap();
            }
            let want = held.len() + burst.len();
            for _ in 0..200 {
                let mut d = Vec::new();
                u.wait(Duration::from_millis(5), &mut d).unwrap();
                for d in d {
                    if let Done::Recv {
                        res, flags, more, ..
                    } = d
                    {
                        if res >= 0 {
                            held.push((res, flags));
                        }
                        if !more {
                            ended = Some(res);
                        }
                    }
                }
                if held.len() >= want || ended.is_some() {
                    break;
                }
            }
        }
        assert_eq!(held.len(), BUFFERS as usize, "every buffer in use");
        assert_eq!(
            ended,
            Some(-libc::ENOBUFS),
            "the receive ended for want of one"
        );
        let mut buf = [0u8; 64];
        let mut seen: Vec<u32> = held
            .into_iter()
            .map(|(res, flags)| {
                let (n, _, _) = u.packet(res, flags, &mut buf).unwrap();
                u32::from_be_bytes(buf[..n].try_into().unwrap())
            })
            .collect();
        u.watch(leg.as_raw_fd(), 3).unwrap();
        let rest = until(&mut u, |d| d.len() >= 150);
        for d in rest {
            let Done::Recv { res, flags, .. } = d else {
                continue;
            };
            let (n, _, _) = u.packet(res, flags, &mut buf).unwrap();
            seen.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
        }
        assert_eq!(seen, (0..total).collect::<Vec<_>>(), "in order, none lost");
    }

    /// More sends in one round than the submission queue holds: the queue is handed over
    /// mid-round and its slots reused, and every datagram still leaves intact. A send the
    /// kernel refuses is counted (only failures complete).
    #[test]
    fn a_round_of_more_sends_than_the_queue_holds_arrives_intact() {
        let Some((mut u, _wake)) = ring(false) else {
            return;
        };
        // Eleven legs, each sending 100 datagrams to its phone (100 fit in a phone's receive
        // buffer; one socket sending all 1,100 at once would find its send buffer full).
        let bind = || UdpSocket::bind("127.0.0.1:0").unwrap();
        let legs: Vec<UdpSocket> = (0..11).map(|_| bind()).collect();
        let phones: Vec<UdpSocket> = (0..11).map(|_| bind()).collect();
        let n = 1_100u32;
        assert!(n > SQ_ENTRIES);
        for i in 0..n {
            let k = i as usize % phones.len();
            let to = phones[k].local_addr().unwrap();
            u.send(legs[k].as_raw_fd(), &i.to_be_bytes(), Some(to))
                .unwrap();
        }
        let mut d = Vec::new();
        u.wait(Duration::ZERO, &mut d).unwrap();
        let mut got = Vec::new();
        for p in &phones {
            p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 16];
            for _ in 0..n as usize / phones.len() {
                let k = p.recv(&mut b).expect("each phone's 100 datagrams");
                assert_eq!(k, 4);
                got.push(u32::from_be_bytes(b[..4].try_into().unwrap()));
            }
        }
        got.sort_unstable();
        assert_eq!(
            got,
            (0..n).collect::<Vec<_>>(),
            "each datagram once, intact"
        );
        assert_eq!(u.send_errors, 0);
        // An IPv6 destination from an IPv4 socket is refused by the kernel.
        u.send(legs[0].as_raw_fd(), b"x", "[::1]:9".parse().ok())
            .unwrap();
        let mut d = Vec::new();
        u.wait(Duration::ZERO, &mut d).unwrap();
        assert_eq!(u.send_errors, 1, "the failure completes at once");
    }

    #[test]
    fn an_unwatched_socket_is_let_go_at_once_and_stamps_come_when_asked() {
        let Some((mut u, _wake)) = ring(true) else {
            return;
        };
        let leg = UdpSocket::bind("127.0.0.1:0").unwrap();
        leg.set_nonblocking(true).unwrap();
        super::super::sys::enable_receive_timestamps(leg.as_raw_fd()).unwrap();
        let addr = leg.local_addr().unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.watch(leg.as_raw_fd(), 9).unwrap();
        phone.send_to(&[1; 20], addr).unwrap();
        let got = until(&mut u, |d| !d.is_empty());
        let Done::Recv { res, flags, .. } = got[0] else {
            panic!("{got:?}");
        };
        let mut buf = [0u8; 2048];
        let (_, _, stamp) = u.packet(res, flags, &mut buf).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let stamp = stamp.expect("the kernel's arrival stamp");
        assert!(stamp <= now && now - stamp < Duration::from_secs(5));

        // A datagram waiting in the ring when the leg goes is dropped with it.
        phone.send_to(&[2; 20], addr).unwrap();
        u.unwatch(leg.as_raw_fd(), 9);
        drop(leg);
        // The kernel holds no reference: the port can be bound again at once.
        let again = UdpSocket::bind(addr).expect("the port is free once unwatched");
        let mut d = Vec::new();
        u.wait(Duration::from_millis(20), &mut d).unwrap();
        assert!(
            d.iter().all(|d| !matches!(d, Done::Recv { token: 9, .. })),
            "nothing of the old leg is reported: {d:?}"
        );
        drop(again);
    }
}
