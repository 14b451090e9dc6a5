-- Health messages a connector uploads (every 5 minutes by default): kept per connector for the
-- Graph health-metric actions; the last upload's instant is on the connector (HealthUploadFailing).
-- (PostgreSQL; same meaning as migrations/sqlite/0007_health.sql.)
ALTER TABLE connectors ADD COLUMN last_health_ms BIGINT;

CREATE TABLE health_messages (
    tenant_id    TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connector_id TEXT NOT NULL,
    at_ms        BIGINT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (connector_id, at_ms)
);
CREATE INDEX health_messages_tenant ON health_messages (tenant_id, connector_id, at_ms);
