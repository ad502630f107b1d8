//! Socket IO: UDP readers and TCP and TLS connections feeding the core's event queue.

pub mod tcp;
pub mod tls;
pub mod udp;
