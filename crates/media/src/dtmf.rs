//! RFC 4733 telephone-events: decoding the payload and reporting each key
//! press once (events repeat, and their end packet is sent three times).

/// One telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Event code (0-9, 10 = `*`, 11 = `#`, 12-15 = A-D).
    pub code: u8,
    /// End of the event.
    pub end: bool,
    /// Duration in timestamp units.
    pub duration: u16,
}

/// Parses a telephone-event payload (4 bytes).
pub fn parse(payload: &[u8]) -> Option<Event> {
    let p = payload.get(..4)?;
    Some(Event {
        code: p[0],
        end: p[1] & 0x80 != 0,
        duration: u16::from_be_bytes([p[2], p[3]]),
    })
}

/// The key of an event code.
pub fn key(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        _ => return None,
    })
}

/// Reports each event once, keyed by its RTP timestamp.
#[derive(Clone, Debug, Default)]
pub struct Detector {
    last_ts: Option<u32>,
}

impl Detector {
    /// Feeds one telephone-event packet; returns the key when a new event
    /// begins (the first packet with a new timestamp).
    pub fn handle_packet(&mut self, ts: u32, payload: &[u8]) -> Option<char> {
        let ev = parse(payload)?;
        if self.last_ts == Some(ts) {
            return None;
        }
        self.last_ts = Some(ts);
        key(ev.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_press_reported_once() {
        let mut d = Detector::default();
        assert_eq!(d.handle_packet(100, &[5, 10, 0, 160]), Some('5'));
        assert_eq!(d.handle_packet(100, &[5, 10, 1, 64]), None);
        assert_eq!(d.handle_packet(100, &[5, 0x8a, 3, 32]), None);
        assert_eq!(d.handle_packet(900, &[10, 10, 0, 160]), Some('*'));
        assert_eq!(d.handle_packet(1700, &[1]), None);
        assert_eq!(
            parse(&[11, 0x80, 0, 1]).unwrap(),
            Event {
                code: 11,
                end: true,
                duration: 1
            }
        );
    }
}
