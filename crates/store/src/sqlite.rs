//! The embedded SQLite store.

use crate::migrations::MIGRATIONS;
use crate::{source_of, ConfigKeys, MediaCheckpoint, Result, Store, StoreError};
use accounts::{
    Binding, CallRecord, Destinations, Did, Extension, OutboundLimits, Outcome, ParkedCall,
    SrtpPolicy, Tenant, Trunk, TrunkAuth,
};

/// A stored prefix list (comma-separated) as a list.
fn prefixes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// A store in one SQLite file (WAL mode).
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating folders and file if needed) and migrates.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Invalid(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(conn)
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Result<SqliteStore> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = SqliteStore { conn };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `f` inside one transaction: many writes, one commit (one WAL
    /// sync instead of one per write). `f`'s own errors are its business.
    /// If no transaction can be begun, `f` still runs, write by write, and
    /// the error is returned for the log. If the commit fails, the
    /// transaction is rolled back (its writes are lost, and the error says
    /// so) rather than left open, where every later write would stay
    /// uncommitted.
    pub fn batch(&mut self, f: impl FnOnce(&mut Self)) -> Result<()> {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            f(self);
            return Err(e.into());
        }
        f(self);
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    /// SQLite's `data_version`: changes when another connection (the CLI)
    /// has written to the database.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<usize> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize)
    }

    fn migrate(&mut self) -> Result<()> {
        let current = self.schema_version()?;
        if current > MIGRATIONS.len() {
            return Err(StoreError::Invalid(format!(
                "database schema version {current} is newer than this Parkline ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn require_tenant(&self, name: &str) -> Result<()> {
        let found: Option<String> = self
            .conn
            .query_row("SELECT name FROM tenants WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        found
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("no tenant named '{name}'")))
    }
}

impl Store for SqliteStore {
    fn upsert_tenant(&mut self, t: &Tenant) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tenants (name, domain, park_prefix, release_prefix, park_timeout_s,
                park_comeback_ring_s, park_code_length, park_fallback, source, max_outbound_calls,
                max_outbound_calls_per_minute, outbound_allow, outbound_deny, srtp,
                park_alerts, park_rearm_s, lamp_identities)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT(name) DO UPDATE SET domain = excluded.domain, park_prefix = excluded.park_prefix,
                release_prefix = excluded.release_prefix, park_timeout_s = excluded.park_timeout_s,
                park_comeback_ring_s = excluded.park_comeback_ring_s,
                park_code_length = excluded.park_code_length, park_fallback = excluded.park_fallback,
                source = excluded.source, max_outbound_calls = excluded.max_outbound_calls,
                max_outbound_calls_per_minute = excluded.max_outbound_calls_per_minute,
                outbound_allow = excluded.outbound_allow, outbound_deny = excluded.outbound_deny,
                srtp = excluded.srtp, park_alerts = excluded.park_alerts,
                park_rearm_s = excluded.park_rearm_s, lamp_identities = excluded.lamp_identities",
            params![
                t.name,
                t.domain,
                t.park_prefix,
                t.release_prefix,
                t.park_timeout_s,
                t.park_comeback_ring_s,
                t.park_code_length,
                t.park_fallback,
                t.source.as_str(),
                t.outbound.max_calls,
                t.outbound.max_calls_per_minute,
                t.destinations.allow.join(","),
                t.destinations.deny.join(","),
                t.srtp.map(SrtpPolicy::as_str),
                t.park_alerts,
                t.park_rearm_s,
                t.lamp_identities
            ],
        )?;
        Ok(())
    }

    fn upsert_extension(&mut self, e: &Extension) -> Result<()> {
        self.require_tenant(&e.tenant)?;
        self.conn.execute(
            "INSERT INTO extensions (tenant, number, name, ha1_md5, ha1_sha256, enabled, can_call_out,
                can_park, can_retrieve, source, max_outbound_calls, max_outbound_calls_per_minute)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(tenant, number) DO UPDATE SET name = excluded.name, ha1_md5 = excluded.ha1_md5,
                ha1_sha256 = excluded.ha1_sha256, enabled = excluded.enabled,
                can_call_out = excluded.can_call_out, can_park = excluded.can_park,
                can_retrieve = excluded.can_retrieve, source = excluded.source,
                max_outbound_calls = excluded.max_outbound_calls,
                max_outbound_calls_per_minute = excluded.max_outbound_calls_per_minute",
            params![
                e.tenant,
                e.number,
                e.name,
                e.ha1_md5,
                e.ha1_sha256,
                e.enabled,
                e.can_call_out,
                e.can_park,
                e.can_retrieve,
                e.source.as_str(),
                e.outbound.max_calls,
                e.outbound.max_calls_per_minute
            ],
        )?;
        Ok(())
    }

    fn delete_extension(&mut self, tenant: &str, number: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM extensions WHERE tenant = ?1 AND number = ?2",
            params![tenant, number],
        )?;
        Ok(n > 0)
    }

    fn delete_did(&mut self, tenant: &str, number: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM dids WHERE tenant = ?1 AND number = ?2",
            params![tenant, number],
        )?;
        Ok(n > 0)
    }

    fn delete_tenant(&mut self, name: &str) -> Result<bool> {
        for (table, what) in [
            ("extensions", "extensions"),
            ("dids", "DIDs"),
            ("trunks", "trunks"),
        ] {
            let left: i64 = self.conn.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE tenant = ?1"),
                [name],
                |r| r.get(0),
            )?;
            if left > 0 {
                return Err(StoreError::Conflict(format!(
                    "tenant '{name}' still has {left} {what}: delete them first"
                )));
            }
        }
        let n = self
            .conn
            .execute("DELETE FROM tenants WHERE name = ?1", [name])?;
        Ok(n > 0)
    }

    fn delete_trunk(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM trunks WHERE name = ?1", [name])?;
        Ok(n > 0)
    }

    fn upsert_did(&mut self, d: &Did) -> Result<()> {
        self.require_tenant(&d.tenant)?;
        let ext_exists: Option<String> = self
            .conn
            .query_row(
                "SELECT number FROM extensions WHERE tenant = ?1 AND number = ?2",
                [&d.tenant, &d.extension],
                |r| r.get(0),
            )
            .optional()?;
        if ext_exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "tenant '{}' has no extension '{}'",
                d.tenant, d.extension
            )));
        }
        self.conn.execute(
            "INSERT INTO dids (number, tenant, extension, source) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(number) DO UPDATE SET tenant = excluded.tenant, extension = excluded.extension,
                source = excluded.source",
            params![d.number, d.tenant, d.extension, d.source.as_str()],
        )?;
        Ok(())
    }

    fn upsert_trunk(&mut self, t: &Trunk) -> Result<()> {
        self.require_tenant(&t.tenant)?;
        self.conn.execute(
            "INSERT INTO trunks (name, address, tenant, source, auth_username, auth_password,
                auth_register_s, tls_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(name) DO UPDATE SET address = excluded.address, tenant = excluded.tenant,
                source = excluded.source, auth_username = excluded.auth_username,
                auth_password = excluded.auth_password, auth_register_s = excluded.auth_register_s,
                tls_name = excluded.tls_name",
            params![
                t.name,
                t.address,
                t.tenant,
                t.source.as_str(),
                t.auth.as_ref().map(|a| &a.username),
                t.auth.as_ref().map(|a| &a.password),
                t.auth.as_ref().and_then(|a| a.register_s),
                t.tls_name
            ],
        )?;
        Ok(())
    }

    fn prune_config_items(&mut self, keep: &ConfigKeys) -> Result<usize> {
        let mut removed = 0;
        for d in self.dids(None)? {
            if d.source == accounts::Source::Config && !keep.dids.contains(&d.number) {
                removed += self
                    .conn
                    .execute("DELETE FROM dids WHERE number = ?1", [&d.number])?;
            }
        }
        for t in self.trunks()? {
            if t.source == accounts::Source::Config && !keep.trunks.contains(&t.name) {
                removed += self
                    .conn
                    .execute("DELETE FROM trunks WHERE name = ?1", [&t.name])?;
            }
        }
        for e in self.extensions(None)? {
            let key = (e.tenant.clone(), e.number.clone());
            if e.source == accounts::Source::Config && !keep.extensions.contains(&key) {
                removed += self.conn.execute(
                    "DELETE FROM extensions WHERE tenant = ?1 AND number = ?2",
                    [&e.tenant, &e.number],
                )?;
            }
        }
        for t in self.tenants()? {
            if t.source == accounts::Source::Config && !keep.tenants.contains(&t.name) {
                removed += self
                    .conn
                    .execute("DELETE FROM tenants WHERE name = ?1", [&t.name])?;
            }
        }
        Ok(removed)
    }

    fn tenants(&self) -> Result<Vec<Tenant>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, domain, park_prefix, release_prefix, park_timeout_s, park_comeback_ring_s,
                park_code_length, park_fallback, source, max_outbound_calls,
                max_outbound_calls_per_minute, outbound_allow, outbound_deny, srtp,
                park_alerts, park_rearm_s, lamp_identities
             FROM tenants ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Tenant {
                name: r.get(0)?,
                domain: r.get(1)?,
                park_prefix: r.get(2)?,
                release_prefix: r.get(3)?,
                park_timeout_s: r.get(4)?,
                park_comeback_ring_s: r.get(5)?,
                park_code_length: r.get(6)?,
                park_fallback: r.get(7)?,
                source: source_of(&r.get::<_, String>(8)?),
                outbound: OutboundLimits {
                    max_calls: r.get(9)?,
                    max_calls_per_minute: r.get(10)?,
                },
                destinations: Destinations {
                    allow: prefixes(&r.get::<_, String>(11)?),
                    deny: prefixes(&r.get::<_, String>(12)?),
                },
                srtp: r
                    .get::<_, Option<String>>(13)?
                    .and_then(|w| SrtpPolicy::parse(&w)),
                park_alerts: r.get(14)?,
                park_rearm_s: r.get(15)?,
                lamp_identities: r.get(16)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn extensions(&self, tenant: Option<&str>) -> Result<Vec<Extension>> {
        let mut stmt = self.conn.prepare(
            "SELECT tenant, number, name, ha1_md5, ha1_sha256, enabled, can_call_out, can_park,
                can_retrieve, source, max_outbound_calls, max_outbound_calls_per_minute
             FROM extensions WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, number",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(Extension {
                tenant: r.get(0)?,
                number: r.get(1)?,
                name: r.get(2)?,
                ha1_md5: r.get(3)?,
                ha1_sha256: r.get(4)?,
                enabled: r.get(5)?,
                can_call_out: r.get(6)?,
                can_park: r.get(7)?,
                can_retrieve: r.get(8)?,
                source: source_of(&r.get::<_, String>(9)?),
                outbound: OutboundLimits {
                    max_calls: r.get(10)?,
                    max_calls_per_minute: r.get(11)?,
                },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn dids(&self, tenant: Option<&str>) -> Result<Vec<Did>> {
        let mut stmt = self.conn.prepare(
            "SELECT number, tenant, extension, source FROM dids WHERE ?1 IS NULL OR tenant = ?1 ORDER BY number",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(Did {
                number: r.get(0)?,
                tenant: r.get(1)?,
                extension: r.get(2)?,
                source: source_of(&r.get::<_, String>(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn trunks(&self) -> Result<Vec<Trunk>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, address, tenant, source, auth_username, auth_password, auth_register_s, tls_name FROM trunks ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            let username: Option<String> = r.get(4)?;
            let password: Option<String> = r.get(5)?;
            let register_s: Option<u32> = r.get(6)?;
            Ok(Trunk {
                name: r.get(0)?,
                address: r.get(1)?,
                tenant: r.get(2)?,
                auth: username
                    .zip(password)
                    .map(|(username, password)| TrunkAuth {
                        username,
                        password,
                        register_s,
                    }),
                tls_name: r.get(7)?,
                source: source_of(&r.get::<_, String>(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn save_binding(&mut self, b: &Binding) -> Result<()> {
        self.conn.execute(
            "INSERT INTO bindings (tenant, extension, contact, source, expires_at, call_id, cseq, user_agent, path)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(tenant, extension, contact) DO UPDATE SET source = excluded.source,
                expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq,
                user_agent = excluded.user_agent, path = excluded.path",
            params![b.tenant, b.extension, b.contact, b.source.to_string(), b.expires_at as i64, b.call_id, b.cseq, b.user_agent, crate::path_to_text(&b.path)],
        )?;
        Ok(())
    }

    fn remove_binding(
        &mut self,
        tenant: &str,
        extension: &str,
        contact: &str,
        expired_by: Option<u64>,
    ) -> Result<()> {
        self.conn.execute(
            "DELETE FROM bindings WHERE tenant = ?1 AND extension = ?2 AND contact = ?3
                AND (?4 IS NULL OR expires_at <= ?4)",
            params![tenant, extension, contact, expired_by.map(|t| t as i64)],
        )?;
        Ok(())
    }

    fn bindings(&self) -> Result<Vec<Binding>> {
        let mut stmt = self.conn.prepare(
            "SELECT tenant, extension, contact, source, expires_at, call_id, cseq, user_agent, path
             FROM bindings ORDER BY tenant, extension, contact",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Binding {
                tenant: r.get(0)?,
                extension: r.get(1)?,
                contact: r.get(2)?,
                source: r.get::<_, String>(3)?.parse().map_err(|e: String| {
                    rusqlite::Error::FromSqlConversionFailure(
                        3,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?,
                expires_at: r.get::<_, i64>(4)? as u64,
                call_id: r.get(5)?,
                cseq: r.get(6)?,
                user_agent: r.get(7)?,
                path: crate::path_from_text(&r.get::<_, String>(8)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn save_call_record(&mut self, r: &CallRecord) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO call_records (id, tenant, caller, callee, routed_to, started_ms,
                answered_ms, ended_ms, outcome, status, cause, features, events, connected)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                r.id,
                r.tenant,
                r.caller,
                r.callee,
                r.routed_to,
                r.started_ms as i64,
                r.answered_ms.map(|v| v as i64),
                r.ended_ms as i64,
                r.outcome.as_str(),
                r.status,
                r.cause,
                r.features,
                r.events,
                r.connected
            ],
        )?;
        Ok(())
    }

    fn call_records(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<CallRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, tenant, caller, callee, routed_to, started_ms, answered_ms, ended_ms, outcome,
                status, cause, features, events, connected FROM call_records WHERE ?1 IS NULL OR tenant = ?1
             ORDER BY started_ms DESC, rowid DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![tenant, limit as i64], |r| {
            Ok(CallRecord {
                id: r.get(0)?,
                tenant: r.get(1)?,
                caller: r.get(2)?,
                callee: r.get(3)?,
                routed_to: r.get(4)?,
                connected: r.get(13)?,
                started_ms: r.get::<_, i64>(5)? as u64,
                answered_ms: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                ended_ms: r.get::<_, i64>(7)? as u64,
                outcome: outcome_of(&r.get::<_, String>(8)?),
                status: r.get(9)?,
                cause: r.get(10)?,
                features: r.get(11)?,
                events: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn save_parked(&mut self, p: &ParkedCall) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO parked_calls (tenant, position, retrieval, parker, parked_party, since_ms, deadline_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![p.tenant, p.position, p.retrieval, p.parker, p.parked_party, p.since_ms as i64, p.deadline_ms as i64],
        )?;
        Ok(())
    }

    fn claim_parked(&mut self, p: &ParkedCall) -> Result<bool> {
        // One node per file: a position is free or this node's.
        let n = self.conn.execute(
            "INSERT INTO parked_calls (tenant, position, retrieval, parker, parked_party, since_ms, deadline_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(tenant, position) DO NOTHING",
            params![p.tenant, p.position, p.retrieval, p.parker, p.parked_party, p.since_ms as i64, p.deadline_ms as i64],
        )?;
        Ok(n == 1)
    }

    fn announce_node(&mut self, _sip: &str, _now_ms: u64) -> Result<()> {
        // One node per file: nobody else to tell.
        Ok(())
    }

    fn holder_of(&self, _tenant: &str, _position: &str) -> Result<Option<String>> {
        Ok(None)
    }

    fn remove_parked(&mut self, tenant: &str, position: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM parked_calls WHERE tenant = ?1 AND position = ?2",
            [tenant, position],
        )?;
        Ok(())
    }

    fn parked(&self, tenant: Option<&str>) -> Result<Vec<ParkedCall>> {
        let mut stmt = self.conn.prepare(
            "SELECT tenant, position, retrieval, parker, parked_party, since_ms, deadline_ms FROM parked_calls
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY since_ms",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(ParkedCall {
                tenant: r.get(0)?,
                position: r.get(1)?,
                retrieval: r.get(2)?,
                parker: r.get(3)?,
                parked_party: r.get(4)?,
                since_ms: r.get::<_, i64>(5)? as u64,
                deadline_ms: r.get::<_, i64>(6)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn clear_parked(&mut self) -> Result<usize> {
        Ok(self.conn.execute("DELETE FROM parked_calls", [])?)
    }

    fn save_live_call(&mut self, id: u64, state: &str) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO live_calls (id, state) VALUES (?1, ?2)")?;
        stmt.execute(params![id as i64, state])?;
        Ok(())
    }

    fn remove_live_call(&mut self, id: u64) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM live_calls WHERE id = ?1")?;
        stmt.execute([id as i64])?;
        Ok(())
    }

    fn live_calls(&self) -> Result<Vec<(u64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, state FROM live_calls ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn replace_media_checkpoints(&mut self, all: &[MediaCheckpoint]) -> Result<()> {
        self.conn.execute("DELETE FROM media_streams", [])?;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO media_streams (port, ssrc, seq, ts, roc, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for c in all {
            stmt.execute(params![c.port, c.ssrc, c.seq, c.ts, c.roc, c.at_ms as i64])?;
        }
        Ok(())
    }

    fn transaction(&mut self, f: &mut dyn FnMut(&mut dyn Store)) -> Result<()> {
        self.batch(|s| f(s))
    }

    fn accounts_version(&self) -> Result<i64> {
        self.data_version()
    }

    fn schema_version(&self) -> Result<usize> {
        SqliteStore::schema_version(self)
    }

    fn media_checkpoints(&self) -> Result<Vec<MediaCheckpoint>> {
        let mut stmt = self
            .conn
            .prepare("SELECT port, ssrc, seq, ts, roc, at_ms FROM media_streams")?;
        let rows = stmt.query_map([], |r| {
            Ok(MediaCheckpoint {
                port: r.get(0)?,
                ssrc: r.get(1)?,
                seq: r.get(2)?,
                ts: r.get(3)?,
                roc: r.get(4)?,
                at_ms: r.get::<_, i64>(5)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn outcome_of(s: &str) -> Outcome {
    match s {
        "answered" => Outcome::Answered,
        "busy" => Outcome::Busy,
        "no_answer" => Outcome::NoAnswer,
        "cancelled" => Outcome::Cancelled,
        "refused" => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounts::Source;

    fn ext(tenant: &str, number: &str, source: Source) -> Extension {
        Extension {
            tenant: tenant.into(),
            number: number.into(),
            name: format!("Ext {number}"),
            ha1_md5: "m".into(),
            ha1_sha256: "s".into(),
            enabled: true,
            can_call_out: true,
            can_park: true,
            can_retrieve: true,
            outbound: accounts::OutboundLimits::EXTENSION,
            source,
        }
    }

    #[test]
    fn a_batch_commits_together_and_a_failed_commit_leaves_no_open_transaction() {
        let mut s = SqliteStore::in_memory().unwrap();
        s.batch(|s| {
            s.upsert_tenant(&Tenant::new("acme", "acme.example"))
                .unwrap();
            s.upsert_extension(&ext("acme", "333", Source::Manual))
                .unwrap();
        })
        .unwrap();
        assert!(s.conn.is_autocommit());
        assert_eq!(s.extensions(Some("acme")).unwrap().len(), 1);
        // A foreign key checked only at commit makes the commit fail.
        let failed = s.batch(|s| {
            s.conn
                .execute_batch(
                    "PRAGMA defer_foreign_keys = ON;
                     INSERT INTO trunks (name, address, tenant, source)
                     VALUES ('t', '127.0.0.1:5090', 'ghost', 'manual');",
                )
                .unwrap();
        });
        assert!(failed.is_err());
        assert!(s.conn.is_autocommit(), "rolled back, not left open");
        assert!(s.trunks().unwrap().is_empty());
        s.upsert_extension(&ext("acme", "555", Source::Manual))
            .unwrap();
        assert_eq!(s.extensions(Some("acme")).unwrap().len(), 2);
    }

    #[test]
    fn bindings_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("parkline-store-test-{}", std::process::id()));
        let path = dir.join("p.db");
        let b = Binding {
            tenant: "acme".into(),
            extension: "333".into(),
            contact: "<sip:333-0x1@127.0.0.1:5070>".into(),
            source: "udp:127.0.0.1:5070".parse().unwrap(),
            expires_at: 42,
            call_id: "c".into(),
            cseq: 2,
            user_agent: "ua".into(),
            path: Vec::new(),
        };
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.save_binding(&b).unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.bindings().unwrap(), vec![b]);
        std::fs::remove_dir_all(dir).ok();
    }
}

#[cfg(test)]
mod live_call_tests {
    use super::*;

    #[test]
    fn live_calls_and_media_checkpoints_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("parkline-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("live.db");
        let _ = std::fs::remove_file(&path);
        // What the contract tests check in one connection, across a reopen
        // of the file.
        let c = MediaCheckpoint {
            port: 20000,
            ssrc: u32::MAX,
            seq: u16::MAX,
            ts: u32::MAX - 1,
            roc: 3,
            at_ms: 1_700_000_000_123,
        };
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.save_live_call(7, "{\"a\":2}").unwrap();
            s.replace_media_checkpoints(&[c]).unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.live_calls().unwrap(), vec![(7, "{\"a\":2}".to_string())]);
        assert_eq!(s.media_checkpoints().unwrap(), vec![c]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
