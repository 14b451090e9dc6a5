-- Each tenant's token-signing key (RS256), made the first time the tenant needs one and then
-- shared by every replica on the database. `kid` is the certificate's SHA-1 thumbprint in
-- base64url (Entra ID's `kid` and `x5t`); `private_key_pem` is the RSA key as PKCS#8 PEM,
-- `certificate_pem` its self-signed certificate, which the tenant's JWKS shows as `x5c`.
-- (PostgreSQL; same meaning as migrations/sqlite/0012_signing_keys.sql.)
CREATE TABLE signing_keys (
    tenant_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    kid             TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    created_ms      BIGINT NOT NULL
);
