//! Requests inside a call: the caller's CANCEL, the ACK of our 2xx, BYE,
//! and re-INVITE/UPDATE holds answered by the switch itself.

use super::calls::*;
use super::Switch;
use crate::call::Side;
use crate::peer::Peer;
use crate::time::Now;
use accounts::Outcome;
use sip::transaction::ServerKey;
use sip::{Method, Request};
use tracing::info;

impl Switch {
    /// CANCEL from the caller.
    pub(super) fn handle_cancel(&mut self, now: Now, key: ServerKey, req: Request) {
        let invite_key = key.invite_of_cancel();
        if self.cancel_waiting(now, &invite_key) {
            info!("caller cancelled while the authorization service decided");
            let resp = self.response(&req, 200, None);
            return self.reply(now, &key, resp);
        }
        let id = self.calls.by_invite.get(&invite_key).copied();
        let ringing = id
            .and_then(|id| self.calls.calls.get(&id))
            .is_some_and(|c| c.phase.is_ringing());
        let status = if id.is_some() || self.layer.has_server(&invite_key) {
            200
        } else {
            481
        };
        let resp = self.response(&req, status, None);
        self.reply(now, &key, resp);
        if let (Some(id), true) = (id, ringing) {
            info!(call = id, "caller cancelled");
            self.cancel_forks(now, id, None);
            self.fail_call(now, id, 487, "Request Terminated");
        }
    }

    /// An ACK outside any transaction: the caller acknowledging our 2xx.
    pub(super) fn handle_dialog_ack(&mut self, now: Now, req: &Request) {
        let Some(dkey) = dialog_key_of(req) else {
            return;
        };
        let Some(&(id, side)) = self.calls.by_dialog.get(&dkey) else {
            return;
        };
        self.with_call(now, id, |call, ctx| call.handle_ack(ctx, side, req));
    }

    /// A request with a To tag: BYE, re-INVITE, or anything else in a dialog.
    pub(super) fn handle_in_dialog(&mut self, now: Now, peer: Peer, key: ServerKey, req: Request) {
        let dialog = dialog_key_of(&req);
        if let Some(sub) = dialog.as_ref().and_then(|k| self.subscription_of(k)) {
            return self.handle_resubscribe(now, peer, sub, key, req);
        }
        let found = dialog.and_then(|k| self.calls.by_dialog.get(&k).copied());
        let Some((id, side)) = found else {
            let resp = self.response(&req, 481, None);
            return self.reply(now, &key, resp);
        };
        let checked = self
            .calls
            .calls
            .get_mut(&id)
            .and_then(|c| c.leg_mut(side).dialog.as_mut())
            .map(|d| d.handle_request(&req));
        if let Some(Err(e)) = checked {
            let resp = self.response(&req, 500, Some(e.0));
            return self.reply(now, &key, resp);
        }
        match req.method {
            Method::Bye => {
                let resp = self.response(&req, 200, None);
                self.reply(now, &key, resp);
                let transferor = self.calls.calls.get(&id).and_then(|c| c.transferor());
                if transferor == Some(side) {
                    // The transferor need not wait for the target.
                    info!(call = id, "transferor hung up: the target still rings");
                    self.with_call(now, id, |call, ctx| call.transferor_left(ctx));
                    return;
                }
                // Who hung up, by number: after a retrieval or a transfer
                // the party on a side is not the one first called.
                let role = if side == Side::A { "caller" } else { "callee" };
                let number = self
                    .calls
                    .calls
                    .get(&id)
                    .map(|c| c.leg(side).identity.number.clone())
                    .unwrap_or_default();
                let cause = if number.is_empty() {
                    format!("{role} hung up")
                } else {
                    format!("{number} hung up")
                };
                info!(call = id, "{cause}");
                self.end_call(now, id, Some(side), Outcome::Answered, 200, &cause);
            }
            Method::Invite | Method::Update => {
                self.with_call(now, id, |call, ctx| {
                    call.handle_reinvite(ctx, side, &key, &req)
                });
            }
            Method::Refer => self.handle_refer(now, id, side, key, req),
            _ => {
                let resp = self.response(&req, 200, None);
                self.reply(now, &key, resp);
            }
        }
    }
}
