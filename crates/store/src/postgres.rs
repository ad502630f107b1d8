//! The PostgreSQL store: the same [`Store`] as SQLite's, for a cluster of
//! switches sharing one database. One connection per store (the switch's
//! store thread has its own, each API request opens one); accounts
//! changes are counted by triggers, so every node sees any node's change.

use crate::postgres_migrations::MIGRATIONS;
use crate::{source_of, ConfigKeys, MediaCheckpoint, Result, Store, StoreError};
use accounts::{
    Binding, CallRecord, Destinations, Did, Extension, OutboundLimits, Outcome, ParkedCall,
    SrtpPolicy, Tenant, Trunk, TrunkAuth,
};
use postgres::{Client, NoTls, Row};
use std::cell::RefCell;
use std::mem::ManuallyDrop;

/// A store in a PostgreSQL database.
pub struct PostgresStore {
    /// The node this store speaks for: its live calls, media streams and
    /// parked calls are its own ("" for tools that touch none).
    node: String,
    /// Dropped by [`Drop`]: the client runs its own small runtime, which
    /// may not be shut down inside another's (the switch's async code).
    client: ManuallyDrop<RefCell<Client>>,
    /// Inside [`Store::transaction`], the first statement that failed:
    /// PostgreSQL then ignores the rest and turns the COMMIT into a
    /// rollback without an error, so the store must say so itself.
    failed_in_transaction: std::cell::Cell<Option<bool>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used after.
        let client = unsafe { ManuallyDrop::take(&mut self.client) };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(client));
        } else {
            drop(client);
        }
    }
}

/// A stored unsigned 32-bit value (kept as BIGINT).
fn u32_of(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("{v} is out of range")))
}

/// A stored comma-separated prefix list as a list.
fn prefixes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

impl PostgresStore {
    /// Connects (`postgres://USER:PASS@HOST/DB`, or `host=... dbname=...`)
    /// and migrates.
    pub fn connect(url: &str) -> Result<PostgresStore> {
        Self::connect_as(url, "")
    }

    /// Makes database `name` anew (empty) on the server `server` names (a
    /// libpq string without `dbname`); its connection string. For tests
    /// and tools that need a throwaway database.
    pub fn create_database(server: &str, name: &str) -> Result<String> {
        let mut admin = Client::connect(&format!("{server} dbname=postgres"), NoTls)?;
        // Not in one batch: neither may run inside a transaction block.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(format!("{server} dbname={name}"))
    }

