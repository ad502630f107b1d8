//! Why a feature code (park, retrieve) is refused: the SIP status its record
//! keeps, the cause in words, and the announcement the caller hears.

use crate::prompts::{spoken, Prompt};

/// A refused park or retrieval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeatureRefusal {
    /// The caller is disabled, or not of this tenant.
    NotAllowed,
    /// The caller may not park.
    NotAllowedToPark,
    /// The caller may not retrieve.
    NotAllowedToRetrieve,
    /// The position named is not an extension of the tenant.
    NotAnExtension,
    /// Every random code is taken.
    NoFreeCode,
    /// The position holds a call already.
    PositionTaken {
        /// The position as listed (`333`, `*7250`).
        label: String,
    },
    /// The caller holds no call to park.
    NoHeldCall,
    /// Nothing is parked at the number dialed.
    NothingParked {
        /// The number dialed.
        retrieval: String,
    },
    /// The shared store did not answer a parking claim in time.
    StoreUnavailable,
    /// The operator's authorization service said no.
    Denied {
        /// Its status.
        status: u16,
        /// Its cause.
        cause: String,
    },
    /// The caller failed too many retrievals lately (it hears the same as
    /// for an empty position, so guessing learns nothing).
    TooManyAttempts {
        /// The number dialed.
        retrieval: String,
    },
}

impl FeatureRefusal {
    /// The cause as a short code (metric labels, event filters).
    pub fn code(&self) -> &'static str {
        match self {
            FeatureRefusal::NotAllowed => "not_allowed",
            FeatureRefusal::NotAllowedToPark => "not_allowed_to_park",
            FeatureRefusal::NotAllowedToRetrieve => "not_allowed_to_retrieve",
            FeatureRefusal::NotAnExtension => "not_an_extension",
            FeatureRefusal::NoFreeCode => "no_free_code",
            FeatureRefusal::PositionTaken { .. } => "position_taken",
            FeatureRefusal::NoHeldCall => "no_held_call",
            FeatureRefusal::NothingParked { .. } => "nothing_parked",
            FeatureRefusal::TooManyAttempts { .. } => "too_many_attempts",
            FeatureRefusal::Denied { .. } => "denied",
            FeatureRefusal::StoreUnavailable => "store_unavailable",
        }
    }

    /// The SIP status the call's record keeps.
    pub fn status(&self) -> u16 {
        match self {
            FeatureRefusal::NotAllowed
            | FeatureRefusal::NotAllowedToPark
            | FeatureRefusal::NotAllowedToRetrieve => 403,
            FeatureRefusal::NotAnExtension
            | FeatureRefusal::NothingParked { .. }
            | FeatureRefusal::TooManyAttempts { .. } => 404,
            FeatureRefusal::NoFreeCode | FeatureRefusal::PositionTaken { .. } => 486,
            FeatureRefusal::NoHeldCall => 480,
            FeatureRefusal::Denied { status, .. } => *status,
            FeatureRefusal::StoreUnavailable => 503,
        }
    }

    /// The cause, in words (records, logs, SIP reasons).
    pub fn cause(&self) -> String {
        match self {
            FeatureRefusal::NotAllowed => "not allowed".into(),
            FeatureRefusal::NotAllowedToPark => "not allowed to park".into(),
            FeatureRefusal::NotAllowedToRetrieve => "not allowed to retrieve".into(),
            FeatureRefusal::NotAnExtension => "not an extension of this PBX".into(),
            FeatureRefusal::NoFreeCode => "no free parking code".into(),
            FeatureRefusal::PositionTaken { label } => format!("parking position {label} is taken"),
            FeatureRefusal::NoHeldCall => "no held call to park".into(),
            FeatureRefusal::NothingParked { retrieval } => format!("no call parked at {retrieval}"),
            FeatureRefusal::TooManyAttempts { .. } => "too many retrieval attempts".into(),
            FeatureRefusal::Denied { cause, .. } => cause.clone(),
            FeatureRefusal::StoreUnavailable => "the parking lot's store did not answer".into(),
        }
    }

    /// What the caller hears.
    pub fn prompts(&self) -> Vec<Prompt> {
        match self {
            FeatureRefusal::NotAllowed
            | FeatureRefusal::Denied { .. }
            | FeatureRefusal::StoreUnavailable => vec![Prompt::Goodbye],
            FeatureRefusal::NotAllowedToPark => vec![Prompt::ParkNotAllowed],
            FeatureRefusal::NotAllowedToRetrieve => vec![Prompt::RetrieveNotAllowed],
            FeatureRefusal::NotAnExtension => vec![Prompt::NotAnExtension],
            FeatureRefusal::NoFreeCode | FeatureRefusal::PositionTaken { .. } => {
                vec![Prompt::PositionTaken]
            }
            FeatureRefusal::NoHeldCall => vec![Prompt::NoHeldCall],
            FeatureRefusal::NothingParked { retrieval }
            | FeatureRefusal::TooManyAttempts { retrieval } => {
                let mut p = vec![Prompt::NoCallParkedAt];
                p.extend(spoken(retrieval));
                p
            }
        }
    }
}
