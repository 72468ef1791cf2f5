//! Carrier trunks on the shell side: turns the dialplan's trunks into the endpoint's client
//! specs (names resolved once per plan, our own address as each carrier reaches it), and
//! shows trunk state as metrics (`rexian_trunk_up`, `rexian_trunk_registered`) and logs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::call::plan::{Dialplan, TrunkAuth};
use crate::http::calls::TrunkView;
use crate::metrics::Metrics;
use crate::sip::digest_client::ClientCredentials;
use crate::sip::peer::Peer;
use crate::sip::trunk_client::{TrunkEvent, TrunkSpec, TrunkStatus};

/// The client side of every trunk with an outbound address that registers or is pinged.
/// `listen` is our SIP address (an unspecified IP is replaced by the one the routing table
/// uses towards each carrier).
pub async fn specs(plan: &Dialplan, listen: SocketAddr) -> Vec<TrunkSpec> {
    let mut out = Vec::new();
    for t in &plan.trunks {
        let Some(address) = &t.address else { continue };
        if !t.register && t.options_interval_secs.is_none() {
            continue;
        }
        let resolved = match tokio::net::lookup_host(address.as_str()).await {
            Ok(mut a) => a.next(),
            Err(e) => {
                tracing::warn!(trunk = %t.name, error = %e, "trunk address not resolved");
                None
            }
        };
        let Some(addr) = resolved else { continue };
        let Some((host, port)) = address.rsplit_once(':') else {
            continue; // the loader insists on host:port
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        let ip = if listen.ip().is_unspecified() {
            local_ip_towards(addr).unwrap_or(listen.ip())
        } else {
            listen.ip()
        };
        out.push(TrunkSpec {
            name: t.name.clone(),
            peer: Peer::udp(addr),
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            local: SocketAddr::new(ip, listen.port()),
            credentials: t.auth.as_ref().map(credentials),
            register: t.register,
            options_interval: t
                .options_interval_secs
                .map(|s| Duration::from_secs(s.into())),
        });
    }
    out
}

/// The digest account a trunk answers a carrier's challenge with.
pub(crate) fn credentials(auth: &TrunkAuth) -> ClientCredentials {
    ClientCredentials {
        username: auth.username.clone(),
        password: auth.password.clone(),
        realm: auth.realm.clone(),
    }
}

/// The local address the kernel would use towards `peer` (no packet is sent).
pub(crate) fn local_ip_towards(peer: SocketAddr) -> Option<IpAddr> {
    let bind = if peer.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(peer).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// Logs a trunk event and updates its gauge.
pub fn on_event(metrics: &Metrics, ev: &TrunkEvent) {
    match ev {
        TrunkEvent::Health { trunk, up: true } => {
            tracing::info!(%trunk, "trunk up: it answers OPTIONS");
        }
        TrunkEvent::Health { trunk, up: false } => {
            tracing::warn!(%trunk, "trunk down: no usable answer to OPTIONS; calls skip it");
        }
        TrunkEvent::Registration {
            trunk,
            registered: true,
        } => tracing::info!(%trunk, "registered to the carrier"),
        TrunkEvent::Registration {
            trunk,
            registered: false,
        } => tracing::warn!(%trunk, "registration to the carrier lapsed"),
    }
    match ev {
        TrunkEvent::Health { trunk, up } => metrics.set(
            "rexian_trunk_up",
            &format!("trunk=\"{trunk}\""),
            f64::from(u8::from(*up)),
        ),
        TrunkEvent::Registration { trunk, registered } => metrics.set(
            "rexian_trunk_registered",
            &format!("trunk=\"{trunk}\""),
            f64::from(u8::from(*registered)),
        ),
    }
}

/// The trunks for the status view.
pub fn views(status: &[TrunkStatus]) -> Vec<TrunkView> {
    status
        .iter()
        .map(|t| TrunkView {
            name: t.name.clone(),
            up: t.up,
            registered: t.registered,
            registration_expires_secs: t.expires_in,
        })
        .collect()
}

/// Gauges for every trunk's known state (called every few seconds).
pub fn publish(metrics: &Metrics, status: &[TrunkStatus]) {
    for t in status {
        let labels = format!("trunk=\"{}\"", t.name);
        if let Some(up) = t.up {
            metrics.set("rexian_trunk_up", &labels, f64::from(u8::from(up)));
        }
        if let Some(r) = t.registered {
            metrics.set("rexian_trunk_registered", &labels, f64::from(u8::from(r)));
        }
    }
}
