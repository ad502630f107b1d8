//! A real softphone (baresip) registers with the demo credentials.

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
