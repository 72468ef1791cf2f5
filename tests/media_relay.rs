//! Relay behaviour on a virtual clock: latching, continuity, codecs, loss, hold, RTCP, mixing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rexian::media::dtmf::event_payloads;
use rexian::media::g711::{self, Law};
use rexian::media::relay::{
    Channel, Event, LegConfig, LegId, Output, Relay, RelayConfig, RelayError,
};
use rexian::media::rtcp;
use rexian::media::rtp::{write_header, RtpHeader};
use rexian::media::tone::{SineGenerator, ToneDetector};

const A: LegId = LegId(1);
const B: LegId = LegId(2);
const C: LegId = LegId(3);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn leg(law: Law, remote: &str, dtmf_pt: Option<u8>) -> LegConfig {
    let r = addr(remote);
    LegConfig {
        law,
        audio_pt: law.static_payload_type(),
        dtmf_pt,
        remote_rtp: Some(r),
        remote_rtcp: Some(SocketAddr::new(r.ip(), r.port() + 1)),
        on_hold: false,
    }
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    write_header(&mut v, false, pt, seq, ts, ssrc);
    v.extend_from_slice(payload);
    v
}

#[derive(Default)]
struct Drained {
    rtp: Vec<(LegId, SocketAddr, Vec<u8>)>,
    rtcp: Vec<(LegId, SocketAddr, Vec<u8>)>,
    events: Vec<Event>,
    timeout: Option<Instant>,
}

fn drain(r: &mut Relay) -> Drained {
    let mut d = Drained::default();
    while let Some(o) = r.poll_output() {
        match o {
            Output::Transmit(t) => match t.channel {
                Channel::Rtp => d.rtp.push((t.leg, t.dst, t.bytes)),
                Channel::Rtcp => d.rtcp.push((t.leg, t.dst, t.bytes)),
            },
            Output::Record(p) => r.recycle(p.payload),
            Output::Event(e) => d.events.push(e),
            Output::Timeout(t) => d.timeout = Some(t),
        }
    }
    d
}

fn two_legs(t0: Instant, law_a: Law, law_b: Law) -> Relay {
    let mut r = Relay::new(RelayConfig::default(), t0);
    r.add_leg(t0, A, leg(law_a, "10.0.0.1:4000", Some(96)));
    r.add_leg(t0, B, leg(law_b, "10.0.0.2:5000", Some(101)));
    r.connect(A, B).unwrap();
    r
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn same_codec_passes_payload_untouched_with_our_header_to_the_latched_source() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let payload: Vec<u8> = (0..160).map(|i| i as u8).collect();
    let mut seen = Vec::new();
    for i in 0..5u16 {
        let p = rtp(8, 100 + i, 1000 + 160 * i as u32, 0x1111, &payload);
        r.handle_packet(t0 + ms(20 * i as u64), A, addr("10.0.0.1:4000"), &p)
            .unwrap();
        let d = drain(&mut r);
        assert_eq!(d.rtp.len(), 1);
        let (to, dst, bytes) = &d.rtp[0];
        assert_eq!((*to, *dst), (B, addr("10.0.0.2:5000")));
        let h = RtpHeader::parse(bytes).unwrap();
        assert_eq!(h.payload(bytes), &payload[..]);
        assert_ne!(h.ssrc, 0x1111);
        seen.push((h.sequence, h.timestamp, h.ssrc));
    }
    for w in seen.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1));
        assert_eq!(w[1].1, w[0].1.wrapping_add(160));
        assert_eq!(w[1].2, w[0].2);
    }
    let s = r.stats(A).unwrap();
    assert_eq!((s.rx_packets, s.lost), (5, 0));
    assert_eq!(r.stats(B).unwrap().tx_packets, 5);
}

#[test]
fn alaw_to_ulaw_is_transcoded_by_table() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Ulaw);
    let payload: Vec<u8> = (0..160).map(|i| (i * 3) as u8).collect();
    r.handle_packet(t0, A, addr("10.0.0.1:4000"), &rtp(8, 1, 1, 7, &payload))
        .unwrap();
    let d = drain(&mut r);
    let h = RtpHeader::parse(&d.rtp[0].2).unwrap();
    assert_eq!(h.payload_type, 0);
    let want: Vec<u8> = payload
        .iter()
        .map(|&c| g711::ALAW_TO_ULAW[c as usize])
        .collect();
    assert_eq!(h.payload(&d.rtp[0].2), &want[..]);
}

