//! Retrieval, the call's part: the retriever's new leg (answered by the
//! switch) takes the place of the one released at the park, and the two
//! parties talk.

use super::{Call, CallCtx, CallEvent, CallFeature, Leg, OkRetransmit, Phase, Report, Side};
use crate::output::MediaCommand;
use std::time::Duration;

/// The retriever's side of a retrieval (or of a replacement: a phone's
/// INVITE with `Replaces` taking a leg's place).
pub struct Retriever {
    /// Its leg, answered by the switch.
    pub leg: Leg,
    /// Our 2xx to it, resent until its ACK (UDP).
    pub ok: Option<OkRetransmit>,
    /// Its extension.
    pub extension: String,
    /// Why it joins.
    pub joining: Joining,
}

/// Why a new leg joins a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joining {
    /// It retrieved the call from the lot, after it waited this long.
    Retrieval {
        /// Time in the lot.
        waited: Duration,
    },
    /// Its INVITE named a leg of the call in `Replaces` (RFC 3891).
    Replacement,
}

impl Call {
    /// Joins the retriever's leg, on `side` (the one released at the park),
    /// to the parked party.
    pub fn attach(&mut self, ctx: &mut CallCtx, side: Side, retriever: Retriever) {
        let Retriever {
            leg,
            ok,
            extension,
            joining,
        } = retriever;
        let port = leg.port;
        let parked_port = self.leg(super::other(side)).port;
        let transcoding = leg.codec.map(|c| c.0) != self.leg(super::other(side)).codec.map(|c| c.0);
        if let Some(d) = &leg.dialog {
            ctx.reports.push(Report::DialogOpened(d.id.clone(), side));
        }
        ctx.reports.push(Report::PortTaken(port, side));
        if let Some(config) = leg.media_config() {
            ctx.media(config);
        }
        *self.leg_mut(side) = leg;
        self.phase = Phase::Established;
        self.ok = ok;
        if transcoding {
            self.features.insert(CallFeature::Transcoding);
        }
        self.note_security();
        self.events.push(match joining {
            Joining::Retrieval { waited } => CallEvent::Retrieved {
                by: extension,
                after_ms: waited.as_millis() as u64,
            },
            Joining::Replacement => CallEvent::Replaced { by: extension },
        });
        ctx.media(MediaCommand::Bridge(port, parked_port));
        ctx.media(MediaCommand::WatchIdle(port, true));
        ctx.media(MediaCommand::WatchIdle(parked_port, true));
    }
}
