//! Shared helpers of the end-to-end tests: a real `parkline` process on free
//! loopback ports, a raw SIP-over-UDP client, and guards for third-party peers.
#![allow(dead_code)]

pub mod baresip;
pub mod billing;
pub mod browser;
pub mod cluster;
pub mod events;
pub mod linphone;
pub mod phone;
pub mod pki;
pub mod sip_client;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `../shared` beside the repository, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let p = repo_root().join("../shared");
    p.is_dir().then(|| p.canonicalize().unwrap())
}

/// A fresh scratch folder.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "parkline-e2e-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// True when the suite runner demands that every peer test runs.
fn required() -> bool {
    std::env::var_os("PARKLINE_REQUIRE_PEERS").is_some()
}

/// Whether this process sees only the loopback interface (a network
/// namespace made for the tests), so nothing can leave the machine.
pub fn loopback_only() -> bool {
    // /proc/net/dev lists the interfaces of this process's namespace
    // (/sys/class/net may still show the host's).
    match std::fs::read_to_string("/proc/net/dev") {
        Ok(text) => text
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .all(|name| name.trim() == "lo"),
        Err(_) => false,
    }
}

/// Whether a test that drives third-party peers may run: the tools exist and
/// the process is in a loopback-only namespace. Otherwise it prints why it
/// skips, or fails when `PARKLINE_REQUIRE_PEERS` is set (as `scripts/test` does).
pub fn peers_ready(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<_> = tools.iter().filter(|t| which(t).is_none()).collect();
    let problem = if !missing.is_empty() {
        Some(format!(
            "missing tools {missing:?} (scripts/test installs them)"
        ))
    } else if !loopback_only() {
        Some("not inside a loopback-only network namespace (scripts/test makes one)".to_string())
    } else {
        None
    };
    match problem {
        None => true,
        Some(p) if required() => panic!("{test}: {p}"),
        Some(p) => {
            eprintln!("SKIP {test}: {p}");
            false
        }
    }
}

/// Path of a program on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// The test configuration: two tenants, free ports, a fresh database.
pub fn config_text(sip_port: u16, http_port: u16, db: &Path) -> String {
    config_text_with(sip_port, http_port, db, "")
}

/// A distinct RTP range for every server this process starts.
pub fn rtp_range() -> (u16, u16) {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed) as u16 % 100;
    let low = 21000 + n * 100;
    (low, low + 99)
}

/// The carrier (trunk) port of the test configuration: derived from the
/// SIP port, so each server has its own, and below the kernel's ephemeral
/// range (32768 and up) and the tests' RTP ranges (21000 and up): a phone's
/// socket, bound to port 0, once got the carrier's port and its requests
/// were taken for the trunk's.
pub fn carrier_port_for(sip_port: u16) -> u16 {
    2000 + sip_port.saturating_sub(32768) % 18000
}

/// The test configuration with extra lines in its `[sip]` section.
pub fn config_text_with(sip_port: u16, http_port: u16, db: &Path, extra_sip: &str) -> String {
    config_text_full(sip_port, http_port, db, extra_sip, "")
}

/// The test configuration with extra lines in `[sip]` and in the demo tenant.
pub fn config_text_full(
    sip_port: u16,
    http_port: u16,
    db: &Path,
    extra_sip: &str,
    extra_demo: &str,
) -> String {
    config_text_rtp(
        sip_port,
        http_port,
        db,
        extra_sip,
        extra_demo,
        rtp_range(),
        30,
    )
}

