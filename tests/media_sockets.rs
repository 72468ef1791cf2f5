//! The media engine on real UDP sockets: plain sockets in the test act as phones, send G.711
//! tones as 20 ms RTP packets (paced by the wall clock, as phones do), and the test checks by
//! frequency detection what each phone hears and what the recording holds. Every wait is a
//! bounded poll for a condition that fails with a message saying what never happened.

mod media_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use media_support::{engine, engine_with, leg, next_event, onset, rounds, Phone, LOCAL, PATIENCE};
use rexian::media::dtmf::event_payloads;
use rexian::media::g711::Law;
use rexian::media::prompt::Prompt;
use rexian::media::tone::{SineGenerator, ToneDetector};
use rexian::shell::media::{
    LegInfo, MediaCall, MediaConfig, MediaEngine, MediaError, MediaEvent, MediaHandle, MediaLeg,
    RecordingSpec,
};
use uuid::Uuid;

#[tokio::test]
async fn tones_cross_both_ways_transcoded_latched_behind_nat_and_recorded_in_stereo() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, mut ev) = engine("41000-41019", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    assert_eq!(a.rtp.port() % 2, 0);
    assert_eq!(a.rtcp.port(), a.rtp.port() + 1);
    // The caller speaks µ-law at 1 kHz, the agent A-law at 1.6 kHz; both sit behind NAT:
    // their SDP names addresses they never send from.
    let mut caller = Phone::new(Law::Ulaw, Some(1000.0), a.rtp);
    let mut agent = Phone::new(Law::Alaw, Some(1600.0), b.rtp);
    h.set_remote(a.leg, caller.sdp("192.0.2.10:4000"))
        .await
        .unwrap();
    h.set_remote(b.leg, agent.sdp("192.0.2.20:5000"))
        .await
        .unwrap();
    let rec = Uuid::new_v4();
    let spec = RecordingSpec {
        id: rec,
        started: Utc::now(),
        caller: a.leg,
    };
    h.bridge(a.leg, b.leg, Some(spec)).await.unwrap();

    rounds(
        &mut [&mut caller, &mut agent],
        "30 packets on each side",
        |p| p.iter().all(|p| p.heard.len() >= 30),
    );

    // Symmetric RTP: each phone hears rexian from the port it sends to, in its own law.
    assert!(caller
        .heard
        .iter()
        .all(|(src, h, _)| *src == a.rtp && h.payload_type == 0));
    assert!(agent
        .heard
        .iter()
        .all(|(src, h, _)| *src == b.rtp && h.payload_type == 8));
    assert!(
        ToneDetector::new(1000.0).present(&agent.last_audio(20)),
        "the agent hears the caller's 1 kHz"
    );
    assert!(!ToneDetector::new(1600.0).present(&agent.last_audio(20)));
    assert!(
        ToneDetector::new(1600.0).present(&caller.last_audio(20)),
        "the caller hears the agent's 1.6 kHz"
    );
    assert!(!ToneDetector::new(1000.0).present(&caller.last_audio(20)));
    let (stats, latched) = h.leg_stats(a.leg).await.unwrap();
    assert_eq!(latched, Some(caller.addr()), "latched to the real source");
    assert!(stats.rx_packets >= 30 && stats.lost == 0, "{stats:?}");

    h.end_call(call).await.unwrap();
    let e = next_event(&mut ev, "RecordingFinished", |e| {
        matches!(e, MediaEvent::RecordingFinished { .. })
    })
    .await;
    let MediaEvent::RecordingFinished {
        id, path, error, ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!((id, error), (rec, None));
    assert!(path.starts_with(dir.path()) && path.ends_with(format!("{rec}.wav")));
    let r = hound::WavReader::open(&path).unwrap();
    assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 8000));
    let s: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let (l_on, r_on) = (onset(&left, 1000.0), onset(&right, 1600.0));
    let (Some(l_on), Some(r_on)) = (l_on, r_on) else {
        panic!("the caller's tone on the left ({l_on:?}) and the agent's on the right ({r_on:?})");
    };
    assert!(
        l_on.abs_diff(r_on) <= 2 * 160,
        "both phones started in the same 20 ms round: left at {l_on}, right at {r_on}"
    );
    assert!(!ToneDetector::new(1600.0).present(&left[r_on + 1600..r_on + 3200]));
    assert!(!ToneDetector::new(1000.0).present(&right[l_on + 1600..l_on + 3200]));
    eng.shutdown();
}

