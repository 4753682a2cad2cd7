-- The REST API scopes' role map as an administrator changed it (WSO2 Admin `/system-scopes`,
-- tenant-conf `RESTAPIScopes`): one row per scope whose roles differ from the built-in
-- defaults, and the role aliases (`RoleMappings`): a role and the roles that stand in for it.
-- Roles are JSON arrays of role names. Portable SQL (PostgreSQL and SQLite).
CREATE TABLE system_scope_roles (
    name  TEXT PRIMARY KEY,
    roles TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE role_aliases (
    role    TEXT PRIMARY KEY,
    aliases TEXT NOT NULL DEFAULT '[]'
);
