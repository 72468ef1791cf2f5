//! The SIP transaction layer (RFC 3261 §17, RFC 6026): one demultiplexer over the four
//! transaction state machines, sans-IO.
//!
//! # Driving it
//!
//! The shell owns sockets and the clock and runs this loop:
//!
//! 1. for every parsed message: [`TransactionLayer::receive`]`(now, msg, from)`;
//! 2. for every due timer: [`TransactionLayer::handle_timeout`]`(now)`;
//! 3. after either, drain [`TransactionLayer::poll_transmit`] (bytes to put on the wire) and
//!    [`TransactionLayer::poll_event`] (hand to the transaction user, TU), then re-arm its
//!    timer from [`TransactionLayer::poll_timeout`];
//! 4. if a send fails or a stream connection closes: [`TransactionLayer::peer_unreachable`].
//!
//! The TU (dialogs, call control) answers [`TxEvent::Request`] with
//! [`TransactionLayer::respond`], starts client transactions with
//! [`TransactionLayer::send_request`], cancels INVITEs with [`TransactionLayer::cancel`] and
//! sends ACKs for 2xx outside any transaction with [`TransactionLayer::send_ack`].
//!
//! # Who does what
//!
//! - Requests are matched to server transactions by top-Via branch + sent-by + method (ACK
//!   matching its INVITE), §17.2.3; requests without the RFC 3261 magic cookie fall back to
//!   Call-ID + From tag + CSeq number + top Via. Responses are matched to client transactions
//!   by branch + CSeq method, §17.1.3. Retransmissions are absorbed here and never reach the TU.
//! - The layer fills in `received`/`rport` on the top Via of every request (RFC 3581), and
//!   sends responses back to the peer the request came from.
//! - Every INVITE server transaction answers `100 Trying` at once unless
//!   [`TransactionConfig::send_trying`] is off.
//! - **CANCEL is handled here** (§9.2): a CANCEL that matches no INVITE is answered 481; one
//!   that matches is answered 200 (with the INVITE's To tag). When the INVITE is still
//!   Proceeding and [`TransactionConfig::auto_487_on_cancel`] is on (the default), the layer
//!   also answers the INVITE with 487; either way the TU gets [`TxEvent::Cancelled`] and must
//!   tear down whatever it started (with the flag off, it must send the 487 itself).
//! - The 2xx to an INVITE is sent once by the layer; re-sending it until the ACK arrives is
//!   the TU's job (RFC 6026), with [`Retransmit2xx`] for the schedule. An ACK for a 2xx
//!   reaches the TU as [`TxEvent::AckFor2xx`].
//! - Timer B/F on a client transaction, and Timer H on an INVITE server transaction (ACK never
//!   came), report [`TxEvent::Timeout`]; the TU builds its own 408 if it needs one. Per §17.1.1
//!   Timer B stops once a provisional arrives, so ringing forever is bounded by the TU (or by
//!   the 64*T1 guard that starts when it sends a CANCEL).
//! - Every transaction ends with [`TxEvent::Terminated`], including ones the TU never saw
//!   (a CANCEL's own transaction); the TU ignores ids it does not know.

mod client;
mod client_inv;
mod matching;
mod server;
mod server_inv;
pub mod timers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

pub use client::ClientState;
pub use client_inv::{build_ack_for_non2xx, build_cancel, ClientInviteState};
pub use server::ServerState;
pub use server_inv::{Retransmit2xx, Retransmit2xxAction, ServerInviteState};
pub use timers::TimerConfig;

use client::ClientNonInvite;
use client_inv::ClientInvite;
use matching::{client_key, server_key, TxKey};
use server::ServerNonInvite;
use server_inv::ServerInvite;

use crate::sip::message::{Method, Request, Response, SipMessage, Via};
use crate::sip::peer::{Peer, Transmit};
use crate::sip::validate::loop_token;

/// A transaction, as numbered by the layer. Never reused within one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// What the transaction layer reports to the transaction user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request (not a retransmission, not ACK, not CANCEL); answer with `respond`.
    Request { tx: TxId, req: Request, from: Peer },
    /// A response for one of our client transactions (retransmissions absorbed, except 2xx to
    /// an INVITE, which the TU must re-ACK).
    Response { tx: TxId, resp: Response },
    /// Timer B or F (no final response), or Timer H (no ACK for our non-2xx final).
    Timeout { tx: TxId },
    /// The shell reported the peer unreachable while the transaction was live.
    TransportError { tx: TxId },
    /// A CANCEL matched an INVITE server transaction still Proceeding; the CANCEL is already
    /// answered 200 (and the INVITE 487, when `auto_487_on_cancel`).
    Cancelled { invite_tx: TxId, cancel: Request },
    /// An ACK outside any transaction: the ACK for a 2xx (or a stray ACK).
    AckFor2xx { ack: Request, from: Peer },
    /// A response that matches no client transaction (e.g. a 2xx retransmitted after Timer M,
    /// or a fork's 2xx arriving late).
    StrayResponse { resp: Response, from: Peer },
    /// The transaction is gone; its id will not appear again.
    Terminated { tx: TxId },
}

