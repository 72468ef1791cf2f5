//! The sans-IO media core on its own (no sockets): what one packet costs in the relay, with
//! and without transcoding and recording, and what the 20 ms work of mixing and prompts costs;
//! `conference/*` is one 20 ms of a whole three-way call through the relay (three packets in,
//! decode, mix, encode, three packets out), alone and with a listener.
//! `cargo bench --bench media_core`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rexian::media::g711::{self, Law};
use rexian::media::mixer::{Mixer, Role};
use rexian::media::prompt::{Player, Prompt};
use rexian::media::record::{RecordAssembler, Side};
use rexian::media::relay::{LegConfig, LegId, Output, Relay, RelayConfig};

const C: LegId = LegId(3);
const S: LegId = LegId(4);
use rexian::media::rtp::write_header;
use rexian::media::tone::SineGenerator;

const A: LegId = LegId(1);
const B: LegId = LegId(2);

fn leg(law: Law, remote: &str) -> LegConfig {
    let r: SocketAddr = remote.parse().unwrap();
    LegConfig {
        law,
        audio_pt: law.static_payload_type(),
        dtmf_pt: Some(101),
        remote_rtp: Some(r),
        remote_rtcp: None,
        on_hold: false,
    }
}

fn packet(law: Law, seq: u16, ts: u32, samples: &[i16]) -> Vec<u8> {
    let mut p = Vec::new();
    write_header(&mut p, false, law.static_payload_type(), seq, ts, 0x1234);
    g711::encode_into(law, samples, &mut p);
    p
}

/// Relays `n` packets A→B at 20 ms steps; with `rec`, also assembles the recording.
fn relay_bench(c: &mut Criterion, name: &str, law_b: Law, record: bool) {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        record,
        ..RelayConfig::default()
    };
    let mut r = Relay::new(cfg, t0);
    r.add_leg(t0, A, leg(Law::Ulaw, "10.0.0.1:4000"));
    r.add_leg(t0, B, leg(law_b, "10.0.0.2:5000"));
    r.connect(A, B).unwrap();
    let mut rec = RecordAssembler::new(t0, Duration::from_millis(200));
    rec.set_side(A, Side::Left);
    let tone = SineGenerator::new(1000.0, 8000, 8000).take(160);
    let src: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let mut i: u32 = 0;
    let mut p = packet(Law::Ulaw, 0, 0, &tone);
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let now = t0 + Duration::from_millis(20 * i as u64);
            p[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            p[4..8].copy_from_slice(&(i.wrapping_mul(160)).to_be_bytes());
            r.handle_packet(now, A, src, &p).unwrap();
            while let Some(o) = r.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        black_box(&t.bytes);
                        r.recycle(t.bytes)
                    }
                    Output::Record(rp) => {
                        rec.push(rp.at, rp.leg, rp.timestamp, rp.law, &rp.payload);
                        r.recycle(rp.payload);
                    }
                    _ => {}
                }
            }
            if record {
                while let Some(f) = rec.poll_frame(now) {
                    black_box(f);
                }
            }
        })
    });
    g.finish();
}

fn relay(c: &mut Criterion) {
    relay_bench(c, "forward_same_law", Law::Ulaw, false);
    relay_bench(c, "forward_transcode", Law::Alaw, false);
    relay_bench(c, "forward_same_law_recorded", Law::Ulaw, true);
}

fn codec(c: &mut Criterion) {
    let tone = SineGenerator::new(1000.0, 8000, 8000).take(160);
    let mut enc = Vec::new();
    g711::encode_into(Law::Alaw, &tone, &mut enc);
    let mut out = Vec::with_capacity(160);
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Elements(160));
    g.bench_function("decode_20ms", |b| {
        b.iter(|| g711::decode_into(Law::Alaw, black_box(&enc), &mut out))
    });
    g.bench_function("encode_20ms", |b| {
        b.iter(|| {
            out.clear();
            let mut e = Vec::with_capacity(160);
            g711::encode_into(Law::Ulaw, black_box(&tone), &mut e);
            e
        })
    });
    g.finish();
}

