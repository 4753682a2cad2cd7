-- Distribution: gateway tokens per environment, the gateways that connect, and the
-- configuration version each deployment first appeared in.

CREATE TABLE gateway_tokens (
    id          TEXT PRIMARY KEY,
    environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX gateway_tokens_environment ON gateway_tokens (environment);

CREATE TABLE gateway_nodes (
    environment       TEXT NOT NULL,
    node_id           TEXT NOT NULL,
    build             TEXT NOT NULL,
    connected         BIGINT NOT NULL,
    held_version      BIGINT NOT NULL,
    applied_version   BIGINT NOT NULL,
    last_ack_at       BIGINT,
    last_nack_version BIGINT,
    last_nack_reason  TEXT,
    last_nack_at      BIGINT,
    first_seen        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    PRIMARY KEY (environment, node_id)
);

ALTER TABLE api_deployments ADD COLUMN config_version BIGINT NOT NULL DEFAULT 0;
