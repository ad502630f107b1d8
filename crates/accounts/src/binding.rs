//! A registration: where an extension can be reached.

use serde::Serialize;

/// One registered contact of an extension (RFC 3261 §10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// Tenant name.
    pub tenant: String,
    /// Extension number.
    pub extension: String,
    /// Contact URI exactly as registered (never rebuilt from the extension).
    pub contact: String,
    /// Where the REGISTER came from (requests to the phone go back so).
    pub source: crate::Flow,
    /// Expiry, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// Call-ID of the registering UA (RFC 3261 §10.3 step 7).
    pub call_id: String,
    /// CSeq of the latest REGISTER for this binding.
    pub cseq: u32,
    /// User-Agent, if given.
    pub user_agent: String,
    /// `Path` URIs of the REGISTER (RFC 3327), in order: requests to the
    /// phone carry them as `Route` headers (empty when registered
    /// directly).
    pub path: Vec<String>,
}
