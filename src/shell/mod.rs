//! The tokio shell: the only room that owns sockets, tasks, clocks and signals.
//!
//! [`run_daemon`] binds SIP (UDP and TCP on one port, TLS on its own), the HTTP API, opens the
//! store, and runs the SIP task that drives the sans-IO [`crate::sip::endpoint::Endpoint`]. When
//! the injected `shutdown` future resolves it stops taking new work, lets work in flight
//! finish (bounded), and returns.
//!
//! Rooms: [`transport`] (UDP and the connection table), [`stream`] (TCP/TLS framing),
//! [`tls`] (rustls setup), [`sip_task`] (the SIP event loop), [`calls`] (joins SIP legs, call
//! control and media), [`recorder`] (recording files), [`media`] (the media engine: RTP
//! sockets, relay, prompts, recording), [`lights`] (ticket red/yellow lights),
//! [`sms_worker`] (the SMS outbox sender), [`trunks`] (carrier trunks' registration and
//! health as specs, metrics and logs).

pub mod calls;
pub mod lights;
pub mod media;
pub mod media_metrics;
pub mod recorder;
pub mod sip_task;
pub mod sms_worker;
pub mod stream;
pub mod tls;
pub mod transport;
pub mod trunks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("dialplans refused: {0}")]
    Dialplan(crate::dialplan::DialplanError),
    #[error("{0}")]
    Calls(String),
}

/// At most this many ticket creations share one commit (`store::ticket_group`).
const TICKET_GROUP: usize = 128;

/// SIGHUP re-reads the dialplans, like `kamctl` or `asterisk -rx "dialplan reload"`, with the
/// working-day calendar and deadline policy: new calls follow the new plan, calls in progress
/// keep theirs, and a plan, calendar or policy that does not validate is refused (logged with
/// file:line) while the old ones stay.
async fn reload_on_sighup(control: crate::http::calls::ControlSender) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if control
                .send(crate::http::calls::ControlRequest::Reload(tx))
                .await
                .is_err()
            {
                return;
            }
            // The SIP task logs the outcome.
            let _ = rx.await;
        }
    }
    #[cfg(not(unix))]
    let _ = control;
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Binds UDP and TCP on the same address; with port 0, the port UDP got is used for TCP too.
async fn bind_sip(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), ShellError> {
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| ShellError::Bind {
                what: "SIP/UDP",
                addr,
                source,
            })?;
        let got = udp.local_addr().map_err(|source| ShellError::Bind {
            what: "SIP/UDP",
            addr,
            source,
        })?;
        let tcp = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|source| ShellError::Bind {
            what: "SIP/TCP",
            addr,
            source,
        })?;
        let _ = tcp.set_reuseaddr(true);
        match tcp.bind(got).and_then(|_| tcp.listen(1024)) {
            Ok(l) => {
                let _ = set_udp_buffers(&udp);
                return Ok((udp, l));
            }
            Err(_) if addr.port() == 0 => continue, // that port's TCP side is taken: try another
            Err(source) => {
                return Err(ShellError::Bind {
                    what: "SIP/TCP",
                    addr: got,
                    source,
                })
            }
        }
    }
    Err(ShellError::Bind {
        what: "SIP/TCP",
        addr,
        source: std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no port free for both UDP and TCP",
        ),
    })
}

/// Large socket buffers: a burst of thousands of datagrams must not be dropped by the kernel.
fn set_udp_buffers(udp: &UdpSocket) -> std::io::Result<()> {
    let sock = socket2::SockRef::from(udp);
    sock.set_recv_buffer_size(4 << 20)?;
    sock.set_send_buffer_size(4 << 20)
}

/// The templates ticket events send SMS with, when `[sms]` is configured. The config loader
/// has checked them already; should they still not parse, tickets go on without SMS.
fn ticket_sms(config: &Config) -> Option<Arc<crate::store::ticket_notify::TicketSms>> {
    let c = config.sms.as_ref()?;
    match crate::store::ticket_notify::TicketSms::from_config(c) {
        Ok(t) => Some(Arc::new(t)),
        Err(e) => {
            tracing::error!(error = %e, "SMS templates unusable; tickets send no SMS");
            None
        }
    }
}

