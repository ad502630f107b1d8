//! The store thread: applies the core's writes off the signalling path and
//! notices changes made by other processes (the CLI) to reload accounts.

mod checkpoints;

use crate::event::Event;
use checkpoints::Checkpoints;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use store::Store;
use switch::StoreOp;
use tokio::sync::mpsc as tmpsc;
use tracing::{error, info, warn};

/// Messages to the store thread.
pub enum StoreMsg {
    /// Apply a write.
    Op(StoreOp),
    /// Where the media streams of one media thread had got to (replaces
    /// that thread's last ones; the store keeps every thread's latest).
    Media {
        /// The media thread.
        shard: usize,
        /// Its streams.
        streams: Vec<store::MediaCheckpoint>,
    },
    /// Flush and stop.
    Stop,
}

/// Writes waiting for the store thread, at most: a store that cannot keep
/// up costs writes (counted, logged), never the core's memory or its pace.
pub const QUEUE: usize = 200_000;

/// The sending side of the store thread's bounded queue.
///
/// The bound is a count beside a growable channel, not a preallocated
/// ring: a ring of [`QUEUE`] slots is written whole when it is made, 40 MiB
/// of an idle switch's memory for a queue that is nearly always empty.
#[derive(Clone)]
pub struct StoreQueue {
    tx: mpsc::Sender<StoreMsg>,
    /// Messages sent and not yet taken by the store thread.
    depth: Arc<AtomicUsize>,
    /// Writes dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
}

/// The store thread's side of the queue: what it takes frees room.
pub struct StoreInbox {
    rx: mpsc::Receiver<StoreMsg>,
    depth: Arc<AtomicUsize>,
}

impl StoreQueue {
    /// A queue and the inbox the store thread reads.
    pub fn new() -> (StoreQueue, StoreInbox) {
        let (tx, rx) = mpsc::channel();
        let depth = Arc::new(AtomicUsize::new(0));
        let queue = StoreQueue {
            tx,
            depth: depth.clone(),
            dropped: Default::default(),
        };
        (queue, StoreInbox { rx, depth })
    }

    /// Queues a write; a full queue drops it and counts it.
    pub fn push(&self, msg: StoreMsg) {
        if self.depth.fetch_add(1, Ordering::Relaxed) >= QUEUE {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                error!(dropped = n + 1, "the store queue is full: writes dropped");
            }
            return;
        }
        let _ = self.tx.send(msg);
    }

    /// Queues the stop, beyond the bound: it is never dropped.
    pub fn stop(&self) {
        self.depth.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(StoreMsg::Stop);
    }
}

impl StoreInbox {
    fn recv_timeout(&self, wait: Duration) -> Result<StoreMsg, mpsc::RecvTimeoutError> {
        let msg = self.rx.recv_timeout(wait)?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Ok(msg)
    }

    fn try_recv(&self) -> Result<StoreMsg, mpsc::TryRecvError> {
        let msg = self.rx.try_recv()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Ok(msg)
    }
}

