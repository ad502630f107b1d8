//! The write API: extensions created, changed and deleted over REST take
//! effect on the wire at once (a phone registers and is called with the
//! new credentials; the old password stops working; a deleted extension
//! cannot register), with 4xx refusals that name the field, and tokens
//! that reach only their tenant and only read when read-only.

mod support;

use std::time::Duration;
use support::phone::Phone;
use support::{peers_ready, Server, ADMIN_TOKEN, DEMO_TOKEN, READER_TOKEN};

const PCMU: u8 = 0;
const EXTS: &str = "/api/tenants/demo/extensions";

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn can_register(server: &Server, user: &str, password: &str) -> u16 {
    let mut c = support::sip_client::Client::new(&server.sip_addr());
    c.register(user, password, 300).status
}

#[test]
fn extensions_are_created_changed_and_deleted_over_the_api() {
    if !peers_ready("extensions_are_created_changed_and_deleted", &[]) {
        return;
    }
    let server = Server::start("api-extensions");
    let admin = Some(ADMIN_TOKEN);
    let new = r#"{"number": "777", "name": "Lab Bench", "password": "lab-pass-777"}"#;
    let (status, body) = server.http("POST", EXTS, admin, new);
    assert_eq!(status, 201, "{body}");
    assert_eq!(json(&body)["source"], "manual");
    assert!(!body.contains("lab-pass-777"), "no password comes back");

    // At once on the wire: the new phone registers and John calls it.
    let mut lab = Phone::new(&server.sip_addr(), "777", "lab-pass-777");
    lab.register();
    let mut john = server.registered("333");
    let (call_id, seq, branch) = john.start_dial("777", &[PCMU]);
    let inv = lab.ring();
    assert!(inv
        .headers
        .get_str(sip::Name::From)
        .unwrap()
        .contains("John Doe"));
    let mut labs = lab.answer(&inv, &[PCMU]);
    let _johns = john.finish_dial("777", &call_id, seq, &branch).unwrap();
    assert_eq!(lab.bye(&mut labs).status, 200);

    // Refusals name the field.
    let (status, body) = server.http("POST", EXTS, admin, new);
    assert_eq!(status, 409, "{body}");
    for (bad, field) in [
        (r#"{"number": "7a7", "password": "long-enough"}"#, "number"),
        (
            r#"{"number": "*7088", "password": "long-enough"}"#,
            "number",
        ),
        (r#"{"number": "778", "password": "short"}"#, "password"),
    ] {
        let (status, body) = server.http("POST", EXTS, admin, bad);
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(json(&body)["field"], field, "{bad}: {body}");
    }
    let (status, _) = server.http("POST", EXTS, admin, r#"{"number": "779", "pasword": "x"}"#);
    assert!((400..500).contains(&status), "an unknown field is refused");

    // A new password: the old one stops working.
    let path = format!("{EXTS}/777");
    let (status, body) = server.http(
        "PUT",
        &path,
        admin,
        r#"{"password": "new-pass-777", "can_park": false}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["can_park"], false);
    assert_eq!(can_register(&server, "777", "lab-pass-777"), 403);
    assert_eq!(can_register(&server, "777", "new-pass-777"), 200);

    // Deleted: gone from the list, and it cannot register.
    assert_eq!(server.http("DELETE", &path, admin, "").0, 204);
    assert_eq!(server.http("GET", &path, admin, "").0, 404);
    assert_eq!(can_register(&server, "777", "new-pass-777"), 403);
    // What the configuration file provisions is changed there.
    let (status, body) = server.http("DELETE", &format!("{EXTS}/333"), admin, "");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("configuration file"));
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn api_tokens_reach_only_their_tenant_and_read_only_ones_only_read() {
    if !peers_ready("api_tokens_reach_only_their_tenant", &[]) {
        return;
    }
    let server = Server::start("api-extension-tokens");
    let new = r#"{"number": "790", "password": "long-enough-1"}"#;
    // The demo tenant's token works on demo, not on beta.
    assert_eq!(server.http("POST", EXTS, Some(DEMO_TOKEN), new).0, 201);
    let beta = "/api/tenants/beta/extensions";
    assert_eq!(server.http("GET", beta, Some(DEMO_TOKEN), "").0, 403);
    assert_eq!(server.http("POST", beta, Some(DEMO_TOKEN), new).0, 403);
    // Read-only: reads, never writes.
    let (status, body) = server.http("GET", beta, Some(READER_TOKEN), "");
    assert_eq!(status, 200);
    assert!(json(&body)
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["number"] == "100"));
    assert_eq!(server.http("POST", beta, Some(READER_TOKEN), new).0, 403);
    assert_eq!(
        server
            .http("DELETE", &format!("{EXTS}/790"), Some(READER_TOKEN), "")
            .0,
        403
    );
    // No token: 401.
    assert_eq!(server.http("GET", EXTS, None, "").0, 401);
    assert_eq!(
        server
            .http("GET", "/api/tenants/nope/extensions", Some(ADMIN_TOKEN), "")
            .0,
        404
    );
}

#[test]
fn an_operator_lists_live_calls_and_hangs_one_up() {
    if !peers_ready("an_operator_lists_live_calls_and_hangs_one_up", &[]) {
        return;
    }
    let server = Server::start("api-calls");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (_johns, _rooms) = support::phone::connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    let (status, body) = server.http("GET", "/api/calls", Some(DEMO_TOKEN), "");
    assert_eq!(status, 200);
    let calls = json(&body);
    assert_eq!(calls.as_array().unwrap().len(), 1, "{body}");
    let call = &calls[0];
    assert_eq!(
        (
            call["state"].as_str(),
            call["from"].as_str(),
            call["to"].as_str()
        ),
        (
            Some("talking"),
            Some("John Doe <333>"),
            Some("Conference Room <444>")
        )
    );
    let path = format!("/api/calls/{}", call["id"]);
    assert_eq!(server.http("DELETE", &path, Some(READER_TOKEN), "").0, 403);
    assert_eq!(
        server
            .http("DELETE", "/api/calls/99999", Some(ADMIN_TOKEN), "")
            .0,
        404
    );
    assert_eq!(server.http("DELETE", &path, Some(DEMO_TOKEN), "").0, 204);
    for phone in [&mut john, &mut room] {
        let bye = phone
            .request("BYE", Duration::from_secs(3))
            .expect("both parties are hung up");
        phone.ok(&bye);
    }
    server.wait_idle();
    let rec = &server.call_records(1)[0];
    assert_eq!(rec["cause"], "Hung up by the operator");
}

#[test]
fn every_route_of_the_openapi_document_answers() {
    if !peers_ready("every_route_of_the_openapi_document_answers", &[]) {
        return;
    }
    let server = Server::start("api-openapi");
    let (status, body) = server.http("GET", "/api/openapi.json", Some(ADMIN_TOKEN), "");
    assert_eq!(status, 200);
    let doc = json(&body);
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "put", "delete"].contains(&method.as_str()) || path == "/api/events"
            {
                continue; // the stream never ends: its own test reads it
            }
            let concrete = path
                .replace("{tenant}", "demo")
                .replace("{number}", "333")
                .replace("{id}", "99999");
            let (status, body) =
                server.http(&method.to_uppercase(), &concrete, Some(ADMIN_TOKEN), "{}");
            assert!(
                status != 405 && !(status == 404 && body.trim().is_empty()) && status != 0,
                "{method} {path}: {status} {body:?} (not a route?)"
            );
        }
    }
}

