//! The media engine against a real RTP peer: sipp (Debian `sip-tester`) with `-rtp_echo`
//! sends back every RTP packet it gets on its media port. A test phone talks to the caller
//! leg; the agent leg's remote is sipp's media port. The phone must hear its own tone back
//! through rexian → sipp → rexian, and the recording must hold it on both channels, the
//! echo just after the original. No SIP is involved (there is no call flow in rexian yet):
//! sipp's media port is put in the agent leg as if its SDP had said so.

mod media_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};

use chrono::Utc;
use media_support::{engine, leg, next_event, onset, rounds, Phone, LOCAL};
use rexian::media::g711::Law;
use rexian::media::tone::ToneDetector;
use rexian::shell::media::{MediaEvent, RecordingSpec};
use uuid::Uuid;

/// Stops the sipp process we started, whatever happens in the test.
struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_even_port() -> u16 {
    loop {
        let s = UdpSocket::bind((LOCAL, 0)).unwrap();
        let p = s.local_addr().unwrap().port();
        if p % 2 == 0 && p < 65534 {
            return p;
        }
    }
}

#[tokio::test]
async fn a_tone_echoed_by_sipp_comes_back_and_is_recorded_on_both_sides() {
    let media_port = free_even_port();
    let sip_port = free_even_port();
    let _sipp = Sipp(
        Command::new("sipp")
            .args(["-sn", "uas", "-i", "127.0.0.1", "-nostdin", "-rtp_echo"])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
            .args(["-timeout", "60s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run sipp (install sip-tester)"),
    );
    let dir = tempfile::tempdir().unwrap();
    let (eng, mut ev) = engine("41400-41409", dir.path(), 60);
    let h = eng.handle.clone();
    let call = h.new_call().await.unwrap();
    let (a, b) = (leg(&h, call).await, leg(&h, call).await);
    let mut caller = Phone::new(Law::Ulaw, Some(1000.0), a.rtp);
    h.set_remote(a.leg, caller.sdp(&caller.addr().to_string()))
        .await
        .unwrap();
    let sipp_media = SocketAddr::new(LOCAL, media_port).to_string();
    h.set_remote(b.leg, caller.sdp(&sipp_media)).await.unwrap();
    let rec = Uuid::new_v4();
    let spec = RecordingSpec {
        id: rec,
        started: Utc::now(),
        caller: a.leg,
    };
    h.bridge(a.leg, b.leg, Some(spec)).await.unwrap();

    // Until sipp has started, packets to its port are lost; then the echo flows.
    rounds(&mut [&mut caller], "30 echoed packets from sipp", |p| {
        p[0].heard.len() >= 30
    });
    assert!(
        ToneDetector::new(1000.0).present(&caller.last_audio(20)),
        "the caller hears its own 1 kHz back through sipp"
    );
    let (_, latched) = h.leg_stats(b.leg).await.unwrap();
    assert_eq!(latched, Some(SocketAddr::new(LOCAL, media_port)));

    h.end_call(call).await.unwrap();
    let e = next_event(&mut ev, "RecordingFinished", |e| {
        matches!(e, MediaEvent::RecordingFinished { .. })
    })
    .await;
    let MediaEvent::RecordingFinished { path, .. } = e else {
        unreachable!()
    };
    let r = hound::WavReader::open(&path).unwrap();
    let s: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    // The echo starts once sipp listens; from then on it trails the caller by a loopback
    // round trip, far under one 20 ms frame.
    let r_on = onset(&right, 1000.0).expect("the echo is recorded on the right");
    assert!(
        ToneDetector::new(1000.0).present(&left[r_on..r_on + 1600]),
        "the caller's tone is on the left where the echo is on the right"
    );
    let tail = right.len().min(left.len());
    let n = (tail - r_on) / 160;
    let both = (0..n)
        .filter(|i| {
            let k = r_on + i * 160;
            let d = ToneDetector::new(1000.0);
            d.present(&left[k..k + 160]) && d.present(&right[k..k + 160])
        })
        .count();
    assert!(
        both + 3 >= n,
        "aligned: {both} of {n} frames hold the tone on both sides"
    );
    eng.shutdown();
}