/// Most writes committed together.
const BATCH: usize = 2000;
/// How often other processes' writes are looked for.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Runs the store thread until [`StoreMsg::Stop`] or the channel closes.
/// Writes that queued up meanwhile are committed as one transaction, so the
/// store keeps up with thousands of call records a second.
///
/// `baseline` is the store's data version read *before* the directory the
/// core starts from was loaded: a change another process commits after that
/// load (even before this thread starts) differs from it and is reloaded.
pub fn run(mut store: Box<dyn Store>, baseline: i64, rx: StoreInbox, events: tmpsc::Sender<Event>) {
    let mut version = baseline;
    // The first look is at once: the start-up window is the likeliest
    // moment for a change to have slipped in.
    let mut checked = Instant::now() - RELOAD_CHECK;
    let mut batch = Vec::with_capacity(BATCH);
    // Every media thread's latest checkpoints: the store holds their union.
    let mut checkpoints = Checkpoints::default();
    let mut keep = |shard: usize, streams| Some(checkpoints.keep(shard, streams));
    loop {
        let mut stop = false;
        let mut media = None;
        match rx.recv_timeout(RELOAD_CHECK) {
            Ok(StoreMsg::Op(op)) => batch.push(op),
            Ok(StoreMsg::Media { shard, streams }) => media = keep(shard, streams),
            Ok(StoreMsg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => stop = true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        while !stop && (!batch.is_empty() || media.is_some()) && batch.len() < BATCH {
            match rx.try_recv() {
                Ok(StoreMsg::Op(op)) => batch.push(op),
                Ok(StoreMsg::Media { shard, streams }) => media = keep(shard, streams),
                Ok(StoreMsg::Stop) | Err(mpsc::TryRecvError::Disconnected) => stop = true,
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if !batch.is_empty() || media.is_some() {
            let ops = latest_only(std::mem::take(&mut batch));
            let mut write = |s: &mut dyn Store| {
                ops.iter().for_each(|op| apply(s, op));
                if let Some(m) = &media {
                    if let Err(e) = s.replace_media_checkpoints(m) {
                        error!("media checkpoint write failed: {e}");
                    }
                }
            };
            match store.transaction(&mut write) {
                Ok(()) => {}
                // One write failed (a deadlock with another node's writes,
                // say) and took the others with it: each on its own now,
                // so that only the failing one is lost.
                Err(store::StoreError::RolledBack) => {
                    warn!(
                        writes = ops.len(),
                        "store transaction rolled back: writing one by one"
                    );
                    write(store.as_mut());
                }
                Err(e) => error!("store commit failed: {e}"),
            }
        }
        if stop {
            return;
        }
        if checked.elapsed() < RELOAD_CHECK {
            continue;
        }
        checked = Instant::now();
        let now = store.accounts_version().unwrap_or(version);
        if now != version {
            version = now;
            match store.load_directory() {
                Ok(dir) => {
                    info!("accounts changed in the store: reloading");
                    if events
                        .blocking_send(Event::Directory(Box::new(dir)))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => error!("cannot reload accounts: {e}"),
            }
        }
    }
}

/// The batch without the snapshots a later write of the same call replaces
/// (a call that rings, is answered and ends within one batch costs one
/// delete, not three writes).
fn latest_only(ops: Vec<StoreOp>) -> Vec<StoreOp> {
    let call_of = |op: &StoreOp| match op {
        StoreOp::SaveCall(s) => Some(s.id),
        StoreOp::RemoveCall(id) => Some(*id),
        _ => None,
    };
    let mut last = std::collections::HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(id) = call_of(op) {
            last.insert(id, i);
        }
    }
    ops.into_iter()
        .enumerate()
        .filter(|(i, op)| call_of(op).is_none_or(|id| last.get(&id) == Some(i)))
        .map(|(_, op)| op)
        .collect()
}

fn apply(store: &mut dyn Store, op: &StoreOp) {
    let result = match op {
        StoreOp::SaveBinding(b) => store.save_binding(b),
        StoreOp::RemoveBinding {
            tenant,
            extension,
            contact,
            expired_by,
        } => store.remove_binding(tenant, extension, contact, *expired_by),
        StoreOp::SaveCallRecord(r) => store.save_call_record(r),
        StoreOp::SaveParked(p) => store.save_parked(p),
        StoreOp::RemoveParked { tenant, position } => store.remove_parked(tenant, position),
        StoreOp::SaveCall(snapshot) => match serde_json::to_string(snapshot) {
            Ok(text) => store.save_live_call(snapshot.id, &text),
            Err(e) => {
                error!(call = snapshot.id, "call snapshot not serialisable: {e}");
                Ok(())
            }
        },
        StoreOp::RemoveCall(id) => store.remove_live_call(*id),
    };
    if let Err(e) = result {
        error!("store write failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounts::Tenant;

    /// The start-up race: the CLI commits between the load of the directory
    /// the core starts from and the moment the store thread first looks.
    fn removal(n: usize) -> StoreMsg {
        StoreMsg::Op(StoreOp::RemoveCall(n as u64))
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_what_is_taken_makes_room() {
        let (queue, inbox) = StoreQueue::new();
        for n in 0..QUEUE + 3 {
            queue.push(removal(n));
        }
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 3);
        assert!(matches!(
            inbox.try_recv(),
            Ok(StoreMsg::Op(StoreOp::RemoveCall(0)))
        ));
        queue.push(removal(7));
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 3, "room for one");
        queue.push(removal(8));
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 4);
        queue.stop();
        let mut last = None;
        while let Ok(msg) = inbox.try_recv() {
            last = Some(msg);
        }
        assert!(
            matches!(last, Some(StoreMsg::Stop)),
            "the stop is never dropped"
        );
        assert_eq!(inbox.depth.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_change_committed_before_the_store_thread_starts_is_reloaded() {
        let dir = std::env::temp_dir().join(format!("parkline-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("race.db");
        let _ = std::fs::remove_file(&path);
        let store = store::SqliteStore::open(&path).unwrap();
        let baseline = store.accounts_version().unwrap();
        let loaded = store.load_directory().unwrap();
        assert!(loaded.tenant("late").is_none());
        let mut cli = store::SqliteStore::open(&path).unwrap();
        cli.upsert_tenant(&Tenant::new("late", "late.example"))
            .unwrap();
        let (queue, rx) = StoreQueue::new();
        let (events_tx, mut events) = tmpsc::channel(4);
        let thread = std::thread::spawn(move || run(Box::new(store), baseline, rx, events_tx));
        let deadline = Instant::now() + Duration::from_secs(5);
        let reloaded = loop {
            match events.try_recv() {
                Ok(Event::Directory(d)) => break Some(d),
                Ok(_) => {}
                Err(_) if Instant::now() > deadline => break None,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        queue.stop();
        thread.join().unwrap();
        let reloaded = reloaded.expect("the change was never reloaded");
        assert!(reloaded.tenant("late").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
