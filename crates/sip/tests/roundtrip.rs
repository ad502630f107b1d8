//! Property tests: serialize → parse → serialize is stable, and the parser
//! never panics, whatever the bytes.

use bytes::Bytes;
use proptest::prelude::*;
use sip::{
    parse_datagram, parse_stream, Header, Headers, Limits, Message, Method, Request, Response, Uri,
};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,8}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[2001:db8::1]".to_string()),
    ]
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips")],
        proptest::option::of("[*0-9a-z]{1,10}(%23)?"),
        host(),
        proptest::option::of(1u16..),
        proptest::collection::vec(("[a-z]{1,6}", proptest::option::of("[a-z0-9]{1,6}")), 0..3),
    )
        .prop_map(|(scheme, user, host, port, params)| {
            let mut s = format!("{scheme}:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (k, v) in params {
                s.push(';');
                s.push_str(&k);
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

fn headers() -> impl Strategy<Value = Headers> {
    proptest::collection::vec((token(), "[ -~]{0,40}"), 0..12).prop_map(|hs| {
        Headers(
            hs.into_iter()
                .filter(|(n, _)| {
                    !n.eq_ignore_ascii_case("content-length") && !n.eq_ignore_ascii_case("l")
                })
                .map(|(n, v)| Header {
                    name: Bytes::from(n),
                    value: Bytes::from(v.trim().to_string()),
                })
                .collect(),
        )
    })
}

fn message() -> impl Strategy<Value = Message> {
    let body = proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
    prop_oneof![
        (token(), uri(), headers(), body.clone()).prop_map(|(m, u, headers, body)| {
            Message::Request(Request {
                method: Method::parse(m.as_bytes()).unwrap(),
                uri: Uri::parse(u.as_bytes()).unwrap(),
                headers,
                body,
            })
        }),
        (100u16..700, "[ -~]{0,20}", headers(), body).prop_map(
            |(status, reason, headers, body)| {
                Message::Response(Response {
                    status,
                    reason: reason.trim_start().to_string(),
                    headers,
                    body,
                })
            }
        ),
    ]
}

proptest! {
    #[test]
    fn serialize_parse_roundtrip(msg in message()) {
        let wire = msg.encode();
        let parsed = parse_datagram(&wire, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(parsed.encode(), wire.clone());
        match parse_stream(&wire, &Limits::default()).unwrap() {
            sip::StreamItem::Message(m, used) => {
                prop_assert_eq!(used, wire.len());
                prop_assert_eq!(m.encode(), wire);
            }
            other => prop_assert!(false, "stream parse gave {:?}", other),
        }
    }

    #[test]
    fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let data = Bytes::from(data);
        let _ = parse_datagram(&data, &Limits::default());
        let _ = parse_stream(&data, &Limits::default());
    }

    #[test]
    fn mutated_messages_never_panic(msg in message(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut wire = msg.encode().to_vec();
        for (at, b) in flips {
            let i = at % wire.len();
            wire[i] = b;
        }
        if let Ok(Some(Message::Request(r))) = parse_datagram(&Bytes::from(wire), &Limits::default()) {
            let _ = sip::validate::check_structure(&r);
            let _ = r.encode();
        }
    }
}
