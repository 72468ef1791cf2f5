//! How messages find their transaction (RFC 3261 §17.1.3 and §17.2.3).
//!
//! Server transactions are keyed by the top Via's branch, its sent-by (`host:port`, port
//! defaulted per transport) and the method, with ACK folded onto INVITE so it finds the INVITE
//! transaction it acknowledges; CANCEL keeps its own key and finds its INVITE by swapping the
//! method. Requests without the RFC 3261 magic cookie (RFC 2543 peers) are keyed by Call-ID,
//! From tag and CSeq number plus sent-by instead. Client transactions are keyed by branch and
//! CSeq method.

use crate::sip::message::{Method, Request};

/// A transaction's matching key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TxKey {
    pub(crate) server: bool,
    pub(crate) branch: String,
    /// `host:port` of the top Via, for server transactions; empty for client ones.
    pub(crate) sent_by: String,
    pub(crate) method: Method,
}

/// The key of the client transaction a response with this branch and CSeq method belongs to.
pub(crate) fn client_key(branch: &str, method: &Method) -> TxKey {
    TxKey {
        server: false,
        branch: branch.to_string(),
        sent_by: String::new(),
        method: method.clone(),
    }
}

/// The key of the server transaction a request belongs to.
pub(crate) fn server_key(req: &Request) -> TxKey {
    let method = match req.method {
        Method::Ack => Method::Invite,
        ref m => m.clone(),
    };
    // receive_request only calls this after checking the Via exists; an empty key is harmless.
    let Some(via) = req.via.first() else {
        return TxKey {
            server: true,
            branch: String::new(),
            sent_by: String::new(),
            method,
        };
    };
    if via.is_rfc3261_branch() {
        let default_port = if via.transport.eq_ignore_ascii_case("TLS") {
            5061
        } else {
            5060
        };
        TxKey {
            server: true,
            branch: via.branch().unwrap_or_default().to_string(),
            sent_by: format!(
                "{}:{}",
                via.host.to_ascii_lowercase(),
                via.port.unwrap_or(default_port)
            ),
            method,
        }
    } else {
        // RFC 2543 peers: no usable branch; key on the dialog-ish identifiers instead.
        TxKey {
            server: true,
            branch: format!(
                "{}\u{0}{}\u{0}{}",
                req.call_id,
                req.from.tag().unwrap_or(""),
                req.cseq.seq
            ),
            sent_by: format!(
                "{}:{}",
                via.host.to_ascii_lowercase(),
                via.port.unwrap_or(5060)
            ),
            method,
        }
    }
}
