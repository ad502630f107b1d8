//! A headless Chromium driven through Selenium (`tests/console/browser.py`,
//! Debian's chromium, chromium-driver and python3-selenium): one JSON
//! command per line, one answer per line. The browser only reports what
//! it sees; the test decides.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Debian's Python, which has python3-selenium (the toolchain's own
/// Python may not).
const PYTHON: &str = "/usr/bin/python3";

/// A running browser.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// Whether Debian's Selenium is installed.
fn selenium_installed() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Browser {
    /// A browser for `test`, or `None` (reported as skipped, or a failure
    /// under `PARKLINE_REQUIRE_PEERS`) when the tools are missing.
    pub fn start(test: &str) -> Option<Browser> {
        if !super::peers_ready(test, &["chromium", "chromedriver"]) {
            return None;
        }
        if !selenium_installed() {
            let why = "python3-selenium is not installed (scripts/test installs it)";
            if super::required() {
                panic!("{test}: {why}");
            }
            eprintln!("SKIP {test}: {why}");
            return None;
        }
        let script = super::repo_root().join("tests/console/browser.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the browser driver starts");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut browser = Browser {
            child,
            input,
            output,
        };
        assert_eq!(browser.answer(), Ok(json!("ready")));
        Some(browser)
    }

    fn answer(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .expect("the browser driver answers");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the browser driver said: {line:?}"));
        if v["ok"] == true {
            Ok(v["value"].clone())
        } else {
            Err(v["error"].as_str().unwrap_or("?").to_string())
        }
    }

    /// One command; its answer or what went wrong.
    pub fn try_cmd(&mut self, cmd: Value) -> Result<Value, String> {
        writeln!(self.input, "{cmd}").expect("the browser driver reads");
        self.answer()
    }

    /// One command that must succeed.
    pub fn cmd(&mut self, cmd: Value) -> Value {
        let shown = cmd.to_string();
        self.try_cmd(cmd)
            .unwrap_or_else(|e| panic!("browser: {shown}: {e}"))
    }

    /// Goes to `url`; the URL it ends at.
    pub fn open(&mut self, url: &str) -> String {
        self.cmd(json!({"op": "open", "url": url}))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The URL shown now.
    pub fn url(&mut self) -> String {
        self.cmd(json!({"op": "url"})).as_str().unwrap().to_string()
    }

    /// Waits (10 s) until the URL ends with `suffix` (after a click).
    pub fn wait_url(&mut self, suffix: &str) {
        self.cmd(json!({"op": "wait_url", "suffix": suffix}));
    }

    /// Types `value` into the field `css`.
    pub fn fill(&mut self, css: &str, value: &str) {
        self.cmd(json!({"op": "fill", "css": css, "value": value}));
    }

    /// Clicks `css`.
    pub fn click(&mut self, css: &str) {
        self.cmd(json!({"op": "click", "css": css}));
    }

    /// The texts of the elements `css`.
    pub fn texts(&mut self, css: &str) -> Vec<String> {
        serde_json::from_value(self.cmd(json!({"op": "texts", "css": css}))).unwrap()
    }

    /// Waits (10 s) until an element `css` contains `text`; their texts.
    pub fn wait_text(&mut self, css: &str, text: &str) -> Vec<String> {
        serde_json::from_value(self.cmd(json!({"op": "wait_text", "css": css, "text": text})))
            .unwrap()
    }

    /// Waits (10 s) until no element `css` contains `text`.
    pub fn wait_no_text(&mut self, css: &str, text: &str) {
        self.cmd(json!({"op": "wait_no_text", "css": css, "text": text}));
    }

    /// Runs `js` (a function body: `return ...`) in the page.
    pub fn eval(&mut self, js: &str) -> Value {
        self.cmd(json!({"op": "eval", "js": js}))
    }

    /// The page's cookies as WebDriver reports them.
    pub fn cookies(&mut self) -> Vec<Value> {
        serde_json::from_value(self.cmd(json!({"op": "cookies"}))).unwrap()
    }

    /// Every URL the page loaded (itself and its resources).
    pub fn loaded(&mut self) -> Vec<String> {
        serde_json::from_value(self.cmd(json!({"op": "requests"}))).unwrap()
    }

    /// The browser console's messages.
    pub fn console_log(&mut self) -> Vec<String> {
        serde_json::from_value(self.cmd(json!({"op": "console_log"}))).unwrap()
    }

    /// Saves a screenshot (PNG) of the page.
    pub fn screenshot(&mut self, path: &std::path::Path) {
        self.cmd(json!({"op": "screenshot", "path": path}));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "{}", json!({"op": "quit"}));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