/// Errors from the TU-facing calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("no live transaction {0:?}")]
    UnknownTransaction(TxId),
    #[error("the request has no Via header")]
    NoVia,
    #[error("status {0} is outside 100..=699")]
    InvalidStatus(u16),
    #[error("transaction {tx:?} cannot send a {status} in its current state")]
    WrongState { tx: TxId, status: u16 },
    #[error("a client transaction with this branch and method already exists")]
    DuplicateBranch,
    #[error("ACK is not a transaction; send it with send_ack")]
    AckIsNotATransaction,
    #[error("transaction {0:?} is not an INVITE client transaction awaiting a final response")]
    NothingToCancel(TxId),
    #[error("transaction {0:?} is not a server transaction")]
    NotAServerTransaction(TxId),
}

/// Layer-wide settings.
#[derive(Clone, Debug)]
pub struct TransactionConfig {
    pub timers: TimerConfig,
    /// Send `100 Trying` as soon as an INVITE server transaction is created.
    pub send_trying: bool,
    /// Answer the INVITE with 487 when a CANCEL for it arrives.
    pub auto_487_on_cancel: bool,
    /// Prefix for the branches and To tags the layer generates; unique per process.
    pub id_prefix: String,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            timers: TimerConfig::default(),
            send_trying: true,
            auto_487_on_cancel: true,
            id_prefix: format!("{:08x}", rand::random::<u32>()),
        }
    }
}

/// The snapshot state of any transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    ClientInvite(ClientInviteState),
    Client(ClientState),
    ServerInvite(ServerInviteState),
    Server(ServerState),
}

/// Output queues the state machines write into.
#[derive(Default)]
pub(crate) struct Outputs {
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

impl Outputs {
    pub(crate) fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, bytes });
    }

    pub(crate) fn event(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }
}

enum Machine {
    ClientInvite(ClientInvite),
    Client(ClientNonInvite),
    ServerInvite(ServerInvite),
    Server(ServerNonInvite),
}

impl Machine {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Machine::ClientInvite(m) => m.deadline(),
            Machine::Client(m) => m.deadline(),
            Machine::ServerInvite(m) => m.deadline(),
            Machine::Server(m) => m.deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            Machine::ClientInvite(m) => m.is_terminated(),
            Machine::Client(m) => m.is_terminated(),
            Machine::ServerInvite(m) => m.is_terminated(),
            Machine::Server(m) => m.is_terminated(),
        }
    }

    fn peer(&self) -> Peer {
        match self {
            Machine::ClientInvite(m) => m.peer(),
            Machine::Client(m) => m.peer(),
            Machine::ServerInvite(m) => m.peer(),
            Machine::Server(m) => m.peer(),
        }
    }

    fn state(&self) -> TxState {
        match self {
            Machine::ClientInvite(m) => TxState::ClientInvite(m.state()),
            Machine::Client(m) => TxState::Client(m.state()),
            Machine::ServerInvite(m) => TxState::ServerInvite(m.state()),
            Machine::Server(m) => TxState::Server(m.state()),
        }
    }
}

struct Entry {
    key: TxKey,
    machine: Machine,
    /// The deadline currently pushed on the timer heap for this transaction.
    scheduled: Option<Instant>,
}

/// All live transactions of one SIP endpoint.
pub struct TransactionLayer {
    config: TransactionConfig,
    txs: HashMap<TxId, Entry>,
    keys: HashMap<TxKey, TxId>,
    /// Deadlines, lazily invalidated: an entry counts only while it equals `Entry::scheduled`.
    timers: BinaryHeap<Reverse<(Instant, TxId)>>,
    /// INVITE client transactions whose CANCEL waits for a first provisional (§9.1).
    pending_cancels: HashSet<TxId>,
    out: Outputs,
    next_id: u64,
    next_local_id: u64,
}

