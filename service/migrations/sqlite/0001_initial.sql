-- Tenants, connectors, published releases, status history and Graph tokens.
-- Timestamps are integer milliseconds since the Unix epoch, always bound from the service clock.

CREATE TABLE tenants (
    id                     TEXT PRIMARY KEY,
    display_name           TEXT NOT NULL,
    rollout_delay_days     INTEGER NOT NULL,
    enrollment_secret_hash TEXT NOT NULL UNIQUE,
    client_id              TEXT NOT NULL UNIQUE,
    client_secret_hash     TEXT NOT NULL,
    import_key_thumbprint  TEXT,
    created_ms             INTEGER NOT NULL
);

CREATE TABLE connectors (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
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
    auto_update           INTEGER NOT NULL,
    co_installed          TEXT NOT NULL,
    enrolled_ms           INTEGER NOT NULL,
    last_checkin_ms       INTEGER,
    -- Status history is recorded up to this instant with the facts above.
    reconciled_ms         INTEGER NOT NULL,
    last_status           TEXT NOT NULL,
    last_reasons          TEXT NOT NULL,
    seq                   INTEGER NOT NULL,
    UNIQUE (tenant_id, machine_key)
);
CREATE INDEX connectors_by_tenant ON connectors (tenant_id, enrolled_ms, id);

CREATE TABLE releases (
    version      TEXT PRIMARY KEY,
    released_ms  INTEGER NOT NULL,
    published_ms INTEGER NOT NULL
);

-- Kept after uninstall so a connector's timeline stays readable; removed with its tenant.
CREATE TABLE status_history (
    tenant_id    TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    status       TEXT NOT NULL,
    reasons      TEXT NOT NULL,
    PRIMARY KEY (connector_id, seq)
);
CREATE INDEX status_history_by_tenant ON status_history (tenant_id);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    expires_ms INTEGER NOT NULL
);
