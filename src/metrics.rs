//! Counters and gauges for `/metrics`, in the Prometheus text format.
//!
//! Labelled counters sit in small maps behind one mutex each; a hit on an existing label set
//! costs a lock and a hash lookup, no allocation. The set of metric names is fixed here, with
//! their help texts, so `/metrics` always shows every family (at zero before first use).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Every metric family rexian exports: (name, type, help).
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "rexian_sip_messages_in_total",
        "counter",
        "SIP messages received, by kind and method or status",
    ),
    (
        "rexian_sip_messages_out_total",
        "counter",
        "SIP messages sent, by kind and method or status",
    ),
    (
        "rexian_sip_parse_errors_total",
        "counter",
        "Datagrams or stream frames that did not parse",
    ),
    (
        "rexian_sip_transactions_total",
        "counter",
        "SIP transactions created, by side",
    ),
    (
        "rexian_sip_transactions",
        "gauge",
        "SIP transactions in progress",
    ),
    (
        "rexian_registrations",
        "gauge",
        "Registered contact bindings",
    ),
    (
        "rexian_registrations_total",
        "counter",
        "Successful REGISTER requests",
    ),
    (
        "rexian_trunk_up",
        "gauge",
        "Whether a trunk answers its OPTIONS health check (1) or not (0), per trunk",
    ),
    (
        "rexian_trunk_registered",
        "gauge",
        "Whether rexian is registered to the carrier of a trunk, per trunk",
    ),
    (
        "rexian_auth_failures_total",
        "counter",
        "Failed digest authentications",
    ),
    (
        "rexian_auth_lockouts_total",
        "counter",
        "Address and user pairs locked out",
    ),
    (
        "rexian_tcp_connections",
        "gauge",
        "Open SIP stream connections (TCP and TLS)",
    ),
    ("rexian_media_calls", "gauge", "Calls with media anchored"),
    (
        "rexian_media_legs",
        "gauge",
        "Media legs (RTP/RTCP socket pairs) open",
    ),
    (
        "rexian_media_packets_in_total",
        "counter",
        "RTP and RTCP packets received by the media engine",
    ),
    (
        "rexian_media_packets_out_total",
        "counter",
        "RTP and RTCP packets sent by the media engine",
    ),
    (
        "rexian_media_packets_refused_total",
        "counter",
        "Packets the relay refused (not latched, unknown payload type, malformed)",
    ),
    (
        "rexian_media_send_errors_total",
        "counter",
        "Media packets the kernel would not send",
    ),
    (
        "rexian_media_packets_lost",
        "gauge",
        "RTP packets lost on the way in, summed over the legs open now",
    ),
    (
        "rexian_media_recording_drops_total",
        "counter",
        "Recording batches dropped because the writer fell behind (audio missing from recordings)",
    ),
    (
        "rexian_media_longest_sweep_seconds",
        "gauge",
        "The longest 20 ms timer sweep of an engine thread since the previous reading",
    ),
    (
        "rexian_media_io_uring_threads",
        "gauge",
        "Media engine threads on io_uring (the others use epoll)",
    ),
];

/// The daemon's metrics; shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    values: Mutex<HashMap<&'static str, HashMap<String, f64>>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds `by` to a counter (or gauge) with the given label set, e.g. `method="INVITE"`.
    pub fn add(&self, name: &'static str, labels: &str, by: f64) {
        let mut v = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let fam = v.entry(name).or_default();
        match fam.get_mut(labels) {
            Some(x) => *x += by,
            None => {
                fam.insert(labels.to_string(), by);
            }
        }
    }

    pub fn inc(&self, name: &'static str, labels: &str) {
        self.add(name, labels, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &str, value: f64) {
        let mut v = self.values.lock().unwrap_or_else(|p| p.into_inner());
        v.entry(name).or_default().insert(labels.to_string(), value);
    }

    pub fn get(&self, name: &str, labels: &str) -> f64 {
        let v = self.values.lock().unwrap_or_else(|p| p.into_inner());
        v.get(name)
            .and_then(|f| f.get(labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let v = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            match v.get(name) {
                Some(fam) if !fam.is_empty() => {
                    let mut rows: Vec<_> = fam.iter().collect();
                    rows.sort_by(|a, b| a.0.cmp(b.0));
                    for (labels, value) in rows {
                        if labels.is_empty() {
                            let _ = writeln!(out, "{name} {value}");
                        } else {
                            let _ = writeln!(out, "{name}{{{labels}}} {value}");
                        }
                    }
                }
                _ => {
                    let _ = writeln!(out, "{name} 0");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_labels_and_unused_families_show_zero() {
        let m = Metrics::new();
        m.inc(
            "rexian_sip_messages_in_total",
            "kind=\"request\",method=\"OPTIONS\"",
        );
        m.inc(
            "rexian_sip_messages_in_total",
            "kind=\"request\",method=\"OPTIONS\"",
        );
        m.set("rexian_registrations", "", 3.0);
        let text = m.render();
        assert!(
            text.contains("rexian_sip_messages_in_total{kind=\"request\",method=\"OPTIONS\"} 2\n")
        );
        assert!(text.contains("rexian_registrations 3\n"));
        assert!(text.contains("rexian_auth_failures_total 0\n"));
        assert!(text.contains("# TYPE rexian_registrations gauge\n"));
    }
}
