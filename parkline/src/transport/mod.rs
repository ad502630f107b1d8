//! Socket IO: UDP readers and TCP connections feeding the core's event queue.

pub mod tcp;
pub mod udp;
