//! linphone (`linphonec` of Debian's `linphone-cli`) as a real softphone:
//! its own config and home folder, loopback only (no IPv6, bound to
//! 127.0.0.1), a tone file as microphone, commands on its stdin (a pipe
//! kept open: at end of input it spins), output to a log.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A running linphonec.
pub struct Linphone {
    child: Child,
    stdin: ChildStdin,
    /// Its folder (config, home, tone, log).
    pub dir: PathBuf,
}

impl Linphone {
    /// Starts linphonec, registers it as `user` (password `secret-USER`) at
    /// the switch on `server_port`, answering calls at once when
    /// `auto_answer`; it sends a sine of `freq` Hz once in a call.
    pub fn start(server_port: u16, user: &str, freq: u32, auto_answer: bool) -> Linphone {
        let dir = super::scratch(&format!("linphone-{user}"));
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        let tone = dir.join("tone.wav");
        let ok = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&tone)
            .args(["synth", "60", "sine", &freq.to_string(), "gain", "-6"])
            .status()
            .unwrap();
        assert!(ok.success(), "sox failed");
        let rtp = super::free_port() & !1;
        let rc = format!(
            "[sip]\nsip_port={}\nsip_tcp_port=-1\nsip_tls_port=-1\nbind_address=127.0.0.1\nuse_ipv6=0\nguess_hostname=0\n\
[rtp]\naudio_rtp_port={rtp}\n[net]\nfirewall_policy=0\n[sound]\necho_cancellation=0\n\
[audio_codec_0]\nmime=PCMU\nrate=8000\nenabled=1\n",
            super::free_port()
        );
        std::fs::write(dir.join("rc"), rc).unwrap();
        let log = std::fs::File::create(dir.join("linphone.log")).unwrap();
        let mut cmd = Command::new("linphonec");
        cmd.arg("-c").arg(dir.join("rc"));
        if auto_answer {
            cmd.arg("-a");
        }
        let mut child = cmd
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start linphonec");
        let stdin = child.stdin.take().unwrap();
        let mut phone = Linphone { child, stdin, dir };
        phone.command("soundcard use files");
        phone.command(&format!("play {}", tone.display()));
        phone.command(&format!(
            "register sip:{user}@127.0.0.1 sip:127.0.0.1:{server_port} secret-{user}"
        ));
        phone
    }

    /// Sends one command line.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("linphone.log")).unwrap_or_default()
    }

    /// Waits until the log contains `text` (up to 10 s).
    pub fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "linphone never said {text:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Linphone {
    /// The id linphonec gave the `nth` call (from 1, in its log's order)
    /// whose announcing line contains `text` ("new incoming call from", or
    /// the dialed URI), waiting up to 10 s for it.
    pub fn call_id(&self, text: &str, nth: usize) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .log()
                .lines()
                .filter(|l| l.contains(text) && l.contains("assigned id "))
                .nth(nth - 1)
                .and_then(|l| l.rsplit("assigned id ").next()?.trim().parse().ok());
            if let Some(id) = found {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "linphone announced no call {nth} like {text:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
