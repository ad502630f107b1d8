//! Reporting to operators: each input's consequences as [`SwitchEvent`]s
//! in the output queue. A call's own events (hold, transfer, park, ...)
//! are taken from its list as they appear, so no flow has to remember to
//! report them; starts, answers, ends, refusals and registrations are
//! reported where they happen.

use super::Switch;
use crate::call::{Call, CallId};
use crate::output::{Output, StoreOp};
use crate::switch_event::{EventKind, SwitchEvent};
use crate::time::Now;
use accounts::CallRecord;

impl Switch {
    /// Reports `kind`.
    pub(super) fn emit(&mut self, now: Now, tenant: &str, call: Option<CallId>, kind: EventKind) {
        self.outputs.push_back(Output::Event(Box::new(SwitchEvent {
            at_ms: now.unix_ms,
            tenant: tenant.to_string(),
            call,
            kind,
        })));
    }

    /// Reports the events calls gained with the last input.
    pub(super) fn report_call_events(&mut self, now: Now) {
        for (id, tenant, event) in self.calls.calls.take_unreported() {
            self.emit(now, &tenant, Some(id), EventKind::Call { event });
        }
    }

    /// Reports what an ending call had not reported yet.
    pub(super) fn report_pending(&mut self, now: Now, id: CallId, call: &mut Call) {
        let from = call.reported.min(call.events.len());
        call.reported = call.events.len();
        for event in &call.events[from..] {
            let kind = EventKind::Call {
                event: event.clone(),
            };
            self.outputs.push_back(Output::Event(Box::new(SwitchEvent {
                at_ms: now.unix_ms,
                tenant: call.tenant.clone(),
                call: Some(id),
                kind,
            })));
        }
    }

    /// Reports a call's end, as its finished record says.
    pub(super) fn report_end(&mut self, now: Now, id: CallId, record: &CallRecord) {
        let kind = EventKind::CallEnded {
            outcome: record.outcome.as_str().to_string(),
            status: record.status,
            cause: record.cause.clone(),
            duration_ms: record.ended_ms.saturating_sub(record.started_ms),
        };
        self.emit(now, &record.tenant, Some(id), kind);
    }

    /// Reports the registrations `ops` add or remove.
    pub(super) fn report_bindings(&mut self, now: Now, ops: &[StoreOp]) {
        for op in ops {
            let (tenant, kind) = match op {
                StoreOp::SaveBinding(b) => (
                    b.tenant.clone(),
                    EventKind::Registered {
                        extension: b.extension.clone(),
                        contact: b.contact.clone(),
                    },
                ),
                StoreOp::RemoveBinding {
                    tenant,
                    extension,
                    contact,
                    ..
                } => (
                    tenant.clone(),
                    EventKind::Unregistered {
                        extension: extension.clone(),
                        contact: contact.clone(),
                    },
                ),
                _ => continue,
            };
            self.emit(now, &tenant, None, kind);
        }
    }
}
