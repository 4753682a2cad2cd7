-- Operation policies (WSO2 4.x): imported policy specifications, common (api_id '') or
-- specific to one API, and gateway policy mappings with the environments they are
-- deployed to. Built-in policies are not stored: the code lists them. Portable SQL.

-- `spec` is the policy specification as JSON (gantry_model's PolicySpec); `definition` the
-- uploaded gateway definition file as text, `definition_name` its file name; `md5` the
-- hex MD5 WSO2 reports. A name + version is unique among the common policies and among one
-- API's own.
CREATE TABLE operation_policies (
    id              TEXT PRIMARY KEY,
    api_id          TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    spec            TEXT NOT NULL,
    definition      TEXT NOT NULL,
    definition_name TEXT NOT NULL,
    md5             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (api_id, name, version)
);

-- A gateway policy mapping: `policy_mapping` is WSO2's APIOperationPolicies as JSON
-- (gantry_model's ApiPolicies).
CREATE TABLE gateway_policy_mappings (
    id             TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL,
    description    TEXT NOT NULL,
    policy_mapping TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Where a mapping is deployed: one mapping per environment (WSO2's gateway label).
CREATE TABLE gateway_policy_deployments (
    environment TEXT PRIMARY KEY REFERENCES environments (name) ON DELETE CASCADE,
    mapping_id  TEXT NOT NULL REFERENCES gateway_policy_mappings (id) ON DELETE CASCADE,
    deployed_at BIGINT NOT NULL
);