/// The test configuration with an explicit RTP range.
pub fn config_text_rtp(
    sip_port: u16,
    http_port: u16,
    db: &Path,
    extra_sip: &str,
    extra_demo: &str,
    rtp: (u16, u16),
    rtp_timeout_s: u32,
) -> String {
    format!(
        r#"
[sip]
{extra_sip}
listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]
default_tenant = "demo"
min_expires = 60

no_answer_timeout_s = 4

[media]
rtp_ports = "{rtp_low}-{rtp_high}"
rtp_timeout_s = {rtp_timeout}

[http]
listen = "127.0.0.1:{http_port}"

[[http.tokens]]
name = "test-admin"
hash = "{admin}"

[[http.tokens]]
name = "test-demo"
hash = "{demo}"
tenant = "demo"

[[http.tokens]]
name = "test-reader"
hash = "{reader}"
read_only = true

[store]
{store}

[log]
level = "info,switch=debug"

[[tenants]]
name = "demo"
domain = "demo.parkline.test"
{extra_demo}

[[tenants.extensions]]
number = "333"
name = "John Doe"
password = "secret-333"

[[tenants.extensions]]
number = "444"
name = "Conference Room"
password = "secret-444"

[[tenants.extensions]]
number = "555"
name = "Jane Roe"
password = "secret-555"
can_call_out = false
can_park = false
can_retrieve = false

[[tenants.dids]]
number = "15550100333"
extension = "333"

[[tenants.extensions]]
number = "666"
name = "Disabled Desk"
password = "secret-666"
enabled = false

[[tenants]]
name = "beta"
domain = "beta.parkline.test"
park_prefix = "644"
release_prefix = "645"

[[tenants.extensions]]
number = "100"
name = "Beta Reception"
password = "secret-100"

[[tenants.extensions]]
number = "101"
name = "Beta Office"
password = "secret-101"

[[tenants.extensions]]
number = "102"
name = "Beta Lab"
password = "secret-102"

[[trunks]]
name = "carrier"
address = "127.0.0.1:{carrier}"
tenant = "demo"
"#,
        rtp_low = rtp.0,
        rtp_high = rtp.1,
        rtp_timeout = rtp_timeout_s,
        carrier = carrier_port_for(sip_port),
        admin = token_hash(ADMIN_TOKEN),
        demo = token_hash(DEMO_TOKEN),
        reader = token_hash(READER_TOKEN),
        store = store_section(db),
    )
}

/// The `[store]` lines of a test server: the SQLite file `db`, or, with
/// `PARKLINE_E2E_STORE=postgres`, a fresh database of its own on the
/// PostgreSQL server `PARKLINE_TEST_PG` names (libpq form, as
/// `scripts/test` sets both).
pub fn store_section(db: &Path) -> String {
    if std::env::var("PARKLINE_E2E_STORE").as_deref() != Ok("postgres") {
        return format!("path = \"{}\"", db.display());
    }
    let base = std::env::var("PARKLINE_TEST_PG")
        .expect("PARKLINE_E2E_STORE=postgres needs PARKLINE_TEST_PG (scripts/test sets both)");
    format!("url = \"{}\"", fresh_postgres_database(&base))
}

/// The `[store]` line of a fresh database on the test PostgreSQL server
/// (whatever `PARKLINE_E2E_STORE` says), for tests of nodes sharing one;
/// `None` (reported as skipped, or a failure under
/// `PARKLINE_REQUIRE_PEERS`) without a server.
pub fn postgres_store_line(test: &str) -> Option<String> {
    match std::env::var("PARKLINE_TEST_PG") {
        Ok(base) => Some(format!("url = \"{}\"", fresh_postgres_database(&base))),
        Err(_) if required() => {
            panic!("{test}: PARKLINE_TEST_PG is not set (scripts/test sets it)")
        }
        Err(_) => {
            eprintln!("SKIP {test}: PARKLINE_TEST_PG is not set");
            None
        }
    }
}

/// A new empty database on the test PostgreSQL server; its connection
/// string.
fn fresh_postgres_database(base: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "e2e_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    store::PostgresStore::create_database(base, &name).expect("the test PostgreSQL server answers")
}

/// The test configuration's API token for every tenant.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// Its token for tenant `demo` only.
pub const DEMO_TOKEN: &str = "test-demo-token";
/// Its read-only token.
pub const READER_TOKEN: &str = "test-reader-token";

