-- API keys an application generated (WSO2 4.7 keeps them by UUID and name, so a key can be
-- listed, regenerated and revoked without the key itself). The key stays a self-contained
-- signed JWT; this row records its id (`jti`) for regeneration and revocation.
-- Portable SQL (PostgreSQL and SQLite).
CREATE TABLE application_api_keys (
    uuid           TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key_type       TEXT NOT NULL,
    key_name       TEXT NOT NULL,
    jti            TEXT NOT NULL,
    validity_secs  BIGINT NOT NULL,
    issued_at      BIGINT NOT NULL,
    UNIQUE (application_id, key_type, key_name)
);
