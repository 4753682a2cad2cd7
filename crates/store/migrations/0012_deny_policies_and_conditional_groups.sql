-- Deny policies (WSO2 "blocking conditions"), the conditional groups of advanced
-- throttling policies, and custom rules. Portable SQL (PostgreSQL and SQLite).

-- One row per deny policy: `definition` is the parsed condition as JSON (gantry_model's
-- DenyCondition), `match_key` its type and value in a canonical form, unique so a second
-- policy blocking the same thing is refused; `enabled` 0/1 (WSO2 `conditionStatus`).
CREATE TABLE deny_policies (
    id             TEXT PRIMARY KEY,
    condition_type TEXT NOT NULL,
    definition     TEXT NOT NULL,
    match_key      TEXT NOT NULL UNIQUE,
    enabled        BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Advanced policies' conditional groups, in order, as JSON (gantry_model's
-- ConditionalGroup list); '[]' for every other policy.
ALTER TABLE throttling_policies ADD COLUMN conditional_groups TEXT NOT NULL DEFAULT '[]';

-- Custom rules (Gantry's declarative form of WSO2's Siddhi custom rules): a keyed limit.
-- `definition` is the rule as JSON (gantry_model's CustomRule: key template, conditions,
-- limit); the name is unique.
CREATE TABLE custom_rules (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
