//! The media engine's counters on `/metrics`, read every few seconds by a task of its own
//! (reading them is a round trip to every engine thread, which the SIP task must never
//! wait for), and a warning in the log whenever recordings lost audio because the writer
//! fell behind.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::shell::media::{EngineStats, MediaHandle};

/// How often the counters are read.
pub const EVERY: Duration = Duration::from_secs(5);

/// Publishes until `stop` turns true or the engine stops.
pub async fn run(media: MediaHandle, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EVERY);
    let mut dropped = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let Ok(s) = media.stats().await else {
            return;
        };
        publish(&metrics, &s);
        if s.recorder_dropped > dropped {
            tracing::warn!(
                batches = s.recorder_dropped - dropped,
                "recording writer fell behind: audio dropped from recordings"
            );
        }
        dropped = s.recorder_dropped;
    }
}

/// Sets the media families from one reading.
pub fn publish(metrics: &Metrics, s: &EngineStats) {
    let values = [
        ("rexian_media_calls", s.calls as f64),
        ("rexian_media_legs", s.legs as f64),
        ("rexian_media_packets_in_total", s.rx_packets as f64),
        ("rexian_media_packets_out_total", s.tx_packets as f64),
        ("rexian_media_packets_refused_total", s.rx_refused as f64),
        ("rexian_media_send_errors_total", s.send_errors as f64),
        ("rexian_media_packets_lost", s.lost as f64),
        (
            "rexian_media_recording_drops_total",
            s.recorder_dropped as f64,
        ),
        (
            "rexian_media_longest_sweep_seconds",
            s.longest_sweep_us as f64 / 1e6,
        ),
        ("rexian_media_io_uring_threads", s.io_uring_threads as f64),
    ];
    for (name, v) in values {
        metrics.set(name, "", v);
    }
}