#[tokio::test]
async fn three_parties_each_hear_the_other_two() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, _ev) = engine("41100-41119", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let legs = [
        leg(&h, call).await,
        leg(&h, call).await,
        leg(&h, call).await,
    ];
    let freqs = [600.0, 1000.0, 1500.0];
    let laws = [Law::Ulaw, Law::Alaw, Law::Ulaw];
    let mut phones: Vec<Phone> = (0..3)
        .map(|i| Phone::new(laws[i], Some(freqs[i]), legs[i].rtp))
        .collect();
    for (p, l) in phones.iter().zip(&legs) {
        let claimed = p.addr().to_string();
        h.set_remote(l.leg, p.sdp(&claimed)).await.unwrap();
    }
    let ids: Vec<MediaLeg> = legs.iter().map(|l| l.leg).collect();
    assert_eq!(
        h.conference(ids[..1].to_vec(), None).await,
        Err(MediaError::TooFewParties)
    );
    h.conference(ids, None).await.unwrap();
    let [p0, p1, p2] = &mut phones[..] else {
        unreachable!()
    };
    rounds(&mut [p0, p1, p2], "40 mixed packets for everyone", |p| {
        p.iter().all(|p| p.heard.len() >= 40)
    });
    for (i, p) in phones.iter().enumerate() {
        let heard = p.last_audio(20);
        for (j, &f) in freqs.iter().enumerate() {
            let mut d = ToneDetector::new(f);
            d.min_snr_db = if i == j { -12.0 } else { -6.0 };
            assert_eq!(
                d.present(&heard),
                i != j,
                "party {i} should hear {f} Hz: {}",
                i != j
            );
        }
    }
    eng.shutdown();
}

#[tokio::test]
async fn a_leg_that_falls_silent_is_reported_dead_and_prompts_and_dtmf_work() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, mut ev) = engine("41200-41209", dir.path(), 1);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    let mut caller = Phone::new(Law::Alaw, Some(1000.0), a.rtp);
    let mut agent = Phone::new(Law::Alaw, Some(1600.0), b.rtp);
    h.set_remote(a.leg, caller.sdp(&caller.addr().to_string()))
        .await
        .unwrap();
    h.set_remote(b.leg, agent.sdp(&agent.addr().to_string()))
        .await
        .unwrap();

    // IVR: a 300 ms prompt to the caller, who answers with a digit.
    let beep = SineGenerator::new(800.0, 8000, 8000).take(2400);
    let prompt = Prompt::from_samples("beep", beep).unwrap();
    h.play(a.leg, vec![prompt], false).await.unwrap();
    rounds(&mut [&mut caller], "the prompt's 15 packets", |p| {
        p[0].heard.len() >= 15
    });
    let heard = caller.last_audio(10);
    assert!(
        heard.len() >= 1200 && ToneDetector::new(800.0).present(&heard[..1200]),
        "the caller hears the prompt: {:?}",
        caller
            .heard
            .iter()
            .map(|x| (x.1.payload_type, x.2.len()))
            .collect::<Vec<_>>()
    );
    next_event(&mut ev, "PlaybackDone", |e| {
        *e == MediaEvent::PlaybackDone { leg: a.leg }
    })
    .await;
    let ts = 90_000;
    for (k, p) in event_payloads('7', 100, 20).unwrap().iter().enumerate() {
        caller.send_raw(101, k == 0, ts, p);
    }
    let e = next_event(&mut ev, "the digit 7", |e| {
        matches!(e, MediaEvent::DtmfDigit { .. })
    })
    .await;
    assert!(
        matches!(e, MediaEvent::DtmfDigit { leg, digit } if leg == a.leg && digit.digit == '7')
    );

    // Bridged; the agent's phone stops sending while the caller carries on.
    h.bridge(a.leg, b.leg, None).await.unwrap();
    rounds(&mut [&mut caller, &mut agent], "audio both ways", |p| {
        p[1].heard.len() >= 5
    });
    agent.tone = None;
    let give_up = Instant::now() + PATIENCE;
    let dead = loop {
        assert!(Instant::now() < give_up, "gave up waiting for DeadMedia");
        caller.send_frame();
        caller.listen_until(Instant::now() + Duration::from_millis(20));
        if let Ok(MediaEvent::DeadMedia { leg }) = ev.try_recv() {
            break leg;
        }
    };
    assert_eq!(dead, b.leg, "the silent agent, not the talking caller");
    eng.shutdown();
}

