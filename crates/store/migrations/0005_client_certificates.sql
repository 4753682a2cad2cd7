-- Client certificates for mutual TLS per API (WSO2 publisher `client-certificates`).
-- Portable SQL (PostgreSQL and SQLite).

-- One row per API and alias: the PEM as uploaded, the throttling tier calls made with it
-- belong to, and its validity (epoch seconds, read from the certificate at upload) so
-- lists and gateways need not parse it again.
CREATE TABLE api_client_certificates (
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    alias       TEXT NOT NULL,
    tier        TEXT NOT NULL,
    certificate TEXT NOT NULL,
    subject     TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    serial      TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (api_id, alias)
);
