//! The media engine on real sockets, for what transfers need: a leg moved into another call
//! (on another engine thread) keeps the phone's stream continuous, digits sent to a phone
//! arrive as RFC 4733 events on its payload type, and prompts played to the recorded caller
//! land in the recording's right channel.

mod media_support;

use std::collections::HashSet;

use chrono::Utc;
use media_support::*;
use rexian::media::dtmf::EventPayload;
use rexian::media::g711::Law;
use rexian::media::prompt::Prompt;
use rexian::media::tone::{SineGenerator, ToneDetector};
use rexian::shell::media::{MediaError, MediaEvent, RecordingSpec};
use uuid::Uuid;

#[tokio::test]
async fn a_leg_moved_to_a_call_on_another_thread_keeps_its_stream_and_gets_digits() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, _ev) = engine_with_threads("41600-41619", dir.path(), 60, 2);
    let h = eng.handle.clone();
    assert_eq!(h.threads(), 2);
    // The caller's call with a first agent; the consult call (the next call, so the other
    // engine thread) with an expert.
    let call = h.new_call().await.unwrap();
    let consult = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    let e = leg(&h, consult).await;
    let mut caller = Phone::new(Law::Ulaw, Some(1000.0), a.rtp);
    let mut agent = Phone::new(Law::Ulaw, Some(1600.0), b.rtp);
    let mut expert = Phone::new(Law::Alaw, Some(600.0), e.rtp);
    for (l, p) in [(a.leg, &caller), (b.leg, &agent), (e.leg, &expert)] {
        h.set_remote(l, p.sdp(&p.addr().to_string())).await.unwrap();
    }
    h.bridge(a.leg, b.leg, None).await.unwrap();
    rounds(&mut [&mut caller, &mut agent], "the agent talks", |p| {
        p[0].heard.len() >= 10
    });

    h.move_leg(a.leg, consult).await.unwrap();
    h.bridge(a.leg, e.leg, None).await.unwrap();
    let before = caller.heard.len();
    rounds(&mut [&mut caller, &mut expert], "the expert talks", |p| {
        p[0].heard.len() >= before + 30 && p[1].heard.len() >= 20
    });
    assert!(ToneDetector::new(600.0).present(&caller.last_audio(10)));
    assert!(ToneDetector::new(1000.0).present(&expert.last_audio(10)));
    let ssrcs: HashSet<u32> = caller.heard.iter().map(|x| x.1.ssrc).collect();
    assert_eq!(
        ssrcs.len(),
        1,
        "one SSRC towards the caller across the move"
    );
    for w in caller.heard.windows(2) {
        let step = w[1].1.sequence.wrapping_sub(w[0].1.sequence);
        assert!((1..=5).contains(&step), "sequence steps by {step}");
        let ts = w[1].1.timestamp.wrapping_sub(w[0].1.timestamp);
        assert!(ts <= 8000, "timestamp jumps by {ts}");
    }
    let (stats, _) = h.leg_stats(a.leg).await.unwrap();
    assert!(
        stats.rx_packets > 0,
        "the moved leg answers from its new thread"
    );

    // Digits to the caller: RFC 4733 on the caller's payload type 101, end packets included.
    assert_eq!(
        h.send_dtmf(a.leg, "5x").await,
        Err(MediaError::BadDigit('x'))
    );
    h.send_dtmf(a.leg, "5#").await.unwrap();
    let from = caller.heard.len();
    rounds(&mut [&mut caller, &mut expert], "two digits", |p| {
        p[0].heard[from..]
            .iter()
            .filter(|x| x.1.payload_type == 101)
            .filter_map(|x| EventPayload::parse(&x.2).ok())
            .filter(|ev| ev.end && ev.event == 11)
            .count()
            >= 3
    });
    let events: Vec<EventPayload> = caller.heard[from..]
        .iter()
        .filter(|x| x.1.payload_type == 101)
        .map(|x| EventPayload::parse(&x.2).unwrap())
        .collect();
    assert_eq!(events.first().map(|e| e.event), Some(5));
    assert!(events.iter().any(|e| e.event == 5 && e.end));
    assert!(caller
        .heard
        .iter()
        .all(|x| x.1.ssrc == *ssrcs.iter().next().unwrap()));

    // The old call ends; its agent's leg is gone with it, the moved leg lives on.
    h.end_call(call).await.unwrap();
    assert_eq!(
        h.move_leg(b.leg, consult).await,
        Err(MediaError::UnknownLeg(b.leg))
    );
    let (stats2, _) = h.leg_stats(a.leg).await.unwrap();
    assert!(stats2.rx_packets >= stats.rx_packets);
    eng.shutdown();
}

#[tokio::test]
async fn prompts_to_the_recorded_caller_are_in_the_right_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, mut ev) = engine("41700-41709", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    let mut caller = Phone::new(Law::Alaw, None, a.rtp);
    let mut agent = Phone::new(Law::Alaw, None, b.rtp);
    h.set_remote(a.leg, caller.sdp(&caller.addr().to_string()))
        .await
        .unwrap();
    h.set_remote(b.leg, agent.sdp(&agent.addr().to_string()))
        .await
        .unwrap();
    let id = Uuid::new_v4();
    let spec = RecordingSpec {
        id,
        started: Utc::now(),
        caller: a.leg,
    };
    // Recorded from the bridge on; then the caller is put on hold with a 400 Hz "music".
    h.bridge(a.leg, b.leg, Some(spec)).await.unwrap();
    let music = SineGenerator::new(400.0, 8000, 8000).take(4000);
    h.play(
        a.leg,
        vec![Prompt::from_samples("moh", music).unwrap()],
        false,
    )
    .await
    .unwrap();
    rounds(
        &mut [&mut caller, &mut agent],
        "the prompt to the caller",
        |p| p[0].heard.len() >= 25,
    );
    next_event(&mut ev, "PlaybackDone", |e| {
        *e == MediaEvent::PlaybackDone { leg: a.leg }
    })
    .await;
    h.end_call(call).await.unwrap();
    let e = next_event(&mut ev, "RecordingFinished", |e| {
        matches!(e, MediaEvent::RecordingFinished { .. })
    })
    .await;
    let MediaEvent::RecordingFinished { path, error, .. } = e else {
        unreachable!()
    };
    assert_eq!(error, None);
    let samples: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .into_samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let tone_at = onset(&right, 400.0).expect("the prompt is in the right channel");
    let window = &right[tone_at..(tone_at + 1600).min(right.len())];
    assert!(ToneDetector::new(400.0).present(window));
    assert!(
        left.iter().all(|&s| s.unsigned_abs() < 100),
        "nothing in the caller's channel: the caller sent silence"
    );
    eng.shutdown();
}
