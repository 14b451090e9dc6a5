-- Tenants, connectors, published releases, status history and Graph tokens (PostgreSQL; same
-- meaning as migrations/sqlite/0001_initial.sql).
-- Timestamps are BIGINT milliseconds since the Unix epoch, always bound from the service clock.
-- Text keys that lists are ordered by use COLLATE "C": byte order, like SQLite's BINARY, whatever
-- the database's default collation is.

CREATE TABLE tenants (
    id                     TEXT COLLATE "C" PRIMARY KEY,
    display_name           TEXT NOT NULL,
    rollout_delay_days     BIGINT NOT NULL,
    enrollment_secret_hash TEXT NOT NULL UNIQUE,
    client_id              TEXT NOT NULL UNIQUE,
    client_secret_hash     TEXT NOT NULL,
    import_key_thumbprint  TEXT,
    created_ms             BIGINT NOT NULL
);

CREATE TABLE connectors (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    tenant_id             TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    credential_hash       TEXT NOT NULL UNIQUE,
    display_name          TEXT NOT NULL,
    machine_name          TEXT NOT NULL,
    -- Machine names compare case-insensitively: one connector per machine per tenant.
    machine_key           TEXT NOT NULL,
    features              TEXT NOT NULL,
    version               TEXT NOT NULL,
    product               TEXT NOT NULL,
    service_account       TEXT NOT NULL,
    proxy                 TEXT,
    import_key_thumbprint TEXT,
    auto_update           BOOLEAN NOT NULL,
    co_installed          TEXT NOT NULL,
    enrolled_ms           BIGINT NOT NULL,
    last_checkin_ms       BIGINT,
    -- Status history is recorded up to this instant with the facts above.
    reconciled_ms         BIGINT NOT NULL,
    last_status           TEXT NOT NULL,
    last_reasons          TEXT NOT NULL,
    seq                   BIGINT NOT NULL,
    UNIQUE (tenant_id, machine_key)
);
CREATE INDEX connectors_by_tenant ON connectors (tenant_id, enrolled_ms, id);

CREATE TABLE releases (
    version      TEXT COLLATE "C" PRIMARY KEY,
    released_ms  BIGINT NOT NULL,
    published_ms BIGINT NOT NULL
);

-- Kept after uninstall so a connector's timeline stays readable; removed with its tenant.
CREATE TABLE status_history (
    tenant_id    TEXT COLLATE "C" NOT NULL,
    connector_id TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    at_ms        BIGINT NOT NULL,
    status       TEXT NOT NULL,
    reasons      TEXT NOT NULL,
    PRIMARY KEY (connector_id, seq)
);
CREATE INDEX status_history_by_tenant ON status_history (tenant_id);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX tokens_by_expiry ON tokens (expires_ms);