/// `sha256:<hex>` of a token, as the configuration keeps it.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A running `parkline serve`.
pub struct Server {
    child: Option<Child>,
    /// Scratch folder (config, database, log).
    pub dir: PathBuf,
    /// SIP port (UDP and TCP).
    pub sip_port: u16,
    /// Admin API port.
    pub http_port: u16,
    /// SIP-over-TLS port (0: no TLS listener).
    pub tls_port: u16,
    /// Config file.
    pub config: PathBuf,
}

impl Server {
    /// Starts a server with the test configuration.
    pub fn start(name: &str) -> Server {
        Server::start_with(name, "")
    }

    /// Starts a server with extra lines in the `[sip]` section.
    pub fn start_with(name: &str, extra_sip: &str) -> Server {
        Server::start_full(name, extra_sip, "")
    }

    /// Starts a server with extra lines in `[sip]` and in the demo tenant.
    pub fn start_full(name: &str, extra_sip: &str, extra_demo: &str) -> Server {
        Server::start_rtp(name, extra_sip, extra_demo, rtp_range())
    }

    /// Starts a server with an explicit RTP port range.
    pub fn start_rtp(name: &str, extra_sip: &str, extra_demo: &str, rtp: (u16, u16)) -> Server {
        Server::start_media(name, extra_sip, extra_demo, rtp, 30)
    }

    /// Starts a server with an explicit RTP range and RTP timeout.
    pub fn start_media(
        name: &str,
        extra_sip: &str,
        extra_demo: &str,
        rtp: (u16, u16),
        rtp_timeout_s: u32,
    ) -> Server {
        Server::start_appended(name, extra_sip, extra_demo, rtp, rtp_timeout_s, "", 0)
    }

    /// Starts a server whose test configuration (explicit RTP range and
    /// timeout) is first changed by `edit`.
    pub fn start_edited(
        name: &str,
        extra_demo: &str,
        rtp: (u16, u16),
        rtp_timeout_s: u32,
        edit: impl Fn(String) -> String,
    ) -> Server {
        let dir = scratch(name);
        let (sip_port, http_port) = (free_port(), free_port());
        let config = dir.join("parkline.toml");
        let db = dir.join("parkline.db");
        let text = config_text_rtp(sip_port, http_port, &db, "", extra_demo, rtp, rtp_timeout_s);
        std::fs::write(&config, edit(text)).unwrap();
        let mut s = Server {
            child: None,
            dir,
            sip_port,
            http_port,
            tls_port: 0,
            config,
        };
        s.spawn();
        s
    }

    /// Kills the process outright (SIGKILL): nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again (after [`Server::kill`] or [`Server::stop`])
    /// on the same configuration and database; returns once it answers.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Starts a server with `extra_end` appended to the configuration (it
    /// ends with the `carrier` trunk's table, so keys there are the trunk's).
    pub fn start_with_trunk(name: &str, extra_end: &str) -> Server {
        Server::start_appended(name, "", "", rtp_range(), 30, extra_end, 0)
    }

    /// Starts a server that also listens for SIP over TLS with the test
    /// PKI's certificate, with extra lines in the demo tenant.
    pub fn start_tls(name: &str, pki: &pki::TestPki, extra_demo: &str) -> Server {
        Server::start_tls_trunk(name, pki, extra_demo, "")
    }

    /// [`Server::start_tls`] that also accepts client certificates from the
    /// test CA, with `extra_trunk` lines in the carrier trunk's table.
    pub fn start_tls_trunk(
        name: &str,
        pki: &pki::TestPki,
        extra_demo: &str,
        extra_trunk: &str,
    ) -> Server {
        let tls_port = free_port();
        let client_ca = if extra_trunk.is_empty() {
            String::new()
        } else {
            format!("client_ca = \"{}\"\n", pki.ca.display())
        };
        let tls = format!(
            "{extra_trunk}\n[tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n{client_ca}",
            pki.cert.display(),
            pki.key.display()
        );
        Server::start_appended(name, "", extra_demo, rtp_range(), 30, &tls, tls_port)
    }

