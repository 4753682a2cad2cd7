-- User names are unique case-insensitively, as in WSO2 (`ADMIN` is `admin`).
-- Portable SQL (PostgreSQL and SQLite); names are ASCII (letters, digits, . _ - @), so both
-- engines' lower() agree.
--
-- Names that already collide would break the index: every one but the oldest is renamed
-- `<name>-<first 8 characters of its id>` (still a valid name), so the migration always
-- applies and no account is lost; an operator can rename or delete them afterwards.
UPDATE users SET username = username || '-' || substr(id, 1, 8)
WHERE EXISTS (
    SELECT 1 FROM users AS older
    WHERE lower(older.username) = lower(users.username)
      AND (older.created_at < users.created_at
           OR (older.created_at = users.created_at AND older.id < users.id))
);

CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
