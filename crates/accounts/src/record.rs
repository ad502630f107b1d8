//! Call records: one per call, with the features used along the way.

use serde::{Deserialize, Serialize};

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered and later hung up.
    Answered,
    /// The callee was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The caller hung up before an answer.
    Cancelled,
    /// The callee could not be reached or the call failed.
    Failed,
    /// Refused by authentication or authorization.
    Refused,
}

impl Outcome {
    /// Stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }
}

/// One call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unique id (the A leg's Call-ID).
    pub id: String,
    /// Tenant name ("" when unknown).
    pub tenant: String,
    /// Calling party (extension number, or the trunk caller's number).
    pub caller: String,
    /// Number dialed.
    pub callee: String,
    /// Where the call was routed (extension, `trunk:name`), if anywhere.
    pub routed_to: String,
    /// Who talked when it ended, by number (`555 ↔ 444`): after a
    /// retrieval or a transfer, not the party first called. Empty if it
    /// was never answered.
    #[serde(default)]
    pub connected: String,
    /// Start, Unix milliseconds.
    pub started_ms: u64,
    /// Answer time, Unix milliseconds.
    pub answered_ms: Option<u64>,
    /// End time, Unix milliseconds.
    pub ended_ms: u64,
    /// Outcome.
    pub outcome: Outcome,
    /// SIP status that ended the call (or answered it).
    pub status: u16,
    /// Why, in words (a SIP reason phrase or the switch's reason).
    pub cause: String,
    /// Features used (`hold`, `transcoding`, `park`, ...), comma-separated.
    pub features: String,
    /// What happened along the way (parked, retrieved, ...), one event per line.
    pub events: String,
}

/// A call waiting in a parking lot, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParkedCall {
    /// Tenant name.
    pub tenant: String,
    /// Position: an extension number, or `*` + code.
    pub position: String,
    /// The number that retrieves it.
    pub retrieval: String,
    /// Extension that parked it.
    pub parker: String,
    /// The parked party (number, with display name if known).
    pub parked_party: String,
    /// Parked at, Unix milliseconds.
    pub since_ms: u64,
    /// When the parker is rung back, Unix milliseconds.
    pub deadline_ms: u64,
}
