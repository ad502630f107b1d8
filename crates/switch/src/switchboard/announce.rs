//! Announcements: the switch answers a feature call itself, plays prompts
//! (the park confirmation with the retrieval number, or why it was refused),
//! then hangs up.

use super::park::FeatureCall;
use super::Switch;
use crate::call::{Call, CallFeature, OkRetransmit, Side};
use crate::feature_refusal::FeatureRefusal;
use crate::output::{MediaCommand, Output};
use crate::prompts::Prompt;
use crate::time::Now;
use tracing::info;

impl Switch {
    /// Answers a refused feature call with its announcement, then hangs up.
    pub(super) fn refuse_feature(&mut self, now: Now, fc: FeatureCall, refusal: FeatureRefusal) {
        let prompts = refusal.prompts();
        self.announce(now, fc, prompts, None, Some(refusal));
    }

    /// Answers a feature call, plays `prompts`, then hangs up. A refusal is
    /// recorded as one.
    pub(super) fn announce(
        &mut self,
        now: Now,
        fc: FeatureCall,
        prompts: Vec<Prompt>,
        pai: Option<String>,
        refused: Option<FeatureRefusal>,
    ) {
        let Some(port) = self.ports.take() else {
            let resp = self.response(&fc.req, 503, Some("No media ports available"));
            return self.reply(now, &fc.key, resp);
        };
        self.outputs
            .push_back(Output::Media(MediaCommand::Open(port)));
        let mut leg = self.answered_leg(&fc, port, None);
        leg.extension = Some(fc.ext.number.clone());
        leg.identity = crate::call::Identity::new(fc.ext.name.clone(), fc.ext.number.clone());
        let wire = self.answer_with(now, &fc, &leg, pai);
        self.outputs.extend(leg.media_config().map(Output::Media));
        self.outputs
            .push_back(Output::Media(MediaCommand::Play(port, prompts)));
        let id = self.calls.next_id;
        self.calls.next_id += 1;
        let mut record = self.new_record(now, &fc.req, &fc.tenant.name, &fc.ext.number);
        record.answered_ms = Some(now.unix_ms);
        if let Some(r) = &refused {
            let (status, cause) = (r.status(), r.cause());
            info!(tenant = %fc.tenant.name, extension = %fc.ext.number, status, %cause, "feature refused");
            record.status = status;
            record.cause = cause.clone();
            let dialed = fc.req.uri.user_decoded().unwrap_or_default();
            let park = matches!(
                crate::feature_code::parse(
                    &dialed,
                    &fc.tenant.park_prefix,
                    &fc.tenant.release_prefix
                ),
                Some(
                    crate::feature_code::Feature::ParkAt(_)
                        | crate::feature_code::Feature::ParkRandom
                        | crate::feature_code::Feature::ParkInvalid(_)
                )
            );
            let what = if park {
                crate::switch_event::Refused::Park
            } else {
                crate::switch_event::Refused::Retrieve
            };
            let kind = crate::switch_event::EventKind::Refused {
                what,
                status,
                cause,
                code: r.code(),
            };
            self.emit(now, &fc.tenant.name, None, kind);
        }
        let dkey = leg.dialog.as_ref().map(|d| {
            (
                d.id.call_id.clone(),
                d.id.local_tag.clone(),
                d.id.remote_tag.clone(),
            )
        });
        let mut features = std::collections::BTreeSet::new();
        features.insert(if refused.is_some() {
            CallFeature::FeatureRefused
        } else {
            CallFeature::ParkRequest
        });
        let ok = (!fc.peer.is_reliable()).then(|| OkRetransmit {
            side: Side::A,
            peer: fc.peer,
            wire,
            next: now.mono + self.cfg.timers.t1,
            interval: self.cfg.timers.t1,
            give_up: now.mono + self.cfg.timers.t1x64(),
        });
        let mut call = Call::announcement(fc.tenant.name.clone(), leg, ok, record);
        call.features = features;
        let at = call.deadline();
        call.scheduled = at;
        // In the table first: scheduling drops entries of calls not in it.
        self.calls.calls.insert(id, call);
        if let Some(at) = at {
            self.calls.schedule(at, id);
        }
        self.calls.by_port.insert(port, (id, Side::A));
        if let Some(k) = dkey {
            self.calls.by_dialog.insert(k, (id, Side::A));
        }
    }
}