    /// Connects as `node` of a cluster.
    pub fn connect_as(url: &str, node: &str) -> Result<PostgresStore> {
        let client = Client::connect(url, NoTls)?;
        let store = PostgresStore {
            node: node.to_string(),
            client: ManuallyDrop::new(RefCell::new(client)),
            failed_in_transaction: std::cell::Cell::new(None),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version (0: a database Parkline never used).
    pub fn schema_version(&self) -> Result<usize> {
        let mut c = self.client.borrow_mut();
        let exists: bool = c
            .query_one("SELECT to_regclass('parkline_schema') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let v: i32 = c
            .query_one("SELECT version FROM parkline_schema", &[])?
            .get(0);
        Ok(v as usize)
    }

    fn migrate(&self) -> Result<()> {
        let mut c = self.client.borrow_mut();
        let mut tx = c.transaction()?;
        // One migrator at a time, whichever node starts first.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7070);
             CREATE TABLE IF NOT EXISTS parkline_schema (version INTEGER NOT NULL);
             INSERT INTO parkline_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM parkline_schema);",
        )?;
        let current: i32 = tx
            .query_one("SELECT version FROM parkline_schema", &[])?
            .get(0);
        let current = current as usize;
        if current > MIGRATIONS.len() {
            return Err(StoreError::Invalid(format!(
                "database schema version {current} is newer than this Parkline ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            tx.batch_execute(sql)?;
            tx.execute(
                "UPDATE parkline_schema SET version = $1",
                &[&((i + 1) as i32)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn require_tenant(&self, name: &str) -> Result<()> {
        let found = self
            .client
            .borrow_mut()
            .query_opt("SELECT 1 FROM tenants WHERE name = $1", &[&name])?;
        found
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("no tenant named '{name}'")))
    }

    fn execute(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<u64> {
        let result = self.client.borrow_mut().execute(sql, params);
        self.note_failure(result.is_err());
        Ok(result?)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let result = self.client.borrow_mut().query(sql, params);
        self.note_failure(result.is_err());
        Ok(result?)
    }

    /// Remembers, inside a transaction, that a statement failed.
    fn note_failure(&self, failed: bool) {
        if failed && self.failed_in_transaction.get() == Some(false) {
            self.failed_in_transaction.set(Some(true));
        }
    }
}

fn tenant_of(r: &Row) -> Result<Tenant> {
    Ok(Tenant {
        name: r.get(0),
        domain: r.get(1),
        park_prefix: r.get(2),
        release_prefix: r.get(3),
        park_timeout_s: u32_of(r.get(4))?,
        park_comeback_ring_s: u32_of(r.get(5))?,
        park_code_length: u8::try_from(r.get::<_, i16>(6))
            .map_err(|_| StoreError::Invalid("park_code_length out of range".into()))?,
        park_fallback: r.get(7),
        source: source_of(r.get::<_, &str>(8)),
        outbound: OutboundLimits {
            max_calls: u32_of(r.get(9))?,
            max_calls_per_minute: u32_of(r.get(10))?,
        },
        destinations: Destinations {
            allow: prefixes(r.get(11)),
            deny: prefixes(r.get(12)),
        },
        srtp: r.get::<_, Option<&str>>(13).and_then(SrtpPolicy::parse),
        park_alerts: r.get(14),
        park_rearm_s: u32_of(r.get(15))?,
        lamp_identities: r.get(16),
    })
}

fn extension_of(r: &Row) -> Result<Extension> {
    Ok(Extension {
        tenant: r.get(0),
        number: r.get(1),
        name: r.get(2),
        ha1_md5: r.get(3),
        ha1_sha256: r.get(4),
        enabled: r.get(5),
        can_call_out: r.get(6),
        can_park: r.get(7),
        can_retrieve: r.get(8),
        source: source_of(r.get::<_, &str>(9)),
        outbound: OutboundLimits {
            max_calls: u32_of(r.get(10))?,
            max_calls_per_minute: u32_of(r.get(11))?,
        },
    })
}

fn trunk_of(r: &Row) -> Result<Trunk> {
    let username: Option<String> = r.get(4);
    let password: Option<String> = r.get(5);
    let register_s = r.get::<_, Option<i64>>(6).map(u32_of).transpose()?;
    Ok(Trunk {
        name: r.get(0),
        address: r.get(1),
        tenant: r.get(2),
        source: source_of(r.get::<_, &str>(3)),
        auth: username
            .zip(password)
            .map(|(username, password)| TrunkAuth {
                username,
                password,
                register_s,
            }),
        tls_name: r.get(7),
    })
}

fn record_of(r: &Row) -> Result<CallRecord> {
    Ok(CallRecord {
        id: r.get(0),
        tenant: r.get(1),
        caller: r.get(2),
        callee: r.get(3),
        routed_to: r.get(4),
        connected: r.get(13),
        started_ms: r.get::<_, i64>(5) as u64,
        answered_ms: r.get::<_, Option<i64>>(6).map(|v| v as u64),
        ended_ms: r.get::<_, i64>(7) as u64,
        outcome: outcome_of(r.get(8)),
        status: u16::try_from(r.get::<_, i32>(9))
            .map_err(|_| StoreError::Invalid("status out of range".into()))?,
        cause: r.get(10),
        features: r.get(11),
        events: r.get(12),
    })
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

impl Store for PostgresStore {
    fn upsert_tenant(&mut self, t: &Tenant) -> Result<()> {
        self.execute(
            "INSERT INTO tenants (name, domain, park_prefix, release_prefix, park_timeout_s,
                park_comeback_ring_s, park_code_length, park_fallback, source, max_outbound_calls,
                max_outbound_calls_per_minute, outbound_allow, outbound_deny, srtp,
                park_alerts, park_rearm_s, lamp_identities)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT(name) DO UPDATE SET domain = excluded.domain, park_prefix = excluded.park_prefix,
                release_prefix = excluded.release_prefix, park_timeout_s = excluded.park_timeout_s,
                park_comeback_ring_s = excluded.park_comeback_ring_s,
                park_code_length = excluded.park_code_length, park_fallback = excluded.park_fallback,
                source = excluded.source, max_outbound_calls = excluded.max_outbound_calls,
                max_outbound_calls_per_minute = excluded.max_outbound_calls_per_minute,
                outbound_allow = excluded.outbound_allow, outbound_deny = excluded.outbound_deny,
                srtp = excluded.srtp, park_alerts = excluded.park_alerts,
                park_rearm_s = excluded.park_rearm_s, lamp_identities = excluded.lamp_identities",
            &[
                &t.name,
                &t.domain,
                &t.park_prefix,
                &t.release_prefix,
                &i64::from(t.park_timeout_s),
                &i64::from(t.park_comeback_ring_s),
                &i16::from(t.park_code_length),
                &t.park_fallback,
                &t.source.as_str(),
                &i64::from(t.outbound.max_calls),
                &i64::from(t.outbound.max_calls_per_minute),
                &t.destinations.allow.join(","),
                &t.destinations.deny.join(","),
                &t.srtp.map(SrtpPolicy::as_str),
                &t.park_alerts,
                &i64::from(t.park_rearm_s),
                &t.lamp_identities,
            ],
        )?;
        Ok(())
    }

    fn upsert_extension(&mut self, e: &Extension) -> Result<()> {
        self.require_tenant(&e.tenant)?;
        self.execute(
            "INSERT INTO extensions (tenant, number, name, ha1_md5, ha1_sha256, enabled, can_call_out,
                can_park, can_retrieve, source, max_outbound_calls, max_outbound_calls_per_minute)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT(tenant, number) DO UPDATE SET name = excluded.name, ha1_md5 = excluded.ha1_md5,
                ha1_sha256 = excluded.ha1_sha256, enabled = excluded.enabled,
                can_call_out = excluded.can_call_out, can_park = excluded.can_park,
                can_retrieve = excluded.can_retrieve, source = excluded.source,
                max_outbound_calls = excluded.max_outbound_calls,
                max_outbound_calls_per_minute = excluded.max_outbound_calls_per_minute",
            &[
                &e.tenant,
                &e.number,
                &e.name,
                &e.ha1_md5,
                &e.ha1_sha256,
                &e.enabled,
                &e.can_call_out,
                &e.can_park,
                &e.can_retrieve,
                &e.source.as_str(),
                &i64::from(e.outbound.max_calls),
                &i64::from(e.outbound.max_calls_per_minute),
            ],
        )?;
        Ok(())
    }

    fn delete_extension(&mut self, tenant: &str, number: &str) -> Result<bool> {
        let n = self.execute(
            "DELETE FROM extensions WHERE tenant = $1 AND number = $2",
            &[&tenant, &number],
        )?;
        Ok(n > 0)
    }

    fn delete_did(&mut self, tenant: &str, number: &str) -> Result<bool> {
        let n = self.execute(
            "DELETE FROM dids WHERE tenant = $1 AND number = $2",
            &[&tenant, &number],
        )?;
        Ok(n > 0)
    }

    fn delete_tenant(&mut self, name: &str) -> Result<bool> {
        for (table, what) in [
            ("extensions", "extensions"),
            ("dids", "DIDs"),
            ("trunks", "trunks"),
        ] {
            let left: i64 = self
                .query(
                    &format!("SELECT COUNT(*) FROM {table} WHERE tenant = $1"),
                    &[&name],
                )?
                .first()
                .map_or(0, |r| r.get(0));
            if left > 0 {
                return Err(StoreError::Conflict(format!(
                    "tenant '{name}' still has {left} {what}: delete them first"
                )));
            }
        }
        Ok(self.execute("DELETE FROM tenants WHERE name = $1", &[&name])? > 0)
    }

    fn delete_trunk(&mut self, name: &str) -> Result<bool> {
        Ok(self.execute("DELETE FROM trunks WHERE name = $1", &[&name])? > 0)
    }

    fn upsert_did(&mut self, d: &Did) -> Result<()> {
        self.require_tenant(&d.tenant)?;
        let ext = self.query(
            "SELECT 1 FROM extensions WHERE tenant = $1 AND number = $2",
            &[&d.tenant, &d.extension],
        )?;
        if ext.is_empty() {
            return Err(StoreError::NotFound(format!(
                "tenant '{}' has no extension '{}'",
                d.tenant, d.extension
            )));
        }
        self.execute(
            "INSERT INTO dids (number, tenant, extension, source) VALUES ($1, $2, $3, $4)
             ON CONFLICT(number) DO UPDATE SET tenant = excluded.tenant, extension = excluded.extension,
                source = excluded.source",
            &[&d.number, &d.tenant, &d.extension, &d.source.as_str()],
        )?;
        Ok(())
    }

    fn upsert_trunk(&mut self, t: &Trunk) -> Result<()> {
        self.require_tenant(&t.tenant)?;
        self.execute(
            "INSERT INTO trunks (name, address, tenant, source, auth_username, auth_password,
                auth_register_s, tls_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT(name) DO UPDATE SET address = excluded.address, tenant = excluded.tenant,
                source = excluded.source, auth_username = excluded.auth_username,
                auth_password = excluded.auth_password, auth_register_s = excluded.auth_register_s,
                tls_name = excluded.tls_name",
            &[
                &t.name,
                &t.address,
                &t.tenant,
                &t.source.as_str(),
                &t.auth.as_ref().map(|a| a.username.as_str()),
                &t.auth.as_ref().map(|a| a.password.as_str()),
                &t.auth.as_ref().and_then(|a| a.register_s).map(i64::from),
                &t.tls_name,
            ],
        )?;
        Ok(())
    }

    fn prune_config_items(&mut self, keep: &ConfigKeys) -> Result<usize> {
        let mut removed = 0;
        for d in self.dids(None)? {
            if d.source == accounts::Source::Config && !keep.dids.contains(&d.number) {
                removed += self.execute("DELETE FROM dids WHERE number = $1", &[&d.number])?;
            }
        }
        for t in self.trunks()? {
            if t.source == accounts::Source::Config && !keep.trunks.contains(&t.name) {
                removed += self.execute("DELETE FROM trunks WHERE name = $1", &[&t.name])?;
            }
        }
        for e in self.extensions(None)? {
            let key = (e.tenant.clone(), e.number.clone());
            if e.source == accounts::Source::Config && !keep.extensions.contains(&key) {
                removed += self.execute(
                    "DELETE FROM extensions WHERE tenant = $1 AND number = $2",
                    &[&e.tenant, &e.number],
                )?;
            }
        }
        for t in self.tenants()? {
            if t.source == accounts::Source::Config && !keep.tenants.contains(&t.name) {
                removed += self.execute("DELETE FROM tenants WHERE name = $1", &[&t.name])?;
            }
        }
        Ok(removed as usize)
    }

    fn tenants(&self) -> Result<Vec<Tenant>> {
        self.query(
            "SELECT name, domain, park_prefix, release_prefix, park_timeout_s, park_comeback_ring_s,
                park_code_length, park_fallback, source, max_outbound_calls,
                max_outbound_calls_per_minute, outbound_allow, outbound_deny, srtp,
                park_alerts, park_rearm_s, lamp_identities
             FROM tenants ORDER BY name",
            &[],
        )?
        .iter()
        .map(tenant_of)
        .collect()
    }

    fn extensions(&self, tenant: Option<&str>) -> Result<Vec<Extension>> {
        self.query(
            "SELECT tenant, number, name, ha1_md5, ha1_sha256, enabled, can_call_out, can_park,
                can_retrieve, source, max_outbound_calls, max_outbound_calls_per_minute
             FROM extensions WHERE $1::TEXT IS NULL OR tenant = $1 ORDER BY tenant, number",
            &[&tenant],
        )?
        .iter()
        .map(extension_of)
        .collect()
    }

    fn dids(&self, tenant: Option<&str>) -> Result<Vec<Did>> {
        Ok(self
            .query(
                "SELECT number, tenant, extension, source FROM dids
                 WHERE $1::TEXT IS NULL OR tenant = $1 ORDER BY number",
                &[&tenant],
            )?
            .iter()
            .map(|r| Did {
                number: r.get(0),
                tenant: r.get(1),
                extension: r.get(2),
                source: source_of(r.get::<_, &str>(3)),
            })
            .collect())
    }

    fn trunks(&self) -> Result<Vec<Trunk>> {
        self.query(
            "SELECT name, address, tenant, source, auth_username, auth_password, auth_register_s,
                tls_name FROM trunks ORDER BY name",
            &[],
        )?
        .iter()
        .map(trunk_of)
        .collect()
    }

    fn save_binding(&mut self, b: &Binding) -> Result<()> {
        self.execute(
            "INSERT INTO bindings (tenant, extension, contact, source, expires_at, call_id, cseq, user_agent, path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT(tenant, extension, contact) DO UPDATE SET source = excluded.source,
                expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq,
                user_agent = excluded.user_agent, path = excluded.path",
            &[
                &b.tenant,
                &b.extension,
                &b.contact,
                &b.source.to_string(),
                &(b.expires_at as i64),
                &b.call_id,
                &i64::from(b.cseq),
                &b.user_agent,
                &crate::path_to_text(&b.path),
            ],
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
        self.execute(
            "DELETE FROM bindings WHERE tenant = $1 AND extension = $2 AND contact = $3
                AND ($4::BIGINT IS NULL OR expires_at <= $4)",
            &[&tenant, &extension, &contact, &expired_by.map(|t| t as i64)],
        )?;
        Ok(())
    }

    fn bindings(&self) -> Result<Vec<Binding>> {
        self.query(
            "SELECT tenant, extension, contact, source, expires_at, call_id, cseq, user_agent, path
             FROM bindings ORDER BY tenant, extension, contact",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(Binding {
                tenant: r.get(0),
                extension: r.get(1),
                contact: r.get(2),
                source: r.get::<_, &str>(3).parse().map_err(StoreError::Invalid)?,
                expires_at: r.get::<_, i64>(4) as u64,
                call_id: r.get(5),
                cseq: u32_of(r.get(6))?,
                user_agent: r.get(7),
                path: crate::path_from_text(r.get(8)),
            })
        })
        .collect()
    }

    fn save_call_record(&mut self, r: &CallRecord) -> Result<()> {
        self.execute(
            "INSERT INTO call_records (id, tenant, caller, callee, routed_to, started_ms,
                answered_ms, ended_ms, outcome, status, cause, features, events, connected)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT(id) DO UPDATE SET tenant = excluded.tenant, caller = excluded.caller,
                callee = excluded.callee, routed_to = excluded.routed_to,
                started_ms = excluded.started_ms, answered_ms = excluded.answered_ms,
                ended_ms = excluded.ended_ms, outcome = excluded.outcome, status = excluded.status,
                cause = excluded.cause, features = excluded.features, events = excluded.events,
                connected = excluded.connected",
            &[
                &r.id,
                &r.tenant,
                &r.caller,
                &r.callee,
                &r.routed_to,
                &(r.started_ms as i64),
                &r.answered_ms.map(|v| v as i64),
                &(r.ended_ms as i64),
                &r.outcome.as_str(),
                &i32::from(r.status),
                &r.cause,
                &r.features,
                &r.events,
                &r.connected,
            ],
        )?;
        Ok(())
    }

    fn call_records(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<CallRecord>> {
        self.query(
            "SELECT id, tenant, caller, callee, routed_to, started_ms, answered_ms, ended_ms, outcome,
                status, cause, features, events, connected FROM call_records
             WHERE $1::TEXT IS NULL OR tenant = $1
             ORDER BY started_ms DESC, seq DESC LIMIT $2",
            &[&tenant, &(limit as i64)],
        )?
        .iter()
        .map(record_of)
        .collect()
    }

    fn save_parked(&mut self, p: &ParkedCall) -> Result<()> {
        // The same write as a claim: another node's row stays as it is.
        self.claim_parked(p).map(|_| ())
    }

    fn claim_parked(&mut self, p: &ParkedCall) -> Result<bool> {
        let won = self.query(
            "INSERT INTO parked_calls (tenant, position, retrieval, parker, parked_party, since_ms,
                deadline_ms, node)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT(tenant, position) DO UPDATE SET retrieval = excluded.retrieval,
                parker = excluded.parker, parked_party = excluded.parked_party,
                since_ms = excluded.since_ms, deadline_ms = excluded.deadline_ms
             WHERE parked_calls.node = excluded.node
             RETURNING 1",
            &[
                &p.tenant,
                &p.position,
                &p.retrieval,
                &p.parker,
                &p.parked_party,
                &(p.since_ms as i64),
                &(p.deadline_ms as i64),
                &self.node,
            ],
        )?;
        Ok(!won.is_empty())
    }

    fn announce_node(&mut self, sip: &str, now_ms: u64) -> Result<()> {
        self.execute(
            "INSERT INTO nodes (name, sip, seen_ms) VALUES ($1, $2, $3)
             ON CONFLICT(name) DO UPDATE SET sip = excluded.sip, seen_ms = excluded.seen_ms",
            &[&self.node, &sip, &(now_ms as i64)],
        )?;
        Ok(())
    }

    fn holder_of(&self, tenant: &str, position: &str) -> Result<Option<String>> {
        Ok(self
            .query(
                "SELECT n.sip FROM parked_calls p JOIN nodes n ON n.name = p.node
                 WHERE p.tenant = $1 AND p.position = $2 AND p.node <> $3",
                &[&tenant, &position, &self.node],
            )?
            .first()
            .map(|r| r.get(0)))
    }

    fn remove_parked(&mut self, tenant: &str, position: &str) -> Result<()> {
        self.execute(
            "DELETE FROM parked_calls WHERE tenant = $1 AND position = $2 AND node = $3",
            &[&tenant, &position, &self.node],
        )?;
        Ok(())
    }

    fn parked(&self, tenant: Option<&str>) -> Result<Vec<ParkedCall>> {
        Ok(self
            .query(
                "SELECT tenant, position, retrieval, parker, parked_party, since_ms, deadline_ms
                 FROM parked_calls WHERE $1::TEXT IS NULL OR tenant = $1 ORDER BY since_ms",
                &[&tenant],
            )?
            .iter()
            .map(|r| ParkedCall {
                tenant: r.get(0),
                position: r.get(1),
                retrieval: r.get(2),
                parker: r.get(3),
                parked_party: r.get(4),
                since_ms: r.get::<_, i64>(5) as u64,
                deadline_ms: r.get::<_, i64>(6) as u64,
            })
            .collect())
    }

    fn clear_parked(&mut self) -> Result<usize> {
        Ok(self.execute("DELETE FROM parked_calls WHERE node = $1", &[&self.node])? as usize)
    }

    fn save_live_call(&mut self, id: u64, state: &str) -> Result<()> {
        self.execute(
            "INSERT INTO live_calls (node, id, state) VALUES ($1, $2, $3)
             ON CONFLICT(node, id) DO UPDATE SET state = excluded.state",
            &[&self.node, &(id as i64), &state],
        )?;
        Ok(())
    }

    fn remove_live_call(&mut self, id: u64) -> Result<()> {
        self.execute(
            "DELETE FROM live_calls WHERE node = $1 AND id = $2",
            &[&self.node, &(id as i64)],
        )?;
        Ok(())
    }

    fn live_calls(&self) -> Result<Vec<(u64, String)>> {
        Ok(self
            .query(
                "SELECT id, state FROM live_calls WHERE node = $1 ORDER BY id",
                &[&self.node],
            )?
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    fn replace_media_checkpoints(&mut self, all: &[MediaCheckpoint]) -> Result<()> {
        let mut c = self.client.borrow_mut();
        c.execute("DELETE FROM media_streams WHERE node = $1", &[&self.node])?;
        let insert = c.prepare(
            "INSERT INTO media_streams (node, port, ssrc, seq, ts, roc, at_ms)
             VALUES ($7, $1, $2, $3, $4, $5, $6)",
        )?;
        for m in all {
            c.execute(
                &insert,
                &[
                    &i32::from(m.port),
                    &i64::from(m.ssrc),
                    &i32::from(m.seq),
                    &i64::from(m.ts),
                    &i64::from(m.roc),
                    &(m.at_ms as i64),
                    &self.node,
                ],
            )?;
        }
        Ok(())
    }

    fn media_checkpoints(&self) -> Result<Vec<MediaCheckpoint>> {
        self.query(
            "SELECT port, ssrc, seq, ts, roc, at_ms FROM media_streams WHERE node = $1",
            &[&self.node],
        )?
        .iter()
        .map(|r| {
            let narrow = |v: i32| {
                u16::try_from(v).map_err(|_| StoreError::Invalid(format!("{v} is out of range")))
            };
            Ok(MediaCheckpoint {
                port: narrow(r.get(0))?,
                ssrc: u32_of(r.get(1))?,
                seq: narrow(r.get(2))?,
                ts: u32_of(r.get(3))?,
                roc: u32_of(r.get(4))?,
                at_ms: r.get::<_, i64>(5) as u64,
            })
        })
        .collect()
    }

    fn transaction(&mut self, f: &mut dyn FnMut(&mut dyn Store)) -> Result<()> {
        if let Err(e) = self.client.get_mut().batch_execute("BEGIN") {
            f(self);
            return Err(e.into());
        }
        self.failed_in_transaction.set(Some(false));
        f(self);
        let failed = self.failed_in_transaction.replace(None) == Some(true);
        if failed {
            let _ = self.client.get_mut().batch_execute("ROLLBACK");
            return Err(StoreError::RolledBack);
        }
        if let Err(e) = self.client.get_mut().batch_execute("COMMIT") {
            let _ = self.client.get_mut().batch_execute("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    fn accounts_version(&self) -> Result<i64> {
        Ok(self
            .client
            .borrow_mut()
            .query_one("SELECT n FROM accounts_version", &[])?
            .get(0))
    }

    fn schema_version(&self) -> Result<usize> {
        PostgresStore::schema_version(self)
    }
}
