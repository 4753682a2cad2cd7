-- Progressive delivery (rollouts of API revisions).
--
-- A canary: a second revision of a deployed API serving `weight` percent of its calls in
-- one environment, beside the revision api_deployments holds there. `stickiness` is JSON
-- text (gantry_model::canary::Stickiness).
CREATE TABLE api_canaries (
    api_id      TEXT NOT NULL,
    environment TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    weight      BIGINT NOT NULL,
    stickiness  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (api_id, environment)
);

-- What gateways report per API revision (one row per report), added up per window by the
-- rollouts' analysis; rows older than an hour are deleted by the driver.
CREATE TABLE revision_traffic (
    environment TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    api_id      TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    requests    BIGINT NOT NULL,
    errors      BIGINT NOT NULL,
    latency     TEXT NOT NULL
);
CREATE INDEX revision_traffic_window ON revision_traffic (environment, api_id, revision_id, received_at);
CREATE INDEX revision_traffic_age ON revision_traffic (received_at);

-- A rollout: the plan as posted, its progress (JSON text, gantry_control_plane's
-- RolloutProgress), a command a user asked for that the driver has not taken yet, and
-- `revision` for compare-and-set updates.
CREATE TABLE rollouts (
    id          TEXT PRIMARY KEY,
    api_id      TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    plan        TEXT NOT NULL,
    progress    TEXT NOT NULL,
    reason      TEXT,
    command     TEXT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    revision    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rollouts_api ON rollouts (api_id, created_at);
CREATE INDEX rollouts_status ON rollouts (status);

-- The rollouts' audit trail: who (a user, or the driving replica) did what, when.
CREATE TABLE rollout_events (
    rollout_id TEXT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX rollout_events_rollout ON rollout_events (rollout_id, at);

-- Leases: one replica at a time holds a named job (the rollout driver) until expires_at
-- (epoch ms), renewing it while it runs.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO leases (name, holder, expires_at) VALUES ('rollouts', '', 0);
