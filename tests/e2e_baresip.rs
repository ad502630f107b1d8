//! Real softphones (baresip): registration with the demo credentials, and a
//! call between two of them with audio checked both ways.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, peers_ready, scratch, Server};

/// A baresip configuration: loopback only, no sound card, ctrl_tcp for control.
fn baresip_config(
    sip_port: u16,
    ctrl_port: u16,
    dir: &std::path::Path,
    tone: &std::path::Path,
) -> String {
    format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nsip_trans_def udp\nnet_interface 127.0.0.1\ndns_server 127.0.0.1:53\n\
audio_player aubridge,nil\naudio_source aufile,{tone}\naudio_alert aubridge,nil\naudio_path {dir}\n\
module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n\
module_app account.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
        dir = dir.display(),
        tone = tone.display()
    )
}

#[test]
fn baresip_registers_with_demo_credentials() {
    if !peers_ready(
        "baresip_registers_with_demo_credentials",
        &["baresip", "sox"],
    ) {
        return;
    }
    let server = Server::start("baresip");
    let dir = scratch("baresip");
    let tone = dir.join("tone.wav");
    let sox = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&tone)
        .args(["synth", "30", "sine", "1000", "gain", "-6"])
        .status()
        .unwrap();
    assert!(sox.success());
    std::fs::write(
        dir.join("config"),
        baresip_config(free_port(), free_port(), &dir, &tone),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:333@127.0.0.1:{}>;auth_pass=secret-333;regint=300;audio_codecs=PCMU\n",
            server.sip_port
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
    let mut phone = Command::new("baresip")
        .args(["-4", "-s", "-f"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start baresip");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut registered = false;
    while Instant::now() < deadline {
        let regs = server.registrations();
        if regs.contains("\"extension\":\"333\"") && regs.to_ascii_lowercase().contains("baresip") {
            registered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = phone.kill();
    let _ = phone.wait();
    let phone_log = std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default();
    assert!(
        registered,
        "baresip did not register.\n--- baresip ---\n{phone_log}\n--- server ---\n{}",
        server.log()
    );
    assert!(
        phone_log.contains("200 OK"),
        "baresip saw no 200 OK:\n{phone_log}"
    );
}

/// Two baresip phones: 333 sends 600 Hz, 444 (auto-answer) sends 1400 Hz.
/// Each must hear the other's tone in what it recorded.
#[test]
fn baresip_calls_baresip_with_two_way_audio() {
    if !peers_ready(
        "baresip_calls_baresip_with_two_way_audio",
        &["baresip", "sox"],
    ) {
        return;
    }
    use support::baresip::Baresip;
    use support::phone::tone_power;
    let server = Server::start("baresip-call");
    let john = Baresip::start(server.sip_port, "333", 600, false);
    let room = Baresip::start(server.sip_port, "444", 1400, true);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(server.registrations().contains("\"333\"")
        && server.registrations().contains("\"444\""))
    {
        assert!(
            Instant::now() < deadline,
            "phones did not register:\n{}\n{}",
            john.log(),
            room.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    john.command("dial", &format!("sip:444@127.0.0.1:{}", server.sip_port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.status()["calls"] != 1 {
        assert!(
            Instant::now() < deadline,
            "no call:\n{}\n{}\n{}",
            john.log(),
            room.log(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    john.command("hangup", "");
    server.wait_idle();
    let (heard_by_john, heard_by_room) = (john.heard(), room.heard());
    assert!(
        heard_by_john.len() > 8000 && heard_by_room.len() > 8000,
        "recordings too short: {} / {}",
        heard_by_john.len(),
        heard_by_room.len()
    );
    let ratio =
        |s: &[i16], want: f64, other: f64| tone_power(s, want) / tone_power(s, other).max(1e-9);
    eprintln!(
        "tone ratios: room hears 600/1400 = {:.0}, John hears 1400/600 = {:.0}",
        ratio(&heard_by_room, 600.0, 1400.0),
        ratio(&heard_by_john, 1400.0, 600.0)
    );
    assert!(
        ratio(&heard_by_room, 600.0, 1400.0) > 10.0,
        "the room does not hear John's 600 Hz"
    );
    assert!(
        ratio(&heard_by_john, 1400.0, 600.0) > 10.0,
        "John does not hear the room's 1400 Hz"
    );
    assert_eq!(server.call_records(1)[0]["outcome"], "answered");
}

/// The seed's scenario with real softphones: the client (a scripted phone on
/// the trunk's address, so its audio can be checked exactly) calls John's
/// DID; John is baresip: he answers, holds (the client hears the switch's
/// music), dials *70333 and is released; the conference room is baresip and
/// dials *71333; the client and the room then hear each other.
#[test]
fn baresip_parks_and_retrieves_the_seed_call() {
    if !peers_ready(
        "baresip_parks_and_retrieves_the_seed_call",
        &["baresip", "sox"],
    ) {
        return;
    }
    use support::baresip::Baresip;
    use support::phone::{decode, tone_power, Phone};
    let server = Server::start("baresip-park");
    let john = Baresip::start(server.sip_port, "333", 1000, true);
    let room = Baresip::start(server.sip_port, "444", 1400, false);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(server.registrations().contains("\"333\"")
        && server.registrations().contains("\"444\""))
    {
        assert!(Instant::now() < deadline, "phones did not register");
        std::thread::sleep(Duration::from_millis(100));
    }
    let carrier = format!("127.0.0.1:{}", server.carrier_port());
    let mut client = Phone::at(&server.sip_addr(), "15559870001", "", &carrier);
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[0]);
    let call = client
        .finish_dial("15550100333", &cid, seq, &branch)
        .expect("John's baresip answers");

    john.command("hold", "");
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "{what}\n--- server ---\n{}\n--- john ---\n{}",
                server.log(),
                john.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("hold", &|| {
        server.log().contains("hold: music to the other party")
    });
    client.flush_rtp();
    let music = client.record(Duration::from_millis(600));
    assert!(music.len() > 20, "the client hears the switch while held");

    john.command("dial", &format!("sip:*70333@127.0.0.1:{}", server.sip_port));
    wait_for("park", &|| server.status()["parked"] == 1);
    std::thread::sleep(Duration::from_millis(500));
    john.command("hangup", "");

    room.command("dial", &format!("sip:*71333@127.0.0.1:{}", server.sip_port));
    wait_for("retrieval", &|| {
        server.status()["parked"] == 0 && server.status()["calls"] == 1
    });
    client.flush_rtp();
    let sock = client.rtp.try_clone().unwrap();
    let (to, pt) = (call.media, call.pt);
    let talker = std::thread::spawn(move || Phone::with_rtp(sock).send_tone(to, pt, 600.0, 100));
    let heard = client.record(Duration::from_millis(1500));
    talker.join().unwrap();
    room.command("hangup", "");
    server.wait_idle();
    let samples = decode(&heard);
    assert!(
        tone_power(&samples, 1400.0) > 10.0 * tone_power(&samples, 1000.0),
        "the client hears the room, not John"
    );
    let room_heard = room.heard();
    assert!(
        tone_power(&room_heard, 600.0) > 10.0 * tone_power(&room_heard, 1000.0),
        "the room hears the client"
    );
    let rec = server.record_where(|r| r["callee"] == "15550100333");
    let events = rec["events"].as_str().unwrap();
    assert!(
        events.contains("parked by 333 at *71333") && events.contains("retrieved by 444"),
        "{events}"
    );
}

#[test]
fn baresip_transfers_a_trunk_call_blind_with_its_transfer_command() {
    if !peers_ready("baresip_transfers_a_trunk_call_blind", &["baresip", "sox"]) {
        return;
    }
    use support::baresip::Baresip;
    use support::phone::{assert_two_way, Phone};
    let server = Server::start("baresip-transfer");
    let john = Baresip::start(server.sip_port, "333", 1000, true);
    let mut room = Phone::new(&server.sip_addr(), "444", "secret-444");
    room.register();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.registrations().contains("\"333\"") {
        assert!(Instant::now() < deadline, "John's baresip did not register");
        std::thread::sleep(Duration::from_millis(100));
    }
    let carrier = format!("127.0.0.1:{}", server.carrier_port());
    let mut client = Phone::at(&server.sip_addr(), "15559870001", "", &carrier);
    let (cid, seq, branch) = client.start_trusted_dial("15550100333", &[0]);
    let call = client
        .finish_dial("15550100333", &cid, seq, &branch)
        .expect("John's baresip answers");
    // John presses Transfer and dials 444 (baresip's `transfer`: REFER).
    john.command(
        "transfer",
        &format!("sip:444@127.0.0.1:{}", server.sip_port),
    );
    let inv = room.ring();
    assert!(
        inv.headers
            .get_str(sip::Name::From)
            .unwrap()
            .contains("15559870001"),
        "the room sees the client, not John"
    );
    let rooms = room.answer(&inv, &[0]);
    assert_two_way(&client, &call, &room, &rooms);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.status()["calls"] != 1 {
        assert!(Instant::now() < deadline, "John's leg is not released");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut rooms = rooms;
    assert_eq!(room.bye(&mut rooms).status, 200);
    let bye = client
        .request("BYE", Duration::from_secs(3))
        .expect("the client hears the end");
    client.ok(&bye);
    server.wait_idle();
    let rec = server.record_where(|r| r["callee"] == "15550100333");
    let events = rec["events"].as_str().unwrap();
    assert!(events.contains("transferred by 333 to 444"), "{events}");
}
