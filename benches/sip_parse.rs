//! Parser throughput on the three messages the hotline sees most: an INVITE with SDP from a
//! trunk, an OPTIONS keep-alive probe, and a REGISTER with Digest credentials from a softphone.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rexian::sip::parse::{parse, Limits};

const SDP: &str = "v=0\r\no=- 2890844526 2890844526 IN IP4 198.51.100.7\r\ns=-\r\n\
c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

fn invite() -> Vec<u8> {
    format!(
        "INVITE sip:12345@gov.example;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---7ab4c3d2e1f0a9b8;rport\r\n\
Max-Forwards: 69\r\n\
From: \"13800138000\" <sip:13800138000@carrier.example;user=phone>;tag=as5f3c2a1b\r\n\
To: <sip:12345@gov.example;user=phone>\r\n\
Call-ID: 3c2e6f1a2b9d4e8f@198.51.100.7\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:13800138000@198.51.100.7:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, PRACK, UPDATE, INFO\r\n\
Supported: 100rel, timer, replaces\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Min-SE: 90\r\n\
P-Asserted-Identity: <sip:13800138000@carrier.example;user=phone>\r\n\
User-Agent: carrier-sbc/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

const OPTIONS: &[u8] = b"OPTIONS sip:12345@gov.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-ping-8812;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:ping@carrier.example>;tag=p1\r\n\
To: <sip:12345@gov.example>\r\n\
Call-ID: ping-8812@198.51.100.7\r\n\
CSeq: 8812 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

const REGISTER: &[u8] = b"REGISTER sip:gov.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.50:5062;rport;branch=z9hG4bKreg2\r\n\
Max-Forwards: 70\r\n\
From: \"Agent 7\" <sip:agent7@gov.example>;tag=a7\r\n\
To: \"Agent 7\" <sip:agent7@gov.example>\r\n\
Call-ID: reg.77231@192.0.2.50\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:agent7@192.0.2.50:5062;ob>;expires=3600\r\n\
Authorization: Digest username=\"agent7\", realm=\"gov.example\", nonce=\"5f1c9a0e:a1b2c3\", uri=\"sip:gov.example\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n\
Expires: 3600\r\n\
User-Agent: Softphone/1.0\r\n\
Content-Length: 0\r\n\r\n";

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let invite = invite();
    let mut g = c.benchmark_group("sip_parse");
    for (name, msg) in [
        ("invite_sdp", invite.as_slice()),
        ("options", OPTIONS),
        ("register_auth", REGISTER),
    ] {
        assert!(parse(msg, &limits).is_ok(), "{name} must parse");
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| b.iter(|| parse(black_box(msg), &limits)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
