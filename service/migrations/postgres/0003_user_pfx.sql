-- Imported user PFX certificates (Graph userPFXCertificate, S/MIME): the PFX bytes and the
-- password encrypted to the tenant's import key, which connectors decrypt for pkcs_import jobs.
-- (PostgreSQL; same meaning as migrations/sqlite/0003_user_pfx.sql.)
CREATE TABLE user_pfx_certificates (
    tenant_id              TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                     TEXT COLLATE "C" NOT NULL,
    user_principal_name    TEXT NOT NULL,
    thumbprint             TEXT NOT NULL,
    intended_purpose       TEXT NOT NULL,
    padding_scheme         TEXT NOT NULL,
    provider_name          TEXT NOT NULL,
    key_name               TEXT NOT NULL,
    encrypted_pfx_blob     TEXT NOT NULL,
    encrypted_pfx_password TEXT NOT NULL,
    start_ms               BIGINT,
    expiration_ms          BIGINT,
    created_ms             BIGINT NOT NULL,
    modified_ms            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
