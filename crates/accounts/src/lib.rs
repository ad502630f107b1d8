//! Parkline's account model: tenants (one PBX each), extensions, DIDs, trunks
//! and registrations, plus [`Directory`], the in-memory index the switch
//! consults on every request. Plain data, no IO.

#![warn(missing_docs)]

mod binding;
mod directory;
mod flow;
mod model;
mod record;
pub mod rules;

pub use binding::Binding;
pub use directory::Directory;
pub use flow::{Flow, FlowTransport};
pub use model::{
    Destinations, Did, Extension, OutboundLimits, Source, SrtpPolicy, Tenant, Trunk, TrunkAuth,
};
pub use record::{CallRecord, Outcome, ParkedCall};
