-- Idempotency keys of enqueue calls (`Idempotency-Key`): a retry with a key the tenant used in
-- the last 24 hours of the service clock answers what the first call created and creates nothing.
-- A key is written in the transaction that writes its jobs, so a crash leaves both or neither.
CREATE TABLE enqueue_keys (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    -- A digest of the call's jobs (kind and payload of each, in order): the same key with other
    -- jobs is refused.
    fingerprint     TEXT NOT NULL,
    -- The ids of the jobs the first call created, in order, as a JSON array.
    job_ids         TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);
CREATE INDEX enqueue_keys_by_age ON enqueue_keys (created_ms);
