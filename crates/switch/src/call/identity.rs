//! Who a party is, as phones show it.

use serde::{Deserialize, Serialize};

/// A party's display name (may be empty) and number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Display name (`John Doe`), or empty.
    pub display: String,
    /// Number (`333`, `15559870001`).
    pub number: String,
}

impl Identity {
    /// An identity.
    pub fn new(display: impl Into<String>, number: impl Into<String>) -> Identity {
        Identity {
            display: display.into(),
            number: number.into(),
        }
    }

    /// As a `name-addr` in `domain`: the quoted display name, if any, and a
    /// SIP URI of the number.
    pub fn name_addr(&self, domain: &str) -> String {
        let number = &self.number;
        if self.display.is_empty() {
            format!("<sip:{number}@{domain}>")
        } else {
            let display = sip::grammar::quote(&self.display);
            format!("{display} <sip:{number}@{domain}>")
        }
    }

    /// As lists show it: `Display <number>`, or the number alone.
    pub fn shown(&self) -> String {
        if self.display.is_empty() {
            self.number.clone()
        } else {
            format!("{} <{}>", self.display, self.number)
        }
    }

    /// The display name, or the number when there is none.
    pub fn name_or_number(&self) -> &str {
        if self.display.is_empty() {
            &self.number
        } else {
            &self.display
        }
    }
}
