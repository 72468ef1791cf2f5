//! A remote seat (远端座席) behind NAT: its REGISTER carries a Contact with a private address
//! rexian cannot reach. Calls for it must go to the address the REGISTER came from. The
//! phone here is a plain UDP socket speaking SIP by hand, the trunk is sipp.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use rexian::sip::digest::{ha1, response_digest, Algorithm, QopAuth};
use support::{free_udp_port, sipp, sipp_scenario, Daemon};

fn exchange(sock: &UdpSocket, to: std::net::SocketAddr, msg: &str) -> String {
    sock.send_to(msg.as_bytes(), to).unwrap();
    let mut buf = [0u8; 8192];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn param<'a>(challenge: &'a str, name: &str) -> &'a str {
    let at = challenge.find(&format!("{name}=\"")).expect("parameter") + name.len() + 2;
    let rest = &challenge[at..];
    &rest[..rest.find('"').unwrap()]
}

#[test]
fn a_phone_behind_nat_is_called_at_the_address_its_register_came_from() {
    let d = Daemon::start_with_agents(&[("7003", "secret-7003")], &[]);
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The private address of a phone behind a home router: unreachable from rexian.
    let contact = "<sip:7003@192.168.77.20:5060>";
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:{0} SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.20:5060;rport;branch=z9hG4bKnat{cseq}\r\n\
             From: <sip:7003@{0}>;tag=nat1\r\nTo: <sip:7003@{0}>\r\nCall-ID: nat-reg@phone\r\n\
             CSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: 300\r\nMax-Forwards: 70\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            d.sip
        )
    };
    let challenge = exchange(&phone, d.sip, &register(1, ""));
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let nonce = param(&challenge, "nonce").to_string();
    let uri = format!("sip:{}", d.sip);
    let key = ha1(Algorithm::Md5, "7003", "rexian", "secret-7003");
    let qop = QopAuth {
        nc: "00000001",
        cnonce: "abc123",
    };
    let response = response_digest(Algorithm::Md5, &key, &nonce, Some(qop), "REGISTER", &uri);
    let auth = format!(
        "Authorization: Digest username=\"7003\", realm=\"rexian\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, \
         cnonce=\"abc123\"\r\n"
    );
    let ok = exchange(&phone, d.sip, &register(2, &auth));
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");

    // A citizen calls 12345; after the greeting the only agent is rung.
    let sf = sipp_scenario("trunk_late_offer.xml");
    let media = free_udp_port().to_string();
    let trunk = std::thread::spawn({
        let target = d.sip;
        move || {
            sipp(
                target,
                &[
                    "-sf",
                    sf.to_str().unwrap(),
                    "-s",
                    "12345",
                    "-mp",
                    &media,
                    "-m",
                    "1",
                    "-d",
                    "12000",
                ],
            )
        }
    });
    let mut buf = [0u8; 8192];
    let (n, from) = phone
        .recv_from(&mut buf)
        .expect("the INVITE reaches the phone");
    let invite = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        invite.starts_with("INVITE sip:7003@192.168.77.20:5060 "),
        "{invite}"
    );
    assert_eq!(from, d.sip, "sent from rexian's SIP port");
    let run = trunk.join().unwrap();
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
}