#[tokio::test]
async fn ports_come_from_the_range_run_out_with_a_typed_error_and_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, mut ev) = engine("41300-41303", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let a = leg(&h, call).await;
    let b = leg(&h, call).await;
    let mut ports = [a.rtp.port(), b.rtp.port()];
    ports.sort();
    assert_eq!(ports, [41300, 41302]);
    assert_eq!(
        h.open_leg(call, LOCAL).await,
        Err(MediaError::PortsExhausted)
    );
    // Commands that need no answer return at once; a failure comes back as an event.
    h.bridge(a.leg, b.leg, None).await.unwrap();
    let failed = next_event(&mut ev, "CommandFailed", |e| {
        matches!(e, MediaEvent::CommandFailed { .. })
    })
    .await;
    assert_eq!(
        failed,
        MediaEvent::CommandFailed {
            command: "bridge",
            error: MediaError::NoRemote(a.leg)
        }
    );
    h.close_leg(a.leg).await.unwrap();
    assert_eq!(h.leg_stats(a.leg).await, Err(MediaError::UnknownLeg(a.leg)));
    let c = leg(&h, call).await;
    assert_eq!(c.rtp.port(), a.rtp.port(), "the released port is reused");
    let other = h.new_call().await.unwrap();
    let d_call_leg = {
        h.close_leg(c.leg).await.unwrap();
        leg(&h, other).await
    };
    let claimed = SocketAddr::new(LOCAL, 9);
    for l in [b.leg, d_call_leg.leg] {
        let mut r = Phone::new(Law::Alaw, None, claimed).sdp("127.0.0.1:9");
        r.dtmf_pt = None;
        h.set_remote(l, r).await.unwrap();
    }
    h.bridge(b.leg, d_call_leg.leg, None).await.unwrap();
    let failed = next_event(&mut ev, "CommandFailed", |e| {
        matches!(e, MediaEvent::CommandFailed { .. })
    })
    .await;
    assert_eq!(
        failed,
        MediaEvent::CommandFailed {
            command: "bridge",
            error: MediaError::DifferentCalls(b.leg, d_call_leg.leg)
        }
    );
    eng.shutdown();
}