#[test]
fn latches_to_a_natted_source_and_refuses_strangers_until_the_guard_passes() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let nat = addr("203.0.113.7:61000");
    // B hears nothing from A yet; A's phone is behind NAT, SDP said 10.0.0.1:4000.
    r.handle_packet(t0, A, nat, &rtp(8, 1, 0, 9, &[0xD5; 160]))
        .unwrap();
    let d = drain(&mut r);
    assert!(d.events.contains(&Event::Latched {
        leg: A,
        channel: Channel::Rtp,
        addr: nat
    }));
    assert_eq!(r.latched(A), Some(nat));
    // Only that source is accepted now, so a shell may filter the others out in the kernel.
    assert_eq!(r.exclusive_source(A, t0), Some(nat));
    assert_eq!(r.exclusive_source(B, t0), None, "B has sent nothing");
    // Media for A now goes to the NAT address.
    r.handle_packet(
        t0 + ms(1),
        B,
        addr("10.0.0.2:5000"),
        &rtp(8, 1, 0, 5, &[0xD5; 160]),
    )
    .unwrap();
    assert_eq!(drain(&mut r).rtp[0].1, nat);
    // A stranger with another SSRC is refused while A is alive...
    let stranger = addr("198.51.100.9:7000");
    let e = r.handle_packet(t0 + ms(20), A, stranger, &rtp(8, 1, 0, 666, &[0; 160]));
    assert_eq!(e, Err(RelayError::NotLatched(stranger)));
    assert_eq!(r.stats(A).unwrap().rejected, 1);
    // ...but takes over once A's latched source has been quiet for the guard (re-INVITE/transfer).
    r.handle_packet(t0 + ms(40), A, nat, &rtp(8, 2, 160, 9, &[0xD5; 160]))
        .unwrap();
    assert_eq!(r.exclusive_source(A, t0 + ms(539)), Some(nat));
    assert_eq!(
        r.exclusive_source(A, t0 + ms(540)),
        None,
        "quiet for the guard"
    );
    r.handle_packet(t0 + ms(600), A, stranger, &rtp(8, 50, 0, 666, &[0xD5; 160]))
        .unwrap();
    let d = drain(&mut r);
    assert!(d.events.contains(&Event::Latched {
        leg: A,
        channel: Channel::Rtp,
        addr: stranger
    }));
    assert!(d
        .events
        .contains(&Event::SourceChanged { leg: A, ssrc: 666 }));
    assert_eq!(r.exclusive_source(A, t0 + ms(600)), Some(stranger));
    // A re-INVITE to another address drops the latch: any source is accepted at once.
    r.update_leg(t0 + ms(610), A, leg(Law::Alaw, "192.0.2.44:9000", Some(96)))
        .unwrap();
    assert_eq!(r.exclusive_source(A, t0 + ms(610)), None);
}

/// Sends from A to B: (seq, ts, at ms, ssrc). Returns what B received (seq, ts, marker).
fn run(r: &mut Relay, t0: Instant, pkts: &[(u16, u32, u64, u32)]) -> Vec<(u16, u32, bool)> {
    let mut out = Vec::new();
    for &(seq, ts, at, ssrc) in pkts {
        let _ = r.handle_packet(
            t0 + ms(at),
            A,
            addr("10.0.0.1:4000"),
            &rtp(8, seq, ts, ssrc, &[0xD5; 160]),
        );
        for (_, _, b) in drain(r).rtp {
            let h = RtpHeader::parse(&b).unwrap();
            out.push((h.sequence, h.timestamp, h.marker));
        }
    }
    out
}

#[test]
fn loss_reordering_duplicates_and_late_packets_keep_their_places() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    // 0 1 3 2 2 5 (4 lost) then 1 very late.
    let order = [0u16, 1, 3, 2, 2, 5, 1];
    let pkts: Vec<_> = order
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, s as u32 * 160, 20 * i as u64, 1))
        .collect();
    let got = run(&mut r, t0, &pkts);
    let (s0, t_0, _) = got[0];
    let rel: Vec<(u16, u32)> = got
        .iter()
        .map(|&(s, t, _)| (s.wrapping_sub(s0), t.wrapping_sub(t_0)))
        .collect();
    let want: Vec<(u16, u32)> = order.iter().map(|&s| (s, s as u32 * 160)).collect();
    assert_eq!(rel, want);
    assert_eq!(r.stats(A).unwrap().lost, 1);
}

