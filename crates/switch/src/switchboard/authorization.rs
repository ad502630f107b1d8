//! The operator's authorization service, the switchboard's part: a call,
//! park, retrieval or transfer the embedded rules allow is held while the
//! service decides (the caller has its `100 Trying`), then goes on as the
//! verdict says: along its route or another, with a time limit, or
//! refused with the service's status and cause. Without an answer in
//! time, the configured fallback decides. A caller who cancels meanwhile
//! gets its 487 at once.

use super::calls::CallSetup;
use super::park::FeatureCall;
use super::transfer::RoutedTransfer;
use super::Switch;
use crate::authorize::{self, CallRequest, Decision};
use crate::external_authorization::{Asked, AuthorizationKind, Fallback, Verdict};
use crate::feature_code::Feature;
use crate::feature_refusal::FeatureRefusal;
use crate::output::Output;
use crate::time::Now;
use sip::transaction::ServerKey;
use tracing::info;

/// What waits for the service's verdict.
pub(super) enum Suspended {
    /// A new call.
    Call {
        setup: Box<CallSetup>,
        /// The number dialed (a route from the service replaces it).
        dialed: String,
        /// What the rules decided for it.
        embedded: Decision,
    },
    /// A park or retrieval.
    Feature {
        call: Box<FeatureCall>,
        feature: Feature,
    },
    /// A blind transfer, routed by the rules.
    Transfer(Box<RoutedTransfer>),
}

impl Suspended {
    /// The INVITE it holds (a transfer holds a REFER).
    fn invite(&self) -> Option<(&ServerKey, &sip::Request)> {
        match self {
            Suspended::Call { setup, .. } => Some((&setup.key, &setup.req)),
            Suspended::Feature { call, .. } => Some((&call.key, &call.req)),
            Suspended::Transfer(_) => None,
        }
    }

    /// The INVITE (or REFER) transaction it answers.
    fn key(&self) -> &ServerKey {
        match self {
            Suspended::Call { setup, .. } => &setup.key,
            Suspended::Feature { call, .. } => &call.key,
            Suspended::Transfer(t) => &t.key,
        }
    }
}

/// Why a request was refused when the service could not be asked.
const UNAVAILABLE: &str = "Authorization service unavailable";

impl Switch {
    /// Holds `held` while the service decides `question` (kind, tenant,
    /// caller, callee), unless the cache or the bound answers now.
    pub(super) fn ask_operator(
        &mut self,
        now: Now,
        (kind, tenant, caller, callee): (AuthorizationKind, String, String, String),
        held: Suspended,
    ) {
        // The caller stops resending its INVITE while the service thinks.
        if let Some((key, req)) = held.invite() {
            let (key, trying) = (key.clone(), self.response(req, 100, None));
            self.reply(now, &key, trying);
        }
        let Some(auths) = self.authorizations.as_mut() else {
            return self.follow_verdict(now, held, Verdict::Unavailable);
        };
        match auths.ask(now.mono, (kind, &tenant, &caller, &callee), held) {
            Asked::Ask(request) => {
                info!(id = request.id, ?kind, %tenant, %caller, %callee, "asking the authorization service");
                self.outputs.push_back(Output::Authorize(Box::new(request)));
            }
            Asked::Now(held, verdict) => self.follow_verdict(now, held, verdict),
        }
    }

    /// The service's verdict on question `id` (a late one finds nothing).
    pub fn handle_verdict(&mut self, now: Now, id: u64, verdict: Verdict) {
        let held = self
            .authorizations
            .as_mut()
            .and_then(|a| a.answer(now.mono, id, &verdict));
        if let Some(held) = held {
            self.follow_verdict(now, held, verdict);
        }
        self.settle(now);
    }

    /// Questions that waited too long: the fallback decides them.
    pub(super) fn expire_authorizations(&mut self, now: Now) {
        let late = match self.authorizations.as_mut() {
            Some(a) => a.expired(now.mono),
            None => return,
        };
        for held in late {
            info!("the authorization service did not answer in time: the fallback decides");
            self.follow_verdict(now, held, Verdict::Unavailable);
        }
    }

    /// The earliest deadline of a waiting question.
    pub(super) fn authorization_deadline(&self) -> Option<std::time::Instant> {
        self.authorizations.as_ref()?.next_deadline()
    }

    /// Questions waiting for the service.
    pub fn authorizations_waiting(&self) -> usize {
        self.authorizations.as_ref().map_or(0, |a| a.waiting())
    }

    /// A CANCEL for an INVITE that waits for the service: the INVITE gets
    /// 487 and its verdict will find nothing. Whether there was one.
    pub(super) fn cancel_waiting(&mut self, now: Now, invite: &ServerKey) -> bool {
        let held = self
            .authorizations
            .as_mut()
            .and_then(|a| a.withdraw(|h| h.key() == invite));
        match held {
            Some(held) => {
                self.follow_verdict(
                    now,
                    held,
                    Verdict::Refuse {
                        status: 487,
                        cause: "Request Terminated".into(),
                    },
                );
                true
            }
            None => false,
        }
    }

    /// Goes on with what was held, as `verdict` says.
    fn follow_verdict(&mut self, now: Now, held: Suspended, verdict: Verdict) {
        let verdict = match (verdict, self.authorizations.as_ref().map(|a| a.fallback())) {
            (Verdict::Unavailable, Some(Fallback::Refuse)) => Verdict::Refuse {
                status: 503,
                cause: UNAVAILABLE.into(),
            },
            (Verdict::Unavailable, _) => Verdict::Allow {
                route: None,
                time_limit: None,
            },
            (v, _) => v,
        };
        match (held, verdict) {
            (Suspended::Call { setup, .. }, Verdict::Refuse { status, cause }) => {
                let who = (setup.tenant.name.as_str(), setup.caller_id.as_str());
                self.refuse_call(now, &setup.key, &setup.req, who, status, &cause);
            }
            (
                Suspended::Call {
                    setup,
                    dialed,
                    embedded,
                },
                Verdict::Allow { route, time_limit },
            ) => {
                // Another number: the rules route it (and may refuse it).
                let decision = match route.filter(|r| *r != dialed) {
                    Some(number) => {
                        info!(%dialed, to = %number, "routed by the authorization service");
                        authorize::decide(
                            &self.dir,
                            &self.registrar,
                            &CallRequest {
                                tenant: &setup.tenant,
                                caller: &setup.caller,
                                dialed: &number,
                            },
                        )
                    }
                    None => embedded,
                };
                self.follow_decision(now, *setup, decision, time_limit)
            }
            (Suspended::Feature { call, .. }, Verdict::Refuse { status, cause }) => {
                self.refuse_feature(now, *call, FeatureRefusal::Denied { status, cause })
            }
            (Suspended::Feature { call, feature }, Verdict::Allow { .. }) => {
                self.feature_allowed(now, *call, feature)
            }
            (Suspended::Transfer(t), Verdict::Refuse { status, cause }) => {
                info!(call = t.id, status, %cause, "transfer refused by the authorization service");
                let resp = self.response(&t.req, status, Some(&cause));
                self.reply(now, &t.key, resp);
            }
            (Suspended::Transfer(t), Verdict::Allow { .. }) => self.transfer_routed(now, *t),
            (_, Verdict::Unavailable) => unreachable!("the fallback decided above"),
        }
    }
}
