//! The media engine alone, for the benchmark in `bench/media/`: opens `--calls N` calls of two
//! PCMU legs each on 127.0.0.1, bridged and recorded (remote addresses left to latching),
//! writes the legs' RTP ports to `--ports-file` (first line: `base_rss_kb <n>`, then one
//! `<caller port> <agent port>` line per call), and runs until SIGTERM/Ctrl-C, when it prints
//! the engine's counters as one `key=value` line and finishes the recordings.
//!
//! `cargo run --release --example media_engine_server -- --calls 500 --ports-file /tmp/p`
//! (`--threads N` spreads the calls over N engine threads; `--measure-after S` starts the
//! holding-time histogram of `--measure-held` S seconds after the ports file is written, past
//! the load's warm-up; `--epoll` keeps the engine off io_uring). `--mode three-way` makes each call
//! a conference of three full parties; `--mode listen` adds a listening supervisor leg to each
//! bridged call (the port file then has three ports per line, the caller's first).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use chrono::Utc;
use rexian::media::g711::Law;
use rexian::shell::media::{MediaConfig, MediaEngine, PartyRole, RecordingSpec, RemoteMedia};
use uuid::Uuid;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let calls: usize = arg(&args, "--calls").unwrap_or("100".into()).parse()?;
    let ports_file = PathBuf::from(arg(&args, "--ports-file").ok_or("--ports-file FILE")?);
    let recordings = PathBuf::from(arg(&args, "--recordings").unwrap_or("bench-recordings".into()));
    let no_record = args.iter().any(|a| a == "--no-record");
    let measure_after: f64 = arg(&args, "--measure-after")
        .unwrap_or("0".into())
        .parse()?;
    let mode = arg(&args, "--mode").unwrap_or("bridge".into());
    if !["bridge", "three-way", "listen"].contains(&mode.as_str()) {
        return Err("--mode bridge|three-way|listen".into());
    }
    let cfg = MediaConfig {
        rtp_ports: arg(&args, "--rtp-ports")
            .unwrap_or("40000-49999".into())
            .parse()?,
        recordings: Some(recordings.clone()),
        threads: arg(&args, "--threads").unwrap_or("1".into()).parse()?,
        measure_holding: args.iter().any(|a| a == "--measure-held"),
        io_uring: !args.iter().any(|a| a == "--epoll"),
        ..MediaConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let engine = MediaEngine::start(&cfg, recordings)?;
        let h = engine.handle.clone();
        let base = rss_kb();
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let remote = RemoteMedia {
            law: Law::Ulaw,
            audio_pt: 0,
            dtmf_pt: Some(101),
            rtp: None,
            rtcp: None,
            ptime_ms: 20,
            on_hold: false,
        };
        let mut lines = format!("base_rss_kb {base}\n");
        for _ in 0..calls {
            let call = h.new_call().await?;
            let a = h.open_leg(call, local).await?;
            let b = h.open_leg(call, local).await?;
            h.set_remote(a.leg, remote).await?;
            h.set_remote(b.leg, remote).await?;
            let rec = (!no_record).then(|| RecordingSpec {
                id: Uuid::new_v4(),
                started: Utc::now(),
                caller: a.leg,
            });
            if mode == "bridge" {
                h.bridge(a.leg, b.leg, rec).await?;
                lines.push_str(&format!("{} {}\n", a.rtp.port(), b.rtp.port()));
                continue;
            }
            let c = h.open_leg(call, local).await?;
            h.set_remote(c.leg, remote).await?;
            let third = if mode == "listen" {
                PartyRole::Listen
            } else {
                PartyRole::Full
            };
            h.set_roles(
                vec![(a.leg, PartyRole::Full), (b.leg, PartyRole::Full), (c.leg, third)],
                rec,
            )
            .await?;
            lines.push_str(&format!(
                "{} {} {}\n",
                a.rtp.port(),
                b.rtp.port(),
                c.rtp.port()
            ));
        }
        let tmp = ports_file.with_extension("tmp");
        std::fs::File::create(&tmp)?.write_all(lines.as_bytes())?;
        std::fs::rename(&tmp, &ports_file)?;
        eprintln!("media_engine_server: {calls} calls ready");
        let shutdown = rexian::shell::shutdown_signal();
        tokio::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs_f64(measure_after)) => {
                // Reading the stats starts the longest sweep and the histogram afresh.
                h.stats().await?;
                shutdown.await;
            }
        }
        let s = h.stats().await?;
        let q = |x: f64| s.held.quantile_us(x).map_or("-".into(), |v| v.to_string());
        println!(
            "engine rx={} tx={} refused={} lost={} send_errors={} recorder_dropped={} wakeups={} rearmed={} io_uring_threads={} longest_sweep_us={} held_p50_us={} held_p99_us={} held_p999_us={} held_max_us={} rss_kb={}",
            s.rx_packets,
            s.tx_packets,
            s.rx_refused,
            s.lost,
            s.send_errors,
            s.recorder_dropped,
            s.wakeups,
            s.rx_rearmed,
            s.io_uring_threads,
            s.longest_sweep_us,
            q(0.5),
            q(0.99),
            q(0.999),
            q(1.0),
            rss_kb()
        );
        engine.shutdown();
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
