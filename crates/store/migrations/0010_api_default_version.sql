-- Whether an API version is its name's default version (reachable without the version
-- segment), as a column: snapshot builds read it instead of parsing every working copy.
-- Backfilled from the working copy's JSON, which serde writes compactly with this key.
ALTER TABLE apis ADD COLUMN is_default_version BIGINT NOT NULL DEFAULT 0;
UPDATE apis SET is_default_version = 1 WHERE definition LIKE '%"isDefaultVersion":true%';
