-- One row per SCEP transaction: the challenge its request named and the verdict it got. The
-- notifications that follow are matched to their transaction here (a challenge may be validated
-- under several transactions).
-- (PostgreSQL; same meaning as migrations/sqlite/0005_scep_validations.sql.)
CREATE TABLE scep_validations (
    tenant_id      TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    challenge_id   TEXT NOT NULL,
    code           TEXT NOT NULL,
    validated_ms   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, transaction_id)
);