#[test]
fn ssrc_change_and_jumps_do_not_show_at_the_receiver() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let mut pkts = Vec::new();
    for i in 0..10u16 {
        pkts.push((500 + i, 8000 + 160 * i as u32, 20 * i as u64, 0xA));
    }
    // A re-INVITE: new SSRC, unrelated seq/ts.
    for i in 0..10u16 {
        pkts.push((
            9 + i,
            3_000_000_000 + 160 * i as u32,
            200 + 20 * i as u64,
            0xB,
        ));
    }
    // The same SSRC jumps its sequence and timestamp (a gateway restart).
    for i in 0..10u16 {
        pkts.push((40_000 + i, 77 + 160 * i as u32, 400 + 20 * i as u64, 0xB));
    }
    let got = run(&mut r, t0, &pkts);
    assert_eq!(got.len(), 30);
    for w in got.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "{got:?}");
        assert_eq!(w[1].1.wrapping_sub(w[0].1), 160, "{got:?}");
    }
    let markers: Vec<usize> = got
        .iter()
        .enumerate()
        .filter(|(_, g)| g.2)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(markers, vec![0, 10, 20]);
}

#[test]
fn timestamp_and_sequence_wrap_pass_without_a_rebase() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let pkts: Vec<_> = (0..50u32)
        .map(|i| {
            (
                65_520u16.wrapping_add(i as u16),
                (u32::MAX - 160 * 20).wrapping_add(160 * i),
                20 * i as u64,
                3,
            )
        })
        .collect();
    let got = run(&mut r, t0, &pkts);
    assert!(got[1..].iter().all(|g| !g.2));
    for w in got.windows(2) {
        assert_eq!(w[1].1.wrapping_sub(w[0].1), 160);
    }
    assert_eq!(r.stats(A).unwrap().lost, 0);
}

#[test]
fn telephone_event_payload_type_is_mapped_and_the_digit_reported_once() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let mut events = Vec::new();
    let mut pts = Vec::new();
    for (k, p) in event_payloads('7', 100, 20).unwrap().iter().enumerate() {
        let pkt = rtp(96, 10 + k as u16, 4000, 1, p);
        r.handle_packet(t0 + ms(20 * k as u64), A, addr("10.0.0.1:4000"), &pkt)
            .unwrap();
        let d = drain(&mut r);
        events.extend(
            d.events
                .into_iter()
                .filter(|e| matches!(e, Event::Dtmf { .. })),
        );
        pts.extend(d.rtp.iter().map(|(_, _, b)| b[1] & 0x7F));
    }
    assert!(pts.iter().all(|&pt| pt == 101));
    assert_eq!(events.len(), 1);
    let Event::Dtmf { leg, digit } = events[0] else {
        unreachable!()
    };
    assert_eq!((leg, digit.digit, digit.duration_ms), (A, '7', 100));
}

#[test]
fn dead_media_fires_after_silence_but_not_while_on_hold_and_rtcp_counts_as_life() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let mut now = t0;
    let mut dead = Vec::new();
    let step = |r: &mut Relay, now: Instant, dead: &mut Vec<Event>| {
        r.handle_timeout(now);
        let d = drain(r);
        dead.extend(
            d.events
                .into_iter()
                .filter(|e| matches!(e, Event::DeadMedia { .. })),
        );
        d.timeout
    };
    // B keeps sending RTCP only; A goes on hold for five minutes.
    r.set_hold(now, A, true).unwrap();
    while now < t0 + Duration::from_secs(300) {
        now += Duration::from_secs(5);
        let mut rr = Vec::new();
        rtcp::write_compound(&mut rr, 5, None, &[], "b", false);
        r.handle_packet(now, B, addr("10.0.0.2:5001"), &rr).unwrap();
        step(&mut r, now, &mut dead);
    }
    assert!(dead.is_empty());
    r.set_hold(now, A, false).unwrap();
    let unhold = now;
    // A stays silent, B keeps its RTCP: only A dies, 60 s after unhold.
    while now < unhold + Duration::from_secs(70) {
        now += Duration::from_secs(1);
        let mut rr = Vec::new();
        rtcp::write_compound(&mut rr, 5, None, &[], "b", false);
        r.handle_packet(now, B, addr("10.0.0.2:5001"), &rr).unwrap();
        let before = dead.len();
        step(&mut r, now, &mut dead);
        if dead.len() > before {
            assert_eq!(now - unhold, Duration::from_secs(60));
        }
    }
    assert_eq!(dead, vec![Event::DeadMedia { leg: A }]);
    r.handle_packet(
        now,
        A,
        addr("10.0.0.1:4000"),
        &rtp(8, 1, 0, 1, &[0xD5; 160]),
    )
    .unwrap();
    assert!(drain(&mut r)
        .events
        .contains(&Event::MediaResumed { leg: A }));
}

