-- Key manager: signing-key lifecycle, revocation, refresh tokens, authorization codes.
-- Portable SQL (PostgreSQL and SQLite); times are epoch milliseconds, flags BIGINT 0/1.

-- next → active → retired → removed. private_key now holds the sealed (AES-256-GCM) PKCS#8
-- document; rows written before this migration are sealed at the next start.
ALTER TABLE signing_keys ADD COLUMN activated_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
-- When every token the (retired) key signed has expired: then it is removed.
ALTER TABLE signing_keys ADD COLUMN remove_after BIGINT;

-- Access tokens revoked before their expiry (RFC 7009), by jti. Gateways receive the ids
-- of the rows not yet expired; expired rows are purged.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- Opaque refresh tokens, stored as SHA-256 digests. Each use spends the row and issues the
-- next one in the same family; presenting a spent one revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    username          TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    access_jti        TEXT NOT NULL,
    access_expires_at BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    spent             BIGINT NOT NULL,
    revoked           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);

-- Authorization codes (stored as SHA-256 digests), single use, short-lived.
CREATE TABLE authorization_codes (
    code_hash         TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL,
    username          TEXT NOT NULL,
    redirect_uri      TEXT NOT NULL,
    scope             TEXT NOT NULL,
    code_challenge    TEXT NOT NULL,
    nonce             TEXT NOT NULL,
    family_id         TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used              BIGINT NOT NULL,
    access_jti        TEXT NOT NULL,
    access_expires_at BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- A public client (a browser or native app) holds no secret: it authenticates by PKCE
-- alone, on the authorization_code and refresh_token grants only.
ALTER TABLE application_keys ADD COLUMN public_client BIGINT NOT NULL DEFAULT 0;
