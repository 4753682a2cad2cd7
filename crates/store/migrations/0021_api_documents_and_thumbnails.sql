-- API documents (WSO2 publisher `/apis/{apiId}/documents`) and thumbnails.
-- Portable SQL (PostgreSQL and SQLite). Binary content (a FILE document, a thumbnail) is kept
-- base64-encoded in TEXT, so one column type serves both databases; uploads are capped at
-- 2 MiB by the REST layer.

-- One row per document of an API; the name is unique per API (WSO2 refuses a duplicate).
CREATE TABLE api_documents (
    id              TEXT PRIMARY KEY,
    api_id          TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    doc_type        TEXT NOT NULL,
    other_type_name TEXT NOT NULL DEFAULT '',
    summary         TEXT NOT NULL DEFAULT '',
    source_type     TEXT NOT NULL,
    source_url      TEXT NOT NULL DEFAULT '',
    visibility      TEXT NOT NULL,
    inline_content  TEXT NOT NULL DEFAULT '',
    file_name       TEXT NOT NULL DEFAULT '',
    file_media_type TEXT NOT NULL DEFAULT '',
    file_content    TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL,
    UNIQUE (api_id, name)
);
CREATE INDEX api_documents_api ON api_documents (api_id);

-- At most one thumbnail per API.
CREATE TABLE api_thumbnails (
    api_id     TEXT PRIMARY KEY REFERENCES apis (id) ON DELETE CASCADE,
    media_type TEXT NOT NULL,
    content    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
