-- Portal browser sessions, shared by every control-plane replica (no sticky sessions needed).
-- The cookie holds a random id; only its SHA-256 is stored, so a read of this table does not
-- yield usable cookies. Times are epoch milliseconds.
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT,
    csrf TEXT NOT NULL,
    test_token TEXT,
    notice TEXT,
    created_at BIGINT NOT NULL,
    used_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_used_at ON portal_sessions (used_at);
