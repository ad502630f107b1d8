//! The prompt set the switch speaks from. The binary loads clips in this
//! order (`NAMES`), so an index here is an index into the media engine.

/// Prompt file names (without `.ul`), in index order.
pub const NAMES: &[&str] = &[
    "digit-0",
    "digit-1",
    "digit-2",
    "digit-3",
    "digit-4",
    "digit-5",
    "digit-6",
    "digit-7",
    "digit-8",
    "digit-9",
    "star",
    "pound",
    "call-parked",
    "to-retrieve-dial",
    "parked-call-for-you",
    "no-call-parked-at",
    "position-taken",
    "not-an-extension",
    "no-held-call",
    "park-not-allowed",
    "retrieve-not-allowed",
    "goodbye",
];

/// A phrase by name, as an engine index.
pub fn phrase(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown prompt {name}"))
}

/// A dialable number spoken key by key (`*71333` → star seven one three three three).
pub fn spoken(number: &str) -> Vec<usize> {
    number
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c as usize - '0' as usize),
            '*' => Some(phrase("star")),
            '#' => Some(phrase("pound")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_numbers() {
        assert_eq!(spoken("*71*07"), vec![10, 7, 1, 10, 0, 7]);
        assert_eq!(phrase("goodbye"), NAMES.len() - 1);
    }
}
