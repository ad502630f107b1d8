//! What a busy lamp shows: the dialogs of a watched extension or park
//! position, and the documents that carry them to a phone — RFC 4235
//! `application/dialog-info+xml` and, for presence keys, RFC 3863
//! `application/pidf+xml`. Plain data, no IO.

use crate::call::Identity;
use std::fmt::Write;

/// The state of one dialog on a lamp (RFC 4235 §3.7.1). A lamp with no
/// dialogs is idle (`terminated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Ringing.
    Early,
    /// Talking, holding, or parked.
    Confirmed,
}

impl DialogState {
    fn as_str(self) -> &'static str {
        match self {
            DialogState::Early => "early",
            DialogState::Confirmed => "confirmed",
        }
    }
}

/// Who started the dialog, seen from the watched resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The watched party called.
    Initiator,
    /// The watched party is called (a key may pick it up while early).
    Recipient,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Initiator => "initiator",
            Direction::Recipient => "recipient",
        }
    }
}

/// One dialog a lamp shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LampDialog {
    /// Stable for the dialog's life (the call id and leg).
    pub id: String,
    /// Ringing or talking.
    pub state: DialogState,
    /// Who called whom.
    pub direction: Direction,
    /// The other party, when the tenant shows identities on lamps.
    pub remote: Option<Identity>,
}

/// Everything a lamp shows: its dialogs, sorted by id (so two views of
/// one state compare equal).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lamp {
    /// Dialogs of the resource; empty when idle.
    pub dialogs: Vec<LampDialog>,
}

impl Lamp {
    /// A lamp of these dialogs, in a canonical order.
    pub fn of(mut dialogs: Vec<LampDialog>) -> Lamp {
        dialogs.sort_by(|a, b| a.id.cmp(&b.id));
        Lamp { dialogs }
    }

    /// Whether the resource is in any call (ringing or talking).
    pub fn is_busy(&self) -> bool {
        !self.dialogs.is_empty()
    }

    /// The busiest state shown: confirmed over early; `None` when idle.
    pub fn state(&self) -> Option<DialogState> {
        let confirmed = self
            .dialogs
            .iter()
            .any(|d| d.state == DialogState::Confirmed);
        match (confirmed, self.is_busy()) {
            (true, _) => Some(DialogState::Confirmed),
            (false, true) => Some(DialogState::Early),
            (false, false) => None,
        }
    }
}

/// The event packages the switch serves (RFC 6665 `Event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Package {
    /// `dialog` (RFC 4235): BLF keys.
    Dialog,
    /// `presence` (RFC 3856): presence keys and buddy lists.
    Presence,
}

impl Package {
    /// The package named by an `Event` header value (its parameters
    /// ignored), if the switch serves it.
    pub fn parse(event: &str) -> Option<Package> {
        let name = event.split(';').next().unwrap_or_default().trim();
        match name.to_ascii_lowercase().as_str() {
            "dialog" => Some(Package::Dialog),
            "presence" => Some(Package::Presence),
            _ => None,
        }
    }

    /// As the `Event` header names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Package::Dialog => "dialog",
            Package::Presence => "presence",
        }
    }

    /// Every package served, for `Allow-Events`.
    pub const ALL: &'static str = "dialog, presence";

    /// The body's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Package::Dialog => "application/dialog-info+xml",
            Package::Presence => "application/pidf+xml",
        }
    }

    /// The document for `lamp` of `entity` (a SIP URI), the `version`th
    /// sent in this subscription; identities are addressed in `domain`.
    pub fn document(self, entity: &str, version: u32, lamp: &Lamp, domain: &str) -> String {
        match self {
            Package::Dialog => dialog_info(entity, version, lamp, domain),
            Package::Presence => pidf(entity, lamp),
        }
    }
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An RFC 4235 full-state document. An idle resource shows one
/// `terminated` dialog (what desk phones read as "lamp off").
fn dialog_info(entity: &str, version: u32, lamp: &Lamp, domain: &str) -> String {
    let entity = escape(entity);
    let mut doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" state=\"full\" entity=\"{entity}\">\r\n"
    );
    if lamp.dialogs.is_empty() {
        doc.push_str("<dialog id=\"idle\"><state>terminated</state></dialog>\r\n");
    }
    for d in &lamp.dialogs {
        let _ = write!(
            doc,
            "<dialog id=\"{}\" direction=\"{}\"><state>{}</state><local><identity>{entity}</identity><target uri=\"{entity}\"/></local>",
            escape(&d.id),
            d.direction.as_str(),
            d.state.as_str()
        );
        if let Some(who) = &d.remote {
            let uri = escape(&format!("sip:{}@{domain}", who.number));
            let display = escape(&who.display);
            let _ = write!(
                doc,
                "<remote><identity display=\"{display}\">{uri}</identity><target uri=\"{uri}\"/></remote>"
            );
        }
        doc.push_str("</dialog>\r\n");
    }
    doc.push_str("</dialog-info>\r\n");
    doc
}

/// An RFC 3863 presence document: open and available when idle, open and
/// busy ("On the phone", "Ringing") otherwise.
fn pidf(entity: &str, lamp: &Lamp) -> String {
    let entity = escape(entity);
    let note = match lamp.state() {
        None => "Available",
        Some(DialogState::Early) => "Ringing",
        Some(DialogState::Confirmed) => "On the phone",
    };
    let activity = if lamp.is_busy() {
        "<rpid:activities><rpid:on-the-phone/></rpid:activities>"
    } else {
        ""
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"{entity}\">\r\n<tuple id=\"phone\"><status><basic>open</basic></status><note>{note}</note></tuple>\r\n<dm:person id=\"person\">{activity}</dm:person>\r\n</presence>\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talking(display: &str) -> Lamp {
        Lamp::of(vec![LampDialog {
            id: "7p".into(),
            state: DialogState::Confirmed,
            direction: Direction::Recipient,
            remote: Some(Identity::new(display, "15551234567")),
        }])
    }

    #[test]
    fn idle_lamp_is_one_terminated_dialog() {
        let doc = Package::Dialog.document("sip:*71333@pbx", 0, &Lamp::default(), "pbx");
        assert!(doc.contains("version=\"0\" state=\"full\" entity=\"sip:*71333@pbx\""));
        assert!(doc.contains("<state>terminated</state>"));
        assert!(!doc.contains("confirmed"));
    }

    #[test]
    fn parked_lamp_shows_the_party_escaped() {
        let doc = Package::Dialog.document("sip:*71333@pbx", 3, &talking("Jo & <Co>"), "pbx");
        assert!(doc.contains("<state>confirmed</state>"));
        assert!(doc.contains("display=\"Jo &amp; &lt;Co&gt;\">sip:15551234567@pbx</identity>"));
        assert!(doc.contains("version=\"3\""));
    }

    #[test]
    fn presence_says_busy_or_available() {
        assert!(Package::Presence
            .document("sip:444@pbx", 0, &talking("x"), "pbx")
            .contains("On the phone"));
        assert!(Package::Presence
            .document("sip:444@pbx", 0, &Lamp::default(), "pbx")
            .contains("Available"));
    }

    #[test]
    fn packages_by_event_header() {
        assert_eq!(Package::parse("dialog"), Some(Package::Dialog));
        assert_eq!(Package::parse("Presence;id=1"), Some(Package::Presence));
        assert_eq!(Package::parse("message-summary"), None);
    }
}
