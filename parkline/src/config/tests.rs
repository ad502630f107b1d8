//! The configuration checked and parsed: good files, and every mistake named with its line.
use super::*;

#[test]
fn demo_config_is_valid() {
    let cfg = Config::parse("demo.toml", DEMO).unwrap();
    assert_eq!(cfg.tenants.len(), 2);
    assert_eq!(cfg.listeners().len(), 2);
}

#[test]
fn syntax_errors_have_line_numbers() {
    let err = Config::parse(
        "x.toml",
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\nbogus = 1\n",
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].starts_with("x.toml:3:"), "{err}");
}

#[test]
fn every_unknown_key_is_named_in_one_run_with_the_other_mistakes() {
    let text = r#"[sip]
listen = ["udp:127.0.0.1:5060"]
lisen = ["tcp:127.0.0.1:5060"]
max_transaction = [
  1,
  2,
]

[htp]
listen = "127.0.0.1:8080"

[[tenants]]
name = "acme"
domain = "acme.example"
park_prefx = "*70"

[[tenants.extensions]]
number = "33a"
password = "secret-333"
"#;
    let err = Config::parse("typos.toml", text).unwrap_err();
    let all = err.to_string();
    for expected in [
        "typos.toml:3: unknown field `lisen`",
        "typos.toml:4: unknown field `max_transaction`",
        "typos.toml:9: unknown field `htp`",
        "typos.toml:15: unknown field `park_prefx`",
        // The checks run on what remains.
        "typos.toml:18:",
    ] {
        assert!(all.contains(expected), "missing {expected} in\n{all}");
    }
    assert_eq!(err.0.len(), 5, "{all}");
}

#[test]
fn semantic_errors_have_line_numbers() {
    let text = r#"
[sip]
listen = ["udp:127.0.0.1:5060", "sctp:1.2.3.4:5"]

[[tenants]]
name = "acme"
domain = "acme.example"
park_prefix = "*7"
release_prefix = "*71"

[[tenants.extensions]]
number = "33a"
password = "secret-333"

[[tenants.dids]]
number = "1555"
extension = "999"

[[trunks]]
name = "carrier"
address = "nowhere"
tenant = "nobody"
"#;
    let err = Config::parse("bad.toml", text).unwrap_err();
    let all = err.to_string();
    for expected in [
        "bad.toml:3:",
        "bad.toml:9:",
        "bad.toml:12:",
        "bad.toml:17:",
        "bad.toml:21:",
        "bad.toml:22:",
    ] {
        assert!(all.contains(expected), "missing {expected} in\n{all}");
    }
}

#[test]
fn tls_and_srtp_settings_are_checked() {
    let text = r#"
[sip]
listen = ["udp:127.0.0.1:5060", "tls:127.0.0.1:5061"]

[tls]
min_version = "1.1"

[media]
srtp = "sometimes"

[[tenants]]
name = "acme"
domain = "acme.example"
srtp = "maybe"

[[trunks]]
name = "carrier"
address = "127.0.0.1:5090"
tenant = "acme"
tls_client_name = "sbc.carrier.example"
"#;
    let all = Config::parse("tls.toml", text).unwrap_err().to_string();
    for expected in [
        "a tls: listener needs tls.certificate and tls.private_key",
        "tls.toml:6: tls.min_version '1.1' must be 1.2 or 1.3",
        "tls.toml:9: media.srtp 'sometimes' must be off, optional or required",
        "tls.toml:14: tenant 'acme': srtp 'maybe'",
        "tls.toml:20: trunk 'carrier': tls_client_name needs tls.client_ca",
    ] {
        assert!(all.contains(expected), "missing {expected} in\n{all}");
    }
    let cfg = Config::parse("demo.toml", DEMO).unwrap();
    assert_eq!(cfg.srtp(), accounts::SrtpPolicy::Optional, "the default");
}
