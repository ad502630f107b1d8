//! The shell's side of the operator's authorization service: each question
//! the core asks is POSTed as JSON to `[authorization] url` (signed like
//! the webhooks when a secret is set), and the answer goes back to the
//! core as a verdict. Anything but a well-formed answer within the
//! timeout (an error status, a dead service, nonsense) is `Unavailable`,
//! and the core's fallback decides. The core bounds how many questions
//! wait, so the tasks here are bounded too.

use crate::event::Event;
use std::time::Duration;
use switch::external_authorization::{AuthorizationRequest, Verdict};
use tokio::sync::mpsc;
use tracing::warn;

/// Longest time limit a service may grant (a day).
const MAX_TIME_LIMIT_S: u64 = 86_400;

/// Where questions go, and where verdicts come back.
#[derive(Clone)]
pub struct Authorizer {
    client: reqwest::Client,
    url: String,
    secret: Option<String>,
    events: mpsc::Sender<Event>,
}

/// The service's JSON answer.
#[derive(Debug, serde::Deserialize)]
struct Answer {
    allow: bool,
    /// Where the call goes instead (allowed calls).
    route: Option<String>,
    /// How long it may last once answered, seconds (allowed calls).
    max_duration_s: Option<u64>,
    /// SIP status of a refusal (400 to 699; default 403).
    status: Option<u16>,
    /// Why, in words (a refusal).
    cause: Option<String>,
}

/// The verdict an answer body gives, or why it gives none.
pub fn verdict_of(body: &[u8]) -> Result<Verdict, String> {
    let a: Answer = serde_json::from_slice(body).map_err(|e| format!("not an answer: {e}"))?;
    if a.allow {
        let time_limit = match a.max_duration_s {
            Some(0) => return Err("max_duration_s 0: refuse instead".into()),
            Some(s) if s > MAX_TIME_LIMIT_S => {
                return Err(format!("max_duration_s {s} is over a day"))
            }
            s => s.map(Duration::from_secs),
        };
        let route = a.route.filter(|r| !r.is_empty());
        if let Some(r) = &route {
            let digits = r.strip_prefix('+').unwrap_or(r);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("route '{r}' is not a number"));
            }
        }
        return Ok(Verdict::Allow { route, time_limit });
    }
    let status = a.status.unwrap_or(403);
    if !(400..=699).contains(&status) {
        return Err(format!("status {status} is not a refusal (400 to 699)"));
    }
    // A reason phrase is one line of text.
    let cause: String = a
        .cause
        .unwrap_or_else(|| "Refused by the authorization service".into())
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    Ok(Verdict::Refuse { status, cause })
}

impl Authorizer {
    /// Posting to `url` within `timeout`; verdicts to `events`.
    pub fn new(
        url: String,
        secret: Option<String>,
        timeout: Duration,
        events: mpsc::Sender<Event>,
    ) -> anyhow::Result<Authorizer> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Authorizer {
            client,
            url,
            secret,
            events,
        })
    }

    /// Asks the service (in a task); its verdict reaches the core later.
    pub fn ask(&self, request: AuthorizationRequest) {
        let this = self.clone();
        tokio::spawn(async move {
            let id = request.id;
            let verdict = this.post(&request).await.unwrap_or_else(|why| {
                warn!(id, %why, "authorization service: no usable answer, the fallback decides");
                Verdict::Unavailable
            });
            let _ = this.events.send(Event::Verdict(id, verdict)).await;
        });
    }

    async fn post(&self, request: &AuthorizationRequest) -> Result<Verdict, String> {
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let mut post = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(secret) = &self.secret {
            post = post.header(
                "X-Parkline-Signature",
                crate::webhooks::signature(secret, &body),
            );
        }
        let res = post.body(body).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let bytes = res.bytes().await.map_err(|e| e.to_string())?;
        verdict_of(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(
            verdict_of(br#"{"allow": true, "route": "555", "max_duration_s": 60}"#),
            Ok(Verdict::Allow {
                route: Some("555".into()),
                time_limit: Some(Duration::from_secs(60)),
            })
        );
        assert_eq!(
            verdict_of(br#"{"allow": false, "status": 402, "cause": "No credit\r\nX: y"}"#),
            Ok(Verdict::Refuse {
                status: 402,
                cause: "No creditX: y".into(),
            })
        );
        assert_eq!(
            verdict_of(br#"{"allow": false}"#)
                .map(|v| matches!(v, Verdict::Refuse { status: 403, .. })),
            Ok(true)
        );
        for bad in [
            &br#"{"allow": false, "status": 200}"#[..],
            br#"{"allow": true, "route": "sip:evil"}"#,
            br#"{"allow": true, "max_duration_s": 0}"#,
            br#"{"allow": "yes"}"#,
            b"<html>",
        ] {
            assert!(verdict_of(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
