//! The `Replaces` header (RFC 3891): which dialog a new one takes the place
//! of, as its sender sees it — Call-ID, the remote party's tag (`to-tag`)
//! and its own (`from-tag`). It arrives in an INVITE, or escaped in the
//! headers of a REFER's `Refer-To` URI (`?Replaces=...`).

use crate::grammar::percent_decode;

/// The dialog to replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    /// Call-ID.
    pub call_id: String,
    /// The tag of the party the sender talks to in that dialog.
    pub to_tag: String,
    /// The sender's own tag in that dialog.
    pub from_tag: String,
    /// Only an early (unanswered) dialog may be replaced.
    pub early_only: bool,
}

impl Replaces {
    /// Parses a header value: `callid;to-tag=X;from-tag=Y[;early-only]`.
    pub fn parse(value: &str) -> Option<Replaces> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim();
        if call_id.is_empty() {
            return None;
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in parts {
            let (name, v) = p.split_once('=').unwrap_or((p, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(v.trim().to_string()),
                "from-tag" => from_tag = Some(v.trim().to_string()),
                "early-only" => early_only = true,
                _ => {}
            }
        }
        Some(Replaces {
            call_id: call_id.to_string(),
            to_tag: to_tag.filter(|t| !t.is_empty())?,
            from_tag: from_tag.filter(|t| !t.is_empty())?,
            early_only,
        })
    }

    /// The `Replaces` among a URI's escaped headers (`a=1&Replaces=...`).
    pub fn from_uri_headers(headers: &str) -> Option<Replaces> {
        headers.split('&').find_map(|h| {
            let (name, value) = h.split_once('=')?;
            if !name.eq_ignore_ascii_case("replaces") {
                return None;
            }
            let decoded = percent_decode(value)?;
            Replaces::parse(std::str::from_utf8(&decoded).ok()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_escaped_forms() {
        let r = Replaces::parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff").unwrap();
        assert_eq!(r.call_id, "98732@sip.example.com");
        assert_eq!(
            (r.to_tag.as_str(), r.from_tag.as_str()),
            ("ff87ff", "r33th4x0r")
        );
        assert!(!r.early_only);
        let u = Replaces::from_uri_headers(
            "Replaces=12345%40host%3Bto-tag%3D12%3Bfrom-tag%3D34%3Bearly-only",
        )
        .unwrap();
        assert_eq!(u.call_id, "12345@host");
        assert_eq!((u.to_tag.as_str(), u.from_tag.as_str()), ("12", "34"));
        assert!(u.early_only);
    }

    #[test]
    fn a_dialog_needs_both_tags() {
        assert!(Replaces::parse("abc;to-tag=1").is_none());
        assert!(Replaces::parse(";to-tag=1;from-tag=2").is_none());
        assert!(Replaces::from_uri_headers("Other=1").is_none());
        assert!(Replaces::from_uri_headers("Replaces=%zz").is_none());
    }
}
