//! A leg's RTP socket as the kernel's source filter: while the relay accepts only its
//! latched source ([`Relay::exclusive_source`]), the socket is `connect`ed to that source.
//!
//! A connected UDP socket costs the kernel less per datagram: a send without an address
//! reuses the socket's cached route instead of looking one up and copying the address in,
//! and takes its IP ID from a counter of the socket. The relay's latching rule stays the
//! relay's: every [`super::engine::FILTER_EVERY`] sweeps the engine brings each socket in
//! line with it — connected to a source that has latched, freed (`connect` to
//! `AF_UNSPEC`) once the relay would accept another source because the latched one has
//! been quiet for the relatch guard — and frees it at once when a re-INVITE changes the
//! address.
//!
//! What the kernel does differently while connected: a datagram from any other source is
//! not delivered (the relay would have refused it), and the sender gets ICMP "port
//! unreachable" instead of silence; an ICMP error for a datagram sent to the source ends
//! the socket's current receive with `ECONNREFUSED` (it is armed again at the next sweep)
//! and fails the next send. Sockets bound to the wildcard address are never connected: a
//! connect would pin their local address to the route's, which need not be the one the
//! peer sends to. RTCP sockets are not connected either (their source may change at any
//! packet, and they carry one packet per leg every few seconds).
//!
//! [`Relay::exclusive_source`]: crate::media::relay::Relay::exclusive_source

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Whether and to where a leg's RTP socket is connected.
#[derive(Debug, Clone, Copy)]
pub(super) struct SourceFilter {
    peer: Option<SocketAddr>,
    /// False for a wildcard-bound socket, or once a connect has failed.
    usable: bool,
}

impl SourceFilter {
    /// The filter of a freshly bound (unconnected) socket. It must have been bound to an
    /// explicit port, as every leg socket is: the kernel keeps only such a port across a
    /// disconnect (an ephemeral one is given up).
    pub fn new(sock: &UdpSocket) -> SourceFilter {
        let usable = sock.local_addr().is_ok_and(|a| !a.ip().is_unspecified());
        SourceFilter { peer: None, usable }
    }

    /// The address the socket is connected to: sends there go without an address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Brings the socket in line with the one source the relay accepts (`None`: any).
    pub fn follow(&mut self, sock: &UdpSocket, exclusive: Option<SocketAddr>) {
        if exclusive == self.peer || !self.usable {
            return;
        }
        let done = match exclusive {
            Some(a) => sock.connect(a),
            None => disconnect(sock),
        };
        match done {
            Ok(()) => self.peer = exclusive,
            Err(e) => {
                // Left (or made) unconnected; this socket is not filtered again.
                tracing::debug!(error = %e, "media socket filter unavailable");
                self.usable = false;
                if self.peer.is_some() && disconnect(sock).is_ok() {
                    self.peer = None;
                }
            }
        }
    }
}

/// Dissolves a UDP socket's association (`connect` to `AF_UNSPEC`); it keeps its bound
/// address and port.
fn disconnect(sock: &UdpSocket) -> io::Result<()> {
    // SAFETY: all-zero is a valid sockaddr; AF_UNSPEC is 0.
    let mut a: libc::sockaddr = unsafe { zeroed() };
    a.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    // SAFETY: passes a live sockaddr of the stated size; the result is checked.
    let r = unsafe {
        libc::connect(
            sock.as_raw_fd(),
            &a,
            size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket bound to an explicit port, as a leg's is (from the port range).
    fn bound_explicitly() -> UdpSocket {
        loop {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .unwrap()
                .port();
            if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
                return s;
            }
        }
    }

    #[test]
    fn follows_the_relays_source_and_lets_others_in_again() {
        let leg = bound_explicitly();
        leg.set_nonblocking(true).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = leg.local_addr().unwrap();
        let mut f = SourceFilter::new(&leg);
        assert_eq!(f.peer(), None);

        f.follow(&leg, Some(phone.local_addr().unwrap()));
        assert_eq!(f.peer(), phone.local_addr().ok());
        assert_eq!(leg.peer_addr().unwrap(), phone.local_addr().unwrap());
        // Only the phone gets through; the bound port stays.
        stranger.send_to(b"s", to).unwrap();
        phone.send_to(b"p", to).unwrap();
        let mut buf = [0u8; 8];
        leg.set_nonblocking(false).unwrap();
        let (n, src) = leg.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], src), (&b"p"[..], phone.local_addr().unwrap()));

        f.follow(&leg, None);
        assert_eq!(f.peer(), None);
        assert!(leg.peer_addr().is_err(), "no longer connected");
        assert_eq!(leg.local_addr().unwrap(), to);
        stranger.send_to(b"s", to).unwrap();
        let (n, src) = leg.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], src),
            (&b"s"[..], stranger.local_addr().unwrap())
        );
    }

    #[test]
    fn a_wildcard_bound_socket_is_never_connected() {
        let leg = UdpSocket::bind("0.0.0.0:0").unwrap();
        let mut f = SourceFilter::new(&leg);
        f.follow(&leg, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(f.peer(), None);
        assert!(leg.peer_addr().is_err());
    }

    #[test]
    fn a_connect_that_fails_leaves_the_socket_open_to_all() {
        let leg = bound_explicitly();
        let mut f = SourceFilter::new(&leg);
        // An IPv6 peer for an IPv4 socket.
        f.follow(&leg, Some("[::1]:9".parse().unwrap()));
        assert_eq!(f.peer(), None);
        f.follow(&leg, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(f.peer(), None, "not tried again");
        assert!(leg.peer_addr().is_err());
    }
}
