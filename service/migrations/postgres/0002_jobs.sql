-- Request queues (docs/behaviour.md, "Request queues and routing"): jobs with leases, attempts and outcomes (PostgreSQL; same meaning
-- as migrations/sqlite/0002_jobs.sql). Leases pick jobs with FOR UPDATE SKIP LOCKED.

CREATE TABLE jobs (
    -- Enqueue order: lists and leases go by it.
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    tenant_id          TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    -- queued | leased | succeeded | failed | dead_letter | cancelled
    state              TEXT NOT NULL,
    -- JSON text (kept as text so it reads back byte for byte as it was written).
    payload            TEXT NOT NULL,
    attempts           BIGINT NOT NULL,
    max_attempts       BIGINT NOT NULL,
    -- A queued job may be leased from this instant on (enqueue time, or the end of a backoff).
    visible_ms         BIGINT NOT NULL,
    lease_token_hash   TEXT,
    lease_connector_id TEXT,
    lease_expires_ms   BIGINT,
    result             TEXT,
    error_code         TEXT,
    error_message      TEXT,
    created_ms         BIGINT NOT NULL,
    completed_ms       BIGINT
);
CREATE INDEX jobs_ready ON jobs (tenant_id, state, kind, visible_ms, seq);
CREATE INDEX jobs_leased ON jobs (state, lease_expires_ms);
CREATE INDEX jobs_by_lease_connector ON jobs (lease_connector_id) WHERE state = 'leased';

-- One row per lease of a job: who had it, with which token, and how it ended.
CREATE TABLE job_attempts (
    job_id           TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt          BIGINT NOT NULL,
    connector_id     TEXT NOT NULL,
    lease_token_hash TEXT NOT NULL,
    leased_ms        BIGINT NOT NULL,
    -- succeeded | failed | retry | expired | cancelled | released; NULL while the lease is open.
    outcome          TEXT,
    error_code       TEXT,
    ended_ms         BIGINT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX job_attempts_by_token ON job_attempts (lease_token_hash);
