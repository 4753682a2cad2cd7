-- Endpoint certificates (WSO2 publisher `/endpoint-certificates`): certificates gateways
-- trust for TLS to one upstream endpoint, by alias. The PEM as uploaded (re-encoded), what
-- was read from it (validity in epoch seconds), and the endpoint it applies to.
-- Portable SQL (PostgreSQL and SQLite).
CREATE TABLE endpoint_certificates (
    alias       TEXT PRIMARY KEY,
    endpoint    TEXT NOT NULL,
    certificate TEXT NOT NULL,
    subject     TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    serial      TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
