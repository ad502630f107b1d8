//! A comeback's phone answered: the parked party and the parker (or the
//! fallback) are a call of two again.

use super::{
    other, Call, CallCtx, CallEvent, Fork, Forking, Identity, Phase, Report, SdpOrigin, Side,
};
use crate::output::MediaCommand;
use crate::prompts::Prompt;
use sip::transaction::ClientKey;
use sip::Response;
use std::time::Instant;
use tracing::info;

/// A phone rung for a parked call: who it is and the leg facing it.
pub struct RingBack {
    /// The extension rung.
    pub extension: String,
    /// Its identity.
    pub identity: Identity,
    /// The switch's port facing it.
    pub port: u16,
    /// Our SDP's origin towards it.
    pub sdp: SdpOrigin,
    /// Our INVITEs to its contacts.
    pub forks: Vec<Fork>,
    /// When ringing gives up.
    pub deadline: Instant,
}

impl Call {
    /// The 2xx of the comeback's INVITE `key`: ACK, the other phones
    /// cancelled, the answering leg bridged to the parked party.
    pub fn handle_comeback_answer(&mut self, ctx: &mut CallCtx, key: &ClientKey, resp: &Response) {
        let Some(answer) = self.take_answer(ctx, key, resp) else {
            return;
        };
        if let Some(old) = self.answered_by.replace(key.clone()) {
            ctx.reports.push(Report::ForkDone(old));
        }
        // While the comeback rings, only the parked party's leg has a dialog.
        let parked_side = self.parked_side();
        let gone = other(parked_side);
        ctx.reports
            .push(Report::DialogOpened(answer.dialog.id.clone(), gone));
        let leg = self.leg_mut(gone);
        answer.into_leg(leg);
        let who = leg.extension.clone().unwrap_or_default();
        let (mine, parked_port) = (leg.port, self.leg(parked_side).port);
        self.phase = Phase::Established;
        self.events
            .push(CallEvent::ComebackAnswered { by: who.clone() });
        if let Some(config) = self.leg(gone).media_config() {
            ctx.media(config);
        }
        ctx.media(MediaCommand::Bridge(mine, parked_port));
        ctx.media(MediaCommand::WatchIdle(mine, true));
        ctx.media(MediaCommand::WatchIdle(parked_port, true));
        info!(%who, "comeback answered");
    }

    /// Rings a phone for the parked party: the leg the park released faces
    /// it now, and the comeback rings until `ring.deadline`.
    pub fn ring_back(&mut self, ctx: &mut CallCtx, ring: RingBack) {
        let gone = other(self.parked_side());
        ctx.reports.push(Report::PortTaken(ring.port, gone));
        let leg = self.leg_mut(gone);
        leg.port = ring.port;
        leg.sdp = ring.sdp;
        leg.extension = Some(ring.extension);
        leg.identity = ring.identity;
        self.phase = Phase::Comeback(Forking {
            forks: ring.forks,
            deadline: ring.deadline,
        });
    }

    /// Nobody answered the comeback: its INVITEs cancelled, the leg facing
    /// the phone released. Returns the extension it rang.
    pub fn give_up_comeback(&mut self, ctx: &mut CallCtx) -> String {
        self.cancel_forks(ctx, None);
        let gone = other(self.parked_side());
        let leg = self.leg_mut(gone);
        ctx.reports
            .push(Report::PortReleased(std::mem::replace(&mut leg.port, 0)));
        leg.extension.clone().unwrap_or_default()
    }

    /// The last resort of a parked call nobody took: the parked party hears
    /// goodbye, then the call ends (its record: 480, not retrieved).
    pub fn say_goodbye(&mut self, ctx: &mut CallCtx) {
        self.events.push(CallEvent::ComebackGoodbye);
        self.record.cause = "parked call not retrieved".into();
        self.record.status = 480;
        self.phase = Phase::Announcing;
        let port = self.leg(self.parked_side()).port;
        ctx.media(crate::output::MediaCommand::Play(
            port,
            vec![Prompt::Goodbye],
        ));
        info!("comeback unanswered: goodbye");
    }

    /// The parked party hung up after waiting `waited` at `retrieval`.
    pub fn abandoned(&mut self, retrieval: String, waited: std::time::Duration) {
        self.events.push(CallEvent::Abandoned {
            retrieval,
            after_ms: waited.as_millis() as u64,
        });
    }

    /// The side of the party in the lot (or ringing its parker back): the
    /// only leg with a dialog then.
    pub fn parked_side(&self) -> Side {
        if self.a.dialog.is_some() {
            Side::A
        } else {
            Side::B
        }
    }
}