#[tokio::test]
async fn a_transfer_inside_a_call_keeps_the_callers_stream_continuous() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, _ev) = engine("41500-41509", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    let mut caller = Phone::new(Law::Alaw, Some(1000.0), a.rtp);
    let mut first = Phone::new(Law::Alaw, Some(1600.0), b.rtp);
    h.set_remote(a.leg, caller.sdp(&caller.addr().to_string()))
        .await
        .unwrap();
    h.set_remote(b.leg, first.sdp(&first.addr().to_string()))
        .await
        .unwrap();
    h.bridge(a.leg, b.leg, None).await.unwrap();
    rounds(
        &mut [&mut caller, &mut first],
        "the first agent talks",
        |p| p[0].heard.len() >= 10,
    );
    // Blind transfer to a second agent who speaks µ-law at 600 Hz.
    let c = leg(&h, call).await;
    let mut second = Phone::new(Law::Ulaw, Some(600.0), c.rtp);
    h.set_remote(c.leg, second.sdp(&second.addr().to_string()))
        .await
        .unwrap();
    h.bridge(a.leg, c.leg, None).await.unwrap();
    h.close_leg(b.leg).await.unwrap();
    let before = caller.heard.len();
    rounds(
        &mut [&mut caller, &mut second],
        "the second agent talks",
        |p| p[0].heard.len() >= before + 30 && p[1].heard.len() >= 20,
    );
    assert!(ToneDetector::new(600.0).present(&caller.last_audio(10)));
    assert!(ToneDetector::new(1000.0).present(&second.last_audio(10)));
    let ssrcs: std::collections::HashSet<u32> = caller.heard.iter().map(|x| x.1.ssrc).collect();
    assert_eq!(
        ssrcs.len(),
        1,
        "one SSRC towards the caller across the transfer"
    );
    for w in caller.heard.windows(2) {
        let step = w[1].1.sequence.wrapping_sub(w[0].1.sequence);
        assert!((1..=5).contains(&step), "sequence steps by {step}");
        let ts = w[1].1.timestamp.wrapping_sub(w[0].1.timestamp);
        assert!(ts <= 8000, "timestamp jumps by {ts}");
    }
    eng.shutdown();
}

/// With `measure_holding`, every packet the engine reads is stamped by the kernel and the
/// time the engine held it lands in the stats' histogram (read once, then started afresh);
/// without it, nothing is stamped. Stamps come through both socket loops (io_uring reads
/// them from its receive buffers, epoll with `recvmsg`).
#[tokio::test]
async fn holding_times_are_measured_only_when_asked() {
    for (measure, uring, ports) in [
        (true, true, "41900-41909"),
        (false, true, "41910-41919"),
        (true, false, "41940-41949"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MediaConfig {
            rtp_ports: ports.parse().unwrap(),
            recordings: Some(dir.path().to_path_buf()),
            measure_holding: measure,
            io_uring: uring,
            ..MediaConfig::default()
        };
        let Bridged { eng, h, .. } = bridged(cfg, dir.path(), Law::Ulaw).await;
        let s = h.stats().await.unwrap();
        if measure {
            assert!(s.held.count() >= 40, "every packet read is counted: {s:?}");
            assert!(s.held.count() <= s.rx_packets);
            // The stamp and the engine's clock agree: no packet appears held for a second.
            assert!(s.held.quantile_us(1.0).unwrap() <= 1_000_000, "{s:?}");
            // Started afresh: at most the packets still in flight at the first reading.
            assert!(h.stats().await.unwrap().held.count() < 40);
        } else {
            assert!(s.rx_packets >= 40);
            assert_eq!(s.held.count(), 0);
        }
        eng.shutdown();
    }
}

/// The io_uring loop (the default, on a kernel that offers it) and the epoll loop (`[media]
/// io_uring = false`) carry the same call: tones both ways, a leg closed and its port bound
/// again at once for a new leg that is heard too.
#[tokio::test]
async fn both_socket_loops_carry_a_call_and_give_ports_back() {
    for uring in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MediaConfig {
            // Two legs' worth of ports: the third leg needs the closed leg's port.
            rtp_ports: if uring { "41920-41923" } else { "41930-41933" }
                .parse()
                .unwrap(),
            recordings: Some(dir.path().to_path_buf()),
            io_uring: uring,
            ..MediaConfig::default()
        };
        let Bridged {
            eng,
            h,
            call,
            a,
            b,
            mut caller,
            agent,
        } = bridged(cfg, dir.path(), Law::Alaw).await;
        assert!(ToneDetector::new(1600.0).present(&caller.last_audio(10)));
        assert!(ToneDetector::new(1000.0).present(&agent.last_audio(10)));
        let s = h.stats().await.unwrap();
        let expected = uring && rexian::shell::media::io_uring_available();
        assert_eq!(s.io_uring_threads, usize::from(expected), "{s:?}");
        assert_eq!(s.send_errors, 0);

        // The agent leaves; a new agent gets the freed port and is heard.
        h.close_leg(b.leg).await.unwrap();
        let c = leg(&h, call).await;
        assert_eq!(
            c.rtp.port(),
            b.rtp.port(),
            "the only free port is the closed leg's"
        );
        let mut expert = Phone::new(Law::Ulaw, Some(600.0), c.rtp);
        let claimed = expert.addr().to_string();
        h.set_remote(c.leg, expert.sdp(&claimed)).await.unwrap();
        h.bridge(a.leg, c.leg, None).await.unwrap();
        caller.heard.clear();
        rounds(
            &mut [&mut caller, &mut expert],
            "20 packets each way",
            |p| p.iter().all(|p| p.heard.len() >= 20),
        );
        assert!(ToneDetector::new(600.0).present(&caller.last_audio(10)));
        assert!(ToneDetector::new(1000.0).present(&expert.last_audio(10)));
        eng.shutdown();
    }
}

