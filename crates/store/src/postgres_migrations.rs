//! PostgreSQL's schema migrations, applied in order and recorded in
//! `parkline_schema`. The schema is SQLite's (the same tables, columns and
//! keys) in PostgreSQL's types: booleans as `BOOLEAN`, unsigned 32-bit
//! values as `BIGINT`. Each entry moves the schema one version up; never
//! edit a shipped entry.

/// The migrations.
pub const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's migrations 1 to 10 made
    "CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        domain TEXT NOT NULL UNIQUE,
        park_prefix TEXT NOT NULL,
        release_prefix TEXT NOT NULL,
        park_timeout_s BIGINT NOT NULL,
        park_comeback_ring_s BIGINT NOT NULL,
        park_code_length SMALLINT NOT NULL,
        park_fallback TEXT,
        source TEXT NOT NULL,
        max_outbound_calls BIGINT NOT NULL DEFAULT 100,
        max_outbound_calls_per_minute BIGINT NOT NULL DEFAULT 600,
        outbound_allow TEXT NOT NULL DEFAULT '',
        outbound_deny TEXT NOT NULL DEFAULT '',
        srtp TEXT,
        park_alerts BOOLEAN NOT NULL DEFAULT TRUE,
        park_rearm_s BIGINT NOT NULL DEFAULT 30,
        lamp_identities BOOLEAN NOT NULL DEFAULT TRUE
    );
    CREATE TABLE extensions (
        tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        ha1_md5 TEXT NOT NULL,
        ha1_sha256 TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        can_call_out BOOLEAN NOT NULL,
        can_park BOOLEAN NOT NULL,
        can_retrieve BOOLEAN NOT NULL,
        source TEXT NOT NULL,
        max_outbound_calls BIGINT NOT NULL DEFAULT 4,
        max_outbound_calls_per_minute BIGINT NOT NULL DEFAULT 20,
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
        source TEXT NOT NULL,
        auth_username TEXT,
        auth_password TEXT,
        auth_register_s BIGINT,
        tls_name TEXT
    );
    CREATE TABLE bindings (
        tenant TEXT NOT NULL,
        extension TEXT NOT NULL,
        contact TEXT NOT NULL,
        source TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        call_id TEXT NOT NULL,
        cseq BIGINT NOT NULL,
        user_agent TEXT NOT NULL,
        PRIMARY KEY (tenant, extension, contact)
    );
    CREATE TABLE call_records (
        id TEXT PRIMARY KEY,
        seq BIGSERIAL,
        tenant TEXT NOT NULL,
        caller TEXT NOT NULL,
        callee TEXT NOT NULL,
        routed_to TEXT NOT NULL,
        connected TEXT NOT NULL DEFAULT '',
        started_ms BIGINT NOT NULL,
        answered_ms BIGINT,
        ended_ms BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        status INTEGER NOT NULL,
        cause TEXT NOT NULL,
        features TEXT NOT NULL,
        events TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX call_records_by_time ON call_records (started_ms);
    CREATE TABLE parked_calls (
        tenant TEXT NOT NULL,
        position TEXT NOT NULL,
        retrieval TEXT NOT NULL,
        parker TEXT NOT NULL,
        parked_party TEXT NOT NULL,
        since_ms BIGINT NOT NULL,
        deadline_ms BIGINT NOT NULL,
        PRIMARY KEY (tenant, position)
    );
    CREATE TABLE live_calls (
        id BIGINT PRIMARY KEY,
        state TEXT NOT NULL
    );
    CREATE TABLE media_streams (
        port INTEGER PRIMARY KEY,
        ssrc BIGINT NOT NULL,
        seq INTEGER NOT NULL,
        ts BIGINT NOT NULL,
        roc BIGINT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    -- Every change of the accounts counts here, whoever makes it (the CLI,
    -- the API, another node): a running switch reloads when it moves.
    CREATE TABLE accounts_version (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), n BIGINT NOT NULL);
    INSERT INTO accounts_version VALUES (TRUE, 0);
    CREATE FUNCTION parkline_accounts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE accounts_version SET n = n + 1;
        RETURN NULL;
    END $$;
    CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
        FOR EACH STATEMENT EXECUTE FUNCTION parkline_accounts_changed();
    CREATE TRIGGER extensions_changed AFTER INSERT OR UPDATE OR DELETE ON extensions
        FOR EACH STATEMENT EXECUTE FUNCTION parkline_accounts_changed();
    CREATE TRIGGER dids_changed AFTER INSERT OR UPDATE OR DELETE ON dids
        FOR EACH STATEMENT EXECUTE FUNCTION parkline_accounts_changed();
    CREATE TRIGGER trunks_changed AFTER INSERT OR UPDATE OR DELETE ON trunks
        FOR EACH STATEMENT EXECUTE FUNCTION parkline_accounts_changed();",
    // 2: nodes sharing the database: each node's live calls, media streams
    // and parked calls are its own (a restarted node takes back only its
    // own); parking positions stay unique across the cluster.
    "ALTER TABLE live_calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ALTER TABLE live_calls DROP CONSTRAINT live_calls_pkey;
    ALTER TABLE live_calls ADD PRIMARY KEY (node, id);
    ALTER TABLE media_streams ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ALTER TABLE media_streams DROP CONSTRAINT media_streams_pkey;
    ALTER TABLE media_streams ADD PRIMARY KEY (node, port);
    ALTER TABLE parked_calls ADD COLUMN node TEXT NOT NULL DEFAULT '';",
    // 3: where each node takes SIP from (a retrieval that lands on another
    // node than the parked call's is sent there)
    "CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        sip TEXT NOT NULL,
        seen_ms BIGINT NOT NULL
    );",
    // 4: the Path a registration came through (RFC 3327), one URI a line
    "ALTER TABLE bindings ADD COLUMN path TEXT NOT NULL DEFAULT '';",
];
