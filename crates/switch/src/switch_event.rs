//! What happened, for operators: the switch reports each call's start,
//! answer, end and everything in between (holds, transfers, parks,
//! retrievals, comebacks, fallbacks, abandonments), refusals with their
//! cause, and registrations, as typed events the shell counts (metrics),
//! streams (server-sent events) and posts (webhooks).

use crate::call::CallEvent;
use serde::Serialize;

/// One event, with where and when it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwitchEvent {
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Tenant name (empty when no tenant could be told).
    pub tenant: String,
    /// The call it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<u64>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What kind of feature a refusal refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// A call.
    Call,
    /// A park.
    Park,
    /// A retrieval.
    Retrieve,
}

/// The events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A call rings its callee.
    CallStarted {
        /// Caller number.
        from: String,
        /// Dialed number.
        to: String,
    },
    /// The callee answered.
    CallAnswered {
        /// From the INVITE to the answer.
        setup_ms: u64,
    },
    /// A call ended.
    CallEnded {
        /// Outcome as its record says (`answered`, `busy`, ...).
        outcome: String,
        /// SIP status.
        status: u16,
        /// In words.
        cause: String,
        /// Since it started.
        duration_ms: u64,
    },
    /// Something along a call's way (hold, transfer, park, retrieve,
    /// comeback, fallback, abandon).
    Call {
        /// The event as the call's record keeps it.
        #[serde(flatten)]
        event: CallEvent,
    },
    /// A call, park or retrieval was refused.
    Refused {
        /// What was refused.
        what: Refused,
        /// SIP status.
        status: u16,
        /// The cause, in words (as the record's).
        cause: String,
        /// The cause as a short code (bounded: metric labels).
        code: &'static str,
    },
    /// A phone registered (or refreshed its registration).
    Registered {
        /// Extension.
        extension: String,
        /// Contact URI.
        contact: String,
    },
    /// A registration ended (expired or removed).
    Unregistered {
        /// Extension.
        extension: String,
        /// Contact URI.
        contact: String,
    },
}

impl EventKind {
    /// Its name as its JSON `type` tag says.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CallStarted { .. } => "call_started",
            EventKind::CallAnswered { .. } => "call_answered",
            EventKind::CallEnded { .. } => "call_ended",
            EventKind::Call { .. } => "call",
            EventKind::Refused { .. } => "refused",
            EventKind::Registered { .. } => "registered",
            EventKind::Unregistered { .. } => "unregistered",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_tags() {
        let ev = SwitchEvent {
            at_ms: 1,
            tenant: "acme".into(),
            call: Some(7),
            kind: EventKind::Call {
                event: CallEvent::ComebackRinging {
                    to: "333".into(),
                    after_ms: 5,
                },
            },
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["type"], ev.kind.name());
        let EventKind::Call { event } = &ev.kind else {
            unreachable!()
        };
        assert_eq!(v["event"], event.name());
        assert_eq!(
            (v["to"].as_str(), v["call"].as_u64()),
            (Some("333"), Some(7))
        );
    }
}
