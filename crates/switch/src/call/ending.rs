//! How a call ends, as far as the call itself goes: a BYE to every party
//! still on, and its record completed. What the switchboard must forget
//! (indexes, ports, the lot) it learns from the [`Ended`] report.

use super::{Call, CallCtx, CallEvent, CallFeature, Phase, Side};
use accounts::{CallRecord, Outcome};
use sip::dialog::DialogId;
use sip::transaction::{ClientKey, ServerKey};

/// Why a call ends: the outcome if it was never answered, and the status
/// and cause its record keeps.
#[derive(Clone, Debug)]
pub struct Ending<'a> {
    /// The party that hung up (it gets no BYE).
    pub hung_up: Option<Side>,
    /// Outcome of a call never answered.
    pub outcome: Outcome,
    /// SIP status.
    pub status: u16,
    /// In words.
    pub cause: &'a str,
}

/// What an ended call leaves for the switchboard to forget.
#[derive(Debug)]
pub struct Ended {
    /// The finished record.
    pub record: CallRecord,
    /// The switch's RTP ports it held (0: none).
    pub ports: [u16; 3],
    /// Its dialogs.
    pub dialogs: Vec<DialogId>,
    /// Our INVITE transactions it was indexed by.
    pub forks: Vec<ClientKey>,
    /// The caller's INVITE transaction, if it still rang.
    pub invite: Option<ServerKey>,
    /// The extension whose trunk call it was (toll-fraud accounting).
    pub outbound_by: Option<(String, String)>,
}

impl Call {
    /// Ends the call: BYE to every party with a dialog except the one that
    /// hung up; the record completed.
    pub fn end(self, ctx: &mut CallCtx, how: Ending) -> Ended {
        let Ending {
            hung_up,
            outcome,
            status,
            cause,
        } = how;
        for side in [Side::A, Side::B] {
            if Some(side) == hung_up || (side == Side::A && self.phase.is_ringing()) {
                continue;
            }
            let leg = self.leg(side);
            if let Some(d) = leg.dialog.as_ref() {
                let mut d = d.clone();
                let reason = format!("SIP;cause={status};text=\"{cause}\"");
                ctx.bye(&mut d, leg.peer, &reason);
            }
        }
        let mut forks: Vec<ClientKey> = self.phase.forks().iter().map(|f| f.key.clone()).collect();
        forks.extend(self.answered_by.clone());
        let record = self.finished_record(ctx.now.unix_ms, outcome, status, cause);
        Ended {
            record,
            ports: [
                self.a.port,
                self.b.port,
                match &self.phase {
                    Phase::Transferring(t) => t.target.port,
                    _ => 0,
                },
            ],
            dialogs: [&self.a, &self.b]
                .into_iter()
                .filter_map(|l| l.dialog.as_ref().map(|d| d.id.clone()))
                .collect(),
            forks,
            invite: self.phase.setup().map(|s| s.key.clone()),
            outbound_by: self.outbound_by.map(|e| (self.tenant, e)),
        }
    }

    /// Who is on the call now, by number (`555 ↔ 444`; one number when
    /// only one party is: an announcement, a parked party).
    fn connected_numbers(&self) -> String {
        [&self.a, &self.b]
            .into_iter()
            .filter(|l| l.dialog.is_some() && !l.identity.number.is_empty())
            .map(|l| l.identity.number.as_str())
            .collect::<Vec<_>>()
            .join(" ↔ ")
    }

    /// The record as the call ends now. A refusal (or a parked call's
    /// goodbye) keeps its own status and cause, however the caller hangs up.
    fn finished_record(
        &self,
        now_ms: u64,
        outcome: Outcome,
        status: u16,
        cause: &str,
    ) -> CallRecord {
        let mut r = self.record.clone();
        r.ended_ms = now_ms;
        r.outcome = if r.answered_ms.is_some() {
            Outcome::Answered
        } else {
            outcome
        };
        if self.time_is_up() {
            // Its record already says so, whoever hangs up meanwhile.
        } else if matches!(self.phase, Phase::Announcing) && r.status >= 300 {
            r.outcome = if self.features.contains(&CallFeature::Park) {
                Outcome::NoAnswer
            } else {
                Outcome::Refused
            };
        } else {
            r.status = status;
            r.cause = cause.to_string();
        }
        r.events = CallEvent::lines(&self.events);
        if r.answered_ms.is_some() {
            r.connected = self.connected_numbers();
        }
        r.features = self
            .features
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(",");
        r
    }
}
