//! What the core asks its shell to do.

use crate::peer::Peer;
use accounts::Binding;
use bytes::Bytes;

/// A write the shell must make to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Insert or refresh a binding.
    SaveBinding(Binding),
    /// Remove a binding.
    RemoveBinding {
        /// Tenant name.
        tenant: String,
        /// Extension number.
        extension: String,
        /// Contact URI.
        contact: String,
    },
}

/// One output of the core.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send bytes to a peer.
    Transmit(Peer, Bytes),
    /// Persist something.
    Store(StoreOp),
}
