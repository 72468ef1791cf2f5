//! SIP dialogs (RFC 3261 §12, with §13–§14 target refresh): identity, route set, remote target,
//! CSeq spaces, and building in-dialog requests.
//!
//! The dialog never parses header text. The caller hands it already-parsed values: the
//! Record-Route entries of the message (in the order they appear, one [`NameAddr`] per entry)
//! and its Contact, if any. Once the URI parser lands, the shell converts header strings to
//! `NameAddr` before calling in.
//!
//! Typical use:
//! - UAC: after sending an INVITE, a 1xx carrying a To tag makes an early dialog and a 2xx a
//!   confirmed one ([`Dialog::new_uac`]); a 2xx for an early dialog calls
//!   [`Dialog::confirm_uac`], which recomputes the route set (§13.2.2.4).
//! - UAS: when answering an INVITE with a tagged 1xx/2xx, [`Dialog::new_uas`].
//! - Incoming in-dialog requests: [`Dialogs::find_for_request`] (481 when unknown), then
//!   [`Dialog::receive_request`] (500 when the CSeq goes backwards; target refresh).
//! - Outgoing: [`Dialog::new_request`] for BYE, re-INVITE, UPDATE, INFO, REFER, NOTIFY, PRACK;
//!   [`Dialog::ack_for_2xx`] for the ACK of a 2xx.

use std::collections::HashMap;

use crate::sip::message::{CSeq, Headers, Method, NameAddr, Request, Response, Scheme, Uri, Via};

/// Call-ID plus the two tags, from this side's point of view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a received request belongs to: local tag from To, remote from From. `None`
    /// when the request has no To tag (it is then not an in-dialog request).
    pub fn of_incoming_request(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id.clone(),
            local_tag: req.to.tag()?.to_string(),
            remote_tag: req.from.tag()?.to_string(),
        })
    }

    /// The dialog a received response belongs to: local tag from From, remote from To.
    pub fn of_incoming_response(resp: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.call_id.clone(),
            local_tag: resp.from.tag()?.to_string(),
            remote_tag: resp.to.tag()?.to_string(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Uac,
    Uas,
}

/// Why a dialog operation failed; [`DialogError::status`] gives the response to send when the
/// cause is a received request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("the message has no {0} tag")]
    MissingTag(&'static str),
    #[error("a dialog-creating 2xx or request needs a Contact")]
    MissingContact,
    #[error("CSeq {got} is not above the last remote CSeq {last}")]
    CSeqOutOfOrder { last: u32, got: u32 },
    #[error("no such dialog")]
    UnknownDialog,
    #[error("{0} is not sent with new_request")]
    NotForNewRequest(Method),
}

impl DialogError {
    /// The status code to answer a request with, per RFC 3261 §12.2.2.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::CSeqOutOfOrder { .. } => 500,
            DialogError::UnknownDialog => 481,
            _ => 400,
        }
    }
}

/// One dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    pub role: Role,
    /// Our From (as UAC) or To (as UAS) with our tag.
    pub local: NameAddr,
    /// The peer's URI with its tag.
    pub remote: NameAddr,
    /// The last CSeq number we used; the next request uses one more.
    pub local_seq: u32,
    /// The last CSeq number the peer used, once it sent a request.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: Uri,
    /// Proxies to traverse, first hop first.
    pub route_set: Vec<NameAddr>,
    /// Our Contact, sent on target-refresh and dialog-creating requests.
    pub local_contact: NameAddr,
    /// The dialog was set up over sips.
    pub secure: bool,
}

fn tag_of(n: &NameAddr, which: &'static str) -> Result<String, DialogError> {
    n.tag()
        .map(str::to_string)
        .ok_or(DialogError::MissingTag(which))
}

/// Methods whose Contact replaces the remote target (RFC 3261 §12.2, RFC 3311, RFC 6665).
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