    /// Starts a server with `extra_end` appended to its configuration and,
    /// unless `tls_port` is 0, a TLS listener on it.
    fn start_appended(
        name: &str,
        extra_sip: &str,
        extra_demo: &str,
        rtp: (u16, u16),
        rtp_timeout_s: u32,
        extra_end: &str,
        tls_port: u16,
    ) -> Server {
        let dir = scratch(name);
        let (sip_port, http_port) = (free_port(), free_port());
        let config = dir.join("parkline.toml");
        let mut text = config_text_rtp(
            sip_port,
            http_port,
            &dir.join("parkline.db"),
            extra_sip,
            extra_demo,
            rtp,
            rtp_timeout_s,
        );
        if tls_port != 0 {
            let plain = format!("\"tcp:127.0.0.1:{sip_port}\"]");
            let with_tls = format!("\"tcp:127.0.0.1:{sip_port}\", \"tls:127.0.0.1:{tls_port}\"]");
            text = text.replace(&plain, &with_tls);
        }
        std::fs::write(&config, text + extra_end).unwrap();
        let mut s = Server {
            child: None,
            dir,
            sip_port,
            http_port,
            tls_port,
            config,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_parkline"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start parkline");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("parkline exited early ({status}):\n{}", self.log());
            }
            if self.http_get("/health").is_some_and(|b| b.contains("ok")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("parkline did not become ready:\n{}", self.log());
    }

    /// Stops and starts again on the same ports and database.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops the server (SIGKILL-free: SIGTERM, then wait).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_term(c.id());
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && c.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `ip:port` of the SIP listener.
    pub fn sip_addr(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    /// GET on the admin API; the body, or None if unreachable.
    pub fn http_get(&self, path: &str) -> Option<String> {
        let out = self.http_get_as(path, "localhost")?;
        out.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
    }

    /// GET on the admin API with this `Host` header; the whole response.
    pub fn http_get_as(&self, path: &str, host: &str) -> Option<String> {
        self.http_get_raw(path, host, Some(ADMIN_TOKEN))
    }

    /// A test phone of extension `user` (password `secret-<user>`),
    /// registered.
    pub fn registered(&self, user: &str) -> phone::Phone {
        let mut p = phone::Phone::new(&self.sip_addr(), user, &format!("secret-{user}"));
        p.register();
        p
    }

    /// GET on the admin API as the holder of `token` (none: no
    /// `Authorization`); the status and the body.
    pub fn http_get_with(&self, path: &str, token: Option<&str>) -> (u16, String) {
        status_and_body(
            &self
                .http_get_raw(path, "localhost", token)
                .unwrap_or_default(),
        )
    }

    /// A request with a JSON body on the admin API as the holder of
    /// `token`; the status and the body.
    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let head = format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        let out = self.exchange(method, path, ("localhost", token), &head, body);
        status_and_body(&out.unwrap_or_default())
    }

    /// A request with these extra header lines (each ending in CRLF) and
    /// no token: the whole response, head included.
    pub fn http_with_head(&self, method: &str, path: &str, head: &str, body: &str) -> String {
        self.exchange(method, path, ("localhost", None), head, body)
            .unwrap_or_default()
    }

    fn http_get_raw(&self, path: &str, host: &str, token: Option<&str>) -> Option<String> {
        self.exchange("GET", path, (host, token), "", "")
    }

