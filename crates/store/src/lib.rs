//! Persistence for Parkline: the [`Store`] trait, implemented on an
//! embedded SQLite file and on PostgreSQL (a cluster's shared store), each
//! with versioned migrations. The switch never calls the store
//! on its hot path: it works from an in-memory [`accounts::Directory`] and
//! hands writes (bindings) to a writer outside the core.

#![warn(missing_docs)]

#[cfg(test)]
mod contract_tests;
pub mod location;
mod migrations;
mod postgres;
mod postgres_migrations;
mod sqlite;

pub use crate::postgres::PostgresStore;
pub use location::Location;
pub use sqlite::SqliteStore;

use accounts::{Binding, CallRecord, Did, Directory, Extension, ParkedCall, Source, Tenant, Trunk};

/// A store error with context.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {}", postgres_detail(.0))]
    Postgres(#[from] ::postgres::Error),
    /// A reference to something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Anything else wrong with the data.
    #[error("{0}")]
    Invalid(String),
    /// The change would leave something dangling (what remains, in words).
    #[error("{0}")]
    Conflict(String),
    /// A write inside [`Store::transaction`] failed (a deadlock with
    /// another node's writes, say), so PostgreSQL rolled the whole
    /// transaction back: none of its writes were kept.
    #[error("a write in the transaction failed: all of it was rolled back")]
    RolledBack,
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What PostgreSQL said, with its SQLSTATE (the client's own text for a
/// server error is only "db error"), or the client's error and its cause.
fn postgres_detail(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Everything Parkline keeps across restarts. Implementations: SQLite now,
/// PostgreSQL later (same schema).
pub trait Store: Send {
    /// Inserts or updates a tenant (by name).
    fn upsert_tenant(&mut self, t: &Tenant) -> Result<()>;
    /// Inserts or updates an extension (by tenant and number).
    fn upsert_extension(&mut self, e: &Extension) -> Result<()>;
    /// Deletes an extension (and its DIDs' routes stay: they then reach
    /// nobody); whether it existed.
    fn delete_extension(&mut self, tenant: &str, number: &str) -> Result<bool>;
    /// Deletes a tenant's DID; whether it existed.
    fn delete_did(&mut self, tenant: &str, number: &str) -> Result<bool>;
    /// Deletes a tenant that has no extensions, DIDs or trunks left
    /// (`StoreError::Conflict` names what remains); whether it existed.
    fn delete_tenant(&mut self, name: &str) -> Result<bool>;
    /// Deletes a trunk; whether it existed.
    fn delete_trunk(&mut self, name: &str) -> Result<bool>;
    /// Inserts or updates a DID (by number).
    fn upsert_did(&mut self, d: &Did) -> Result<()>;
    /// Inserts or updates a trunk (by name).
    fn upsert_trunk(&mut self, t: &Trunk) -> Result<()>;
    /// Removes config-sourced items that the config no longer declares.
    fn prune_config_items(&mut self, keep: &ConfigKeys) -> Result<usize>;
    /// All tenants.
    fn tenants(&self) -> Result<Vec<Tenant>>;
    /// All extensions (optionally of one tenant).
    fn extensions(&self, tenant: Option<&str>) -> Result<Vec<Extension>>;
    /// All DIDs (optionally of one tenant).
    fn dids(&self, tenant: Option<&str>) -> Result<Vec<Did>>;
    /// All trunks.
    fn trunks(&self) -> Result<Vec<Trunk>>;
    /// Saves (inserts or refreshes) a binding.
    fn save_binding(&mut self, b: &Binding) -> Result<()>;
    /// Removes one binding; with `expired_by`, only if it expires by then
    /// (a refresh stored since, by another node, keeps it).
    fn remove_binding(
        &mut self,
        tenant: &str,
        extension: &str,
        contact: &str,
        expired_by: Option<u64>,
    ) -> Result<()>;
    /// Every stored binding.
    fn bindings(&self) -> Result<Vec<Binding>>;
    /// Saves a call record (insert or replace by id).
    fn save_call_record(&mut self, r: &CallRecord) -> Result<()>;
    /// The newest call records, newest first (optionally of one tenant).
    fn call_records(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<CallRecord>>;
    /// Records a parked call.
    fn save_parked(&mut self, p: &ParkedCall) -> Result<()>;
    /// Forgets a parked call.
    fn remove_parked(&mut self, tenant: &str, position: &str) -> Result<()>;
    /// Parked calls, oldest first (optionally of one tenant).
    fn parked(&self, tenant: Option<&str>) -> Result<Vec<ParkedCall>>;
    /// Forgets every parked call (at start, before resumed calls park again).
    fn clear_parked(&mut self) -> Result<usize>;
    /// Saves (inserts or replaces) a live call's snapshot.
    fn save_live_call(&mut self, id: u64, state: &str) -> Result<()>;
    /// Forgets a live call.
    fn remove_live_call(&mut self, id: u64) -> Result<()>;
    /// Every live call's snapshot, by id.
    fn live_calls(&self) -> Result<Vec<(u64, String)>>;
    /// Replaces every media checkpoint with these.
    fn replace_media_checkpoints(&mut self, all: &[MediaCheckpoint]) -> Result<()>;
    /// Every media checkpoint.
    fn media_checkpoints(&self) -> Result<Vec<MediaCheckpoint>>;

    /// Claims a parking position for this node: true when the position
    /// was free (or this node's own), and `p` is now there; false when
    /// another node holds it. The database decides, so two nodes claiming
    /// one position at once get one true and one false.
    fn claim_parked(&mut self, p: &ParkedCall) -> Result<bool>;
    /// Says where this node takes SIP (`ip:port`), for the other nodes.
    fn announce_node(&mut self, sip: &str, now_ms: u64) -> Result<()>;
    /// The SIP address of the other node that holds a parked call at
    /// `position`, if another does.
    fn holder_of(&self, tenant: &str, position: &str) -> Result<Option<String>>;
    /// Runs `f` inside one transaction: many writes, one commit. `f`'s
    /// own errors are its business. If no transaction can be begun, `f`
    /// still runs, write by write, and the error is returned for the log;
    /// a failed commit is rolled back (its writes are lost, and the error
    /// says so), never left open. Where one failed write spoils the rest
    /// (PostgreSQL), the transaction is rolled back and the answer is
    /// [`StoreError::RolledBack`]: the caller may write again one by one.
    fn transaction(&mut self, f: &mut dyn FnMut(&mut dyn Store)) -> Result<()>;
    /// A number that changes whenever the accounts (tenants, extensions,
    /// DIDs, trunks) change, whoever changed them: a running switch
    /// reloads when it moves.
    fn accounts_version(&self) -> Result<i64>;
    /// The schema version (0: never used by Parkline).
    fn schema_version(&self) -> Result<usize>;

    /// Loads the whole directory.
    fn load_directory(&self) -> Result<Directory> {
        Ok(Directory::new(
            self.tenants()?,
            self.extensions(None)?,
            self.dids(None)?,
            self.trunks()?,
        ))
    }
}

/// Where an RTP stream the switch sends had got to, so that after a
/// restart it continues (same SSRC, sequence numbers and timestamps ahead
/// of any sent) instead of starting over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaCheckpoint {
    /// The switch's RTP port that sends it.
    pub port: u16,
    /// Its SSRC.
    pub ssrc: u32,
    /// Last sequence number sent.
    pub seq: u16,
    /// Last RTP timestamp sent.
    pub ts: u32,
    /// SRTP rollover counter of the sender (0 for plain RTP).
    pub roc: u32,
    /// When, Unix milliseconds.
    pub at_ms: u64,
}

/// The keys of every item a config declares, for pruning.
#[derive(Clone, Debug, Default)]
pub struct ConfigKeys {
    /// Tenant names.
    pub tenants: Vec<String>,
    /// (tenant, number) of extensions.
    pub extensions: Vec<(String, String)>,
    /// DID numbers.
    pub dids: Vec<String>,
    /// Trunk names.
    pub trunks: Vec<String>,
}

/// Helper for implementations: provenance from a stored string.
pub fn source_of(s: &str) -> Source {
    Source::parse(s)
}

/// Helper for implementations: a binding's Path as stored, one URI a line
/// (header values are unfolded, so they hold no line breaks).
pub(crate) fn path_to_text(path: &[String]) -> String {
    path.join("\n")
}

/// Helper for implementations: a binding's Path from its stored text.
pub(crate) fn path_from_text(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
