-- Idempotency keys of enqueue calls (as in the SQLite migration of the same number): a retry
-- with a key the tenant used in the last 24 hours of the service clock answers what the first
-- call created and creates nothing; a key is written in the transaction that writes its jobs.
CREATE TABLE enqueue_keys (
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    fingerprint     TEXT NOT NULL,
    job_ids         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);
CREATE INDEX enqueue_keys_by_age ON enqueue_keys (created_ms);