/// Who is told of emergency hand-offs by SMS: `[sms] supervisors`, when there are any.
fn handoff_sms(config: &Config) -> Option<crate::store::handoffs::HandoffSms> {
    let c = config.sms.as_ref().filter(|c| !c.supervisors.is_empty())?;
    match c.templates() {
        Ok(templates) => Some(crate::store::handoffs::HandoffSms {
            templates,
            supervisors: c.supervisors.clone(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "SMS templates unusable; hand-offs send no SMS");
            None
        }
    }
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run_daemon(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ShellError> {
    for dir in [&config.data, &config.recordings] {
        std::fs::create_dir_all(dir).map_err(|source| ShellError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let store = Store::open(&config.database_url()).await?;
    let plan = crate::dialplan::load::load(&config.dialplans).map_err(ShellError::Dialplan)?;
    let mut media =
        media::MediaEngine::start(&config.media, config.recordings.clone()).map_err(|e| {
            ShellError::Dir {
                path: "media engine".into(),
                source: std::io::Error::other(e),
            }
        })?;
    let metrics = Arc::new(Metrics::new());
    let (udp, tcp) = bind_sip(config.sip).await?;
    let sip_addr = udp.local_addr().map_err(|source| ShellError::Bind {
        what: "SIP/UDP",
        addr: config.sip,
        source,
    })?;
    let http = TcpListener::bind(config.http)
        .await
        .map_err(|source| ShellError::Bind {
            what: "HTTP",
            addr: config.http,
            source,
        })?;
    let http_addr = http.local_addr().map_err(|source| ShellError::Bind {
        what: "HTTP",
        addr: config.http,
        source,
    })?;
    let tls = match (config.tls, &config.tls_cert, &config.tls_key) {
        (Some(addr), Some(cert), Some(key)) => {
            let acceptor = tls::acceptor(cert, key)?;
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| ShellError::Bind {
                    what: "SIP/TLS",
                    addr,
                    source,
                })?;
            Some((l, acceptor))
        }
        _ => None,
    };
    let tls_addr = tls.as_ref().and_then(|(l, _)| l.local_addr().ok());

    let (stop_tx, stop_rx) = watch::channel(false);
    let (in_tx, in_rx) = mpsc::channel(65_536);
    let udp = Arc::new(udp);
    let conns = Arc::new(transport::Connections::default());
    let transports = transport::Transports {
        udp: udp.clone(),
        conns: conns.clone(),
        metrics: metrics.clone(),
    };
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let stream_ctx = |tls| stream::StreamContext {
        conns: conns.clone(),
        inbound: in_tx.clone(),
        metrics: metrics.clone(),
        max_message: config.max_message_bytes,
        limit: limit.clone(),
        shutdown: stop_rx.clone(),
        tls,
    };

    let mut tasks = tokio::task::JoinSet::new();
    let udp_task = tokio::spawn(transport::udp_reader(
        udp.clone(),
        config.max_message_bytes,
        in_tx.clone(),
    ));
    tasks.spawn(stream::accept_loop(tcp, stream_ctx(None)));
    if let Some((l, acceptor)) = tls {
        tasks.spawn(stream::accept_loop(l, stream_ctx(Some(acceptor))));
    }
    let core = sip_task::SipTask::new(
        &config,
        sip_addr,
        tls_addr,
        store.clone(),
        metrics.clone(),
        transports,
    );
    let mut calls = calls::Calls::new(
        Arc::new(plan),
        media.handle.clone(),
        store.clone(),
        metrics.clone(),
        Some(sip_addr.ip()),
        handoff_sms(&config),
        std::time::Instant::now(),
    )
    .await
    .map_err(ShellError::Calls)?;
    calls.restore_callbacks(std::time::Instant::now()).await;
    let (core, control) = match media.events.take() {
        Some(events) => {
            let (core, control) = core.with_calls(calls, events);
            (core, Some(control))
        }
        None => (core, None),
    };
    if let Some(control) = control {
        tokio::spawn(reload_on_sighup(control));
    }
    tasks.spawn(media_metrics::run(
        media.handle.clone(),
        metrics.clone(),
        stop_rx.clone(),
    ));
    let live = core.live_view();
    let ticket_sms = ticket_sms(&config);
    tasks.spawn(lights::start(
        &config,
        store.clone(),
        ticket_sms.clone(),
        stop_rx.clone(),
    ));
    let sip = tokio::spawn(core.run(in_rx, stop_rx.clone()));
    let app = crate::http::AppState {
        store: store.clone(),
        metrics: metrics.clone(),
        live,
        sms: ticket_sms,
        tickets: crate::store::ticket_group::GroupCreator::spawn(store.clone(), TICKET_GROUP),
    };
    if let Some(c) = config.sms.clone() {
        tasks.spawn(sms_worker::run(c, store.clone(), stop_rx.clone()));
    }
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(crate::http::serve(http, app, async move {
        let _ = http_stop.changed().await;
    }));

    match tls_addr {
        Some(t) => println!("rexian ready sip={sip_addr} http={http_addr} tls={t}"),
        None => println!("rexian ready sip={sip_addr} http={http_addr}"),
    }
    tracing::info!(%sip_addr, %http_addr, ?tls_addr, "listening");

    shutdown.await;
    tracing::info!("shutting down: no new work, finishing what is in flight");
    let _ = stop_tx.send(true);
    drop(in_tx);
    // The SIP task answers new requests with 503, waits for what is in flight (bounded
    // inside) and returns; only then does the UDP reader stop.
    let _ = tokio::time::timeout(Duration::from_secs(40), sip).await;
    udp_task.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), http_task).await {
        return Err(ShellError::Http(e));
    }
    store.close().await;
    Ok(())
}
