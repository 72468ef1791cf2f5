//! A supervisor on a live call through the media engine on real UDP sockets: listening
//! (监听), whispering to the agent, barging in (强插) and leaving, switched live on one call
//! with test phones sending tones (caller 500 Hz, agent 1 kHz, supervisor 1.5 kHz); what each
//! phone hears and what the recording holds are checked by frequency detection.

mod media_support;

use std::time::Instant;

use chrono::Utc;
use media_support::{engine, leg, next_event, rounds, Phone};
use rexian::media::g711::Law;
use rexian::media::tone::ToneDetector;
use rexian::shell::media::{MediaError, MediaEvent, PartyRole, RecordingSpec};
use uuid::Uuid;

fn hears(p: &Phone, f: f64) -> bool {
    let mut d = ToneDetector::new(f);
    d.min_snr_db = -6.0;
    d.present(&p.last_audio(20))
}

/// Where tone `f` (beside others) starts in a recorded channel: the first of five 20 ms
/// frames in a row that hold it (a lone frame may be a click at a gap).
fn onset(samples: &[i16], f: f64) -> Option<usize> {
    let mut d = ToneDetector::new(f);
    d.min_snr_db = -6.0;
    let has: Vec<bool> = samples.chunks(160).map(|c| d.present(c)).collect();
    has.windows(5)
        .position(|w| w.iter().all(|&x| x))
        .map(|i| i * 160)
}

/// Forgets what the phones heard, then runs rounds until each has heard 40 packets anew.
fn phase(phones: &mut [&mut Phone], what: &str) {
    for p in phones.iter_mut() {
        p.heard.clear();
    }
    rounds(phones, what, |p| p.iter().all(|p| p.heard.len() >= 40));
}

#[tokio::test]
async fn a_supervisor_listens_whispers_barges_and_leaves_on_a_live_recorded_call() {
    let dir = tempfile::tempdir().unwrap();
    let (eng, mut ev) = engine("41800-41819", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b, s) = (
        leg(&h, call).await,
        leg(&h, call).await,
        leg(&h, call).await,
    );
    let mut caller = Phone::new(Law::Ulaw, Some(500.0), a.rtp);
    let mut agent = Phone::new(Law::Alaw, Some(1000.0), b.rtp);
    let mut sup = Phone::new(Law::Ulaw, Some(1500.0), s.rtp);
    for (p, l) in [(&caller, a.leg), (&agent, b.leg), (&sup, s.leg)] {
        h.set_remote(l, p.sdp(&p.addr().to_string())).await.unwrap();
    }
    let rec = Uuid::new_v4();
    let spec = RecordingSpec {
        id: rec,
        started: Utc::now(),
        caller: a.leg,
    };
    let recording_from = Instant::now();
    h.bridge(a.leg, b.leg, Some(spec)).await.unwrap();
    phase(&mut [&mut caller, &mut agent], "caller and agent talking");

    let roles = |r| {
        vec![
            (a.leg, PartyRole::Full),
            (b.leg, PartyRole::Full),
            (s.leg, r),
        ]
    };
    assert_eq!(
        h.set_roles(
            vec![(a.leg, PartyRole::Full), (s.leg, PartyRole::Whisper(b.leg))],
            None
        )
        .await,
        Err(MediaError::WhisperTarget(b.leg))
    );

    h.set_roles(roles(PartyRole::Listen), None).await.unwrap();
    phase(&mut [&mut caller, &mut agent, &mut sup], "listening");
    assert!(
        hears(&sup, 500.0) && hears(&sup, 1000.0),
        "the listener hears both"
    );
    assert!(hears(&caller, 1000.0) && !hears(&caller, 1500.0));
    assert!(hears(&agent, 500.0) && !hears(&agent, 1500.0));

    h.set_roles(roles(PartyRole::Whisper(b.leg)), None)
        .await
        .unwrap();
    phase(&mut [&mut caller, &mut agent, &mut sup], "whispering");
    assert!(
        hears(&agent, 500.0) && hears(&agent, 1500.0),
        "the agent hears the coach"
    );
    assert!(
        hears(&caller, 1000.0) && !hears(&caller, 1500.0),
        "the caller never does"
    );
    assert!(hears(&sup, 500.0) && hears(&sup, 1000.0));

    let barged_at = Instant::now();
    h.set_roles(roles(PartyRole::Full), None).await.unwrap();
    phase(&mut [&mut caller, &mut agent, &mut sup], "barging in");
    assert!(hears(&caller, 1000.0) && hears(&caller, 1500.0));
    assert!(hears(&agent, 500.0) && hears(&agent, 1500.0));
    assert!(hears(&sup, 500.0) && hears(&sup, 1000.0));

    h.set_roles(roles(PartyRole::Listen), None).await.unwrap();
    phase(
        &mut [&mut caller, &mut agent, &mut sup],
        "back to listening",
    );
    assert!(!hears(&caller, 1500.0) && !hears(&agent, 1500.0));
    assert!(hears(&sup, 500.0) && hears(&sup, 1000.0));

    h.close_leg(s.leg).await.unwrap();
    phase(
        &mut [&mut caller, &mut agent],
        "caller and agent after the supervisor left",
    );
    assert!(hears(&caller, 1000.0) && hears(&agent, 500.0));

    h.end_call(call).await.unwrap();
    let e = next_event(&mut ev, "RecordingFinished", |e| {
        matches!(e, MediaEvent::RecordingFinished { .. })
    })
    .await;
    let MediaEvent::RecordingFinished { path, error, .. } = e else {
        unreachable!()
    };
    assert_eq!(error, None);
    let r = hound::WavReader::open(&path).unwrap();
    let s: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    // The supervisor is on the right only from the barge on (never while listening or
    // whispering), and never on the caller's side.
    let barge = (barged_at - recording_from).as_millis() as usize * 8;
    let on = onset(&right, 1500.0).expect("the barging supervisor is recorded");
    assert!(
        on + 800 >= barge,
        "1.5 kHz on the right at sample {on}, barge at {barge}"
    );
    assert!(onset(&left, 1500.0).is_none());
    assert!(onset(&right, 1000.0).is_some_and(|x| x < barge));
    eng.shutdown();
}
