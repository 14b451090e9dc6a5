-- Imported user PFX certificates (Graph userPFXCertificate, S/MIME): the PFX bytes and the
-- password encrypted to the tenant's import key, which connectors decrypt for pkcs_import jobs.
CREATE TABLE user_pfx_certificates (
    tenant_id              TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id                     TEXT NOT NULL,
    user_principal_name    TEXT NOT NULL,
    thumbprint             TEXT NOT NULL,
    intended_purpose       TEXT NOT NULL,
    padding_scheme         TEXT NOT NULL,
    provider_name          TEXT NOT NULL,
    key_name               TEXT NOT NULL,
    encrypted_pfx_blob     TEXT NOT NULL,
    encrypted_pfx_password TEXT NOT NULL,
    start_ms               INTEGER,
    expiration_ms          INTEGER,
    created_ms             INTEGER NOT NULL,
    modified_ms            INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
