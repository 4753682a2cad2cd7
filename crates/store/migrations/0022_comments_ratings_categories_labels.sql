-- Comments and ratings on APIs and MCP servers (WSO2 publisher and devportal
-- `/apis/{apiId}/comments`, `/user-rating`), API categories and gateway labels (admin).
-- Portable SQL (PostgreSQL and SQLite).

-- A comment, or a reply to one (one level: a reply's parent is a top-level comment).
CREATE TABLE api_comments (
    id          TEXT PRIMARY KEY,
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    parent_id   TEXT REFERENCES api_comments (id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    category    TEXT NOT NULL,
    entry_point TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX api_comments_api ON api_comments (api_id, parent_id, created_at);

-- One rating (1–5) per user and API.
CREATE TABLE api_ratings (
    id         TEXT NOT NULL UNIQUE,
    api_id     TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    rated_by   TEXT NOT NULL,
    rating     INTEGER NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (api_id, rated_by)
);

-- API categories; APIs name them in `categories` (names are unique, case-insensitively).
CREATE TABLE api_categories (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    lower_name  TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

-- Gateway labels (WSO2 admin `/labels`): a name, a description and the URLs it stands for.
CREATE TABLE gateway_labels (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    lower_name  TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    access_urls TEXT NOT NULL DEFAULT '[]'
);
