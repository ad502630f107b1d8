//! Feature codes: what a number an extension dials asks of parking (park
//! at a position, park under a random code, retrieve), by the tenant's
//! prefixes.

use crate::lot::Position;

/// What a dialed string asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Park the held call under this extension.
    ParkAt(String),
    /// Park the held call under a fresh random code.
    ParkRandom,
    /// Park, but what follows the prefix is neither digits nor empty.
    ParkInvalid(String),
    /// Retrieve the call parked under the caller's own extension.
    RetrieveOwn,
    /// Retrieve the call parked at this position.
    Retrieve(Position),
}

/// The feature a dialed string names for a tenant's prefixes, if any.
/// A trailing `#` (the send key of many phones) is ignored.
pub fn parse(dialed: &str, park_prefix: &str, release_prefix: &str) -> Option<Feature> {
    let dialed = dialed.strip_suffix('#').unwrap_or(dialed);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = dialed.strip_prefix(park_prefix) {
        return Some(match rest {
            "" => Feature::ParkRandom,
            r if digits(r) => Feature::ParkAt(r.to_string()),
            r => Feature::ParkInvalid(r.to_string()),
        });
    }
    let rest = dialed.strip_prefix(release_prefix)?;
    Some(match rest {
        "" => Feature::RetrieveOwn,
        r => match r.strip_prefix('*') {
            Some(code) => Feature::Retrieve(Position::Code(code.to_string())),
            None => Feature::Retrieve(Position::Extension(r.to_string())),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_codes() {
        assert_eq!(
            parse("*70333", "*70", "*71"),
            Some(Feature::ParkAt("333".into()))
        );
        assert_eq!(parse("*70", "*70", "*71"), Some(Feature::ParkRandom));
        assert_eq!(parse("*70#", "*70", "*71"), Some(Feature::ParkRandom));
        assert_eq!(
            parse("*70*1", "*70", "*71"),
            Some(Feature::ParkInvalid("*1".into()))
        );
        assert_eq!(parse("*71", "*70", "*71"), Some(Feature::RetrieveOwn));
        assert_eq!(
            parse("*71*7250", "*70", "*71"),
            Some(Feature::Retrieve(Position::Code("7250".into())))
        );
        assert_eq!(
            parse("*71333#", "*70", "*71"),
            Some(Feature::Retrieve(Position::Extension("333".into())))
        );
        assert_eq!(
            parse("644999", "644", "645"),
            Some(Feature::ParkAt("999".into()))
        );
        assert_eq!(
            parse("645999", "644", "645"),
            Some(Feature::Retrieve(Position::Extension("999".into())))
        );
        assert_eq!(parse("333", "*70", "*71"), None);
        assert_eq!(
            Position::Code("0042".into()).retrieval_number("*71"),
            "*71*0042"
        );
        assert_eq!(
            Position::Extension("999".into()).retrieval_number("645"),
            "645999"
        );
    }
}
