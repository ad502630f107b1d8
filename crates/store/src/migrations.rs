//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

/// Each entry moves the schema one version up. Never edit a shipped entry:
/// append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: accounts and registrations
    "CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        domain TEXT NOT NULL UNIQUE,
        park_prefix TEXT NOT NULL,
        release_prefix TEXT NOT NULL,
        park_timeout_s INTEGER NOT NULL,
        park_comeback_ring_s INTEGER NOT NULL,
        park_code_length INTEGER NOT NULL,
        park_fallback TEXT,
        source TEXT NOT NULL
    );
    CREATE TABLE extensions (
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        ha1_md5 TEXT NOT NULL,
        ha1_sha256 TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        can_call_out INTEGER NOT NULL,
        can_park INTEGER NOT NULL,
        can_retrieve INTEGER NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (tenant, number)
    );
    CREATE TABLE dids (
        number TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        extension TEXT NOT NULL,
        source TEXT NOT NULL
    );
    CREATE TABLE trunks (
        name TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        source TEXT NOT NULL
    );
    CREATE TABLE bindings (
        tenant TEXT NOT NULL,
        extension TEXT NOT NULL,
        contact TEXT NOT NULL,
        source TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        cseq INTEGER NOT NULL,
        user_agent TEXT NOT NULL,
        PRIMARY KEY (tenant, extension, contact)
    );",
    // 2: call records
    "CREATE TABLE call_records (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        caller TEXT NOT NULL,
        callee TEXT NOT NULL,
        routed_to TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        answered_ms INTEGER,
        ended_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        status INTEGER NOT NULL,
        cause TEXT NOT NULL,
        features TEXT NOT NULL
    );
    CREATE INDEX call_records_by_time ON call_records (started_ms);",
    // 3: call record events (parking)
    "ALTER TABLE call_records ADD COLUMN events TEXT NOT NULL DEFAULT '';",
    // 4: parked calls
    "CREATE TABLE parked_calls (
        tenant TEXT NOT NULL,
        position TEXT NOT NULL,
        retrieval TEXT NOT NULL,
        parker TEXT NOT NULL,
        parked_party TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        deadline_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, position)
    );",
    // 5: outbound limits and destinations (toll-fraud guard)
    "ALTER TABLE tenants ADD COLUMN max_outbound_calls INTEGER NOT NULL DEFAULT 100;
    ALTER TABLE tenants ADD COLUMN max_outbound_calls_per_minute INTEGER NOT NULL DEFAULT 600;
    ALTER TABLE tenants ADD COLUMN outbound_allow TEXT NOT NULL DEFAULT '';
    ALTER TABLE tenants ADD COLUMN outbound_deny TEXT NOT NULL DEFAULT '';
    ALTER TABLE extensions ADD COLUMN max_outbound_calls INTEGER NOT NULL DEFAULT 4;
    ALTER TABLE extensions ADD COLUMN max_outbound_calls_per_minute INTEGER NOT NULL DEFAULT 20;",
    // 6: the switch's credentials at a carrier (digest-authenticated trunks)
    "ALTER TABLE trunks ADD COLUMN auth_username TEXT;
    ALTER TABLE trunks ADD COLUMN auth_password TEXT;
    ALTER TABLE trunks ADD COLUMN auth_register_s INTEGER;",
    // 7: a tenant's SRTP policy (NULL: the switch's media.srtp); a trunk's
    // TLS client certificate name
    "ALTER TABLE tenants ADD COLUMN srtp TEXT;
    ALTER TABLE trunks ADD COLUMN tls_name TEXT;",
    // 8: live calls (restart survival): each call's snapshot, opaque to the
    // store; and where each RTP stream the switch sends had got to
    "CREATE TABLE live_calls (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL
    );
    CREATE TABLE media_streams (
        port INTEGER PRIMARY KEY,
        ssrc INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        roc INTEGER NOT NULL,
        at_ms INTEGER NOT NULL
    );",
    // 9: phone features: park alerts, the comeback's re-arm while the
    // parker is busy, identities on busy lamps
    "ALTER TABLE tenants ADD COLUMN park_alerts INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE tenants ADD COLUMN park_rearm_s INTEGER NOT NULL DEFAULT 30;
    ALTER TABLE tenants ADD COLUMN lamp_identities INTEGER NOT NULL DEFAULT 1;",
    // 10: who talked when a call ended
    "ALTER TABLE call_records ADD COLUMN connected TEXT NOT NULL DEFAULT '';",
    // 11: the Path a registration came through (RFC 3327), one URI a line
    "ALTER TABLE bindings ADD COLUMN path TEXT NOT NULL DEFAULT '';",
];
