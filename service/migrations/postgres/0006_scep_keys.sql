-- The service's own secret per tenant for sealing and signing SCEP challenges (random, never
-- shown; a tenant's client secret cannot derive it).
-- (PostgreSQL; same meaning as migrations/sqlite/0006_scep_keys.sql.)
CREATE TABLE scep_keys (
    tenant_id TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    secret    TEXT NOT NULL
);