impl TransactionLayer {
    pub fn new(config: TransactionConfig) -> TransactionLayer {
        TransactionLayer {
            config,
            txs: HashMap::new(),
            keys: HashMap::new(),
            timers: BinaryHeap::new(),
            pending_cancels: HashSet::new(),
            out: Outputs::default(),
            next_id: 0,
            next_local_id: 0,
        }
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// A fresh RFC 3261 branch (`z9hG4bK…`) for a request the TU builds.
    pub fn new_branch(&mut self) -> String {
        self.next_local_id += 1;
        format!("z9hG4bK{}{:x}", self.config.id_prefix, self.next_local_id)
    }

    /// A fresh From/To tag.
    pub fn new_tag(&mut self) -> String {
        self.next_local_id += 1;
        format!("{}{:x}", self.config.id_prefix, self.next_local_id)
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Transactions still waiting for a final response (ours or the peer's). Those that only
    /// linger to absorb retransmissions are not counted: a draining daemon need not wait them out.
    pub fn in_flight(&self) -> usize {
        self.txs
            .values()
            .filter(|e| {
                matches!(
                    e.machine.state(),
                    TxState::ClientInvite(
                        ClientInviteState::Calling | ClientInviteState::Proceeding
                    ) | TxState::Client(ClientState::Trying | ClientState::Proceeding)
                        | TxState::ServerInvite(ServerInviteState::Proceeding)
                        | TxState::Server(ServerState::Trying | ServerState::Proceeding)
                )
            })
            .count()
    }

    /// The state of a live transaction.
    pub fn state(&self, tx: TxId) -> Option<TxState> {
        self.txs.get(&tx).map(|e| e.machine.state())
    }

    /// The INVITE that started a live INVITE transaction (client or server).
    pub fn invite(&self, tx: TxId) -> Option<&Request> {
        match &self.txs.get(&tx)?.machine {
            Machine::ClientInvite(m) => Some(m.request()),
            Machine::ServerInvite(m) => Some(m.request()),
            _ => None,
        }
    }

    /// Feeds one parsed message received from `from`.
    pub fn receive(&mut self, now: Instant, msg: SipMessage, from: Peer) {
        match msg {
            SipMessage::Request(req) => self.receive_request(now, req, from),
            SipMessage::Response(resp) => self.receive_response(now, resp, from),
        }
    }

    fn receive_request(&mut self, now: Instant, mut req: Request, from: Peer) {
        let Some(via) = req.via.first_mut() else {
            tracing::debug!("dropping a request without Via");
            return;
        };
        stamp_via(via, &from);
        let key = server_key(&req);
        let cfg = self.config.timers;
        if req.method == Method::Ack {
            if let Some(&id) = self.keys.get(&key) {
                if let Some(Entry {
                    machine: Machine::ServerInvite(m),
                    ..
                }) = self.txs.get_mut(&id)
                {
                    m.on_ack(now, req, from, &cfg, &mut self.out);
                    self.settle(id);
                    return;
                }
            }
            self.out.event(TxEvent::AckFor2xx { ack: req, from });
            return;
        }
        if let Some(&id) = self.keys.get(&key) {
            match self.txs.get_mut(&id).map(|e| &mut e.machine) {
                Some(Machine::ServerInvite(m)) => m.on_retransmit(&mut self.out),
                Some(Machine::Server(m)) => m.on_retransmit(&mut self.out),
                _ => {}
            }
            return;
        }
        let id = self.alloc_id();
        if req.method == Method::Cancel {
            self.receive_cancel(now, id, key, req, from);
            return;
        }
        let machine = if req.method == Method::Invite {
            Machine::ServerInvite(ServerInvite::start(
                id,
                req.clone(),
                from,
                self.config.send_trying,
                &mut self.out,
            ))
        } else {
            Machine::Server(ServerNonInvite::start(id, from))
        };
        self.insert(id, key, machine);
        self.out.event(TxEvent::Request { tx: id, req, from });
    }

    fn receive_cancel(&mut self, now: Instant, id: TxId, key: TxKey, cancel: Request, from: Peer) {
        let cfg = self.config.timers;
        let invite_key = TxKey {
            method: Method::Invite,
            ..key.clone()
        };
        let invite_id = self.keys.get(&invite_key).copied();
        let mut machine = ServerNonInvite::start(id, from);
        let found = invite_id.and_then(|iid| match self.txs.get(&iid) {
            Some(Entry {
                machine: Machine::ServerInvite(m),
                ..
            }) => Some((iid, m.to_tag().map(str::to_string), m.state())),
            _ => None,
        });
        let Some((invite_id, tag, state)) = found else {
            let mut resp = cancel.response(481);
            let tag = self.new_tag();
            resp.to.set_tag(&tag);
            // A fresh transaction in Trying accepts any final response.
            let _ = machine.respond(now, &resp, &cfg, &mut self.out);
            self.insert(id, key, Machine::Server(machine));
            return;
        };
        let tag = tag.unwrap_or_else(|| self.new_tag());
        let mut ok = cancel.response(200);
        ok.to.set_tag(&tag);
        // A fresh transaction in Trying accepts any final response.
        let _ = machine.respond(now, &ok, &cfg, &mut self.out);
        self.insert(id, key, Machine::Server(machine));
        if state != ServerInviteState::Proceeding {
            return;
        }
        if self.config.auto_487_on_cancel {
            if let Some(Entry {
                machine: Machine::ServerInvite(m),
                ..
            }) = self.txs.get_mut(&invite_id)
            {
                let mut terminated = m.request().response(487);
                terminated.to.set_tag(&tag);
                // The INVITE transaction is Proceeding, so a final response is accepted.
                let _ = m.respond(now, &terminated, &cfg, &mut self.out);
            }
            self.settle(invite_id);
        }
        self.out.event(TxEvent::Cancelled {
            invite_tx: invite_id,
            cancel,
        });
    }

    fn receive_response(&mut self, now: Instant, resp: Response, from: Peer) {
        let Some(branch) = resp.top_via().and_then(Via::branch) else {
            self.out.event(TxEvent::StrayResponse { resp, from });
            return;
        };
        let key = client_key(branch, &resp.cseq.method);
        let Some(&id) = self.keys.get(&key) else {
            self.out.event(TxEvent::StrayResponse { resp, from });
            return;
        };
        let cfg = self.config.timers;
        let mut cancel_now = false;
        match self.txs.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::ClientInvite(m)) => {
                m.on_response(now, resp, &cfg, &mut self.out);
                if self.pending_cancels.contains(&id) {
                    match m.state() {
                        ClientInviteState::Proceeding => cancel_now = true,
                        ClientInviteState::Calling => {}
                        _ => {
                            self.pending_cancels.remove(&id);
                        }
                    }
                }
            }
            Some(Machine::Client(m)) => m.on_response(now, resp, &cfg, &mut self.out),
            _ => {}
        }
        if cancel_now {
            // The transaction is Proceeding, which is exactly what send_cancel needs.
            let _ = self.send_cancel(now, id);
        }
        self.settle(id);
    }

    /// Starts a client transaction for `req` towards `to`. The top Via must exist; a branch is
    /// added when it has none. ACK is refused (see [`Self::send_ack`]).
    pub fn send_request(
        &mut self,
        now: Instant,
        mut req: Request,
        to: Peer,
    ) -> Result<TxId, TxError> {
        if req.method == Method::Ack {
            return Err(TxError::AckIsNotATransaction);
        }
        if req.via.is_empty() {
            return Err(TxError::NoVia);
        }
        if req.via[0].branch().is_none() {
            // RFC 3261 §16.6 item 8: a loop token in the branch lets validation tell this
            // request coming back to us unchanged (a loop, 482) from coming back re-targeted
            // (a spiral). A branch the caller chose is left as it is.
            let branch = format!("{}{}", self.new_branch(), loop_token(&req, None));
            req.via[0].set_param("branch", Some(branch));
        }
        // Checked non-empty above, and a branch was just ensured.
        let key = client_key(req.via[0].branch().unwrap_or_default(), &req.cseq.method);
        if self.keys.contains_key(&key) {
            return Err(TxError::DuplicateBranch);
        }
        let id = self.alloc_id();
        let cfg = self.config.timers;
        let machine = if req.method == Method::Invite {
            Machine::ClientInvite(ClientInvite::start(id, now, req, to, &cfg, &mut self.out))
        } else {
            let bytes = req.to_bytes();
            Machine::Client(ClientNonInvite::start(
                id,
                now,
                bytes,
                to,
                &cfg,
                &mut self.out,
            ))
        };
        self.insert(id, key, machine);
        Ok(id)
    }

    /// Cancels an INVITE client transaction (§9.1). Returns the CANCEL's transaction when it
    /// was sent now, `None` when it waits for the first provisional response.
    pub fn cancel(&mut self, now: Instant, invite_tx: TxId) -> Result<Option<TxId>, TxError> {
        match self.txs.get(&invite_tx).map(|e| &e.machine) {
            Some(Machine::ClientInvite(m)) => match m.state() {
                ClientInviteState::Calling => {
                    self.pending_cancels.insert(invite_tx);
                    Ok(None)
                }
                ClientInviteState::Proceeding => self.send_cancel(now, invite_tx).map(Some),
                _ => Err(TxError::NothingToCancel(invite_tx)),
            },
            _ => Err(TxError::NothingToCancel(invite_tx)),
        }
    }

    fn send_cancel(&mut self, now: Instant, invite_tx: TxId) -> Result<TxId, TxError> {
        self.pending_cancels.remove(&invite_tx);
        let cfg = self.config.timers;
        let (cancel, peer) = match self.txs.get_mut(&invite_tx).map(|e| &mut e.machine) {
            Some(Machine::ClientInvite(m)) => {
                m.cancel_sent(now, &cfg);
                (build_cancel(m.request()), m.peer())
            }
            _ => return Err(TxError::NothingToCancel(invite_tx)),
        };
        self.settle(invite_tx);
        self.send_request(now, cancel, peer)
    }

    /// Sends a response on a server transaction.
    pub fn respond(&mut self, now: Instant, tx: TxId, resp: Response) -> Result<(), TxError> {
        let cfg = self.config.timers;
        match self.txs.get_mut(&tx).map(|e| &mut e.machine) {
            Some(Machine::ServerInvite(m)) => m.respond(now, &resp, &cfg, &mut self.out)?,
            Some(Machine::Server(m)) => m.respond(now, &resp, &cfg, &mut self.out)?,
            Some(_) => return Err(TxError::NotAServerTransaction(tx)),
            None => return Err(TxError::UnknownTransaction(tx)),
        }
        self.settle(tx);
        Ok(())
    }

    /// Sends an ACK for a 2xx (built by the dialog) outside any transaction.
    pub fn send_ack(&mut self, ack: &Request, to: Peer) {
        self.out.send(to, ack.to_bytes());
    }

    /// Sends a response without a transaction (e.g. to a request that failed validation
    /// before one could be created).
    pub fn send_stateless(&mut self, resp: &Response, to: Peer) {
        self.out.send(to, resp.to_bytes());
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let cfg = self.config.timers;
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.txs.get_mut(&id) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            match &mut entry.machine {
                Machine::ClientInvite(m) => m.on_timeout(now, &mut self.out),
                Machine::Client(m) => m.on_timeout(now, &cfg, &mut self.out),
                Machine::ServerInvite(m) => m.on_timeout(now, &cfg, &mut self.out),
                Machine::Server(m) => m.on_timeout(now),
            }
            self.settle(id);
        }
    }

