//! A whole cluster as `scripts/cluster` starts it: PostgreSQL, the Kamailio
//! edge on 127.0.0.1:5060 and N Parkline nodes on 127.0.0.11, .12, ...
//! Its addresses are fixed, so one cluster runs at a time in a test binary
//! ([`Cluster::up`] waits for the previous one to go).

use super::phone::Phone;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where phones and trunks send: the edge.
pub const EDGE: &str = "127.0.0.1:5060";

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running cluster; `down` when dropped.
pub struct Cluster {
    /// Its folder: PID files, logs, configurations.
    pub dir: PathBuf,
    /// Number of nodes.
    pub nodes: usize,
    _turn: MutexGuard<'static, ()>,
}

fn script(args: &[&str]) -> std::process::Output {
    Command::new(super::repo_root().join("scripts/cluster"))
        .args(args)
        .env("PARKLINE_BIN", env!("CARGO_BIN_EXE_parkline"))
        .output()
        .expect("run scripts/cluster")
}

impl Cluster {
    /// Starts a cluster of `nodes` nodes; `append` is TOML added to every
    /// node's configuration.
    pub fn up(name: &str, nodes: usize, append: &str) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = super::scratch(name);
        let extra = dir.join("append.toml");
        std::fs::write(&extra, append).unwrap();
        let n = nodes.to_string();
        let out = script(&[
            "up",
            "--nodes",
            &n,
            "--dir",
            dir.to_str().unwrap(),
            "--append",
            extra.to_str().unwrap(),
        ]);
        let cluster = Cluster {
            dir,
            nodes,
            _turn: turn,
        };
        assert!(
            out.status.success(),
            "scripts/cluster up failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            cluster.logs()
        );
        cluster
    }

    /// Node `i`'s SIP address (1-based).
    pub fn node_sip(&self, i: usize) -> String {
        format!("127.0.0.{}:5060", 10 + i)
    }

    /// A phone of extension `user` (password `secret-<user>`) registered
    /// through the edge.
    pub fn phone(&self, user: &str) -> Phone {
        let mut p = Phone::new(EDGE, user, &format!("secret-{user}"));
        p.register();
        p
    }

    /// GET `path` on node `i`'s admin API as the demo's configured admin
    /// token (none: `/health` and such).
    pub fn http_get(&self, i: usize, path: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-fsS", "-m", "5"])
            .arg(format!("http://127.0.0.{}:8080{path}", 10 + i))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `method` on node `i`'s admin API with bearer `token` and a JSON
    /// `body`: the status and the body.
    pub fn http(
        &self,
        i: usize,
        method: &str,
        path: &str,
        token: &str,
        body: &str,
    ) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "-m", "10", "-X", method, "-w", "\n%{http_code}"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "Content-Type: application/json", "--data", body])
            .arg(format!("http://127.0.0.{}:8080{path}", 10 + i))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), body.to_string())
    }

    /// The PID of the cluster's process `name` (`node-1`, `kamailio`...).
    pub fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `kill -9` of node `i`.
    pub fn kill_node(&self, i: usize) {
        let pid = self.pid(&format!("node-{i}")).expect("node's PID file");
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            // A zombie until the script's shell (gone) is reaped by init.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts node `i` again.
    pub fn start_node(&self, i: usize) {
        let n = i.to_string();
        let out = script(&[
            "start-node",
            "--dir",
            self.dir.to_str().unwrap(),
            "--node",
            &n,
        ]);
        assert!(
            out.status.success(),
            "start-node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The log of process `name`.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The tails of every log, for a failure's message.
    pub fn logs(&self) -> String {
        let mut names = vec!["kamailio".to_string()];
        names.extend((1..=self.nodes).map(|i| format!("node-{i}")));
        names
            .iter()
            .map(|n| {
                let text = self.log(n);
                let tail: Vec<&str> = text.lines().rev().take(25).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {n}.log (tail)\n{}\n", tail.join("\n"))
            })
            .collect()
    }

    /// Which node's log mentions `needle` (1-based), if one does.
    pub fn node_logging(&self, needle: &str) -> Vec<usize> {
        (1..=self.nodes)
            .filter(|&i| self.log(&format!("node-{i}")).contains(needle))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = script(&["down", "--dir", self.dir.to_str().unwrap()]);
        if !out.status.success() {
            eprintln!(
                "scripts/cluster down: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