#[test]
fn each_leg_gets_its_own_rtcp_reports_with_loss_from_our_counters() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    for i in 0..250u16 {
        if i % 10 == 3 {
            continue; // 10% loss from A
        }
        let at = t0 + ms(20 * i as u64);
        r.handle_packet(
            at,
            A,
            addr("10.0.0.1:4000"),
            &rtp(8, i, 160 * i as u32, 0xAA, &[0xD5; 160]),
        )
        .unwrap();
        r.handle_timeout(at);
        drain(&mut r);
    }
    r.handle_timeout(t0 + Duration::from_secs(5));
    let d = drain(&mut r);
    assert_eq!(d.rtcp.len(), 2);
    for (l, dst, bytes) in &d.rtcp {
        let s = rtcp::parse(bytes).unwrap();
        assert_eq!(s.cname.as_deref(), Some("rexian"));
        if *l == A {
            assert_eq!(*dst, addr("10.0.0.1:4001"));
            assert!(s.sender_info.is_none(), "nothing was sent to A");
            assert_eq!(s.reports[0].ssrc, 0xAA);
            assert_eq!(s.reports[0].cumulative_lost, 25);
            assert!((20..=30).contains(&s.reports[0].fraction_lost));
        } else {
            assert_eq!(s.sender_info.unwrap().packet_count, 225);
            assert!(s.reports.is_empty(), "nothing was received from B");
        }
    }
    r.close(t0 + Duration::from_secs(6));
    let d = drain(&mut r);
    assert!(d
        .rtcp
        .iter()
        .all(|(_, _, b)| !rtcp::parse(b).unwrap().bye.is_empty()));
}

#[test]
fn a_two_hour_call_stays_continuous_and_quiet() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Ulaw);
    let payload = [0xD5u8; 160];
    let mut pkt_a = rtp(8, 0, 0, 0xA, &payload);
    let mut pkt_b = rtp(0, 0, 0, 0xB, &[0xFF; 160]);
    let (mut last_a, mut last_b) = (None::<(u16, u32)>, None::<(u16, u32)>);
    let mut rtcp_count = 0;
    let mut events = 0;
    let mut next_timeout = t0;
    for i in 0..360_000u32 {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let seq = (i as u16).wrapping_add(60_000);
        let ts = i.wrapping_mul(160).wrapping_add(4_000_000_000);
        pkt_a[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt_a[4..8].copy_from_slice(&ts.to_be_bytes());
        pkt_b[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt_b[4..8].copy_from_slice(&ts.to_be_bytes());
        r.handle_packet(now, A, addr("10.0.0.1:4000"), &pkt_a)
            .unwrap();
        r.handle_packet(now, B, addr("10.0.0.2:5000"), &pkt_b)
            .unwrap();
        if now >= next_timeout {
            r.handle_timeout(now);
        }
        while let Some(o) = r.poll_output() {
            match o {
                Output::Transmit(t) => {
                    if t.channel == Channel::Rtcp {
                        rtcp_count += 1;
                    } else {
                        let h = RtpHeader::parse(&t.bytes).unwrap();
                        let last = if t.leg == B { &mut last_b } else { &mut last_a };
                        if let Some((s, ts)) = *last {
                            assert_eq!(h.sequence, s.wrapping_add(1));
                            assert_eq!(h.timestamp, ts.wrapping_add(160));
                        }
                        *last = Some((h.sequence, h.timestamp));
                    }
                    r.recycle(t.bytes);
                }
                Output::Event(_) => events += 1,
                Output::Record(p) => r.recycle(p.payload),
                Output::Timeout(t) => next_timeout = t,
            }
        }
    }
    assert_eq!(events, 2, "only the two latch events");
    assert!((2 * 1439..=2 * 1441).contains(&rtcp_count), "{rtcp_count}");
    for l in [A, B] {
        let s = r.stats(l).unwrap();
        assert_eq!((s.rx_packets, s.tx_packets, s.lost), (360_000, 360_000, 0));
    }
}

#[test]
fn three_way_mix_with_one_silent_leg_lets_the_other_two_hear_each_other() {
    let t0 = Instant::now();
    let mut r = Relay::new(RelayConfig::default(), t0);
    r.add_leg(t0, A, leg(Law::Alaw, "10.0.0.1:4000", None));
    r.add_leg(t0, B, leg(Law::Ulaw, "10.0.0.2:5000", None));
    r.add_leg(t0, C, leg(Law::Alaw, "10.0.0.3:6000", None));
    r.conference(t0, &[A, B, C]).unwrap();
    let mut ga = SineGenerator::new(600.0, 8000, 6000);
    let mut gb = SineGenerator::new(1400.0, 8000, 6000);
    let mut heard: [Vec<i16>; 3] = Default::default();
    let mut pcm = Vec::new();
    for i in 0..100u32 {
        let now = t0 + ms(20 * i as u64 + 3);
        let mut enc = Vec::new();
        g711::encode_into(Law::Alaw, &ga.take(160), &mut enc);
        r.handle_packet(
            now,
            A,
            addr("10.0.0.1:4000"),
            &rtp(8, i as u16, 160 * i, 1, &enc),
        )
        .unwrap();
        enc.clear();
        g711::encode_into(Law::Ulaw, &gb.take(160), &mut enc);
        r.handle_packet(
            now,
            B,
            addr("10.0.0.2:5000"),
            &rtp(0, i as u16, 999 + 160 * i, 2, &enc),
        )
        .unwrap();
        r.handle_timeout(t0 + ms(20 * (i as u64 + 1)));
        for (l, _, b) in drain(&mut r).rtp {
            let h = RtpHeader::parse(&b).unwrap();
            let law = if h.payload_type == 0 {
                Law::Ulaw
            } else {
                Law::Alaw
            };
            g711::decode_into(law, h.payload(&b), &mut pcm);
            heard[(l.0 - 1) as usize].extend_from_slice(&pcm);
        }
    }
    let tail = |k: usize| &heard[k][heard[k].len() - 4000..];
    assert!(
        ToneDetector::new(1400.0).present(tail(0)) && !ToneDetector::new(600.0).present(tail(0))
    );
    assert!(
        ToneDetector::new(600.0).present(tail(1)) && !ToneDetector::new(1400.0).present(tail(1))
    );
    let mut both = ToneDetector::new(600.0);
    both.min_snr_db = -6.0;
    assert!(both.present(tail(2)));
    both.freq_hz = 1400.0;
    assert!(both.present(tail(2)));
}

#[test]
fn garbage_datagrams_are_refused_without_panicking() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Alaw);
    let mut x: u32 = 12345;
    for len in 0..400usize {
        let mut buf = vec![0u8; len % 200];
        for b in buf.iter_mut() {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        if !buf.is_empty() && len % 2 == 0 {
            buf[0] = 0x80 | (buf[0] & 0x3F);
        }
        let _ = r.handle_packet(t0, A, addr("10.0.0.1:4000"), &buf);
    }
    drain(&mut r);
    assert!(r.stats(A).unwrap().malformed > 0);
    assert_eq!(
        r.handle_packet(t0, LegId(99), addr("10.0.0.1:4000"), &[]),
        Err(RelayError::UnknownLeg(LegId(99)))
    );
}

