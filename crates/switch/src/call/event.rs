//! What happened to a call along the way: typed while the call lives (and
//! in its snapshot), one line each in its record's `events` when it ends.

use serde::{Deserialize, Serialize};

/// One event of a call. Durations are milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CallEvent {
    /// An extension parked the call.
    Parked {
        /// The parker.
        by: String,
        /// The number that retrieves it.
        retrieval: String,
    },
    /// The parked party hung up.
    Abandoned {
        /// Where it was parked.
        retrieval: String,
        /// How long it waited.
        after_ms: u64,
    },
    /// Someone retrieved the call.
    Retrieved {
        /// The retriever.
        by: String,
        /// How long it waited.
        after_ms: u64,
    },
    /// A phone's INVITE with `Replaces` took a leg's place.
    Replaced {
        /// Its extension.
        by: String,
    },
    /// The operator sent the parked call to an extension (its phones ring).
    SentTo {
        /// The extension.
        to: String,
    },
    /// The operator moved the parked call to another position.
    Moved {
        /// Its new retrieval number.
        to: String,
    },
    /// A party put the other on hold.
    Held {
        /// Who held (number).
        by: String,
    },
    /// A party took the other off hold.
    Unheld {
        /// Who (number).
        by: String,
    },
    /// A REFER to the park number was refused.
    ParkByTransferRefused {
        /// Why.
        reason: String,
    },
    /// Nobody retrieved it: the parker's phone rings.
    ComebackRinging {
        /// The extension rung.
        to: String,
        /// How long it waited.
        after_ms: u64,
    },
    /// The comeback was due but the parker was in another call: it waits.
    ComebackDeferred {
        /// The busy parker.
        to: String,
    },
    /// The parker was still busy at the end of the comeback's time: the
    /// fallback is tried without ringing the parker.
    ComebackParkerBusy {
        /// The busy parker.
        to: String,
    },
    /// The comeback was answered.
    ComebackAnswered {
        /// Who answered.
        by: String,
    },
    /// Nobody answered the comeback: the tenant's fallback rings.
    ComebackToFallback {
        /// The fallback extension.
        to: String,
    },
    /// Nobody answered the comeback: the parked party hears goodbye.
    ComebackGoodbye,
    /// The switch restarted and carried the call on.
    Resumed,
    /// The time the operator's authorization service granted ran out.
    TimeLimitReached,
    /// A party's REFER connected the other to a target.
    Transferred {
        /// The transferor's extension.
        by: String,
        /// The number dialed.
        to: String,
    },
    /// A transfer's target did not take the call.
    TransferFailed {
        /// The number dialed.
        to: String,
        /// Its final status.
        status: u16,
    },
}

impl CallEvent {
    /// Its name as its JSON `event` tag says (`parked`, `comeback_ringing`).
    pub fn name(&self) -> &'static str {
        match self {
            CallEvent::Parked { .. } => "parked",
            CallEvent::Abandoned { .. } => "abandoned",
            CallEvent::Retrieved { .. } => "retrieved",
            CallEvent::Replaced { .. } => "replaced",
            CallEvent::Held { .. } => "held",
            CallEvent::Moved { .. } => "moved",
            CallEvent::SentTo { .. } => "sent_to",
            CallEvent::Unheld { .. } => "unheld",
            CallEvent::ParkByTransferRefused { .. } => "park_by_transfer_refused",
            CallEvent::ComebackRinging { .. } => "comeback_ringing",
            CallEvent::ComebackDeferred { .. } => "comeback_deferred",
            CallEvent::ComebackParkerBusy { .. } => "comeback_parker_busy",
            CallEvent::ComebackAnswered { .. } => "comeback_answered",
            CallEvent::ComebackToFallback { .. } => "comeback_to_fallback",
            CallEvent::ComebackGoodbye => "comeback_goodbye",
            CallEvent::Resumed => "resumed",
            CallEvent::Transferred { .. } => "transferred",
            CallEvent::TransferFailed { .. } => "transfer_failed",
            CallEvent::TimeLimitReached => "time_limit_reached",
        }
    }
}

impl CallEvent {
    /// The event as a line of the record.
    pub fn line(&self) -> String {
        let secs = |ms: &u64| *ms as f64 / 1000.0;
        match self {
            CallEvent::Parked { by, retrieval } => format!("parked by {by} at {retrieval}"),
            CallEvent::Abandoned {
                retrieval,
                after_ms,
            } => format!("abandoned at {retrieval} after {:.1} s", secs(after_ms)),
            CallEvent::Retrieved { by, after_ms } => {
                format!("retrieved by {by} after {:.1} s", secs(after_ms))
            }
            CallEvent::Replaced { by } => format!("leg replaced by {by}"),
            CallEvent::Held { by } => format!("held by {by}"),
            CallEvent::Moved { to } => format!("moved to {to} by the operator"),
            CallEvent::SentTo { to } => format!("sent to {to} by the operator"),
            CallEvent::Unheld { by } => format!("taken off hold by {by}"),
            CallEvent::ParkByTransferRefused { reason } => {
                format!("park by transfer refused: {reason}")
            }
            CallEvent::ComebackRinging { to, after_ms } => {
                format!("not retrieved in {} s: ringing {to} back", after_ms / 1000)
            }
            CallEvent::ComebackAnswered { by } => format!("comeback answered by {by}"),
            CallEvent::ComebackDeferred { to } => format!("comeback deferred: {to} is busy"),
            CallEvent::ComebackParkerBusy { to } => {
                format!("comeback skipped: {to} still busy")
            }
            CallEvent::ComebackToFallback { to } => {
                format!("comeback unanswered: to fallback {to}")
            }
            CallEvent::ComebackGoodbye => "comeback unanswered: goodbye".into(),
            CallEvent::Resumed => "resumed after a restart".into(),
            CallEvent::TimeLimitReached => "the time granted ran out".into(),
            CallEvent::Transferred { by, to } => format!("transferred by {by} to {to}"),
            CallEvent::TransferFailed { to, status } => {
                format!("transfer to {to} failed: {status}")
            }
        }
    }

    /// Every event, one line each (the record's `events`).
    pub fn lines(events: &[CallEvent]) -> String {
        events.iter().map(|e| e.line() + "\n").collect()
    }
}
