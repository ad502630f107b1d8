//! REFER (RFC 3515) in a call: a phone's Park key blind-transfers the other
//! party to the park number; progress goes back as NOTIFY message/sipfrag.

use super::Switch;
use crate::call::{CallEvent, CallFeature, CallId, Side};
use crate::feature_code::Feature;
use crate::lot::{fresh_code, Position};
use crate::time::Now;
use sip::transaction::ServerKey;
use sip::{Name, Request};
use tracing::info;

/// A park by transfer the rules allow: the REFER, and where it parks.
pub(super) struct ParkByTransfer {
    pub id: CallId,
    /// The side that sent the REFER (the parker's).
    pub side: Side,
    pub parker: String,
    pub key: ServerKey,
    pub req: Request,
    pub tenant: accounts::Tenant,
    pub pos: Position,
}

impl Switch {
    /// REFER in a call: to the park number (a phone's Park key), the other
    /// party is parked; to any other number, blind transfer. A retrieval
    /// code is refused and the call stays as it is.
    pub(super) fn handle_refer(
        &mut self,
        now: Now,
        id: CallId,
        side: Side,
        key: ServerKey,
        req: Request,
    ) {
        let refer_to = req
            .headers
            .get(Name::ReferTo)
            .and_then(|v| sip::NameAddr::parse(v).ok());
        let replaces = refer_to
            .as_ref()
            .and_then(|a| a.uri.headers.as_deref())
            .and_then(sip::Replaces::from_uri_headers);
        let target = refer_to.and_then(|a| a.uri.user_decoded());
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let tenant = self.dir.tenant(&call.tenant).cloned();
        let parker = call.leg(side).extension.clone();
        let ext = parker
            .as_ref()
            .zip(tenant.as_ref())
            .and_then(|(p, t)| self.dir.extension(&t.name, p).cloned());
        let feature = target.as_deref().zip(tenant.as_ref()).and_then(|(t, ten)| {
            crate::feature_code::parse(t, &ten.park_prefix, &ten.release_prefix)
        });
        let (Some(tenant), Some(ext)) = (tenant, ext) else {
            let resp = self.response(&req, 403, Some("Only a PBX extension may transfer"));
            return self.reply(now, &key, resp);
        };
        if let Some(replaces) = replaces {
            return self.attended_transfer(now, (id, side), (key, req), &ext, &replaces);
        }
        if let (None, Some(number)) = (&feature, target) {
            // Any other number: a blind transfer.
            return self.blind_transfer(now, id, (side, ext), (key, req), (tenant, number));
        }
        const ONLY_PARK: &str = "A retrieval number cannot be a transfer target";
        let talking = call.phase.is_two_party();
        let authorized: Result<(), (u16, String)> = match &feature {
            Some(f @ (Feature::ParkAt(_) | Feature::ParkRandom | Feature::ParkInvalid(_))) => {
                crate::authorize::decide_feature(&self.dir, &tenant, &ext, f)
                    .map_err(|r| (r.status(), r.cause()))
            }
            _ => Err((501, ONLY_PARK.into())),
        };
        let pos = match (talking, authorized, feature) {
            (false, _, _) => Err((491, "Request Pending".into())),
            (_, Err(e), _) => Err(e),
            (_, Ok(()), Some(Feature::ParkAt(e))) => Ok(Position::Extension(e)),
            (_, Ok(()), Some(Feature::ParkRandom)) => {
                let ids = &mut self.ids;
                fresh_code(
                    &self.calls.lot,
                    &tenant.name,
                    tenant.park_code_length,
                    || ids.number(),
                )
                .map(Position::Code)
                .ok_or((486, "No free parking code".into()))
            }
            _ => Err((501, ONLY_PARK.into())),
        };
        let pos = match pos {
            Ok(p)
                if self.calls.lot.is_taken(&tenant.name, &p)
                    || self.claims.reserves(&tenant.name, &p) =>
            {
                Err((486, "Parking position taken".into()))
            }
            other => other,
        };
        let pos = match pos {
            Ok(p) => p,
            Err((status, reason)) => {
                return self.refuse_park_by_transfer(now, (id, key, req), status, &reason)
            }
        };
        let refer = ParkByTransfer {
            id,
            side,
            parker: ext.number,
            key,
            req,
            tenant,
            pos,
        };
        if self.cfg.shared_lot {
            return self.claim_then_park_by_transfer(now, refer);
        }
        self.park_by_transfer(now, refer);
    }

    /// A REFER to the park number refused with `status`: the call stays.
    pub(super) fn refuse_park_by_transfer(
        &mut self,
        now: Now,
        (id, key, req): (CallId, ServerKey, Request),
        status: u16,
        reason: &str,
    ) {
        info!(call = id, status, %reason, "REFER refused");
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.events.push(CallEvent::ParkByTransferRefused {
                reason: reason.to_string(),
            });
        }
        let resp = self.response(&req, status, Some(reason));
        self.reply(now, &key, resp);
    }

    /// Parks the other party of the REFER's call at its (free) position.
    pub(super) fn park_by_transfer(&mut self, now: Now, refer: ParkByTransfer) {
        let ParkByTransfer {
            id,
            side,
            parker,
            key,
            req,
            tenant,
            pos,
        } = refer;
        let accepted = self.response(&req, 202, None);
        self.reply(now, &key, accepted);
        self.notify_sipfrag(now, id, side, "SIP/2.0 100 Trying", "active;expires=60");
        let retrieval = pos.retrieval_number(&tenant.release_prefix);
        self.notify_sipfrag(
            now,
            id,
            side,
            "SIP/2.0 200 OK",
            "terminated;reason=noresource",
        );
        info!(call = id, %parker, %retrieval, "parked by transfer");
        if let Some(c) = self.calls.calls.get_mut(&id) {
            c.features.insert(CallFeature::ParkByTransfer);
        }
        self.park(now, id, side, &tenant, pos, &parker);
    }

    /// A NOTIFY with a sipfrag body in the leg's dialog (RFC 3515 §2.4.5).
    pub(super) fn notify_sipfrag(
        &mut self,
        now: Now,
        id: CallId,
        side: Side,
        frag: &str,
        state: &str,
    ) {
        self.with_call(now, id, |call, ctx| {
            call.notify_refer(ctx, side, frag, state)
        });
    }
}
