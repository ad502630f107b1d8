//! The store thread: applies the core's writes off the signalling path and
//! notices changes made by other processes (the CLI) to reload accounts.

use crate::shell::Event;
use std::sync::mpsc;
use std::time::Duration;
use store::{SqliteStore, Store};
use switch::StoreOp;
use tokio::sync::mpsc as tmpsc;
use tracing::{error, info};

/// Messages to the store thread.
pub enum StoreMsg {
    /// Apply a write.
    Op(StoreOp),
    /// Flush and stop.
    Stop,
}

/// Runs the store thread until [`StoreMsg::Stop`] or the channel closes.
pub fn run(mut store: SqliteStore, rx: mpsc::Receiver<StoreMsg>, events: tmpsc::Sender<Event>) {
    let mut version = store.data_version().unwrap_or(0);
    loop {
        match rx.recv_timeout(Duration::from_secs(2)) {
            Ok(StoreMsg::Op(op)) => apply(&mut store, op),
            Ok(StoreMsg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = store.data_version().unwrap_or(version);
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

fn apply(store: &mut SqliteStore, op: StoreOp) {
    let result = match &op {
        StoreOp::SaveBinding(b) => store.save_binding(b),
        StoreOp::RemoveBinding {
            tenant,
            extension,
            contact,
        } => store.remove_binding(tenant, extension, contact),
        StoreOp::SaveCallRecord(r) => store.save_call_record(r),
        StoreOp::SaveParked(p) => store.save_parked(p),
        StoreOp::RemoveParked { tenant, position } => store.remove_parked(tenant, position),
    };
    if let Err(e) = result {
        error!("store write failed: {e}");
    }
}
