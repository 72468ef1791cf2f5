//! The SIP transports: one UDP socket and stream connections (TCP, TLS) on the SIP port.
//!
//! Inbound traffic from every transport becomes [`Inbound`] values on one channel to the SIP
//! task; outbound [`Transmit`]s go out through [`Transports::send`], over UDP or over the
//! connection the peer is on (a phone behind NAT is reached on the connection its REGISTER
//! used). A capped number of stream connections is accepted; past the cap new ones are closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::sip::peer::{ConnId, Peer, Transmit, Transport};

/// Something that arrived for the SIP task.
#[derive(Debug)]
pub enum Inbound {
    /// One datagram, or one framed message from a stream.
    Message { peer: Peer, bytes: Bytes },
    /// A stream connection closed.
    Closed { conn: ConnId },
}

/// Open stream connections, by id and by remote address.
#[derive(Debug, Default)]
pub struct Connections {
    next: AtomicU64,
    inner: Mutex<ConnMaps>,
}

#[derive(Debug, Default)]
struct ConnMaps {
    by_id: HashMap<ConnId, (Transport, SocketAddr, mpsc::Sender<Bytes>)>,
    by_addr: HashMap<(Transport, SocketAddr), ConnId>,
}

impl Connections {
    pub fn register(
        &self,
        transport: Transport,
        addr: SocketAddr,
        tx: mpsc::Sender<Bytes>,
    ) -> ConnId {
        let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.by_id.insert(id, (transport, addr, tx));
        m.by_addr.insert((transport, addr), id);
        id
    }

    pub fn remove(&self, id: ConnId) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, a, _)) = m.by_id.remove(&id) {
            if m.by_addr.get(&(t, a)) == Some(&id) {
                m.by_addr.remove(&(t, a));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The writer for a peer: its own connection if it names one and it is open, else any
    /// open connection to the same address and transport.
    fn writer(&self, peer: &Peer) -> Option<mpsc::Sender<Bytes>> {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = peer.conn {
            if let Some((_, _, tx)) = m.by_id.get(&id) {
                return Some(tx.clone());
            }
        }
        let id = m.by_addr.get(&(peer.transport, peer.addr))?;
        m.by_id.get(id).map(|(_, _, tx)| tx.clone())
    }
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("UDP send to {0} failed: {1}")]
    Udp(SocketAddr, std::io::Error),
    #[error("no open {0} connection to {1}")]
    NoConnection(Transport, SocketAddr),
}

/// The outbound side, shared by the SIP task.
#[derive(Clone, Debug)]
pub struct Transports {
    pub udp: Arc<UdpSocket>,
    pub conns: Arc<Connections>,
    pub metrics: Arc<Metrics>,
}

impl Transports {
    /// Sends without waiting when the socket can take it at once (the usual case).
    pub async fn send(&self, t: Transmit) -> Result<(), SendError> {
        match t.peer.transport {
            Transport::Udp => match self.udp.try_send_to(&t.bytes, t.peer.addr) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self
                    .udp
                    .send_to(&t.bytes, t.peer.addr)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::Udp(t.peer.addr, e)),
                Err(e) => Err(SendError::Udp(t.peer.addr, e)),
            },
            transport => {
                let tx = self
                    .conns
                    .writer(&t.peer)
                    .ok_or(SendError::NoConnection(transport, t.peer.addr))?;
                tx.send(Bytes::from(t.bytes))
                    .await
                    .map_err(|_| SendError::NoConnection(transport, t.peer.addr))
            }
        }
    }
}

/// Reads datagrams until the channel closes. Runs as its own task.
pub async fn udp_reader(sock: Arc<UdpSocket>, max: usize, out: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; max.max(1500)];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP port-unreachable from a previous send surfaces here on some systems.
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        if n == 0 || buf[..n].iter().all(|b| matches!(b, b'\r' | b'\n' | b' ')) {
            continue; // keep-alive
        }
        let msg = Inbound::Message {
            peer: Peer::udp(from),
            bytes: Bytes::copy_from_slice(&buf[..n]),
        };
        if out.send(msg).await.is_err() {
            return;
        }
    }
}
