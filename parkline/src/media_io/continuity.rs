//! Streams that continue across a restart: where each stream of the last
//! process had got to (read at start) and where this one's have (written
//! every second and at a clean stop), so a party hears one stream, not a
//! new one, after the switch comes back.

use media::Engine;

/// The streams of the previous process to continue, and where checkpoints go.
#[derive(Clone)]
pub struct Continuity {
    /// By port: where the stream had got to, and when (Unix ms).
    pub resume: std::collections::HashMap<u16, (media::engine::StreamPosition, u64)>,
    /// The store thread.
    pub store: crate::persist::StoreQueue,
}

impl Continuity {
    /// From the store's checkpoints.
    pub fn from_checkpoints(
        all: Vec<store::MediaCheckpoint>,
        store: crate::persist::StoreQueue,
    ) -> Continuity {
        let resume = all
            .into_iter()
            .map(|c| {
                let pos = media::engine::StreamPosition {
                    ssrc: c.ssrc,
                    seq: c.seq,
                    ts: c.ts,
                };
                (c.port, (pos, c.at_ms))
            })
            .collect();
        Continuity { resume, store }
    }

    /// Sends where every stream of shard `shard` has got to.
    pub(super) fn write(&self, shard: usize, engine: &Engine) {
        let at_ms = unix_ms();
        let all = engine
            .positions()
            .map(|(port, p)| store::MediaCheckpoint {
                port,
                ssrc: p.ssrc,
                seq: p.seq,
                ts: p.ts,
                roc: 0,
                at_ms,
            })
            .collect();
        self.store.push(crate::persist::StoreMsg::Media {
            shard,
            streams: all,
        });
    }
}

pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