/// An engine with `cfg` and one call of two legs bridged: the caller's phone sends a 1 kHz
/// µ-law tone, the agent's a 1.6 kHz tone in `agent_law`; both have heard 20 packets.
/// Once latched, a leg's socket only lets its source in (the engine connects it): a phone
/// whose NAT mapping moves is still taken over once its old address has fallen quiet, and a
/// re-INVITE to a new address lets the new source in from its very first packet.
#[tokio::test]
async fn a_moved_or_reinvited_source_gets_through_a_latched_leg() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bridged(MediaConfig::default(), dir.path(), Law::Alaw).await;
    let h = b.h.clone();
    assert_eq!(h.leg_stats(b.a.leg).await.unwrap().1, Some(b.caller.addr()));

    // The caller's NAT mapping moves: the old address stops, a new one talks.
    let mut moved = Phone::new(Law::Ulaw, Some(1000.0), b.a.rtp);
    rounds(
        &mut [&mut moved, &mut b.agent],
        "the agent's audio at the caller's new address",
        |p| p[0].heard.len() >= 10,
    );
    assert!(moved.heard.iter().all(|(src, _, _)| *src == b.a.rtp));
    assert_eq!(h.leg_stats(b.a.leg).await.unwrap().1, Some(moved.addr()));

    // A re-INVITE names another address; its first packet is taken at once, though the
    // latched source was heard a moment ago.
    let mut reinvited = Phone::new(Law::Ulaw, Some(1000.0), b.a.rtp);
    let claimed = reinvited.addr().to_string();
    h.set_remote(b.a.leg, reinvited.sdp(&claimed))
        .await
        .unwrap();
    h.leg_stats(b.a.leg).await.unwrap(); // the engine has applied it
    reinvited.send_frame();
    let give_up = Instant::now() + PATIENCE;
    loop {
        let (stats, latched) = h.leg_stats(b.a.leg).await.unwrap();
        if latched == Some(reinvited.addr()) {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the re-INVITEd source's one packet was never taken: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.end_call(b.call).await.unwrap();
    b.eng.shutdown();
}

struct Bridged {
    eng: MediaEngine,
    h: MediaHandle,
    call: MediaCall,
    a: LegInfo,
    b: LegInfo,
    caller: Phone,
    agent: Phone,
}

async fn bridged(cfg: MediaConfig, dir: &std::path::Path, agent_law: Law) -> Bridged {
    let (eng, _ev) = engine_with(cfg, dir);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    let mut caller = Phone::new(Law::Ulaw, Some(1000.0), a.rtp);
    let mut agent = Phone::new(agent_law, Some(1600.0), b.rtp);
    for (p, l) in [(&caller, &a), (&agent, &b)] {
        let claimed = p.addr().to_string();
        h.set_remote(l.leg, p.sdp(&claimed)).await.unwrap();
    }
    h.bridge(a.leg, b.leg, None).await.unwrap();
    rounds(&mut [&mut caller, &mut agent], "20 packets each way", |p| {
        p.iter().all(|p| p.heard.len() >= 20)
    });
    Bridged {
        eng,
        h,
        call,
        a,
        b,
        caller,
        agent,
    }
}
