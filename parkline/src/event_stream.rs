//! The events of the switch as a stream for operators' tools: each one as
//! a JSON object on a broadcast channel that every `GET /api/events`
//! client (server-sent events) reads from, filtered by tenant. The core
//! task only publishes; a slow client misses events (counted) and never
//! holds the core up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use switch::SwitchEvent;
use tokio::sync::broadcast;

/// Events a client may fall behind by before it misses some.
const BACKLOG: usize = 4096;

/// One published event: its tenant and type (for filtering) and its JSON.
#[derive(Debug)]
pub struct Published {
    /// Tenant name.
    pub tenant: String,
    /// Its type (`call_started`, ...; a call event's own name: `parked`).
    pub kind: String,
    /// The event as a JSON object.
    pub json: String,
}

/// The publishing side, shared by the core task and the HTTP API.
#[derive(Clone)]
pub struct EventStream {
    tx: broadcast::Sender<Arc<Published>>,
    dropped: Arc<AtomicU64>,
}

impl Default for EventStream {
    fn default() -> Self {
        EventStream {
            tx: broadcast::channel(BACKLOG).0,
            dropped: Arc::default(),
        }
    }
}

impl EventStream {
    /// Publishes `ev` to every client (nothing to do without clients).
    pub fn publish(&self, ev: &SwitchEvent) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let Ok(json) = serde_json::to_string(ev) else {
            return;
        };
        let kind = match &ev.kind {
            switch::EventKind::Call { event } => event.name().to_string(),
            other => other.name().to_string(),
        };
        let _ = self.tx.send(Arc::new(Published {
            tenant: ev.tenant.clone(),
            kind,
            json,
        }));
    }

    /// A new client's receiver.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }

    /// Notes `n` events a client missed.
    pub fn missed(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Events clients missed since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