#[test]
fn recording_can_be_switched_on_and_off_while_the_relay_runs() {
    let t0 = Instant::now();
    let mut r = two_legs(t0, Law::Alaw, Law::Ulaw);
    let records = |r: &mut Relay, i: u16| {
        let p = rtp(8, i, 160 * i as u32, 7, &[0xD5; 160]);
        r.handle_packet(t0 + ms(20 * i as u64), A, addr("10.0.0.1:4000"), &p)
            .unwrap();
        let mut n = 0;
        while let Some(o) = r.poll_output() {
            if let Output::Record(p) = o {
                assert_eq!((p.leg, p.law, p.payload.len()), (A, Law::Alaw, 160));
                n += 1;
                r.recycle(p.payload);
            }
        }
        n
    };
    assert_eq!(records(&mut r, 1), 0, "off by default");
    r.set_record(true);
    assert_eq!(records(&mut r, 2), 1);
    r.set_record(false);
    assert_eq!(records(&mut r, 3), 0);
}

#[test]
fn randomised_reports_of_calls_set_up_together_are_spread_over_the_interval() {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        rtcp_randomised: true,
        ..RelayConfig::default()
    };
    let mut firsts = Vec::new();
    for _ in 0..50 {
        let mut r = Relay::new(cfg.clone(), t0);
        r.add_leg(t0, A, leg(Law::Alaw, "10.0.0.1:4000", Some(96)));
        let first = (1..=100u64).find(|k| {
            r.handle_timeout(t0 + ms(100 * k));
            !drain(&mut r).rtcp.is_empty()
        });
        firsts.push(first.expect("a report within 10 s"));
    }
    // [0.5, 1.5) × 5 s: the first report falls between 2.5 s and 7.5 s (100 ms steps).
    assert!(firsts.iter().all(|k| (25..=75).contains(k)), "{firsts:?}");
    let distinct: std::collections::HashSet<_> = firsts.iter().collect();
    assert!(distinct.len() >= 10, "spread, not one sweep: {firsts:?}");
}
