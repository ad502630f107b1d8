//! Parkline's SIP core, sans-IO: the message model, a byte parser and
//! serializer, URIs and headers, digest authentication, request validation,
//! and the transaction layer. Nothing here opens a socket or reads a clock:
//! time is passed in, and outputs are returned to the caller.

#![warn(missing_docs)]

pub mod cseq;
pub mod dialog;
pub mod digest;
pub mod framer;
pub mod grammar;
pub mod header;
pub mod host;
pub mod message;
pub mod method;
pub mod name_addr;
pub mod param;
pub mod parser;
pub mod replaces;
pub mod transaction;
pub mod uri;
pub mod validate;
pub mod via;

pub use cseq::CSeq;
pub use header::{Header, Headers, Name};
pub use host::Host;
pub use message::{reason_phrase, Message, Request, Response, SipHeaders};
pub use method::Method;
pub use name_addr::{ContactList, NameAddr};
pub use param::{Param, Params};
pub use parser::{parse_datagram, parse_stream, Limits, ParseError, StreamItem};
pub use replaces::Replaces;
pub use uri::{Scheme, Uri};
pub use via::Via;
