//! What an operator sees: Prometheus metrics (checked by `promtool` and
//! by their exact changes over a scripted scenario) and the event stream
//! (server-sent events, in order, each within 100 ms of what caused it).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::phone::{connect, park, Phone};
use support::{peers_ready, Server};

const PCMU: u8 = 0;

/// The samples of a Prometheus exposition: `name{labels}` → value.
fn scrape(server: &Server) -> (String, HashMap<String, f64>) {
    let text = server.http_get("/metrics").expect("/metrics answers");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect();
    (text, samples)
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, name: &str) -> f64 {
    after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
}

/// A call, a park, a retrieval and a refusal.
fn scenario(john: &mut Phone, room: &mut Phone, jane: &mut Phone) {
    let (mut johns, _rooms) = connect(john, room, &[PCMU], &[PCMU]);
    assert_eq!(john.bye(&mut johns).status, 200);
    let (_janes, mut johns) = connect(jane, john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    park(john, "*70333");
    // Jane hears the music a moment (RTP out) before the room picks up.
    std::thread::sleep(Duration::from_millis(300));
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane
        .request("BYE", Duration::from_secs(3))
        .expect("Jane's call ends");
    jane.ok(&bye);
    // Nothing is parked at 444: refused (announced, then hung up).
    let mut refused = room
        .dial("*71444", &[PCMU])
        .expect("the announcement answers");
    assert_eq!(room.bye(&mut refused).status, 200);
}

#[test]
fn metrics_pass_promtool_and_count_a_scripted_scenario_exactly() {
    if !peers_ready("metrics_pass_promtool", &["promtool"]) {
        return;
    }
    let server = Server::start("metrics");
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let mut jane = server.registered("555");
    let (_, before) = scrape(&server);
    scenario(&mut john, &mut room, &mut jane);
    server.wait_idle();
    let (text, after) = scrape(&server);

    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("promtool runs");
    assert!(
        check.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let d = |name: &str| delta(&before, &after, name);
    // One per call record: John→room, Jane's parked call, John's park
    // call (its announcement), and the refused retrieval's announcement.
    assert_eq!(
        d("parkline_calls_total{outcome=\"answered\"}"),
        3.0,
        "{text}"
    );
    assert_eq!(
        d("parkline_calls_total{outcome=\"refused\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(d("parkline_call_setup_seconds_count"), 2.0);
    assert_eq!(d("parkline_park_total{result=\"parked\"}"), 1.0);
    assert_eq!(d("parkline_retrieve_total{result=\"retrieved\"}"), 1.0);
    assert_eq!(d("parkline_retrieve_total{result=\"nothing_parked\"}"), 1.0);
    assert_eq!(
        d("parkline_park_wait_seconds_count{end=\"retrieved\"}"),
        1.0
    );
    assert!(d("parkline_sip_requests_total{method=\"INVITE\"}") >= 11.0);
    assert!(
        d("parkline_sip_responses_total{code_class=\"4xx\"}") >= 5.0,
        "the challenges"
    );
    assert!(
        d("parkline_rtp_packets_total{direction=\"out\"}") > 0.0,
        "music and prompts: {:?} then {:?}",
        before.get("parkline_rtp_packets_total{direction=\"out\"}"),
        after.get("parkline_rtp_packets_total{direction=\"out\"}")
    );
    assert_eq!(after["parkline_calls_active"], 0.0);
    assert_eq!(after["parkline_parked_calls{tenant=\"demo\"}"], 0.0);
    assert_eq!(after["parkline_registrations{tenant=\"demo\"}"], 3.0);
    assert!(after["process_resident_memory_bytes"] > 1e6);
    assert!(after["process_open_fds"] > 5.0);
}

/// Reads an SSE stream on a thread: each event's JSON with when it came.
fn listen(server: &Server, path: &str) -> std::sync::mpsc::Receiver<(Instant, serde_json::Value)> {
    let mut sock = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        support::ADMIN_TOKEN
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(sock);
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(json) = line.strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str(json.trim()) {
                    if tx.send((Instant::now(), v)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    // The subscription is in place once the response head is read; give
    // the server a moment to have it before anything happens.
    std::thread::sleep(Duration::from_millis(200));
    rx
}

fn kind(v: &serde_json::Value) -> String {
    match v["type"].as_str() {
        Some("call") => v["event"].as_str().unwrap_or("?").to_string(),
        Some(t) => t.to_string(),
        None => "?".into(),
    }
}

#[test]
fn the_event_stream_tells_the_seed_scenario_in_order_and_at_once() {
    if !peers_ready("the_event_stream_tells_the_seed_scenario", &[]) {
        return;
    }
    let server = Server::start("events");
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let events = listen(&server, "/api/events?tenant=demo");
    let other_tenant = listen(&server, "/api/events?tenant=beta");
    // Jane calls John; John holds her and parks her; the room picks up.
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    let answered_at = Instant::now();
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    let held_at = Instant::now();
    park(&mut john, "*70333");
    let parked_at = Instant::now();
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    let retrieved_at = Instant::now();
    assert_eq!(room.bye(&mut rooms).status, 200);
    let ended_at = Instant::now();
    let bye = jane.request("BYE", Duration::from_secs(3)).unwrap();
    jane.ok(&bye);

    let mut seen = Vec::new();
    while let Ok((at, v)) = events.recv_timeout(Duration::from_secs(2)) {
        assert_eq!(v["tenant"], "demo");
        seen.push((kind(&v), at, v));
    }
    let order: Vec<&str> = seen
        .iter()
        .map(|(k, _, _)| k.as_str())
        .filter(|k| !matches!(*k, "registered" | "unregistered"))
        .collect();
    // The park call and its end come between: filter to Jane's call.
    let janes_call = seen
        .iter()
        .find(|(k, _, _)| k == "call_started")
        .map(|(_, _, v)| v["call"].clone())
        .unwrap();
    let hers: Vec<(&str, Instant)> = seen
        .iter()
        .filter(|(_, _, v)| v["call"] == janes_call)
        .map(|(k, at, _)| (k.as_str(), *at))
        .collect();
    let names: Vec<&str> = hers.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "call_started",
            "call_answered",
            "held",
            "parked",
            "retrieved",
            "call_ended"
        ],
        "all events: {order:?}"
    );
    let prompt = Duration::from_millis(100);
    for ((name, at), by) in
        hers[1..]
            .iter()
            .zip([answered_at, held_at, parked_at, retrieved_at, ended_at])
    {
        assert!(
            at.saturating_duration_since(by) < prompt,
            "{name} came {:?} after its SIP exchange",
            at.saturating_duration_since(by)
        );
    }
    assert!(
        other_tenant
            .recv_timeout(Duration::from_millis(200))
            .is_err(),
        "another tenant's stream stays quiet"
    );
}

/// A webhook receiver on loopback: every POST's signature header and body.
fn receiver() -> (u16, std::sync::mpsc::Receiver<(String, String)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || serve_posts(conn, tx));
        }
    });
    (port, rx)
}

