-- SCEP challenges: a device targeted by a SCEP profile gets one. The challenge blob the device
-- puts in its CSR names a row here; the row holds what the CSR must match, whether the profile is
-- still targeted, and the last validation and notification of it.
-- (PostgreSQL; same meaning as migrations/sqlite/0004_scep_challenges.sql.)
CREATE TABLE scep_challenges (
    tenant_id          TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    device_id          TEXT NOT NULL,
    user_id            TEXT,
    subject            TEXT NOT NULL,
    -- JSON array of {"type", "value"}.
    subject_alt_names  TEXT NOT NULL,
    -- Comma-separated key usage names (digitalSignature,keyEncipherment,…).
    key_usage          TEXT NOT NULL,
    key_size           BIGINT NOT NULL,
    -- Comma-separated dotted EKU OIDs.
    extended_key_usage TEXT NOT NULL,
    issued_ms          BIGINT NOT NULL,
    expires_ms         BIGINT NOT NULL,
    targeted           BOOLEAN NOT NULL,
    transaction_id     TEXT,
    last_code          TEXT,
    -- "success" or "failure", with the notification body (JSON text).
    notification_kind  TEXT,
    notification       TEXT,
    notified_ms        BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX scep_challenges_by_transaction ON scep_challenges (tenant_id, transaction_id);
