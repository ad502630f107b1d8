//! Restart survival: every change of a call is saved as a snapshot, and a
//! new process rebuilds its calls from them. Talking and parked parties go
//! on as if nothing happened (same ports, same dialogs, timers at their
//! original deadlines); what cannot go on (a call still ringing, an
//! announcement) is ended cleanly.

use super::Switch;
use crate::call::{Call, CallEvent, CallFeature, CallId, Leg, Phase, Side};
use crate::lot::Parked;
use crate::output::{MediaCommand, Output, StoreOp};
use crate::snapshot::{self, CallSnapshot, CallState, Clock, LegState, LotState, PeerState};
use crate::time::Now;
use accounts::{Outcome, ParkedCall};
use std::collections::HashSet;
use tracing::{info, warn};

/// What [`Switch::resume`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Calls carried on with both parties (talking or holding).
    pub talking: usize,
    /// Parked calls back in the lot.
    pub parked: usize,
    /// Calls ended because they could not be carried on.
    pub ended: usize,
}

impl Switch {
    /// After an input: saves the calls it changed once the persist interval
    /// since the first unsaved change has passed (else sets that deadline).
    pub(super) fn save_changed_calls(&mut self, now: Now) {
        if !self.calls.calls.has_changes() {
            return;
        }
        let due = *self
            .calls
            .save_due
            .get_or_insert(now.mono + self.cfg.persist_interval);
        if now.mono >= due {
            self.save_now(now);
        }
    }

    /// Saves a snapshot of every call changed since the last save, and
    /// removes the snapshot of every call that ended (if it was saved).
    pub(super) fn save_now(&mut self, now: Now) {
        self.calls.save_due = None;
        for id in self.calls.calls.take_changed() {
            let snapshot = self.calls.calls.get(&id).and_then(|call| {
                CallSnapshot::of(id, call, self.calls.lot.of_call(id), Clock(now))
            });
            match snapshot {
                Some(s) => {
                    self.calls.persisted.insert(id);
                    self.outputs
                        .push_back(Output::Store(StoreOp::SaveCall(Box::new(s))));
                }
                None => {
                    if self.calls.persisted.remove(&id) {
                        self.outputs
                            .push_back(Output::Store(StoreOp::RemoveCall(id)));
                    }
                }
            }
        }
    }

    /// Saves every changed call now, whatever the persist interval (before
    /// a clean stop).
    pub fn flush(&mut self, now: Now) {
        if self.calls.calls.has_changes() {
            self.save_now(now);
        }
    }

    /// Rebuilds the calls of a previous process from their snapshots (call
    /// once, at start, before any input).
    pub fn resume(&mut self, now: Now, snapshots: Vec<CallSnapshot>) -> Resumed {
        let ports: HashSet<u16> = snapshots.iter().flat_map(ports_of).collect();
        self.ports.claim(&ports);
        if let Some(max) = snapshots.iter().map(|s| s.id).max() {
            self.calls.next_id = self.calls.next_id.max(max + 1);
        }
        let mut done = Resumed::default();
        for snap in snapshots {
            self.resume_one(now, snap, &mut done);
        }
        self.save_now(now);
        done
    }

    fn resume_one(&mut self, now: Now, snap: CallSnapshot, done: &mut Resumed) {
        let id = snap.id;
        self.calls.persisted.insert(id);
        if snap.version != snapshot::VERSION {
            warn!(
                call = id,
                version = snap.version,
                "call snapshot of another version: dropped"
            );
            return self.forget(id, &ports_of(&snap), done);
        }
        let known_tenant = self.dir.tenant(&snap.tenant).is_some();
        let clock = Clock(now);
        match snap.state.clone() {
            CallState::Ringing {
                invite,
                caller,
                forks,
            } => self.end_ringing(now, snap, &invite, caller, forks, done),
            CallState::Talking { a, b } if known_tenant => {
                match (self.leg_of(&a, clock), self.leg_of(&b, clock)) {
                    (Some(la), Some(lb)) => self.resume_talking(now, snap, la, lb, done),
                    _ => self.end_resumed(now, snap, &[a, b], "dialog could not be restored", done),
                }
            }
            CallState::Parked {
                party,
                side,
                lot,
                fallback_tried,
            } if known_tenant => match self.leg_of(&party, clock) {
                Some(leg) => self.resume_parked(now, snap, leg, side, lot, fallback_tried, done),
                None => self.end_resumed(now, snap, &[party], "dialog could not be restored", done),
            },
            CallState::Talking { a, b } => {
                self.end_resumed(now, snap, &[a, b], "tenant no longer exists", done)
            }
            CallState::Parked { party, .. } => {
                self.end_resumed(now, snap, &[party], "tenant no longer exists", done)
            }
            CallState::Announcing { party } => {
                self.end_resumed(now, snap, &[party], "announcement cut by a restart", done)
            }
        }
    }