    /// The shell could not reach `peer` (ICMP error, refused or closed connection): every
    /// live transaction towards it fails with [`TxEvent::TransportError`]. A `peer` with a
    /// connection matches only transactions on that connection.
    pub fn peer_unreachable(&mut self, _now: Instant, peer: Peer) {
        let ids: Vec<TxId> = self
            .txs
            .iter()
            .filter(|(_, e)| {
                let p = e.machine.peer();
                p.transport == peer.transport
                    && p.addr == peer.addr
                    && (peer.conn.is_none() || p.conn == peer.conn)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            match self.txs.get_mut(&id).map(|e| &mut e.machine) {
                Some(Machine::ClientInvite(m)) => m.on_transport_error(&mut self.out),
                Some(Machine::Client(m)) => m.on_transport_error(&mut self.out),
                Some(Machine::ServerInvite(m)) => m.on_transport_error(&mut self.out),
                Some(Machine::Server(m)) => m.on_transport_error(&mut self.out),
                None => {}
            }
            self.settle(id);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.out.events.pop_front()
    }

    /// The earliest pending timer.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if self.txs.get(&id).is_some_and(|e| e.scheduled == Some(at)) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    fn alloc_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    fn insert(&mut self, id: TxId, key: TxKey, machine: Machine) {
        self.keys.insert(key.clone(), id);
        self.txs.insert(
            id,
            Entry {
                key,
                machine,
                scheduled: None,
            },
        );
        self.settle(id);
    }

    /// Removes a terminated transaction, or re-arms its timer if its deadline moved.
    fn settle(&mut self, id: TxId) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        if entry.machine.is_terminated() {
            if let Some(entry) = self.txs.remove(&id) {
                self.keys.remove(&entry.key);
            }
            self.pending_cancels.remove(&id);
            self.out.event(TxEvent::Terminated { tx: id });
            return;
        }
        let deadline = entry.machine.deadline();
        if deadline != entry.scheduled {
            entry.scheduled = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, id)));
            }
        }
    }
}

/// RFC 3581 / §18.2.1: records the source address on the top Via of a received request.
fn stamp_via(via: &mut Via, from: &Peer) {
    let ip = from.addr.ip();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let same_host = host.parse::<IpAddr>().is_ok_and(|h| h == ip);
    let wants_rport = via.rport() == Some(None);
    if !same_host || wants_rport {
        via.set_param("received", Some(ip.to_string()));
    }
    if wants_rport {
        via.set_param("rport", Some(from.addr.port().to_string()));
    }
}
