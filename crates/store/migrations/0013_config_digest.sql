-- The digest (SHA-256 of the canonical JSON gateways receive) of each environment's
-- configuration at its config_version: replicas compare what the store yields now with it,
-- so a change committed without its version bump (a connection lost between the two) is
-- found and published by the reconcile instead of staying invisible to gateways.
ALTER TABLE environments ADD COLUMN config_digest TEXT NOT NULL DEFAULT '';
-- Deployments not yet carried by a published version (config_version = 0) are looked up
-- per environment on every reconcile.
CREATE INDEX api_deployments_pending ON api_deployments (environment, config_version);
