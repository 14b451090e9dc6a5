-- The service's own secret per tenant for sealing and signing SCEP challenges (random, never
-- shown; a tenant's client secret cannot derive it).
CREATE TABLE scep_keys (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    secret    TEXT NOT NULL
);
