-- Request queues (docs/behaviour.md, "Request queues and routing"): jobs with leases, attempts and outcomes.

CREATE TABLE jobs (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    -- queued | leased | succeeded | failed | dead_letter | cancelled
    state              TEXT NOT NULL,
    payload            TEXT NOT NULL,
    attempts           INTEGER NOT NULL,
    max_attempts       INTEGER NOT NULL,
    -- A queued job may be leased from this instant on (enqueue time, or the end of a backoff).
    visible_ms         INTEGER NOT NULL,
    lease_token_hash   TEXT,
    lease_connector_id TEXT,
    lease_expires_ms   INTEGER,
    result             TEXT,
    error_code         TEXT,
    error_message      TEXT,
    created_ms         INTEGER NOT NULL,
    completed_ms       INTEGER
);
CREATE INDEX jobs_ready ON jobs (tenant_id, state, kind, visible_ms, seq);
CREATE INDEX jobs_leased ON jobs (state, lease_expires_ms);

-- One row per lease of a job: who had it, with which token, and how it ended.
CREATE TABLE job_attempts (
    job_id           TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    connector_id     TEXT NOT NULL,
    lease_token_hash TEXT NOT NULL,
    leased_ms        INTEGER NOT NULL,
    -- succeeded | failed | retry | expired | cancelled; NULL while the lease is open.
    outcome          TEXT,
    error_code       TEXT,
    ended_ms         INTEGER,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX job_attempts_by_token ON job_attempts (lease_token_hash);
