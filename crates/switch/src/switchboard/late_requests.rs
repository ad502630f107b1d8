//! Requests read too late to act on. The shell stamps each datagram when
//! it arrives; when the core falls behind (a burst, a slow machine), a new
//! INVITE or SUBSCRIBE may be read seconds later. The cluster's edge waits
//! 2 s for a node's first answer and then sends the request to another
//! node, so acting on it late would make two nodes take one call (the
//! caller gets two answers, two retrievals race for one parked call). A
//! late request is therefore refused with `503` and `Retry-After`, through
//! its transaction (a retransmission read afterwards gets the same 503,
//! not a call). Exempt are requests another node sends on a caller's
//! behalf (that node has answered the caller and waits for this one) and
//! calls of an extension holding a call here: the edge sends a phone's
//! calls to the node of its calls, and only this node can park the held
//! party or make the consultation call of a transfer (any other would
//! answer "no held call").

use super::admission::Admission;
use super::Switch;
use crate::authorize::Caller;
use crate::time::Now;
use sip::transaction::ServerKey;
use sip::Request;
use std::time::Duration;
use tracing::warn;

impl Switch {
    /// Whether a new request admitted as `admission`, read `waited` after
    /// it arrived, is refused for its wait.
    pub(super) fn too_late(&self, waited: Duration, req: &Request, admission: &Admission) -> bool {
        let Some(limit) = self.cfg.max_request_wait else {
            return false;
        };
        if waited <= limit {
            return false;
        }
        match admission {
            Admission::Call(Caller::Extension(e))
                if self.find_held(&e.tenant, &e.number).is_some() =>
            {
                false
            }
            Admission::Call(_) => self.node_caller(req).is_none(),
            Admission::Subscribe(_) => true,
            Admission::Register(_)
            | Admission::InDialog
            | Admission::Cancel
            | Admission::Message(_) => false,
        }
    }

    /// Answers a late request `503` through its transaction, logged as
    /// [`super::refusal_log`] says.
    pub(super) fn refuse_late(
        &mut self,
        now: Now,
        key: ServerKey,
        req: &Request,
        waited: Duration,
    ) {
        self.stats.late_refusals += 1;
        let total = self.stats.late_refusals;
        if let Some(since) = self.late_logged.due(now.mono, total) {
            warn!(
                waited_ms = waited.as_millis() as u64,
                refused = since,
                method = %req.method,
                "requests read too late to act on (the switch is behind): answering 503 (sip.max_request_wait_ms)"
            );
        }
        let resp = self.unavailable(req, "Overloaded");
        self.reply(now, &key, resp);
    }
}
