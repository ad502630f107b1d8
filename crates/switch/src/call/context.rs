//! What a call may use while it handles an input, and what it reports
//! back: the narrow context between a [`super::Call`] and the switchboard
//! (quinn's `Connection` and `Endpoint`).

use super::Side;
use crate::config::SwitchConfig;
use crate::ids::Ids;
use crate::media_security::KeyMint;
use crate::output::{MediaCommand, Output};
use crate::peer::Peer;
use crate::time::Now;
use bytes::Bytes;
use sip::dialog::{Dialog, DialogId};
use sip::transaction::{ClientKey, Layer, ServerKey};
use sip::{Method, Name, Request, Response};
use std::collections::VecDeque;

/// The time, the transaction layer (answers and requests go through it),
/// the output queue, the id and key sources, and the settings: nothing
/// else of the switch.
pub struct CallCtx<'a> {
    /// Now.
    pub now: Now,
    /// The switch's settings.
    pub cfg: &'a SwitchConfig,
    /// Transactions.
    pub layer: &'a mut Layer<Peer>,
    /// Outputs for the shell.
    pub out: &'a mut VecDeque<Output>,
    /// Tags, branches, numbers.
    pub ids: &'a mut Ids,
    /// SRTP keys.
    pub keys: &'a mut KeyMint,
    /// Messages sent directly (counted for the stats).
    pub sent: &'a mut u64,
    /// What the switchboard must apply to its indexes.
    pub reports: Vec<Report>,
}

/// What a call tells the switchboard to do to its indexes.
#[derive(Clone, Debug)]
pub enum Report {
    /// A leg's dialog exists: in-dialog requests with this id reach it.
    DialogOpened(DialogId, Side),
    /// A dialog is gone.
    DialogClosed(DialogId),
    /// The switch's RTP port is the call's, for the leg on this side.
    PortTaken(u16, Side),
    /// The switch's RTP port is no longer the call's.
    PortReleased(u16),
    /// The caller's INVITE was answered (a CANCEL no longer finds the call).
    InviteAnswered(ServerKey),
    /// One of our INVITEs has its final answer.
    ForkDone(ClientKey),
    /// A probe (in-dialog OPTIONS) went out: its answer is the call's.
    ProbeSent(ClientKey),
    /// One of our INVITEs was cancelled: a late 2xx to it gets ACK and BYE.
    ForkCancelled {
        /// Its transaction.
        key: ClientKey,
        /// The INVITE (boxed: reports are otherwise small).
        invite: Box<Request>,
        /// Where it went.
        peer: Peer,
    },
}

impl CallCtx<'_> {
    /// A response to `req` (tags, `Server`, as every answer of the switch).
    pub fn response(&self, req: &Request, status: u16, reason: Option<&str>) -> Response {
        crate::respond::build(req, status, reason, &self.cfg.secret, &self.cfg.server_name)
    }

    /// Answers a request through its server transaction.
    pub fn reply(&mut self, key: &ServerKey, resp: &Response) {
        self.layer.respond(self.now.mono, key, resp);
    }

    /// Sends a request through a new client transaction.
    pub fn send(&mut self, req: Request, peer: Peer) {
        self.layer
            .send_request(self.now.mono, req, peer, peer.is_reliable());
    }

    /// Sends bytes outside any transaction (an ACK of a 2xx, a 2xx again).
    pub fn transmit(&mut self, peer: Peer, data: Bytes) {
        *self.sent += 1;
        self.out.push_back(Output::Transmit(peer, data));
    }

    /// Tells the media engine.
    pub fn media(&mut self, cmd: MediaCommand) {
        self.out.push_back(Output::Media(cmd));
    }

    /// Our `Contact` towards `peer`.
    pub fn contact(&self, peer: Peer) -> String {
        crate::addressing::contact(self.cfg, peer)
    }

    /// A new request in `dialog` to `peer`.
    pub fn request(&mut self, dialog: &mut Dialog, method: Method, peer: Peer) -> Request {
        let via = crate::addressing::via(self.cfg, self.ids, peer);
        let contact = self.contact(peer);
        dialog.request(method, &via, &contact, None)
    }

    /// A BYE in `dialog` with a `Reason`, sent.
    pub fn bye(&mut self, dialog: &mut Dialog, peer: Peer, reason: &str) {
        let mut bye = self.request(dialog, Method::Bye, peer);
        bye.headers.push(Name::Reason, reason.to_string());
        self.send(bye, peer);
    }
}
