//! Parking a call: a feature code dialed by an extension is authorized and
//! routed (park or retrieve); a park moves the caller's held party into the
//! lot and releases the caller's leg, so the phone is free while the parked
//! party stays on music without a gap.

use super::Switch;
use crate::call::{other, Call, CallId, Phase, Side};
use crate::feature_code::Feature;
use crate::feature_refusal::FeatureRefusal;
use crate::lot::{fresh_code, Parked, Position};
use crate::media_security::LegSecurity;
use crate::output::{Output, StoreOp};
use crate::peer::Peer;
use crate::prompts::{spoken, Prompt};
use crate::time::Now;
use accounts::ParkedCall;
use accounts::{Extension, Tenant};
use media::sdp::Audio;
use sip::transaction::ServerKey;
use sip::Request;
use tracing::info;

impl Switch {
    /// A feature code dialed by an extension.
    pub(super) fn handle_feature(&mut self, now: Now, call: FeatureCall, feature: Feature) {
        if let Err(refusal) =
            crate::authorize::decide_feature(&self.dir, &call.tenant, &call.ext, &feature)
        {
            return self.refuse_feature(now, call, refusal);
        }
        if self.authorizations.is_some() {
            use crate::external_authorization::AuthorizationKind;
            let kind = match feature {
                Feature::RetrieveOwn | Feature::Retrieve(_) => AuthorizationKind::Retrieve,
                _ => AuthorizationKind::Park,
            };
            let dialed = call.req.uri.user_decoded().unwrap_or_default();
            let question = (
                kind,
                call.tenant.name.clone(),
                call.ext.number.clone(),
                dialed,
            );
            let held = super::authorization::Suspended::Feature {
                call: Box::new(call),
                feature,
            };
            return self.ask_operator(now, question, held);
        }
        self.feature_allowed(now, call, feature);
    }

    /// A park or retrieval the rules (and the operator's service) allow.
    pub(super) fn feature_allowed(&mut self, now: Now, call: FeatureCall, feature: Feature) {
        match feature {
            Feature::RetrieveOwn => {
                let pos = Position::Extension(call.ext.number.clone());
                self.retrieve_request(now, call, pos)
            }
            Feature::Retrieve(pos) => self.retrieve_request(now, call, pos),
            park => self.park_request(now, call, park),
        }
    }

    pub(super) fn park_request(&mut self, now: Now, call: FeatureCall, feature: Feature) {
        let tenant = call.tenant.clone();
        let pos = match feature {
            Feature::ParkAt(e) if self.dir.extension(&tenant.name, &e).is_some() => {
                Position::Extension(e)
            }
            Feature::ParkRandom => {
                let ids = &mut self.ids;
                match fresh_code(
                    &self.calls.lot,
                    &tenant.name,
                    tenant.park_code_length,
                    || ids.number(),
                ) {
                    Some(code) => Position::Code(code),
                    None => return self.refuse_feature(now, call, FeatureRefusal::NoFreeCode),
                }
            }
            _ => return self.refuse_feature(now, call, FeatureRefusal::NotAnExtension),
        };
        let Some((held, holder)) = self.find_held(&tenant.name, &call.ext.number) else {
            return self.refuse_feature(now, call, FeatureRefusal::NoHeldCall);
        };
        if self.calls.lot.is_taken(&tenant.name, &pos) || self.claims.reserves(&tenant.name, &pos) {
            let label = pos.label();
            return self.refuse_feature(now, call, FeatureRefusal::PositionTaken { label });
        }
        if self.cfg.shared_lot {
            return self.claim_then_park(now, call, (held, holder), pos);
        }
        self.park_and_announce(now, call, (held, holder), pos);
    }

    /// Parks call `held` at `pos` (free, and claimed when the lot is
    /// shared) and tells the parker the retrieval number.
    pub(super) fn park_and_announce(
        &mut self,
        now: Now,
        call: FeatureCall,
        (held, holder): (CallId, Side),
        pos: Position,
    ) {
        let tenant = call.tenant.clone();
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        self.park(now, held, holder, &tenant, pos, &call.ext.number);
        let mut prompts = vec![Prompt::CallParked, Prompt::ToRetrieveDial];
        prompts.extend(spoken(&retrieval));
        let pai = format!("\"Parked {retrieval}\" <sip:{retrieval}@{}>", tenant.domain);
        info!(tenant = %tenant.name, parker = %call.ext.number, %retrieval, "parked");
        self.announce(now, call, prompts, Some(pai), None);
    }

    /// The most recently held call in which `extension` holds the other party.
    pub(super) fn find_held(&self, tenant: &str, extension: &str) -> Option<(CallId, Side)> {
        self.calls
            .calls
            .iter()
            .filter(|(_, c)| c.tenant == tenant && matches!(c.phase, Phase::Established))
            .flat_map(|(id, c)| [Side::A, Side::B].map(|s| (*id, s, c.leg(s))))
            .filter(|(_, _, l)| {
                l.holding && l.dialog.is_some() && l.extension.as_deref() == Some(extension)
            })
            .max_by_key(|(_, _, l)| l.held_at)
            .map(|(id, s, _)| (id, s))
    }

