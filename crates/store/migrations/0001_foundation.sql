-- Gantry's first schema. Portable SQL: it runs unchanged on PostgreSQL and SQLite.
-- Ids are UUID text, times are epoch milliseconds (BIGINT), flags are BIGINT 0/1 and
-- structured values are JSON text, because sqlx's Any driver carries only those kinds.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE environments (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    description    TEXT NOT NULL,
    vhosts         TEXT NOT NULL,
    config_version BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE throttling_policies (
    id            TEXT PRIMARY KEY,
    policy_level  TEXT NOT NULL,
    name          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    description   TEXT NOT NULL,
    request_count BIGINT NOT NULL,
    unit_time     BIGINT NOT NULL,
    time_unit     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (policy_level, name)
);

-- WSO2's default tiers (request_count -1 = unlimited).
INSERT INTO throttling_policies VALUES
  ('5d7b6a3e-0001-4000-8000-000000000001', 'subscription', 'Unlimited', 'Unlimited', 'Allows unlimited requests', -1, 1, 'min', 0),
  ('5d7b6a3e-0001-4000-8000-000000000002', 'subscription', 'Gold', 'Gold', 'Allows 5000 requests per minute', 5000, 1, 'min', 0),
  ('5d7b6a3e-0001-4000-8000-000000000003', 'subscription', 'Silver', 'Silver', 'Allows 2000 requests per minute', 2000, 1, 'min', 0),
  ('5d7b6a3e-0001-4000-8000-000000000004', 'subscription', 'Bronze', 'Bronze', 'Allows 1000 requests per minute', 1000, 1, 'min', 0),
  ('5d7b6a3e-0002-4000-8000-000000000001', 'application', 'Unlimited', 'Unlimited', 'Allows unlimited requests', -1, 1, 'min', 0),
  ('5d7b6a3e-0002-4000-8000-000000000002', 'application', '10PerMin', '10PerMin', 'Allows 10 requests per minute', 10, 1, 'min', 0),
  ('5d7b6a3e-0002-4000-8000-000000000003', 'application', '20PerMin', '20PerMin', 'Allows 20 requests per minute', 20, 1, 'min', 0),
  ('5d7b6a3e-0002-4000-8000-000000000004', 'application', '50PerMin', '50PerMin', 'Allows 50 requests per minute', 50, 1, 'min', 0),
  ('5d7b6a3e-0003-4000-8000-000000000001', 'api', 'Unlimited', 'Unlimited', 'Allows unlimited requests', -1, 1, 'min', 0),
  ('5d7b6a3e-0003-4000-8000-000000000002', 'api', '10KPerMin', '10KPerMin', 'Allows 10000 requests per minute', 10000, 1, 'min', 0),
  ('5d7b6a3e-0003-4000-8000-000000000003', 'api', '20KPerMin', '20KPerMin', 'Allows 20000 requests per minute', 20000, 1, 'min', 0),
  ('5d7b6a3e-0003-4000-8000-000000000004', 'api', '50KPerMin', '50KPerMin', 'Allows 50000 requests per minute', 50000, 1, 'min', 0);

CREATE TABLE apis (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    context          TEXT NOT NULL,
    provider         TEXT NOT NULL,
    lifecycle_status TEXT NOT NULL,
    definition       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (name, version),
    UNIQUE (context, version)
);

CREATE TABLE api_lifecycle_history (
    id             TEXT PRIMARY KEY,
    api_id         TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    previous_state TEXT,
    post_state     TEXT NOT NULL,
    username       TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX api_lifecycle_history_api ON api_lifecycle_history (api_id);

CREATE TABLE api_revisions (
    id              TEXT PRIMARY KEY,
    api_id          TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    revision_number BIGINT NOT NULL,
    description     TEXT NOT NULL,
    definition      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (api_id, revision_number)
);

CREATE TABLE api_deployments (
    id                   TEXT PRIMARY KEY,
    api_id               TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    revision_id          TEXT NOT NULL REFERENCES api_revisions (id) ON DELETE CASCADE,
    environment          TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    vhost                TEXT NOT NULL,
    display_on_devportal BIGINT NOT NULL,
    deployed_at          BIGINT NOT NULL,
    UNIQUE (api_id, environment)
);

CREATE TABLE applications (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    owner             TEXT NOT NULL,
    throttling_policy TEXT NOT NULL,
    description       TEXT NOT NULL,
    token_type        TEXT NOT NULL,
    attributes        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE application_keys (
    id                   TEXT PRIMARY KEY,
    application_id       TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key_type             TEXT NOT NULL,
    key_manager          TEXT NOT NULL,
    consumer_key         TEXT NOT NULL UNIQUE,
    consumer_secret_hash TEXT NOT NULL,
    grant_types          TEXT NOT NULL,
    callback_url         TEXT NOT NULL,
    validity_period      BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    UNIQUE (application_id, key_type, key_manager)
);

CREATE TABLE subscriptions (
    id                TEXT PRIMARY KEY,
    application_id    TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    api_id            TEXT NOT NULL REFERENCES apis (id),
    throttling_policy TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (application_id, api_id)
);
CREATE INDEX subscriptions_api ON subscriptions (api_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