    /// One HTTP/1.0 exchange with the admin API: the whole response.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        (host, token): (&str, Option<&str>),
        head: &str,
        body: &str,
    ) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{auth}{head}\r\n{body}"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// The carrier (trunk) port configured for this server.
    pub fn carrier_port(&self) -> u16 {
        carrier_port_for(self.sip_port)
    }

    /// `/api/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.http_get("/api/status").expect("status")).expect("JSON status")
    }

    /// Waits until no call, RTP port or media endpoint is in use.
    pub fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.status();
            if s["calls"] == 0 && s["rtp_ports_in_use"] == 0 && s["media_endpoints"] == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "resources still in use: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Call records as JSON values, newest first, once at least `n` exist
    /// (the store thread writes them just after a call ends).
    pub fn call_records(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = Command::new(env!("CARGO_BIN_EXE_parkline"))
                .arg("--config")
                .arg(&self.config)
                .args(["calls", "--json", "--limit", "100"])
                .output()
                .unwrap();
            let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if records.len() >= n || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first call record matching `pred`, waiting for the store thread.
    pub fn record_where(&self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(r) = self.call_records(0).into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no such call record in {:#?}",
                self.call_records(0)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The registrations as JSON text.
    pub fn registrations(&self) -> String {
        self.http_get("/api/registrations")
            .expect("admin API answers")
    }
}

fn unsafe_term(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A media port for SIPp: below the kernel's ephemeral range (so no socket
/// another test opens gets it meanwhile), with its neighbours free too
/// (SIPp binds the port and the next ones for RTCP and video).
fn sipp_media_port() -> u16 {
    static N: AtomicU32 = AtomicU32::new(0);
    loop {
        let port = 32000 + (N.fetch_add(4, Ordering::Relaxed) % 760) as u16;
        let free = (port..port + 4).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return port;
        }
    }
}

/// The SIPp command for a scenario from `tests/sipp/` (or `builtin:NAME`)
/// against the server. Picks free local ports unless `args` names `-p`.
pub fn sipp_command(server: &Server, scenario: &str, args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg(server.sip_addr());
    match scenario.strip_prefix("builtin:") {
        Some(name) => cmd.args(["-sn", name]),
        None => cmd
            .arg("-sf")
            .arg(repo_root().join("tests/sipp").join(scenario)),
    };
    cmd.args([
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-mp",
        &sipp_media_port().to_string(),
    ]);
    if !args.contains(&"-p") {
        cmd.args(["-p", &free_port().to_string()]);
    }
    cmd.args([
        "-m",
        "1",
        "-timeout",
        "15",
        "-timeout_error",
        "-nostdin",
        "-trace_err",
        "-trace_msg",
    ])
    .args(args)
    .current_dir(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// SIPp's exit status and its logs, once it has finished.
pub fn sipp_report(out: std::process::Output, dir: &Path) -> (i32, String) {
    let mut report = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        report.push_str(&format!(
            "\n--- {} ---\n",
            entry.file_name().to_string_lossy()
        ));
        report.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    (out.status.code().unwrap_or(-1), report)
}

/// Runs SIPp to completion. Returns the exit status and SIPp's logs.
pub fn sipp(server: &Server, scenario: &str, args: &[&str]) -> (i32, String) {
    let dir = scratch("sipp");
    let out = sipp_command(server, scenario, args, &dir)
        .output()
        .expect("run sipp");
    sipp_report(out, &dir)
}

/// Starts SIPp in the background; join the handle for its status and logs.
pub fn sipp_background(
    server: &Server,
    scenario: &str,
    args: &[&str],
) -> std::thread::JoinHandle<(i32, String)> {
    let dir = scratch("sipp-bg");
    let child = sipp_command(server, scenario, args, &dir)
        .spawn()
        .expect("start sipp");
    // Ready once it holds its SIP port (a readiness poll, not a sleep).
    let port = args
        .iter()
        .position(|a| *a == "-p")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse::<u16>().ok());
    if let Some(port) = port {
        let deadline = Instant::now() + Duration::from_secs(5);
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::thread::spawn(move || sipp_report(child.wait_with_output().unwrap(), &dir))
}

/// Runs a `parkline` CLI command on the server's database; its stdout.
pub fn parkline_cli(server: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_parkline"))
        .arg("--config")
        .arg(&server.config)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a SIPp injection file with one line of fields.
pub fn inf(fields: &[&str]) -> PathBuf {
    let path = scratch("inf").join("fields.csv");
    std::fs::write(&path, format!("SEQUENTIAL\n{}\n", fields.join(";"))).unwrap();
    path
}

/// The status code and the body of a whole HTTP response (0 and empty if
/// it is not one).
fn status_and_body(out: &str) -> (u16, String) {
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}
