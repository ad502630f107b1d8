//! The prompts the switch speaks. The list exists once, here: the binary
//! embeds its clips in [`Prompt::ALL`] order (checked when it compiles), so
//! a prompt's [`Prompt::index`] is its clip's index in the media engine.

/// One recorded prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Prompt {
    /// "zero"
    Digit0,
    /// "one"
    Digit1,
    /// "two"
    Digit2,
    /// "three"
    Digit3,
    /// "four"
    Digit4,
    /// "five"
    Digit5,
    /// "six"
    Digit6,
    /// "seven"
    Digit7,
    /// "eight"
    Digit8,
    /// "nine"
    Digit9,
    /// "star"
    Star,
    /// "pound"
    Pound,
    /// "Your call has been parked."
    CallParked,
    /// "To retrieve it, dial"
    ToRetrieveDial,
    /// "There is a parked call for you."
    ParkedCallForYou,
    /// "There is no call parked at"
    NoCallParkedAt,
    /// "That parking position is taken."
    PositionTaken,
    /// "That is not an extension of this PBX."
    NotAnExtension,
    /// "You have no call on hold to park."
    NoHeldCall,
    /// "You are not allowed to park calls."
    ParkNotAllowed,
    /// "You are not allowed to retrieve parked calls."
    RetrieveNotAllowed,
    /// "Goodbye."
    Goodbye,
    /// "Your call time is up."
    TimeUp,
}

impl Prompt {
    /// Every prompt, in index order.
    pub const ALL: [Prompt; 23] = [
        Prompt::Digit0,
        Prompt::Digit1,
        Prompt::Digit2,
        Prompt::Digit3,
        Prompt::Digit4,
        Prompt::Digit5,
        Prompt::Digit6,
        Prompt::Digit7,
        Prompt::Digit8,
        Prompt::Digit9,
        Prompt::Star,
        Prompt::Pound,
        Prompt::CallParked,
        Prompt::ToRetrieveDial,
        Prompt::ParkedCallForYou,
        Prompt::NoCallParkedAt,
        Prompt::PositionTaken,
        Prompt::NotAnExtension,
        Prompt::NoHeldCall,
        Prompt::ParkNotAllowed,
        Prompt::RetrieveNotAllowed,
        Prompt::Goodbye,
        Prompt::TimeUp,
    ];

    /// Its file name, without `.ul` (`assets/prompts/en/NAME.ul`).
    pub const fn name(self) -> &'static str {
        match self {
            Prompt::Digit0 => "digit-0",
            Prompt::Digit1 => "digit-1",
            Prompt::Digit2 => "digit-2",
            Prompt::Digit3 => "digit-3",
            Prompt::Digit4 => "digit-4",
            Prompt::Digit5 => "digit-5",
            Prompt::Digit6 => "digit-6",
            Prompt::Digit7 => "digit-7",
            Prompt::Digit8 => "digit-8",
            Prompt::Digit9 => "digit-9",
            Prompt::Star => "star",
            Prompt::Pound => "pound",
            Prompt::CallParked => "call-parked",
            Prompt::ToRetrieveDial => "to-retrieve-dial",
            Prompt::ParkedCallForYou => "parked-call-for-you",
            Prompt::NoCallParkedAt => "no-call-parked-at",
            Prompt::PositionTaken => "position-taken",
            Prompt::NotAnExtension => "not-an-extension",
            Prompt::NoHeldCall => "no-held-call",
            Prompt::ParkNotAllowed => "park-not-allowed",
            Prompt::RetrieveNotAllowed => "retrieve-not-allowed",
            Prompt::Goodbye => "goodbye",
            Prompt::TimeUp => "time-up",
        }
    }

    /// Its clip's index in the media engine.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The prompt of a key of the keypad.
    pub const fn key(c: char) -> Option<Prompt> {
        Some(match c {
            '0' => Prompt::Digit0,
            '1' => Prompt::Digit1,
            '2' => Prompt::Digit2,
            '3' => Prompt::Digit3,
            '4' => Prompt::Digit4,
            '5' => Prompt::Digit5,
            '6' => Prompt::Digit6,
            '7' => Prompt::Digit7,
            '8' => Prompt::Digit8,
            '9' => Prompt::Digit9,
            '*' => Prompt::Star,
            '#' => Prompt::Pound,
            _ => return None,
        })
    }
}

/// Every prompt's name, in index order (what the binary embeds).
pub const NAMES: [&str; Prompt::ALL.len()] = {
    let mut names = [""; Prompt::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Prompt::ALL[i].name();
        i += 1;
    }
    names
};

/// Whether two name lists are the same (usable in a `const` assertion).
pub const fn same_names(a: &[&str], b: &[&str]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        let (x, y) = (a[i].as_bytes(), b[i].as_bytes());
        if x.len() != y.len() {
            return false;
        }
        let mut j = 0;
        while j < x.len() {
            if x[j] != y[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

/// A dialable number spoken key by key (`*71333` → star seven one three
/// three three); anything not on a keypad is skipped.
pub fn spoken(number: &str) -> Vec<Prompt> {
    number.chars().filter_map(Prompt::key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_the_list_and_numbers_are_spoken() {
        for (i, p) in Prompt::ALL.iter().enumerate() {
            assert_eq!(p.index(), i, "{p:?}");
        }
        assert_eq!(
            spoken("*71*07"),
            vec![
                Prompt::Star,
                Prompt::Digit7,
                Prompt::Digit1,
                Prompt::Star,
                Prompt::Digit0,
                Prompt::Digit7
            ]
        );
        assert_eq!(NAMES[Prompt::Goodbye.index()], "goodbye");
        assert!(same_names(&NAMES, &NAMES) && !same_names(&NAMES[1..], &NAMES[..21]));
    }
}
