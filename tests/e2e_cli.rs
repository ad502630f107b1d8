//! The operator's side: check-config, bad configs that refuse to start,
//! provisioning from the CLI picked up by a running server.

mod support;

use std::process::Command;
use support::sip_client::Client;
use support::{peers_ready, scratch, Server};

fn parkline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parkline"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `parkline` with a command line split at spaces (no argument contains one).
fn parkline_line(line: &str) -> (i32, String, String) {
    parkline(&line.split_whitespace().collect::<Vec<_>>())
}

#[test]
fn default_config_checks_clean() {
    let dir = scratch("cli-default");
    let path = dir.join("demo.toml");
    let (rc, text, _) = parkline(&["default-config"]);
    assert_eq!(rc, 0);
    std::fs::write(&path, text).unwrap();
    let (rc, out, err) = parkline(&["check-config", path.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains(": ok (2 tenants, 1 trunks)"), "{out}");
}

#[test]
fn bad_configs_are_reported_with_lines_and_never_start() {
    let dir = scratch("cli-bad");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n\n[[tenants]]\nname = \"a\"\ndomain = \"a.example\"\npark_prefix = \"*7\"\n\n[[tenants.extensions]]\nnumber = \"12x\"\npassword = \"short\"\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let (rc, _, err) = parkline(&["check-config", p]);
    assert_eq!(rc, 2);
    for needle in [format!("{p}:7:"), format!("{p}:10:"), format!("{p}:11:")] {
        assert!(err.contains(&needle), "missing {needle} in:\n{err}");
    }
    let (rc, _, err) = parkline(&["--config", p, "serve"]);
    assert_eq!(rc, 2, "serve must refuse a bad config");
    assert!(err.contains("not starting"), "{err}");

    // Typos everywhere: every one named in the same run, with its line.
    std::fs::write(
        &path,
        "[sip]\nlisen = [\"udp:127.0.0.1:5060\"]\n[htp]\nlisten = \"x\"\n[[tenants]]\nname = \"a\"\ndomain = \"a.example\"\npark_prefx = \"*70\"\n",
    )
    .unwrap();
    let (rc, _, err) = parkline(&["check-config", p]);
    assert_eq!(rc, 2);
    for needle in [
        format!("{p}:2: unknown field `lisen`"),
        format!("{p}:3: unknown field `htp`"),
        format!("{p}:8: unknown field `park_prefx`"),
    ] {
        assert!(err.contains(&needle), "missing {needle} in:\n{err}");
    }

    std::fs::write(&path, "[sip]\nlisten = [\"udp:127.0.0.1:5060\"\n").unwrap();
    let (rc, _, err) = parkline(&["check-config", p]);
    assert_eq!(rc, 2);
    assert!(err.starts_with(&format!("{p}:")), "{err}");
}

#[test]
fn serve_fails_cleanly_when_the_port_is_taken() {
    if !peers_ready("serve_fails_cleanly_when_the_port_is_taken", &[]) {
        return;
    }
    let dir = scratch("cli-port");
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg = support::config_text(port, support::free_port(), &dir.join("p.db"));
    std::fs::write(dir.join("p.toml"), cfg).unwrap();
    let (rc, _, err) = parkline(&["--config", dir.join("p.toml").to_str().unwrap(), "serve"]);
    assert_ne!(rc, 0);
    assert!(
        err.contains(&format!("cannot bind udp:127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn cli_provisioning_reaches_a_running_server() {
    if !peers_ready("cli_provisioning_reaches_a_running_server", &[]) {
        return;
    }
    let server = Server::start("cli-live");
    // The server's own configuration names its store (a file, or a
    // PostgreSQL database).
    let db = server.config.to_str().unwrap();
    let (rc, out, err) = parkline(&[
        "--config",
        db,
        "extension",
        "add",
        "--tenant",
        "demo",
        "--number",
        "777",
        "--name",
        "New Desk",
        "--password",
        "secret-777",
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    // add refuses an existing number; set changes it.
    let (rc, _, err) = parkline_line(&format!(
        "--config {db} extension add --tenant demo --number 777 --name Other --password secret-777"
    ));
    assert_ne!(rc, 0);
    assert!(err.contains("extension set"), "{err}");
    let (rc, _, err) = parkline_line(&format!(
        "--config {db} extension set --tenant demo --number 778 --password secret-778"
    ));
    assert_ne!(rc, 0);
    assert!(err.contains("extension add"), "{err}");
    let (rc, _, err) = parkline_line(&format!(
        "--config {db} extension add --tenant nope --number 1 --password secret-1"
    ));
    assert_ne!(rc, 0);
    assert!(err.contains("no tenant named 'nope'"), "{err}");
    let (rc, _, err) = parkline_line(&format!(
        "--config {db} did add --number 15550100777 --tenant demo --extension 999"
    ));
    assert_ne!(rc, 0);
    assert!(err.contains("has no extension '999'"), "{err}");
    let (rc, out, _) = parkline_line(&format!(
        "--config {db} did add --number 15550100777 --tenant demo --extension 777"
    ));
    assert_eq!(rc, 0, "{out}");
    let (_, list, _) = parkline(&["--config", db, "extension", "list", "--tenant", "demo"]);
    assert!(list.contains("777") && list.contains("New Desk"), "{list}");
    assert!(!list.contains("secret"), "passwords are never shown");
    let (_, dids, _) = parkline(&["--config", db, "did", "list"]);
    assert!(dids.contains("15550100777"));
    let (_, tenants, _) = parkline(&["--config", db, "tenant", "list"]);
    assert!(tenants.contains("beta.parkline.test") && tenants.contains("645"));

    // The running server reloads accounts within a few seconds.
    let mut client = Client::new(&server.sip_addr());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let resp = client.register("777", "secret-777", 3600);
        if resp.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new extension never accepted"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // Bindings are written by the store thread, off the signalling path.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, regs, _) = parkline(&["--config", db, "registrations"]);
        if regs.contains("777") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "binding never persisted:\n{regs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !server.log().contains("secret-"),
        "secrets never reach the log"
    );
}

#[test]
fn call_records_export_as_csv() {
    if !peers_ready("call_records_export_as_csv", &[]) {
        return;
    }
    let server = Server::start("cli-csv");
    let mut john = support::phone::Phone::new(&server.sip_addr(), "333", "secret-333");
    john.register();
    // A refused call leaves a record (nothing is parked at 444).
    let mut call = john.dial("*71444", &[0]).expect("the announcement answers");
    assert_eq!(john.bye(&mut call).status, 200);
    server.wait_idle();
    server.call_records(1);
    let cfg = server.config.to_str().unwrap();
    let (rc, out, err) = parkline(&["--config", cfg, "calls", "--csv"]);
    assert_eq!(rc, 0, "{err}");
    let mut lines = out.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("id,tenant,caller,callee,"));
    let row = lines.next().expect("one record");
    assert!(row.contains(",demo,333,*71444,"), "{row}");
    assert!(
        row.contains("\"no call parked at *71444\"") || row.contains("no call parked"),
        "{row}"
    );
}

#[test]
fn read_commands_never_make_a_database_and_say_which_they_read() {
    let dir = support::scratch("cli-no-db");
    let db = dir.join("nowhere.db");
    let (rc, _, err) = parkline(&["--db", db.to_str().unwrap(), "parked"]);
    assert_ne!(rc, 0);
    assert!(
        err.contains("no database at") && err.contains("--db"),
        "{err}"
    );
    assert!(!db.exists(), "nothing was created");
    let (rc, _, err) = parkline(&["--db", db.to_str().unwrap(), "extension", "list"]);
    assert_ne!(rc, 0, "{err}");
    assert!(!db.exists());
}

#[test]
fn call_records_list_in_human_time_in_aligned_columns_naming_who_hung_up() {
    if !peers_ready("call_records_list_in_human_time", &[]) {
        return;
    }
    let server = Server::start("cli-calls-table");
    let mut john = support::phone::Phone::new(&server.sip_addr(), "333", "secret-333");
    john.register();
    let mut room = support::phone::Phone::new(&server.sip_addr(), "444", "secret-444");
    room.register();
    let (_johns, mut rooms) = support::phone::connect(&mut john, &mut room, &[0], &[0]);
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = john
        .request("BYE", std::time::Duration::from_secs(3))
        .unwrap();
    john.ok(&bye);
    server.wait_idle();
    let rec = &server.call_records(1)[0];
    assert_eq!(rec["cause"], "444 hung up", "who hung up, by number");
    let cfg = server.config.to_str().unwrap();
    let (rc, out, err) = parkline(&["--config", cfg, "calls"]);
    assert_eq!(rc, 0, "{err}");
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    let row = lines.next().expect("one record");
    assert!(
        row.starts_with("20") && row.as_bytes()[4] == b'-',
        "a UTC date: {row}"
    );
    // Every column starts where its header does (in characters: the
    // TALKED column has an arrow).
    let cells: Vec<char> = row.chars().collect();
    for column in ["TENANT", "CALLER", "TALKED", "OUTCOME", "CAUSE"] {
        let at = header[..header.find(column).unwrap()].chars().count();
        assert!(
            at == 0 || cells[at - 1] == ' ' && cells[at] != ' ',
            "{column} not aligned:\n{header}\n{row}"
        );
    }
    assert!(row.contains("333 ↔ 444"), "who talked: {row}");
    assert!(row.contains("444 hung up"), "{row}");
}
