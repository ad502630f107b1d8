//! Webhooks: each configured receiver gets the switch's events it asked
//! for as JSON POSTs, signed (`X-Parkline-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the body under its secret) and retried with backoff. One
//! task per receiver reads the event stream into its own bounded queue:
//! a slow or dead receiver costs only that queue (the oldest events are
//! dropped, and counted) and never the calls.

use crate::config::WebhookConfig;
use crate::event_stream::{EventStream, Published};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

/// Events a receiver's queue holds at most.
const QUEUE: usize = 10_000;
/// Tries per event before it is dropped.
const TRIES: u32 = 6;
/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// Events the webhooks dropped (queue full or out of tries), all receivers.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Dropped.
    pub dropped: AtomicU64,
    /// Delivered (2xx).
    pub delivered: AtomicU64,
}

/// Starts one task per receiver.
pub fn spawn(hooks: &[WebhookConfig], stream: &EventStream) -> Arc<WebhookStats> {
    let stats = Arc::new(WebhookStats::default());
    for hook in hooks {
        let target = Target {
            url: hook.url.get_ref().clone(),
            events: hook.events.clone(),
            tenant: hook.tenant.clone(),
            secret: hook.secret.clone().unwrap_or_default(),
        };
        tokio::spawn(run(target, stream.subscribe(), stats.clone()));
    }
    stats
}

/// One receiver.
struct Target {
    url: String,
    events: Vec<String>,
    tenant: Option<String>,
    secret: String,
}

impl Target {
    fn wants(&self, p: &Published) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == p.tenant)
            && (self.events.is_empty() || self.events.contains(&p.kind))
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn run(
    target: Target,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Published>>,
    stats: Arc<WebhookStats>,
) {
    let client = match reqwest::Client::builder().timeout(POST_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            warn!(url = %target.url, "webhook client: {e}");
            return;
        }
    };
    let mut queue: VecDeque<Arc<Published>> = VecDeque::new();
    loop {
        // Take everything waiting (never blocking the stream), then send
        // the oldest; wait for more only when the queue is empty.
        loop {
            match rx.try_recv() {
                Ok(p) => enqueue(&target, &mut queue, p, &stats),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    stats.dropped.fetch_add(n, Ordering::Relaxed);
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                Err(tokio::sync::broadcast::error::TryRecvError::Closed) => return,
            }
        }
        let Some(next) = queue.pop_front() else {
            match rx.recv().await {
                Ok(p) => enqueue(&target, &mut queue, p, &stats),
                Err(RecvError::Lagged(n)) => {
                    stats.dropped.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => return,
            }
            continue;
        };
        deliver(&client, &target, &next, &stats).await;
    }
}

fn enqueue(
    target: &Target,
    queue: &mut VecDeque<Arc<Published>>,
    p: Arc<Published>,
    stats: &WebhookStats,
) {
    if !target.wants(&p) {
        return;
    }
    if queue.len() >= QUEUE {
        queue.pop_front();
        stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
    queue.push_back(p);
}

/// POSTs one event, retried with backoff (0.5 s, doubling) on failure.
async fn deliver(client: &reqwest::Client, target: &Target, p: &Published, stats: &WebhookStats) {
    let mut wait = Duration::from_millis(500);
    for attempt in 1..=TRIES {
        let sent = client
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                "X-Parkline-Signature",
                signature(&target.secret, p.json.as_bytes()),
            )
            .body(p.json.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(r) => debug!(url = %target.url, status = %r.status(), attempt, "webhook refused"),
            Err(e) => debug!(url = %target.url, attempt, "webhook failed: {e}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
    warn!(url = %target.url, "webhook: an event dropped after {TRIES} tries");
    stats.dropped.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signature_is_the_rfc_4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
