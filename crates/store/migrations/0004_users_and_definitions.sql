-- SCIM 2.0 users and OpenAPI definitions.
-- Portable SQL (PostgreSQL and SQLite).

-- The SCIM attributes a user carries besides name, password and roles (name, emails,
-- displayName), as JSON text, and when the user was last changed (epoch ms).
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

-- The OpenAPI document an API was created from (or last given through PUT /swagger),
-- verbatim. APIs without a row get a document generated from their operations.
CREATE TABLE api_definitions (
    api_id     TEXT PRIMARY KEY REFERENCES apis (id) ON DELETE CASCADE,
    document   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- External key managers (OIDC issuers) whose tokens gateways accept: the issuer, where its
-- keys are published, the last JWKS fetched from there (JSON text; gateways receive its
-- keys), and the rest of WSO2's KeyManager body as JSON text.
CREATE TABLE key_managers (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    issuer          TEXT NOT NULL UNIQUE,
    jwks_uri        TEXT NOT NULL,
    enabled         BIGINT NOT NULL,
    definition      TEXT NOT NULL,
    jwks            TEXT NOT NULL,
    jwks_fetched_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Burst control (WSO2's spike arrest) of subscription and application tiers: at most
-- burst_count requests per burst_time_unit (sec or min) per gateway; 0 = none.
ALTER TABLE throttling_policies ADD COLUMN burst_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttling_policies ADD COLUMN burst_time_unit TEXT NOT NULL DEFAULT 'sec';
