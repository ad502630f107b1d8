//! Answers to the switch's own INVITEs, routed to their call by the fork's
//! transaction; what the call cannot do itself (failing the call, the
//! comeback's answer) done here; and late answers to calls already gone.

use super::calls::outcome_for;
use super::Switch;
use crate::call::CallId;
use crate::call::ForkOutcome;
use crate::peer::Peer;
use crate::time::Now;
use bytes::Bytes;
use sip::dialog::Dialog;
use sip::transaction::ClientKey;
use sip::{Method, Name, Request, Response};

impl Switch {
    /// A response to one of our requests.
    pub(super) fn handle_call_response(&mut self, now: Now, key: ClientKey, resp: Response) {
        if key.method == "OPTIONS" && resp.status >= 200 {
            return self.probe_answered(now, &key, resp.status);
        }
        if key.method != "INVITE" {
            return; // BYE and CANCEL answers need no action
        }
        let Some(&id) = self.calls.by_fork.get(&key) else {
            return self.orphan_response(now, &key, &resp);
        };
        if resp.status == 100 {
            // Its phone is there (a 1xx with more is the call's own input).
            if let Some(call) = self.calls.calls.get_mut(&id) {
                call.fork_heard(&key);
            }
        }
        let outcome = match resp.status {
            100 => ForkOutcome::Nothing,
            101..=199 => {
                self.with_call(now, id, |call, ctx| call.handle_progress(ctx, &key, &resp));
                ForkOutcome::Nothing
            }
            200..=299 => self.answer_fork(now, id, &key, &resp),
            401 | 407 if self.answer_trunk_challenge(now, &key, &resp) => ForkOutcome::Nothing,
            status => self
                .with_call(now, id, |call, ctx| {
                    call.handle_fork_failure(ctx, &key, status)
                })
                .unwrap_or(ForkOutcome::Nothing),
        };
        self.after_fork(now, id, &key, Some(&resp), outcome);
    }

    /// What a call's answer asks of the switchboard.
    fn after_fork(
        &mut self,
        now: Now,
        id: CallId,
        key: &ClientKey,
        resp: Option<&Response>,
        outcome: ForkOutcome,
    ) {
        match outcome {
            ForkOutcome::Nothing => {}
            ForkOutcome::Failed(status) => {
                self.fail_call(now, id, status, sip::reason_phrase(status))
            }
            ForkOutcome::ComebackAnswered => {
                if let Some(resp) = resp {
                    self.comeback_answered(now, id, key, resp);
                }
            }
            ForkOutcome::ComebackUnanswered => self.comeback_failed(now, id),
            ForkOutcome::TransferFailed(status) => self.transfer_failed(now, id, status),
        }
    }

    pub(super) fn orphan_response(&mut self, now: Now, key: &ClientKey, resp: &Response) {
        if resp.status < 200 {
            return;
        }
        let Some((invite, peer)) = self.calls.orphans.remove(key) else {
            return;
        };
        if resp.status < 300 {
            // Answered after the call ended: ACK and hang up at once.
            if let Ok(mut d) = Dialog::as_uac(&invite, resp) {
                self.send_ack(&mut d, peer);
                let bye = self.bye(&mut d, peer, "SIP;cause=487;text=\"Call already ended\"");
                self.layer
                    .send_request(now.mono, bye, peer, peer.is_reliable());
                self.drain_layer();
            }
        }
    }

    pub(super) fn send_ack(&mut self, d: &mut Dialog, peer: Peer) -> Bytes {
        let via = self.via(peer);
        let contact = self.contact(peer);
        let ack = d
            .request(Method::Ack, &via, &contact, Some(d.local_seq))
            .encode();
        self.transmit(peer, ack.clone());
        ack
    }

    pub(super) fn bye(&mut self, d: &mut Dialog, peer: Peer, reason: &str) -> Request {
        let via = self.via(peer);
        let contact = self.contact(peer);
        let mut bye = d.request(Method::Bye, &via, &contact, None);
        bye.headers.push(Name::Reason, reason.to_string());
        bye
    }

    /// A request of ours got no answer at all (timer B or F).
    pub(super) fn handle_call_timeout(&mut self, now: Now, key: ClientKey) {
        if self.calls.by_probe.contains_key(&key) {
            return self.probe_answered(now, &key, 408);
        }
        self.calls.orphans.remove(&key);
        if let Some(&id) = self.calls.by_fork.get(&key) {
            self.fork_failed(now, id, &key, 408);
        }
    }

    /// A 2xx to one of call `id`'s INVITEs; a transfer's target answering
    /// is announced to the transferee (connected-line identity).
    fn answer_fork(
        &mut self,
        now: Now,
        id: CallId,
        key: &ClientKey,
        resp: &Response,
    ) -> ForkOutcome {
        let transferee = self.calls.calls.get(&id).and_then(|c| match &c.phase {
            crate::call::Phase::Transferring(t) => Some(crate::call::other(t.transferor)),
            _ => None,
        });
        let was_ringing = self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| c.phase.is_ringing());
        let outcome = self
            .with_call(now, id, |call, ctx| call.handle_answer(ctx, key, resp))
            .unwrap_or(ForkOutcome::Nothing);
        let done = self
            .calls
            .calls
            .get(&id)
            .is_some_and(|c| matches!(c.phase, crate::call::Phase::Established));
        if let (Some(side), true) = (transferee, done) {
            self.tell_connected(now, id, side);
        }
        let answered = self
            .calls
            .calls
            .get(&id)
            .filter(|c| was_ringing && !c.phase.is_ringing());
        if let Some(c) = answered {
            let setup_ms = c
                .record
                .answered_ms
                .unwrap_or(now.unix_ms)
                .saturating_sub(c.record.started_ms);
            let tenant = c.tenant.clone();
            let kind = crate::switch_event::EventKind::CallAnswered { setup_ms };
            self.emit(now, &tenant, Some(id), kind);
        }
        outcome
    }

    /// One of call `id`'s INVITEs failed with `status` without a response
    /// to show for it (a timeout, or no reply at all).
    pub(super) fn fork_failed(&mut self, now: Now, id: CallId, key: &ClientKey, status: u16) {
        let outcome = self
            .with_call(now, id, |call, ctx| {
                call.handle_fork_failure(ctx, key, status)
            })
            .unwrap_or(ForkOutcome::Nothing);
        self.after_fork(now, id, key, None, outcome);
    }

    /// Ends a call that was never answered: final response to A, record.
    pub(super) fn fail_call(&mut self, now: Now, id: CallId, status: u16, reason: &str) {
        self.with_call(now, id, |call, ctx| call.refuse_caller(ctx, status, reason));
        self.end_call(now, id, None, outcome_for(status), status, reason);
    }

    /// CANCELs the call's INVITEs still ringing, but `except`.
    pub(super) fn cancel_forks(&mut self, now: Now, id: CallId, except: Option<&ClientKey>) {
        self.with_call(now, id, |call, ctx| call.cancel_forks(ctx, except));
    }
}
