//! Parkline's call logic, sans-IO. [`Switch`] takes input events (a message
//! from a peer, a timer deadline) with the current time and returns outputs
//! (bytes to send to a peer, writes for the store) and its next deadline.
//! The tokio shell in the `parkline` binary owns sockets and clocks.

#![warn(missing_docs)]

mod addressing;
mod auth;
mod authorize;
mod call;
mod config;
mod deadlines;
pub mod external_authorization;
mod feature_code;
mod feature_refusal;
mod guessing;
mod ids;
mod lamp;
mod lot;
mod media_security;
mod node_proof;
mod outbound;
mod ports;
pub mod prompts;
mod reachability;
mod switchboard;
pub use crate::switchboard::{Stats, TenantLoad, METHOD_LABELS};
mod output;
mod peer;
mod rate_limit;
mod registrar;
mod respond;
pub mod snapshot;
mod subscriptions;
mod switch_event;
mod tenancy;
mod time;

pub use auth::{ha1, AuthOutcome, Authenticator, Refusal};
pub use authorize::{CallRequest, Caller, Decision, Route};
pub use call::{CallEvent, TimeLimit};
pub use config::SwitchConfig;
pub use feature_code::Feature;
pub use feature_refusal::FeatureRefusal;
pub use guessing::GuessLimits;
pub use lot::Position;
pub use output::{MediaCommand, MediaEvent, OpenFailure, Output, StoreOp};
pub use peer::{Peer, Transport};
pub use registrar::Registrar;
pub use switch_event::{EventKind, Refused, SwitchEvent};
pub use switchboard::{
    LiveCall, MoveAnswer, MoveRefusal, MoveStarted, ParkedInfo, PositionClaim, PositionLookup,
    Resumed, SendRefusal, Switch,
};
pub use time::Now;