    fn leg_of(&self, state: &LegState, clock: Clock) -> Option<Leg> {
        state.leg(state.peer.peer(None), clock)
    }

    /// A snapshot that cannot even be ended: its ports go back, the store
    /// forgets it.
    fn forget(&mut self, id: CallId, ports: &[u16], done: &mut Resumed) {
        for &p in ports {
            self.ports.give_back(p);
        }
        self.calls.persisted.remove(&id);
        self.outputs
            .push_back(Output::Store(StoreOp::RemoveCall(id)));
        done.ended += 1;
    }

    /// A call still ringing when the process stopped: the caller gets a
    /// final answer and every phone still ringing a CANCEL.
    fn end_ringing(
        &mut self,
        now: Now,
        snap: CallSnapshot,
        invite: &str,
        caller: PeerState,
        forks: Vec<snapshot::ForkState>,
        done: &mut Resumed,
    ) {
        const REASON: &str = "Switch restarted";
        if let Some(req) = snapshot::request(invite) {
            let resp = self.response(&req, 480, Some(REASON));
            self.transmit(caller.peer(None), resp.encode());
        }
        for fork in forks {
            if let Some(inv) = snapshot::request(&fork.invite) {
                let peer = fork.peer.peer(None);
                let cancel =
                    crate::call::cancel_of(&inv, "SIP;cause=480;text=\"Switch restarted\"");
                self.layer
                    .send_request(now.mono, cancel, peer, peer.is_reliable());
            }
        }
        self.drain_layer();
        let mut record = snap.record;
        record.events = CallEvent::lines(&snap.events);
        record.ended_ms = now.unix_ms;
        record.outcome = Outcome::Failed;
        record.status = 480;
        record.cause = "switch restarted while ringing".into();
        info!(call = snap.id, "call ringing at the restart: ended");
        self.finish_unresumed(snap.id, &ports_of_state(&snap.state), record, done);
    }

    /// A call that cannot be carried on: BYE to each party with a dialog,
    /// a record saying why.
    fn end_resumed(
        &mut self,
        now: Now,
        snap: CallSnapshot,
        legs: &[LegState],
        why: &str,
        done: &mut Resumed,
    ) {
        for state in legs {
            if let Some(mut d) = state.dialog.dialog() {
                let peer = state.peer.peer(None);
                let reason = format!("SIP;cause=500;text=\"{why}\"");
                let bye = self.bye(&mut d, peer, &reason);
                self.layer
                    .send_request(now.mono, bye, peer, peer.is_reliable());
            }
        }
        self.drain_layer();
        let mut record = snap.record;
        record.events = CallEvent::lines(&snap.events);
        record.ended_ms = now.unix_ms;
        if record.answered_ms.is_some() {
            record.outcome = Outcome::Answered;
        }
        record.status = 500;
        record.cause = format!("not resumed after a restart: {why}");
        info!(call = snap.id, why, "call not resumed: ended");
        self.finish_unresumed(snap.id, &ports_of_state(&snap.state), record, done);
    }

    fn finish_unresumed(
        &mut self,
        id: CallId,
        ports: &[u16],
        record: accounts::CallRecord,
        done: &mut Resumed,
    ) {
        self.outputs
            .push_back(Output::Store(StoreOp::SaveCallRecord(Box::new(record))));
        self.forget(id, ports, done);
    }

    fn resume_talking(&mut self, now: Now, snap: CallSnapshot, a: Leg, b: Leg, done: &mut Resumed) {
        let id = snap.id;
        let media = [(a.port, a.holding), (b.port, b.holding)];
        let call = resumed_call(snap, a, b, Phase::Established, now);
        self.open_resumed(&call.a);
        self.open_resumed(&call.b);
        self.index_resumed(id, call);
        let [(pa, a_holds), (pb, b_holds)] = media;
        let commands = match (a_holds, b_holds) {
            (false, false) => vec![
                MediaCommand::Bridge(pa, pb),
                MediaCommand::WatchIdle(pa, true),
                MediaCommand::WatchIdle(pb, true),
            ],
            (true, false) => vec![MediaCommand::Music(pb), MediaCommand::Silence(pa)],
            (false, true) => vec![MediaCommand::Music(pa), MediaCommand::Silence(pb)],
            (true, true) => vec![MediaCommand::Music(pa), MediaCommand::Music(pb)],
        };
        self.outputs.extend(commands.into_iter().map(Output::Media));
        done.talking += 1;
        let _ = now;
    }

