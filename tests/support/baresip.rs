//! baresip as a real softphone: a config of its own (loopback only, no sound
//! card: a tone file as microphone, recordings of what it hears), control
//! over ctrl_tcp (JSON in netstrings).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running baresip.
pub struct Baresip {
    child: Child,
    /// Its folder (config, recordings, log).
    pub dir: PathBuf,
    ctrl_port: u16,
}

fn config(sip_port: u16, ctrl_port: u16, dir: &Path, tone: &Path) -> String {
    format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nsip_trans_def udp\nnet_interface 127.0.0.1\ndns_server 127.0.0.1:53\n\
audio_player aubridge,nil\naudio_source aufile,{tone}\naudio_alert aubridge,nil\naudio_path {dir}\nsnd_path {dir}\n\
module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\nmodule srtp.so\n\
module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
        dir = dir.display(),
        tone = tone.display()
    )
}

/// How a phone reaches the switch and protects its media.
pub enum Security<'a> {
    /// UDP signalling, plain RTP.
    Plain,
    /// SIP over TLS to `port`, checking the switch's certificate against
    /// the CA in `ca`, and SRTP (SDES) with `mediaenc` (`srtp`: best
    /// effort, `srtp-mand`: RTP/SAVP only).
    Tls {
        /// The switch's TLS port.
        port: u16,
        /// PEM file of the CA that signed the switch's certificate.
        ca: &'a Path,
        /// baresip's `mediaenc` account parameter.
        mediaenc: &'a str,
    },
}

impl Baresip {
    /// Starts baresip registered as `user` (password `secret-USER`), sending
    /// a sine of `freq` Hz; `auto_answer` answers incoming calls at once.
    pub fn start(server_port: u16, user: &str, freq: u32, auto_answer: bool) -> Baresip {
        Baresip::start_secure(server_port, user, freq, auto_answer, Security::Plain)
    }

    /// [`Baresip::start`] with the given transport and media security.
    pub fn start_secure(
        server_port: u16,
        user: &str,
        freq: u32,
        auto_answer: bool,
        security: Security,
    ) -> Baresip {
        let dir = super::scratch(&format!("baresip-{user}"));
        let tone = dir.join("tone.wav");
        let ok = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&tone)
            .args(["synth", "60", "sine", &freq.to_string(), "gain", "-6"])
            .status()
            .unwrap();
        assert!(ok.success(), "sox failed");
        let ctrl_port = super::free_port();
        let mut cfg = config(super::free_port(), ctrl_port, &dir, &tone);
        let answer = if auto_answer { ";answermode=auto" } else { "" };
        let (server, extra) = match security {
            Security::Plain => (format!("127.0.0.1:{server_port}"), String::new()),
            Security::Tls { port, ca, mediaenc } => {
                cfg.push_str(&format!("sip_cafile {}\n", ca.display()));
                (
                    format!("127.0.0.1:{port};transport=tls"),
                    format!(";mediaenc={mediaenc}"),
                )
            }
        };
        std::fs::write(dir.join("config"), cfg).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:{user}@{server}>;auth_pass=secret-{user};regint=300;audio_codecs=PCMU{answer}{extra}\n"),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .args(["-4", "-s", "-f"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start baresip");
        Baresip {
            child,
            dir,
            ctrl_port,
        }
    }

    /// Sends a ctrl_tcp command.
    pub fn command(&self, command: &str, params: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", self.ctrl_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("baresip ctrl_tcp: {e}"),
            }
        };
        let json = format!(r#"{{"command":"{command}","params":"{params}","token":"t"}}"#);
        write!(stream, "{}:{},", json.len(), json).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Samples of the first recording of what it heard (`dump-*-dec.wav`),
    /// waiting up to 3 s for baresip to finish writing it after a hang-up.
    pub fn heard(&self) -> Vec<i16> {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let samples = self.recording();
            if samples.len() > 8000 || Instant::now() > deadline {
                return samples;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn recording(&self) -> Vec<i16> {
        let file = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with("-dec.wav")
            })
            .unwrap_or_else(|| panic!("no recording in {}", self.dir.display()));
        wav_samples(&std::fs::read(file).unwrap())
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 16-bit samples of a WAV file (first channel).
pub fn wav_samples(data: &[u8]) -> Vec<i16> {
    let mut at = 12;
    let mut channels = 1usize;
    while at + 8 <= data.len() {
        let id = &data[at..at + 4];
        let len = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &data[at + 8..(at + 8 + len).min(data.len())];
        if id == b"fmt " && body.len() >= 4 {
            channels = usize::from(u16::from_le_bytes([body[2], body[3]])).max(1);
        }
        if id == b"data" {
            return body
                .chunks_exact(2 * channels)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        at += 8 + len + (len % 2);
    }
    Vec::new()
}
