//! Stream connections (TCP, and TLS over it): accept with a cap, frame SIP messages by
//! Content-Length (telling an incomplete message from a malformed one), answer CRLF keep-alive
//! pings, and write what the SIP task sends back on the same connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use super::transport::{Connections, Inbound};
use crate::metrics::Metrics;
use crate::sip::framing::{frame, Framing};
use crate::sip::peer::{Peer, Transport};

/// Settings shared by every connection.
#[derive(Clone)]
pub struct StreamContext {
    pub conns: Arc<Connections>,
    pub inbound: mpsc::Sender<Inbound>,
    pub metrics: Arc<Metrics>,
    pub max_message: usize,
    pub limit: Arc<Semaphore>,
    pub shutdown: watch::Receiver<bool>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts connections until shutdown. Over the cap, a new connection is closed at once.
pub async fn accept_loop(listener: TcpListener, ctx: StreamContext) {
    let transport = if ctx.tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    let mut shutdown = ctx.shutdown.clone();
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (sock, addr) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = ctx.limit.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "stream connection refused: connection cap reached");
            continue;
        };
        let _ = sock.set_nodelay(true);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            match &ctx.tls {
                None => serve_stream(sock, addr, transport, &ctx).await,
                Some(acceptor) => match acceptor.accept(sock).await {
                    Ok(tls) => serve_stream(tls, addr, transport, &ctx).await,
                    Err(e) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                },
            }
            drop(permit);
        });
    }
}

/// Runs one connection: a reader loop here, a writer task beside it.
pub async fn serve_stream<S>(stream: S, addr: SocketAddr, transport: Transport, ctx: &StreamContext)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Bytes>(256);
    let id = ctx.conns.register(transport, addr, tx.clone());
    ctx.metrics
        .set("rexian_tcp_connections", "", ctx.conns.len() as f64);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let peer = Peer {
        transport,
        addr,
        conn: Some(id),
    };
    let mut buf = BytesMut::with_capacity(8192);
    let mut shutdown = ctx.shutdown.clone();
    'conn: loop {
        // Hand over every complete message already buffered.
        loop {
            match frame(&buf, ctx.max_message) {
                Framing::Complete { len } => {
                    let msg = buf.split_to(len).freeze();
                    if ctx
                        .inbound
                        .send(Inbound::Message { peer, bytes: msg })
                        .await
                        .is_err()
                    {
                        break 'conn;
                    }
                }
                Framing::KeepAlive { len } => {
                    // RFC 5626 §3.5.1: a double CRLF ping gets a single CRLF pong.
                    let ping = &buf[..len];
                    if ping.windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = tx.send(Bytes::from_static(b"\r\n")).await;
                    }
                    buf.advance(len);
                }
                Framing::Incomplete => break,
                Framing::Malformed(err) => {
                    // A stream cannot resynchronise after a bad frame: answer if we can, close.
                    ctx.metrics
                        .inc("rexian_sip_parse_errors_total", "transport=\"stream\"");
                    tracing::debug!(%addr, reason = %err.reason, "malformed stream frame; closing");
                    break 'conn;
                }
            }
        }
        let read = tokio::select! {
            r = rd.read_buf(&mut buf) => r,
            _ = shutdown.changed() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    ctx.conns.remove(id);
    ctx.metrics
        .set("rexian_tcp_connections", "", ctx.conns.len() as f64);
    let _ = ctx.inbound.send(Inbound::Closed { conn: id }).await;
    drop(tx);
    let _ = writer.await;
}
