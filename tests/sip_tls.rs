//! SIP over TLS on its own port (RFC 3261 §26, `sips:`): a client that trusts the daemon's
//! certificate gets OPTIONS answered over the encrypted connection, and a CRLF keep-alive
//! ping answered with a pong (RFC 5626 §3.5.1) on the same connection.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use support::Daemon;

async fn read_some(s: &mut (impl AsyncReadExt + Unpin), want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !String::from_utf8_lossy(&got).contains(want) {
            let n = s.read(&mut buf).await.expect("read over TLS");
            assert!(n > 0, "the daemon closed the connection");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no {want:?} over TLS within 10 s"));
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn options_and_keepalive_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let d = Daemon::start(&[
        "--tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ]);
    let tls_addr = d.tls.expect("the ready line names the TLS address");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let mut s = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the daemon's certificate");

    let options = format!(
        "OPTIONS sips:localhost:{port} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls1\r\n\
         From: <sips:7001@localhost>;tag=t1\r\nTo: <sips:localhost>\r\nCall-ID: tls-1@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        port = tls_addr.port()
    );
    s.write_all(options.as_bytes()).await.unwrap();
    let answer = read_some(&mut s, "\r\n\r\n").await;
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(answer.contains("Allow:"), "{answer}");
    assert!(answer.contains("Via: SIP/2.0/TLS"), "{answer}");

    // RFC 5626 keep-alive: a double CRLF ping gets a single CRLF pong.
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut pong))
        .await
        .expect("a pong within 10 s")
        .unwrap();
    assert_eq!(&pong, b"\r\n");
}
