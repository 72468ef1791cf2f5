//! A fake SMSC for tests — not an SMSC, just enough SMPP 3.4 to exercise rexian's client: it
//! accepts `bind_transceiver` with one password, answers `submit_sm` with a message id of its
//! own, sends a delivery receipt for each, answers `enquire_link`, and can push a handset's
//! reply as `deliver_sm`. No SMSC server is packaged for Debian, hence this.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use rexian::sms::smpp::pdu::{self, tag, Body, Frame, ShortMessage};

/// One submit_sm as the fake saw it.
#[derive(Clone, Debug)]
pub struct Received {
    /// rexian's message id from the vendor TLV.
    pub rexian_id: String,
    pub destination: String,
    pub text: String,
    pub smsc_id: String,
}

#[derive(Default)]
struct Shared {
    /// Close the link, unanswered, on this (1-based) submit_sm.
    drop_at: Option<usize>,
    received: Vec<Received>,
    binds: usize,
    writer: Option<TcpStream>,
    sequence: u32,
}

pub struct FakeSmsc {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeSmsc {
    pub fn start(password: &'static str) -> FakeSmsc {
        FakeSmsc::start_dropping(password, None)
    }

    /// A fake that drops the link, without answering, on the `drop_at`-th submit_sm (which it
    /// has recorded as received): the client's view of a crash between accept and answer.
    pub fn start_dropping(password: &'static str, drop_at: Option<usize>) -> FakeSmsc {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake SMSC");
        let addr = listener.local_addr().expect("address");
        let shared = Arc::new(Mutex::new(Shared {
            drop_at,
            ..Shared::default()
        }));
        let s2 = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let shared = s2.clone();
                std::thread::spawn(move || serve(conn, shared, password));
            }
        });
        FakeSmsc { addr, shared }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    pub fn binds(&self) -> usize {
        self.shared.lock().unwrap().binds
    }

    /// Sends a text from a handset to the bound client. False when no client is bound.
    pub fn send_mo(&self, from: &str, text: &str) -> bool {
        let mut s = self.shared.lock().unwrap();
        s.sequence += 1;
        let seq = s.sequence;
        let Some(w) = s.writer.as_mut() else {
            return false;
        };
        let mut m = ShortMessage {
            source_ton: 1,
            source_npi: 1,
            source_addr: from.to_string(),
            destination_addr: "12345".to_string(),
            ..ShortMessage::default()
        };
        m.set_text(text);
        w.write_all(&Frame::new(seq, Body::DeliverSm(m)).encode())
            .is_ok()
    }
}

fn write(shared: &Mutex<Shared>, f: &Frame) {
    if let Some(w) = shared.lock().unwrap().writer.as_mut() {
        let _ = w.write_all(&f.encode());
    }
}

fn serve(mut conn: TcpStream, shared: Arc<Mutex<Shared>>, password: &str) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let frame = loop {
            match pdu::decode(&buf) {
                Ok(Some((f, used))) => {
                    buf.drain(..used);
                    break f;
                }
                Ok(None) => {}
                Err(_) => return,
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        match frame.body {
            Body::BindTransceiver {
                password: ref got, ..
            } => {
                let mut resp = Frame::new(
                    frame.sequence,
                    Body::BindTransceiverResp {
                        system_id: "fake".into(),
                    },
                );
                if got != password {
                    resp.status = 0x0E; // ESME_RINVPASWD
                    let _ = conn.write_all(&resp.encode());
                    return;
                }
                let mut s = shared.lock().unwrap();
                s.binds += 1;
                s.writer = conn.try_clone().ok();
                drop(s);
                write(&shared, &resp);
            }
            Body::SubmitSm(m) => {
                let (smsc_id, seq) = {
                    let mut s = shared.lock().unwrap();
                    s.sequence += 1;
                    let smsc_id = format!("F{}", s.received.len() + 1);
                    s.received.push(Received {
                        rexian_id: m
                            .tlv(tag::REXIAN_MESSAGE_ID)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default(),
                        destination: m.destination_addr.clone(),
                        text: m.text(),
                        smsc_id: smsc_id.clone(),
                    });
                    if s.drop_at == Some(s.received.len()) {
                        s.writer = None;
                        return;
                    }
                    (smsc_id, s.sequence)
                };
                write(
                    &shared,
                    &Frame::new(
                        frame.sequence,
                        Body::SubmitSmResp {
                            message_id: smsc_id.clone(),
                        },
                    ),
                );
                if m.registered_delivery & 1 == 1 {
                    let receipt = ShortMessage {
                        source_addr: m.destination_addr.clone(),
                        destination_addr: m.source_addr.clone(),
                        esm_class: 0x04,
                        short_message: format!(
                            "id:{smsc_id} sub:001 dlvrd:001 submit date:2603011200 done date:2603011200 stat:DELIVRD err:000 text:"
                        )
                        .into_bytes(),
                        ..ShortMessage::default()
                    };
                    write(&shared, &Frame::new(seq, Body::DeliverSm(receipt)));
                }
            }
            Body::EnquireLink => write(&shared, &Frame::new(frame.sequence, Body::EnquireLinkResp)),
            Body::Unbind => {
                write(&shared, &Frame::new(frame.sequence, Body::UnbindResp));
                return;
            }
            _ => {}
        }
    }
}
