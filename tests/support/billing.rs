//! A small reference billing system for the tests: an HTTP server on
//! loopback that answers the switch's authorization questions the way an
//! operator's service would. Credit (seconds) per caller becomes a time
//! limit; no credit is a 402; a short code is routed to an extension; a
//! park or retrieval may be barred per caller. It keeps every question it
//! was asked (and its signature) for the test to look at; it can be slow.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The billing system's accounts and rules.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Seconds of talk each caller may buy; absent: unlimited.
    pub credit_s: HashMap<String, u64>,
    /// Short codes and the extension each reaches.
    pub short_codes: HashMap<String, String>,
    /// Callers barred from parking.
    pub no_park: Vec<String>,
    /// Callers barred from retrieving.
    pub no_retrieve: Vec<String>,
    /// How long an answer takes.
    pub delay: Duration,
    /// Only the questions of these callers take `delay` (empty: all).
    pub slow_callers: Vec<String>,
}

/// One question as the service received it.
#[derive(Clone, Debug)]
pub struct Asked {
    /// The JSON body.
    pub body: serde_json::Value,
    /// Its raw bytes (for the signature).
    pub raw: Vec<u8>,
    /// `X-Parkline-Signature`, if sent.
    pub signature: Option<String>,
}

/// A running billing system.
pub struct Billing {
    /// `http://127.0.0.1:PORT/decide`
    pub url: String,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Billing {
    /// Starts one on a free loopback port.
    pub fn start(plan: Plan) -> Billing {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/decide", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let plan = Arc::new(plan);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, plan) = (log.clone(), plan.clone());
                std::thread::spawn(move || serve(stream, &plan, &log));
            }
        });
        Billing { url, asked }
    }

    /// The questions so far.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    /// The questions of one kind so far.
    pub fn asked_about(&self, kind: &str) -> Vec<serde_json::Value> {
        self.asked()
            .into_iter()
            .map(|a| a.body)
            .filter(|b| b["kind"] == kind)
            .collect()
    }
}

/// The answer to one question.
fn decide(plan: &Plan, q: &serde_json::Value) -> serde_json::Value {
    let caller = q["caller"].as_str().unwrap_or_default();
    let callee = q["callee"].as_str().unwrap_or_default();
    match q["kind"].as_str().unwrap_or_default() {
        "call" => match plan.credit_s.get(caller) {
            Some(0) => {
                serde_json::json!({"allow": false, "status": 402, "cause": "No credit left"})
            }
            credit => {
                let mut allow = serde_json::json!({"allow": true});
                if let Some(s) = credit {
                    allow["max_duration_s"] = (*s).into();
                }
                if let Some(ext) = plan.short_codes.get(callee) {
                    allow["route"] = ext.clone().into();
                }
                allow
            }
        },
        "park" if plan.no_park.iter().any(|c| c == caller) => {
            serde_json::json!({"allow": false, "status": 403, "cause": "Parking barred"})
        }
        "retrieve" if plan.no_retrieve.iter().any(|c| c == caller) => {
            serde_json::json!({"allow": false, "status": 403, "cause": "Retrieval barred"})
        }
        _ => serde_json::json!({"allow": true}),
    }
}

fn serve(stream: TcpStream, plan: &Plan, log: &Mutex<Vec<Asked>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    let mut signature = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "x-parkline-signature" => signature = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut raw = vec![0; length];
    if reader.read_exact(&mut raw).is_err() {
        return;
    }
    let body: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
    let answer = decide(plan, &body).to_string();
    log.lock().unwrap().push(Asked {
        body: body.clone(),
        raw,
        signature,
    });
    let caller = body["caller"].as_str().unwrap_or_default();
    if plan.slow_callers.is_empty() || plan.slow_callers.iter().any(|c| c == caller) {
        std::thread::sleep(plan.delay);
    }
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
