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