fn serve_posts(conn: TcpStream, tx: std::sync::mpsc::Sender<(String, String)>) {
    use std::io::Read;
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut signature = String::new();
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("x-parkline-signature:") {
                signature = l.split_once(':').unwrap().1.trim().to_string();
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let _ = tx.send((signature, String::from_utf8_lossy(&body).into_owned()));
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}

fn hmac_hex(secret: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn webhooks_get_the_events_signed_and_a_dead_one_slows_nothing() {
    if !peers_ready("webhooks_get_the_events_signed", &[]) {
        return;
    }
    let (port, posts) = receiver();
    let dead = support::free_port(); // nothing listens there
    let hooks = format!(
        "\n[[webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\nevents = [\"parked\", \"retrieved\", \"call_ended\"]\ntenant = \"demo\"\nsecret = \"s3cret\"\n\n[[webhooks]]\nurl = \"http://127.0.0.1:{dead}/gone\"\n"
    );
    let server = Server::start_edited("webhooks", "", support::rtp_range(), 30, |t| t + &hooks);
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let started = Instant::now();
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    park(&mut john, "*70333");
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = jane.request("BYE", Duration::from_secs(3)).unwrap();
    jane.ok(&bye);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the calls went at their pace beside a dead receiver"
    );
    let mut kinds = Vec::new();
    while let Ok((signature, body)) = posts.recv_timeout(Duration::from_secs(3)) {
        assert_eq!(signature, hmac_hex("s3cret", &body), "signed: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["tenant"], "demo");
        kinds.push(kind(&v));
        if kinds.len() == 4 {
            break;
        }
    }
    // The park call ends (John hangs it up) before the retrieval.
    assert_eq!(kinds, ["parked", "call_ended", "retrieved", "call_ended"]);
}

#[test]
fn api_tokens_decide_who_sees_what() {
    if !peers_ready("api_tokens_decide_who_sees_what", &[]) {
        return;
    }
    use support::{ADMIN_TOKEN, DEMO_TOKEN, READER_TOKEN};
    let server = Server::start("api-tokens");
    server.registered("333");
    let mut beta = Phone::new(&server.sip_addr(), "100", "secret-100");
    beta.domain = "beta.parkline.test".into();
    beta.register();

    // No token, or a wrong one: 401 with a Bearer challenge.
    assert_eq!(server.http_get_with("/api/status", None).0, 401);
    assert_eq!(server.http_get_with("/api/parked", Some("nope")).0, 401);
    // Health and metrics answer loopback without one.
    assert_eq!(server.http_get_with("/health", None).0, 200);
    assert_eq!(server.http_get_with("/metrics", None).0, 200);

    // Every tenant's token sees both tenants' phones.
    let (status, all) = server.http_get_with("/api/registrations", Some(ADMIN_TOKEN));
    assert_eq!(status, 200);
    assert!(
        all.contains("\"demo\"") && all.contains("\"beta\""),
        "{all}"
    );
    // A tenant's token sees its own, never the switch's counters nor
    // another tenant's events.
    let (status, mine) = server.http_get_with("/api/registrations", Some(DEMO_TOKEN));
    assert_eq!(status, 200);
    assert!(
        mine.contains("\"demo\"") && !mine.contains("\"beta\""),
        "{mine}"
    );
    assert_eq!(server.http_get_with("/api/status", Some(DEMO_TOKEN)).0, 403);
    assert_eq!(
        server
            .http_get_with("/api/events?tenant=beta", Some(DEMO_TOKEN))
            .0,
        403
    );
    // A read-only token reads.
    assert_eq!(
        server.http_get_with("/api/status", Some(READER_TOKEN)).0,
        200
    );

    // Guessing is limited: after 10 wrong tokens a minute, 429 even for a
    // right one from that address.
    for _ in 0..8 {
        assert_eq!(server.http_get_with("/api/status", Some("guess")).0, 401);
    }
    assert_eq!(
        server.http_get_with("/api/status", Some(ADMIN_TOKEN)).0,
        429
    );
    assert!(server.log().contains("wrong or missing token"));
    assert!(
        !server.log().contains("guess"),
        "tokens never reach the log"
    );
}

#[test]
fn a_token_made_with_the_cli_opens_the_api_after_a_restart() {
    if !peers_ready("a_token_made_with_the_cli", &[]) {
        return;
    }
    let mut server = Server::start("api-token-cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parkline"))
        .arg("--config")
        .arg(&server.config)
        .args(["token", "add", "--name", "ops", "--tenant", "beta"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("plk_"), "{token}");
    let config = std::fs::read_to_string(&server.config).unwrap();
    assert!(!config.contains(&token), "only the hash is kept");
    assert_eq!(server.http_get_with("/api/parked", Some(&token)).0, 401);
    server.restart();
    let (status, body) = server.http_get_with("/api/parked", Some(&token));
    assert_eq!((status, body.trim()), (200, "[]"));
    assert_eq!(
        server
            .http_get_with("/api/events?tenant=demo", Some(&token))
            .0,
        403
    );
}

#[test]
fn the_cli_and_the_api_list_the_same_parked_calls() {
    if !peers_ready("the_cli_and_the_api_list_the_same_parked_calls", &[]) {
        return;
    }
    let server = Server::start("parked-truth");
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let (_janes, mut johns) = connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    park(&mut john, "*70333");
    let api: serde_json::Value =
        serde_json::from_str(&server.http_get("/api/parked").unwrap()).unwrap();
    assert_eq!(api[0]["parked_party"], "Jane Roe <555>");
    assert!(api[0]["comeback_ms"].as_u64() > api[0]["since_ms"].as_u64());
    // The store is written on its own thread: give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    let cli = support::parkline_cli(&server, &["parked", "--json"]);
    let line: serde_json::Value = serde_json::from_str(cli.trim()).expect("one JSON line");
    assert_eq!(line["position"], api[0]["position"]);
    assert_eq!(line["parked_party"], "Jane Roe <555>");
    let mut rooms = room.dial("*71333", &[PCMU]).expect("retrieved");
    assert_eq!(server.http_get("/api/parked").unwrap().trim(), "[]");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        support::parkline_cli(&server, &["parked", "--json"]).trim(),
        "",
        "a retrieved call is gone from the CLI's list too"
    );
    assert_eq!(room.bye(&mut rooms).status, 200);
}

#[test]
fn json_logs_carry_the_call_and_tenant_and_no_colour() {
    if !peers_ready("json_logs_carry_the_call_and_tenant", &[]) {
        return;
    }
    let server = Server::start_edited("json-logs", "", support::rtp_range(), 30, |t| {
        t.replace("[log]\n", "[log]\nformat = \"json\"\n")
    });
    let mut john = server.registered("333");
    let mut room = server.registered("444");
    let (mut johns, _rooms) = connect(&mut john, &mut room, &[PCMU], &[PCMU]);
    assert_eq!(john.bye(&mut johns).status, 200);
    server.wait_idle();
    let log = server.log();
    assert!(!log.contains('\u{1b}'), "no colour escapes off a terminal");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.len() > 5, "JSON lines: {log}");
    let answered = lines
        .iter()
        .find(|l| l["fields"]["message"] == "call answered")
        .expect("the answer is logged");
    assert_eq!(answered["span"]["tenant"], "demo", "{answered}");
    assert!(answered["span"]["call"].is_u64(), "{answered}");
    let ended = lines
        .iter()
        .find(|l| l["fields"]["message"] == "call ended")
        .expect("the end is logged");
    assert_eq!(ended["fields"]["tenant"], "demo", "{ended}");
}
