-- Shared scopes (WSO2 publisher `/scopes`): scopes several APIs use, with the roles bound to
-- each (JSON array of role names). Portable SQL (PostgreSQL and SQLite).
CREATE TABLE shared_scopes (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    bindings     TEXT NOT NULL DEFAULT '[]'
);
