//! How the switch names itself to a peer: its address on the peer's
//! transport, its `Via` (with a fresh branch) and its `Contact`.

use crate::config::SwitchConfig;
use crate::ids::Ids;
use crate::peer::{Peer, Transport};
use std::net::SocketAddr;

/// The switch's SIP address as a peer on `peer`'s transport sees it.
pub fn local_address(cfg: &SwitchConfig, peer: Peer) -> SocketAddr {
    match peer.transport {
        Transport::Tls(_) => cfg.local_tls.unwrap_or(cfg.local_sip),
        Transport::Udp | Transport::Tcp(_) => cfg.local_sip,
    }
}

/// A top `Via` for a new request to `peer`, with a fresh branch.
pub fn via(cfg: &SwitchConfig, ids: &mut Ids, peer: Peer) -> String {
    format!(
        "SIP/2.0/{} {};branch={};rport",
        peer.transport.via_name(),
        local_address(cfg, peer),
        ids.branch()
    )
}

/// Our `Contact` towards `peer`.
pub fn contact(cfg: &SwitchConfig, peer: Peer) -> String {
    let at = local_address(cfg, peer);
    match peer.transport {
        Transport::Udp => format!("<sip:parkline@{at}>"),
        Transport::Tcp(_) => format!("<sip:parkline@{at};transport=tcp>"),
        Transport::Tls(_) => format!("<sip:parkline@{at};transport=tls>"),
    }
}