fn ticks(c: &mut Criterion) {
    let tone = SineGenerator::new(1000.0, 8000, 8000).take(160);
    let mut m: Mixer<u32> = Mixer::new(2, 6);
    for k in 0..3 {
        m.add_party(k);
    }
    let mut ts = 0u32;
    c.bench_function("mixer/three_party_tick", |b| {
        b.iter(|| {
            for k in 0..3 {
                m.push(k, ts, &tone);
            }
            ts = ts.wrapping_add(160);
            m.tick(|k, f| {
                black_box((k, f));
            });
        })
    });
    for (name, parties) in [
        (
            "mixer/listener_tick",
            &[
                (0, Role::Full),
                (1, Role::Full),
                (2, Role::Full),
                (3, Role::Listen),
            ][..],
        ),
        (
            "mixer/whisper_tick",
            &[(0, Role::Full), (1, Role::Full), (2, Role::Whisper(1))][..],
        ),
    ] {
        let mut m: Mixer<u32> = Mixer::new(2, 6);
        for &(k, r) in parties {
            m.set_party(k, r, true);
        }
        c.bench_function(name, |b| {
            b.iter(|| {
                for k in 0..3 {
                    m.push(k, ts, &tone);
                }
                ts = ts.wrapping_add(160);
                m.tick(|k, f| {
                    black_box((k, f));
                });
            })
        });
    }
    let p = Prompt::from_samples("tone", SineGenerator::new(440.0, 8000, 8000).take(8000)).unwrap();
    let mut player = Player::new(vec![p], true);
    let t0 = Instant::now();
    player.start(t0);
    let mut i = 0u64;
    c.bench_function("prompt/frame", |b| {
        b.iter(|| {
            i += 1;
            black_box(player.poll_frame(t0 + Duration::from_millis(20 * i)));
        })
    });
}

/// One 20 ms of a recorded call through the relay: each talking leg's packet in, the tick
/// (mixing when there is a mix), and every output drained.
fn call_20ms(c: &mut Criterion, name: &str, legs: &[LegId], setup: impl Fn(&mut Relay, Instant)) {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        record: true,
        ..RelayConfig::default()
    };
    let mut r = Relay::new(cfg, t0);
    let addrs: Vec<SocketAddr> = (0..legs.len())
        .map(|k| format!("10.0.0.{}:4000", k + 1).parse().unwrap())
        .collect();
    for (k, &l) in legs.iter().enumerate() {
        r.add_leg(t0, l, leg(Law::Ulaw, &addrs[k].to_string()));
    }
    setup(&mut r, t0);
    let tone = SineGenerator::new(1000.0, 8000, 8000).take(160);
    let mut i: u32 = 0;
    let mut g = c.benchmark_group("conference");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let now = t0 + Duration::from_millis(20 * i as u64);
            for (k, &l) in legs.iter().enumerate() {
                let p = packet(Law::Ulaw, i as u16, i * 160, &tone);
                let _ = r.handle_packet(now, l, addrs[k], &p);
            }
            r.handle_timeout(now);
            while let Some(o) = r.poll_output() {
                match o {
                    Output::Transmit(t) => r.recycle(black_box(t.bytes)),
                    Output::Record(p) => r.recycle(p.payload),
                    _ => {}
                }
            }
        })
    });
    g.finish();
}

fn conference(c: &mut Criterion) {
    call_20ms(c, "bridge_20ms", &[A, B], |r, _| r.connect(A, B).unwrap());
    call_20ms(c, "bridge_with_listener_20ms", &[A, B, S], |r, t0| {
        r.set_roles(t0, &[(A, Role::Full), (B, Role::Full), (S, Role::Listen)])
            .unwrap()
    });
    call_20ms(c, "three_way_20ms", &[A, B, C], |r, t0| {
        r.conference(t0, &[A, B, C]).unwrap()
    });
    call_20ms(c, "three_way_with_listener_20ms", &[A, B, C, S], |r, t0| {
        r.set_roles(
            t0,
            &[
                (A, Role::Full),
                (B, Role::Full),
                (C, Role::Full),
                (S, Role::Listen),
            ],
        )
        .unwrap()
    });
}

criterion_group!(benches, relay, codec, ticks, conference);
criterion_main!(benches);
