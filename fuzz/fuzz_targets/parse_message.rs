//! Fuzzes the SIP parser (datagram and stream framing), the validation of
//! what parses, and re-serialization: none may panic, and what parses must
//! re-parse to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip::{Limits, Message};

fuzz_target!(|data: &[u8]| {
    let data = Bytes::copy_from_slice(data);
    let limits = Limits::default();
    let _ = sip::parse_stream(&data, &limits);
    if let Ok(Some(msg)) = sip::parse_datagram(&data, &limits) {
        if let Message::Request(r) = &msg {
            let _ = sip::validate::check_structure(r);
        }
        let wire = msg.encode();
        let again = sip::parse_datagram(&wire, &limits).expect("re-parse").expect("a message");
        assert_eq!(again.encode(), wire);
    }
});
