//! How calls end: BYE to the remaining legs, ports freed, the record
//! written; the call timers; and what the media engine reports.

use super::Switch;
use crate::call::{CallId, Due, Ended, Ending, Phase, Side};
use crate::output::{MediaCommand, OpenFailure, Output, StoreOp};
use crate::time::Now;
use accounts::Outcome;
use tracing::{debug, info, warn};

impl Switch {
    /// Ends a call: BYE to every established leg except `hung_up`, cancel
    /// what still rings, close media, write the record.
    pub(super) fn end_call(
        &mut self,
        now: Now,
        id: CallId,
        hung_up: Option<Side>,
        outcome: Outcome,
        status: u16,
        cause: &str,
    ) {
        self.cancel_forks(now, id, None);
        let Some(mut call) = self.calls.calls.remove(&id) else {
            return;
        };
        self.unpark(now, id, &mut call);
        self.report_pending(now, id, &mut call);
        let how = Ending {
            hung_up,
            outcome,
            status,
            cause,
        };
        let ended = call.end(&mut self.call_ctx(now), how);
        self.report_end(now, id, &ended.record);
        self.drain_layer();
        self.forget_ended(&ended, now);
        let r = ended.record;
        // The record's status and cause (a refused feature keeps its own,
        // whatever ended the announcement).
        info!(
            call = id,
            tenant = %r.tenant,
            outcome = r.outcome.as_str(),
            status = r.status,
            cause = %r.cause,
            "call ended"
        );
        self.outputs
            .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(r))));
    }

    /// Forgets an ended call: its ports, indexes and outbound count.
    fn forget_ended(&mut self, ended: &Ended, now: Now) {
        if let Some((tenant, ext)) = &ended.outbound_by {
            self.outbound.ended(tenant, ext, now.unix_s());
        }
        for port in ended.ports {
            self.release_port(port);
        }
        if let Some(key) = &ended.invite {
            self.calls.by_invite.remove(key);
        }
        for key in &ended.forks {
            self.calls.by_fork.remove(key);
        }
        for d in &ended.dialogs {
            self.calls.by_dialog.remove(&(
                d.call_id.clone(),
                d.local_tag.clone(),
                d.remote_tag.clone(),
            ));
        }
    }

    /// Call timers: each due call handles its own (the 2xx retransmission);
    /// what needs the switchboard (the lot, the registrar, ending) is done
    /// here.
    pub(super) fn call_timers(&mut self, now: Now) {
        for id in self.calls.deadlines.pop_due(now.mono) {
            // Its heap entry is gone: whatever it needs next is put anew.
            if let Some(call) = self.calls.calls.get_mut(&id) {
                call.scheduled = None;
            }
            let Some(expired) = self.with_call(now, id, |call, ctx| call.handle_timeout(ctx))
            else {
                continue;
            };
            match expired {
                Due::Nothing => {}
                Due::NoAnswer => {
                    info!(call = id, "no answer");
                    self.fail_call(now, id, 480, "No Answer");
                }
                Due::ComebackUnanswered => self.comeback_failed(now, id),
                Due::TransferUnanswered => self.transfer_failed(now, id, 480),
                Due::ComeBack => self.start_comeback(now, id),
                Due::SessionExpired => {
                    warn!(call = id, "session timer expired: hanging up");
                    let cause = "Session timer expired";
                    self.end_call(now, id, None, Outcome::Answered, 408, cause);
                }
                Due::PartyGone(side) => self.party_gone(now, id, side),
                Due::SilentForks(keys) => {
                    for key in keys {
                        info!(call = id, branch = %key.branch, "no reply at all: the phone is unreachable");
                        self.fork_failed(now, id, &key, 408);
                    }
                }
                Due::NoAck => {
                    warn!(call = id, "no ACK for our 2xx: hanging up");
                    let cause = "No ACK from the caller";
                    self.end_call(now, id, Some(Side::A), Outcome::Failed, 408, cause);
                }
            }
            let next = self.calls.calls.get_mut(&id).and_then(|c| {
                let at = c.deadline().filter(|at| c.scheduled != Some(*at))?;
                c.scheduled = Some(at);
                Some(at)
            });
            if let Some(at) = next {
                self.calls.schedule(at, id);
            }
        }
    }

    /// The earliest call timer.
    pub(super) fn next_call_deadline(&self) -> Option<std::time::Instant> {
        self.calls.deadlines.next()
    }

    /// An event from the media engine.
    pub fn handle_media_event(&mut self, now: Now, event: crate::output::MediaEvent) {
        self.media_event(now, event);
        self.settle(now);
    }

    fn media_event(&mut self, now: Now, event: crate::output::MediaEvent) {
        use crate::output::MediaEvent;
        match event {
            MediaEvent::Idle(port) => {
                let Some(&(id, side)) = self.calls.by_port.get(&port) else {
                    return;
                };
                let established = self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| matches!(c.phase, Phase::Established));
                if established {
                    warn!(call = id, ?side, "no RTP from the party: hanging up");
                    self.end_call(now, id, None, Outcome::Answered, 408, "RTP timeout");
                }
            }
            MediaEvent::OpenFailed(port, why) => {
                let Some(&(id, _)) = self.calls.by_port.get(&port) else {
                    return;
                };
                match why {
                    OpenFailure::Taken => {
                        warn!(
                            call = id,
                            port, "RTP port held by another socket: retired, ending the call"
                        );
                        self.ports.retire(port);
                    }
                    OpenFailure::Exhausted => {
                        warn!(
                            call = id,
                            port, "RTP port could not be opened: ending the call"
                        );
                    }
                }
                let ringing = self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.phase.is_ringing());
                if ringing {
                    self.fail_call(now, id, 503, "Media port unavailable");
                } else {
                    self.end_call(
                        now,
                        id,
                        None,
                        Outcome::Failed,
                        503,
                        "Media port unavailable",
                    );
                }
            }
            MediaEvent::Dtmf(port, key) => debug!(port, %key, "DTMF"),
            MediaEvent::PromptDone(port) => {
                let Some(&(id, _)) = self.calls.by_port.get(&port) else {
                    return;
                };
                if self
                    .calls
                    .calls
                    .get(&id)
                    .is_some_and(|c| matches!(c.phase, Phase::Announcing))
                {
                    self.end_call(now, id, None, Outcome::Answered, 200, "announcement played");
                }
            }
        }
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// RTP ports in use.
    pub fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    /// RTP ports retired for good (another socket held them).
    pub fn ports_retired(&self) -> usize {
        self.ports.retired()
    }

    /// Closes an RTP port's endpoint, returns the port to the pool and
    /// forgets which call it belonged to. Port 0 (a leg without media) is
    /// ignored.
    pub(super) fn release_port(&mut self, port: u16) {
        if port == 0 {
            return;
        }
        self.outputs
            .push_back(Output::Media(MediaCommand::Close(port)));
        self.ports.give_back(port);
        self.calls.by_port.remove(&port);
    }
}