#[test]
fn an_operator_moves_a_parked_call_and_it_is_retrieved_at_its_new_number() {
    if !peers_ready("an_operator_moves_a_parked_call", &[]) {
        return;
    }
    let server = Server::start("api-move");
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let (_janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let moved = server.http(
        "POST",
        "/api/parked/demo/333/move",
        Some(ADMIN_TOKEN),
        r#"{"to": "444"}"#,
    );
    assert_eq!(moved.0, 200, "{}", moved.1);
    assert_eq!(json(&moved.1)["retrieval"], "*71444");
    // The room (the extension it now waits under) is told.
    let alert = room.text(Duration::from_secs(2)).expect("a park alert");
    assert!(String::from_utf8_lossy(&alert.body).contains("*71444"));
    // Refusals.
    let again = r#"{"to": "444"}"#;
    assert_eq!(
        server
            .http(
                "POST",
                "/api/parked/demo/333/move",
                Some(ADMIN_TOKEN),
                again
            )
            .0,
        404
    );
    let bad = server.http(
        "POST",
        "/api/parked/demo/444/move",
        Some(ADMIN_TOKEN),
        r#"{"to": "999"}"#,
    );
    assert_eq!(bad.0, 422, "{}", bad.1);
    assert_eq!(json(&bad.1)["field"], "to");
    assert_eq!(
        server
            .http(
                "POST",
                "/api/parked/demo/444/move",
                Some(READER_TOKEN),
                again
            )
            .0,
        403
    );
    // The old number finds nothing; the new one retrieves Jane.
    let mut rooms = room
        .dial("*71444", &[PCMU])
        .expect("retrieved at the new number");
    support::phone::assert_two_way(&jane, &_janes, &room, &rooms);
    assert_eq!(room.bye(&mut rooms).status, 200);
    let rec = server.record_where(|r| r["callee"] == "333");
    assert!(rec["events"]
        .as_str()
        .unwrap()
        .contains("moved to *71444 by the operator"));
}

#[test]
fn an_operator_retrieves_a_parked_call_to_an_extension() {
    if !peers_ready("an_operator_retrieves_a_parked_call_to_an_extension", &[]) {
        return;
    }
    let server = Server::start("api-send");
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let (janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let path = "/api/parked/demo/333/retrieve";
    let bad = server.http("POST", path, Some(ADMIN_TOKEN), r#"{"extension": "999"}"#);
    assert_eq!(
        (bad.0, json(&bad.1)["field"].as_str()),
        (422, Some("extension"))
    );
    let (status, body) = server.http("POST", path, Some(ADMIN_TOKEN), r#"{"extension": "444"}"#);
    assert_eq!(status, 202, "{body}");
    assert_eq!(json(&body)["ringing"], "444");
    // The room's phone rings with Jane; answered, they talk.
    let inv = room.ring();
    assert!(inv
        .headers
        .get_str(sip::Name::From)
        .unwrap()
        .contains("Jane Roe"));
    let rooms = room.answer(&inv, &[PCMU]);
    support::phone::assert_two_way(&jane, &janes, &room, &rooms);
    assert_eq!(
        server
            .http("GET", "/api/parked", Some(ADMIN_TOKEN), "")
            .1
            .trim(),
        "[]"
    );
    assert_eq!(
        server
            .http("POST", path, Some(ADMIN_TOKEN), r#"{"extension": "444"}"#)
            .0,
        404
    );
}

#[test]
fn dids_are_routed_and_removed_over_the_api() {
    if !peers_ready("dids_are_routed_and_removed_over_the_api", &[]) {
        return;
    }
    let server = Server::start("api-dids");
    let admin = Some(ADMIN_TOKEN);
    let dids = "/api/tenants/demo/dids";
    let (status, body) = server.http(
        "POST",
        dids,
        admin,
        r#"{"number": "15550100444", "extension": "444"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let mut room = server.registered("444");
    // The carrier's call to the new DID rings the room at once.
    let carrier = format!("127.0.0.1:{}", server.carrier_port());
    let mut client = Phone::at(&server.sip_addr(), "15559870001", "", &carrier);
    let (cid, seq, branch) = client.start_trusted_dial("15550100444", &[PCMU]);
    let inv = room.ring();
    room.reject_request(&inv, 486, "Busy Here");
    assert_eq!(
        client.finish_dial("15550100444", &cid, seq, &branch).err(),
        Some(486)
    );
    // Refusals.
    for (bad, status, field) in [
        (
            r#"{"number": "15550100444", "extension": "444"}"#,
            409,
            None,
        ),
        (
            r#"{"number": "12ab", "extension": "444"}"#,
            422,
            Some("number"),
        ),
        (
            r#"{"number": "15550100445", "extension": "999"}"#,
            422,
            Some("extension"),
        ),
    ] {
        let (got, body) = server.http("POST", dids, admin, bad);
        assert_eq!(got, status, "{bad}: {body}");
        assert_eq!(json(&body)["field"].as_str(), field, "{bad}: {body}");
    }
    assert_eq!(
        server
            .http("DELETE", &format!("{dids}/15550100333"), admin, "")
            .0,
        409
    );
    // Removed: the carrier's call is refused.
    assert_eq!(
        server
            .http("DELETE", &format!("{dids}/15550100444"), admin, "")
            .0,
        204
    );
    let listed = server.http("GET", dids, admin, "").1;
    assert!(
        !listed.contains("15550100444") && listed.contains("15550100333"),
        "{listed}"
    );
    let (cid, seq, branch) = client.start_trusted_dial("15550100444", &[PCMU]);
    assert_eq!(
        client.finish_dial("15550100444", &cid, seq, &branch).err(),
        Some(404)
    );
}

#[test]
fn tenants_are_created_changed_and_deleted_over_the_api() {
    if !peers_ready("tenants_are_created_changed_and_deleted_over_the_api", &[]) {
        return;
    }
    let server = Server::start("api-tenants");
    let admin = Some(ADMIN_TOKEN);
    let lab = r#"{"name": "lab", "domain": "lab.example", "park_prefix": "644", "release_prefix": "645"}"#;
    // Only a writable token for every tenant creates one.
    for token in [DEMO_TOKEN, READER_TOKEN] {
        assert_eq!(server.http("POST", "/api/tenants", Some(token), lab).0, 403);
    }
    let (status, body) = server.http("POST", "/api/tenants", admin, lab);
    assert_eq!(status, 201, "{body}");
    assert_eq!(json(&body)["park_prefix"], "644");
    for (bad, status, field) in [
        (lab, 409, None),
        (
            r#"{"name": "Lab!", "domain": "x.example"}"#,
            422,
            Some("name"),
        ),
        (r#"{"name": "lab3"}"#, 422, Some("domain")),
        (
            r#"{"name": "lab3", "domain": "bad domain"}"#,
            422,
            Some("domain"),
        ),
        (
            r#"{"name": "lab3", "domain": "lab.example"}"#,
            422,
            Some("domain"),
        ),
        (
            r#"{"name": "lab3", "domain": "l3.example", "park_prefix": "64", "release_prefix": "645"}"#,
            422,
            Some("park_prefix"),
        ),
    ] {
        let (got, body) = server.http("POST", "/api/tenants", admin, bad);
        assert_eq!(got, status, "{bad}: {body}");
        assert_eq!(json(&body)["field"].as_str(), field, "{bad}: {body}");
    }
    // Its extension registers at its domain; a new domain takes over.
    let ext = r#"{"number": "201", "name": "Lab", "password": "lab-pass-201"}"#;
    assert_eq!(
        server
            .http("POST", "/api/tenants/lab/extensions", admin, ext)
            .0,
        201
    );
    let register_at = |domain: &str| {
        let mut c = support::sip_client::Client::new(&server.sip_addr());
        c.domain = domain.to_string();
        c.register("201", "lab-pass-201", 300).status
    };
    assert_eq!(register_at("lab.example"), 200);
    let (status, body) = server.http(
        "PUT",
        "/api/tenants/lab",
        admin,
        r#"{"park_timeout_s": 60}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["park_timeout_s"], 60);
    // The domain is the digest realm of the stored passwords: it changes
    // only while no extension would be locked out.
    let (status, body) = server.http(
        "PUT",
        "/api/tenants/lab",
        admin,
        r#"{"domain": "lab2.example"}"#,
    );
    assert_eq!(
        (status, json(&body)["field"].as_str()),
        (422, Some("domain")),
        "{body}"
    );
    assert_eq!(register_at("lab.example"), 200);
    // A prefix that would swallow the extension, a fallback that is not one.
    for (bad, field) in [
        (r#"{"park_prefix": "20"}"#, "park_prefix"),
        (r#"{"park_fallback": "999"}"#, "park_fallback"),
    ] {
        let (got, body) = server.http("PUT", "/api/tenants/lab", admin, bad);
        assert_eq!(
            (got, json(&body)["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    // The configuration's tenant is changed there; a tenant token sees
    // only its own.
    assert_eq!(server.http("PUT", "/api/tenants/demo", admin, "{}").0, 409);
    let theirs = server.http("GET", "/api/tenants", Some(DEMO_TOKEN), "").1;
    assert!(
        theirs.contains("\"demo\"") && !theirs.contains("\"lab\""),
        "{theirs}"
    );
    assert_eq!(
        server
            .http("GET", "/api/tenants/lab", Some(DEMO_TOKEN), "")
            .0,
        403
    );
    // Deleted only once empty.
    let (status, body) = server.http("DELETE", "/api/tenants/lab", admin, "");
    assert_eq!(status, 409, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("1 extensions"),
        "{body}"
    );
    assert_eq!(
        server
            .http("DELETE", "/api/tenants/lab/extensions/201", admin, "")
            .0,
        204
    );
    let (status, body) = server.http(
        "PUT",
        "/api/tenants/lab",
        admin,
        r#"{"domain": "lab2.example"}"#,
    );
    assert_eq!(
        (status, json(&body)["domain"].as_str()),
        (200, Some("lab2.example"))
    );
    assert_eq!(server.http("DELETE", "/api/tenants/lab", admin, "").0, 204);
    assert_eq!(server.http("GET", "/api/tenants/lab", admin, "").0, 404);
}

#[test]
fn trunks_are_created_changed_and_deleted_over_the_api() {
    if !peers_ready("trunks_are_created_changed_and_deleted_over_the_api", &[]) {
        return;
    }
    let server = Server::start("api-trunks");
    let admin = Some(ADMIN_TOKEN);
    let mut john = server.registered("333");
    let carrier2 = format!("127.0.0.1:{}", support::free_port());
    let mut client = Phone::at(&server.sip_addr(), "15559870001", "", &carrier2);
    // Before the trunk exists, its address is a stranger.
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[PCMU]);
    let refused = client.finish_dial("15550100333", &cid, seq, &branch).err();
    assert!(matches!(refused, Some(401 | 407)), "{refused:?}");
    let body = format!(
        r#"{{"name": "carrier2", "address": "{carrier2}", "tenant": "demo",
            "auth": {{"username": "pbx", "password": "carrier-secret"}}}}"#
    );
    for token in [DEMO_TOKEN, READER_TOKEN] {
        assert_eq!(
            server.http("POST", "/api/trunks", Some(token), &body).0,
            403
        );
    }
    let (status, created) = server.http("POST", "/api/trunks", admin, &body);
    assert_eq!(status, 201, "{created}");
    assert!(!created.contains("carrier-secret"), "{created}");
    assert_eq!(json(&created)["username"], "pbx");
    // Now its DID call rings John at once.
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[PCMU]);
    let inv = john.ring();
    john.reject_request(&inv, 486, "Busy Here");
    assert_eq!(
        client.finish_dial("15550100333", &cid, seq, &branch).err(),
        Some(486)
    );
    for (bad, status, field) in [
        (body.as_str(), 409, None),
        (
            r#"{"name": "c3", "address": "nowhere", "tenant": "demo"}"#,
            422,
            Some("address"),
        ),
        (
            r#"{"name": "c3", "address": "127.0.0.1:1", "tenant": "nobody"}"#,
            422,
            Some("tenant"),
        ),
        (r#"{"name": "c3", "tenant": "demo"}"#, 422, Some("address")),
    ] {
        let (got, answer) = server.http("POST", "/api/trunks", admin, bad);
        assert_eq!(got, status, "{bad}: {answer}");
        assert_eq!(json(&answer)["field"].as_str(), field, "{bad}: {answer}");
    }
    let clash = format!(r#"{{"address": "127.0.0.1:{}"}}"#, server.carrier_port());
    let (got, answer) = server.http("PUT", "/api/trunks/carrier2", admin, &clash);
    assert_eq!(
        (got, json(&answer)["field"].as_str()),
        (422, Some("address"))
    );
    assert_eq!(
        server.http("PUT", "/api/trunks/carrier", admin, "{}").0,
        409
    );
    let (got, answer) = server.http("PUT", "/api/trunks/carrier2", admin, r#"{"auth": null}"#);
    assert_eq!(got, 200, "{answer}");
    assert!(json(&answer)["username"].is_null());
    // Deleted: a stranger again.
    assert_eq!(
        server.http("DELETE", "/api/trunks/carrier2", admin, "").0,
        204
    );
    assert_eq!(server.http("GET", "/api/trunks/carrier2", admin, "").0, 404);
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[PCMU]);
    let refused = client.finish_dial("15550100333", &cid, seq, &branch).err();
    assert!(matches!(refused, Some(401 | 407)), "{refused:?}");
}

#[test]
fn records_are_searched_and_exported_within_the_tokens_tenant() {
    if !peers_ready(
        "records_are_searched_and_exported_within_the_tokens_tenant",
        &[],
    ) {
        return;
    }
    let server = Server::start("api-records");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (mut johns, _rooms) = support::phone::connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(john.bye(&mut johns).status, 200);
    server.record_where(|r| r["caller"] == "333");
    let (status, body) = server.http_get_with("/api/records?q=333+hung", Some(DEMO_TOKEN));
    assert_eq!(status, 200, "{body}");
    let found = json(&body);
    assert_eq!(found.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(found[0]["connected"], "333 ↔ 444");
    let (status, none) = server.http_get_with("/api/records?q=nobody", Some(READER_TOKEN));
    assert_eq!((status, none.trim()), (200, "[]"));
    let (status, csv) = server.http_get_with("/api/records?format=csv", Some(ADMIN_TOKEN));
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("id,tenant,caller,callee,routed_to,connected,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // Another tenant's records, a format that does not exist, no token.
    assert_eq!(
        server
            .http_get_with("/api/records?tenant=other", Some(DEMO_TOKEN))
            .0,
        403
    );
    assert_eq!(
        server
            .http_get_with("/api/records?format=xml", Some(ADMIN_TOKEN))
            .0,
        422
    );
    assert_eq!(server.http_get_with("/api/records", None).0, 401);
}