impl Dialog {
    /// A UAC dialog from the INVITE we sent and a 1xx with a To tag or a 2xx (§12.1.2).
    /// `record_route` is the response's Record-Route entries in message order; `contact` its
    /// Contact. A 2xx must have a Contact; a 1xx without one targets the Request-URI.
    pub fn new_uac(
        invite: &Request,
        resp: &Response,
        record_route: &[NameAddr],
        contact: Option<&NameAddr>,
        local_contact: NameAddr,
    ) -> Result<Dialog, DialogError> {
        let remote_target = match contact {
            Some(c) => c.uri.clone(),
            None if resp.status < 200 => invite.uri.clone(),
            None => return Err(DialogError::MissingContact),
        };
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id.clone(),
                local_tag: tag_of(&invite.from, "From")?,
                remote_tag: tag_of(&resp.to, "To")?,
            },
            state: if resp.status < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            role: Role::Uac,
            local: invite.from.clone(),
            remote: resp.to.clone(),
            local_seq: invite.cseq.seq,
            remote_seq: None,
            remote_target,
            route_set: record_route.iter().rev().cloned().collect(),
            local_contact,
            secure: invite.uri.scheme == Scheme::Sips,
        })
    }

    /// A UAS dialog from a received INVITE (or other dialog-creating request) and the tag we
    /// put in our To (§12.1.1). `record_route` is the request's Record-Route entries in
    /// message order; `contact` its Contact, which is required.
    pub fn new_uas(
        req: &Request,
        local_tag: &str,
        record_route: &[NameAddr],
        contact: Option<&NameAddr>,
        local_contact: NameAddr,
        state: DialogState,
    ) -> Result<Dialog, DialogError> {
        let contact = contact.ok_or(DialogError::MissingContact)?;
        let mut local = req.to.clone();
        local.set_tag(local_tag);
        Ok(Dialog {
            id: DialogId {
                call_id: req.call_id.clone(),
                local_tag: local_tag.to_string(),
                remote_tag: tag_of(&req.from, "From")?,
            },
            state,
            role: Role::Uas,
            local,
            remote: req.from.clone(),
            local_seq: 0,
            remote_seq: Some(req.cseq.seq),
            remote_target: contact.uri.clone(),
            route_set: record_route.to_vec(),
            local_contact,
            secure: req.uri.scheme == Scheme::Sips,
        })
    }

    /// A 2xx arrived for an early UAC dialog: confirm it and recompute the route set and
    /// remote target from the 2xx (§13.2.2.4).
    pub fn confirm_uac(&mut self, record_route: &[NameAddr], contact: Option<&NameAddr>) {
        self.state = DialogState::Confirmed;
        self.route_set = record_route.iter().rev().cloned().collect();
        if let Some(c) = contact {
            self.remote_target = c.uri.clone();
        }
    }

    /// A 2xx to our target-refresh request (re-INVITE, UPDATE, …): its Contact becomes the
    /// remote target (§12.2.1.2). The route set does not change.
    pub fn refresh_from_response(&mut self, method: &Method, contact: Option<&NameAddr>) {
        if is_target_refresh(method) {
            if let Some(c) = contact {
                self.remote_target = c.uri.clone();
            }
        }
    }

    /// Checks an in-dialog request from the peer (§12.2.2): the CSeq must grow (else 500; ACK
    /// and CANCEL reuse their INVITE's number and are exempt), and a target-refresh request's
    /// Contact replaces the remote target.
    pub fn receive_request(
        &mut self,
        req: &Request,
        contact: Option<&NameAddr>,
    ) -> Result<(), DialogError> {
        if !matches!(req.method, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_seq {
                if req.cseq.seq <= last {
                    return Err(DialogError::CSeqOutOfOrder {
                        last,
                        got: req.cseq.seq,
                    });
                }
            }
            self.remote_seq = Some(req.cseq.seq);
        }
        if is_target_refresh(&req.method) {
            if let Some(c) = contact {
                self.remote_target = c.uri.clone();
            }
        }
        Ok(())
    }

    /// The URI the request is physically sent to: the first route, or the remote target.
    pub fn next_hop(&self) -> &Uri {
        self.route_set
            .first()
            .map(|r| &r.uri)
            .unwrap_or(&self.remote_target)
    }

    /// Request-URI and Route values per §12.2.1.1: loose routing when the first route has
    /// `;lr`, the strict-routing rewrite otherwise.
    fn uri_and_routes(&self) -> (Uri, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if first.uri.param("lr").is_some() => (
                self.remote_target.clone(),
                self.route_set.iter().map(NameAddr::to_string).collect(),
            ),
            Some(first) => {
                let mut uri = first.uri.clone();
                uri.headers = None;
                let mut routes: Vec<String> = self.route_set[1..]
                    .iter()
                    .map(NameAddr::to_string)
                    .collect();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }

    fn build(&self, method: Method, seq: u32, via: Via) -> Request {
        let (uri, routes) = self.uri_and_routes();
        let mut headers = Headers::new();
        for r in routes {
            headers.push("Route", r);
        }
        if is_target_refresh(&method) {
            headers.push("Contact", self.local_contact.to_string());
        }
        Request {
            method: method.clone(),
            uri,
            via: vec![via],
            from: self.local.clone(),
            to: self.remote.clone(),
            call_id: self.id.call_id.clone(),
            cseq: CSeq { seq, method },
            max_forwards: Some(70),
            headers,
            body: Default::default(),
        }
    }

    /// A new in-dialog request (BYE, re-INVITE, UPDATE, INFO, REFER, NOTIFY, PRACK, …) with
    /// the next local CSeq. `via` is our Via with a fresh branch. ACK and CANCEL are refused:
    /// use [`Dialog::ack_for_2xx`] and `transaction::build_cancel`.
    pub fn new_request(&mut self, method: Method, via: Via) -> Result<Request, DialogError> {
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(DialogError::NotForNewRequest(method));
        }
        self.local_seq = self.local_seq.wrapping_add(1);
        Ok(self.build(method, self.local_seq, via))
    }

    /// The ACK for a 2xx to our INVITE numbered `invite_seq` (§13.2.2.4): same CSeq number,
    /// routed like any in-dialog request, sent outside the INVITE transaction.
    pub fn ack_for_2xx(&self, invite_seq: u32, via: Via) -> Request {
        self.build(Method::Ack, invite_seq, via)
    }
}

/// The dialogs of one endpoint, by id.
#[derive(Debug, Default)]
pub struct Dialogs {
    map: HashMap<DialogId, Dialog>,
}

impl Dialogs {
    pub fn new() -> Dialogs {
        Dialogs::default()
    }

    /// Adds a dialog, replacing any with the same id.
    pub fn insert(&mut self, dialog: Dialog) {
        self.map.insert(dialog.id.clone(), dialog);
    }

    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.map.get_mut(id)
    }

    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.map.remove(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The dialog of an in-dialog request (one with a To tag), checked and updated by
    /// [`Dialog::receive_request`]. Unknown dialogs give [`DialogError::UnknownDialog`] (481).
    pub fn find_for_request(
        &mut self,
        req: &Request,
        contact: Option<&NameAddr>,
    ) -> Result<&mut Dialog, DialogError> {
        let id = DialogId::of_incoming_request(req).ok_or(DialogError::UnknownDialog)?;
        let dialog = self.map.get_mut(&id).ok_or(DialogError::UnknownDialog)?;
        dialog.receive_request(req, contact)?;
        Ok(dialog)
    }
}

/// The response that rejects `req` for `err` (481 unknown dialog, 500 CSeq out of order).
pub fn reject(req: &Request, err: &DialogError) -> Response {
    req.response(err.status())
}