    /// The stored lot's row for the party `holder` holds in call `id`,
    /// parked at `pos` by `parker` now.
    pub(super) fn parked_row(
        &self,
        now: Now,
        (id, holder): (CallId, Side),
        tenant: &Tenant,
        pos: &Position,
        parker: &str,
    ) -> ParkedCall {
        ParkedCall {
            tenant: tenant.name.clone(),
            position: pos.label(),
            retrieval: pos.retrieval_number(&tenant.release_prefix),
            parker: parker.to_string(),
            parked_party: self
                .calls
                .calls
                .get(&id)
                .map(|c| c.leg(other(holder)).identity.shown())
                .unwrap_or_default(),
            since_ms: now.unix_ms,
            deadline_ms: now.unix_ms + u64::from(tenant.park_timeout_s) * 1000,
        }
    }

    /// Moves the held party of call `id` into the lot and releases the
    /// holder's leg (BYE), so the parker's phone is free.
    pub(super) fn park(
        &mut self,
        now: Now,
        id: CallId,
        holder: Side,
        tenant: &Tenant,
        pos: Position,
        parker: &str,
    ) {
        let parked_side = other(holder);
        let comeback = crate::call::Comeback {
            at: now.mono + std::time::Duration::from_secs(u64::from(tenant.park_timeout_s)),
            to: parker.to_string(),
        };
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        let parked = self.with_call(now, id, |call, ctx| {
            call.park(ctx, holder, comeback, &retrieval)
        });
        if parked.is_none() {
            return;
        }
        let row = self.parked_row(now, (id, holder), tenant, &pos, parker);
        self.outputs
            .push_back(Output::Store(StoreOp::SaveParked(Box::new(row))));
        let parked = Parked {
            call: id,
            side: parked_side,
            parker: parker.to_string(),
            since: now.mono,
            since_ms: now.unix_ms,
            retrieval,
            position: pos.clone(),
        };
        if self.calls.lot.park(&tenant.name, pos, parked.clone()) {
            self.alert_parked(now, &tenant.name, &parked);
        }
    }

    /// Takes a call out of the lot when it ends there (its party hung up).
    pub(super) fn unpark(&mut self, now: Now, id: CallId, call: &mut Call) {
        if let Some((tenant, pos, parked)) = self.calls.lot.remove_call(id) {
            let waited = now.mono.saturating_duration_since(parked.since);
            info!(%tenant, position = %pos.label(), "parked party hung up");
            self.outputs.push_back(Output::Store(StoreOp::RemoveParked {
                tenant: tenant.clone(),
                position: pos.label(),
            }));
            let party = call.leg(parked.side).identity.clone();
            let end = super::park_alerts::ParkEnd::Abandoned;
            self.alert_parker(now, (&tenant, &parked), &party, end, waited);
            call.abandoned(parked.retrieval, waited);
        }
    }

    /// Number of parked calls.
    pub fn parked_count(&self) -> usize {
        self.calls.lot.len()
    }

    /// Calls parked now, longest waiting first.
    pub fn parked(&self) -> Vec<ParkedInfo> {
        self.calls
            .lot
            .list(None)
            .into_iter()
            .map(|(t, p, parked)| {
                let call = self.calls.calls.get(&parked.call);
                let comeback_ms = call.and_then(|c| match &c.phase {
                    crate::call::Phase::Parked(cb) => {
                        let after = cb.at.saturating_duration_since(parked.since);
                        Some(parked.since_ms + after.as_millis() as u64)
                    }
                    _ => None,
                });
                ParkedInfo {
                    call: parked.call,
                    tenant: t.to_string(),
                    position: p.label(),
                    retrieval: parked.retrieval.clone(),
                    parker: parked.parker.clone(),
                    parked_party: call
                        .map(|c| c.leg(parked.side).identity.shown())
                        .unwrap_or_default(),
                    since_ms: parked.since_ms,
                    comeback_ms,
                }
            })
            .collect()
    }
}

/// A parked call, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ParkedInfo {
    /// The parked call's id (hanging up uses it).
    pub call: CallId,
    /// Tenant.
    pub tenant: String,
    /// Position (extension, or `*code`).
    pub position: String,
    /// Number that retrieves it.
    pub retrieval: String,
    /// Extension that parked it.
    pub parker: String,
    /// Who waits (`Name <number>`).
    pub parked_party: String,
    /// Parked since, Unix milliseconds.
    pub since_ms: u64,
    /// When it comes back to the parker, Unix milliseconds.
    pub comeback_ms: Option<u64>,
}

/// A feature request: the INVITE and what it was authenticated as.
pub(super) struct FeatureCall {
    pub peer: Peer,
    pub key: ServerKey,
    pub req: Request,
    pub tenant: Tenant,
    pub ext: Extension,
    pub offer: Audio,
    /// The caller's media protection, agreed from its offer.
    pub security: LegSecurity,
}
