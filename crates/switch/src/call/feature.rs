//! What a call used, for its record (`features`, comma-separated names).

use serde::{Deserialize, Serialize};

/// A feature a call used. Declared in the alphabetical order of the names,
/// so a record lists them as it always has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallFeature {
    /// Early media (a 183 with SDP) was bridged.
    EarlyMedia,
    /// A feature code was refused with an announcement.
    FeatureRefused,
    /// A party held the other.
    Hold,
    /// The call was parked.
    Park,
    /// The call was parked by a REFER to the park number.
    ParkByTransfer,
    /// A park request answered with its confirmation.
    ParkRequest,
    /// Carried on after a restart of the switch.
    Resumed,
    /// A leg used SRTP.
    Srtp,
    /// The switch transcoded between the parties' codecs.
    Transcoding,
    /// A party was transferred (REFER).
    Transfer,
}

impl CallFeature {
    /// Its name in a record.
    pub fn name(self) -> &'static str {
        match self {
            CallFeature::EarlyMedia => "early-media",
            CallFeature::FeatureRefused => "feature-refused",
            CallFeature::Hold => "hold",
            CallFeature::Park => "park",
            CallFeature::ParkByTransfer => "park-by-transfer",
            CallFeature::ParkRequest => "park-request",
            CallFeature::Resumed => "resumed",
            CallFeature::Srtp => "srtp",
            CallFeature::Transcoding => "transcoding",
            CallFeature::Transfer => "transfer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CallFeature::*;

    #[test]
    fn declared_in_the_order_of_their_names() {
        let all = [
            EarlyMedia,
            FeatureRefused,
            Hold,
            Park,
            ParkByTransfer,
            ParkRequest,
            Resumed,
            Srtp,
            Transcoding,
            Transfer,
        ];
        let names: Vec<_> = all.iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for f in all {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.name()));
        }
    }
}