    #[allow(clippy::too_many_arguments)]
    fn resume_parked(
        &mut self,
        now: Now,
        snap: CallSnapshot,
        party: Leg,
        side: Side,
        lot: LotState,
        fallback_tried: bool,
        done: &mut Resumed,
    ) {
        let id = snap.id;
        let clock = Clock(now);
        let tenant = snap.tenant.clone();
        let gone = Leg::new(party.peer, 0, Default::default());
        let (a, b) = match side {
            Side::A => (party, gone),
            Side::B => (gone, party),
        };
        let comeback = crate::call::Comeback {
            at: clock.instant(lot.comeback_ms),
            to: lot.comeback_to.clone(),
        };
        let mut call = resumed_call(snap, a, b, Phase::Parked(comeback), now);
        call.fallback_tried = fallback_tried;
        let party_shown = call.leg(side).identity.clone();
        let port = call.leg(side).port;
        self.open_resumed(call.leg(side));
        self.index_resumed(id, call);
        self.outputs
            .push_back(Output::Media(MediaCommand::Music(port)));
        self.outputs
            .push_back(Output::Media(MediaCommand::WatchIdle(port, false)));
        let Some(position) = lot.position() else {
            // The comeback was ringing: ring it again now.
            if !self.ring_back(now, id, side, &lot.comeback_to) {
                self.comeback_failed(now, id);
            }
            done.parked += 1;
            return;
        };
        self.outputs
            .push_back(Output::Store(StoreOp::SaveParked(Box::new(ParkedCall {
                tenant: tenant.clone(),
                position: position.label(),
                retrieval: lot.retrieval.clone(),
                parker: lot.parker.clone(),
                parked_party: party_shown.shown(),
                since_ms: lot.since_ms,
                deadline_ms: lot.comeback_ms,
            }))));
        let parked = Parked {
            call: id,
            side,
            parker: lot.parker,
            since: clock.past(lot.since_ms),
            since_ms: lot.since_ms,
            retrieval: lot.retrieval,
            position: position.clone(),
        };
        if !self.calls.lot.park(&tenant, position, parked) {
            warn!(
                call = id,
                "two resumed calls in one parking position: the later is ended"
            );
            self.end_call(
                now,
                id,
                None,
                Outcome::Answered,
                500,
                "parking position taken twice",
            );
            return;
        }
        done.parked += 1;
    }

    /// Indexes a resumed call by its dialogs, ports and deadline.
    fn index_resumed(&mut self, id: CallId, mut call: Call) {
        // What happened before the restart was reported then.
        call.reported = call.events.len();
        for side in [Side::A, Side::B] {
            let leg = call.leg(side);
            if let Some(d) = &leg.dialog {
                let key = (
                    d.id.call_id.clone(),
                    d.id.local_tag.clone(),
                    d.id.remote_tag.clone(),
                );
                self.calls.by_dialog.insert(key, (id, side));
            }
            if leg.port != 0 {
                self.calls.by_port.insert(leg.port, (id, side));
            }
        }
        if let Some(ext) = &call.outbound_by {
            self.outbound.resumed(&call.tenant, ext);
        }
        let at = call.deadline();
        call.scheduled = at;
        // In the table first: scheduling drops entries of calls not in it.
        self.calls.calls.insert(id, call);
        if let Some(at) = at {
            self.calls.schedule(at, id);
        }
    }

    /// Opens a resumed leg's port and points it at the party again.
    fn open_resumed(&mut self, leg: &Leg) {
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(leg.port)));
        self.outputs.extend(leg.media_config().map(Output::Media));
    }
}

/// A call rebuilt around resumed legs.
fn resumed_call(snap: CallSnapshot, a: Leg, b: Leg, phase: Phase, now: Now) -> Call {
    let record = snap.record;
    let mut events = snap.events;
    events.push(CallEvent::Resumed);
    let mut features: std::collections::BTreeSet<CallFeature> = snap.features.into_iter().collect();
    features.insert(CallFeature::Resumed);
    let mut call = Call::new(snap.tenant, (a, b), phase, record);
    call.features = features;
    call.events = events;
    call.outbound_by = snap.outbound_by;
    // The limit keeps counting where it was (a past one runs out at once).
    call.limit = snap
        .limit_ends_ms
        .map(|ms| crate::call::TimeLimit::Running {
            ends: Clock(now).instant(ms),
        });
    call
}

/// The switch's RTP ports a snapshot holds.
fn ports_of(snap: &CallSnapshot) -> Vec<u16> {
    ports_of_state(&snap.state)
}

fn ports_of_state(state: &CallState) -> Vec<u16> {
    match state {
        CallState::Ringing { .. } => Vec::new(),
        CallState::Talking { a, b } => vec![a.port, b.port],
        CallState::Parked { party, .. } | CallState::Announcing { party } => vec![party.port],
    }
    .into_iter()
    .filter(|p| *p != 0)
    .collect()
}
