-- AI APIs (APIs in front of LLM providers). Portable SQL (PostgreSQL and SQLite).

-- Token budgets of AI API quota policies (WSO2 AIAPIQUOTALIMIT): tokens per unit_time
-- time_unit, 0 = no limit of that kind. request_count keeps the policy's request quota.
ALTER TABLE throttling_policies ADD COLUMN total_token_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttling_policies ADD COLUMN prompt_token_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttling_policies ADD COLUMN completion_token_count BIGINT NOT NULL DEFAULT 0;

-- LLM providers added through the Admin API (the built-in ones live in the code).
-- configurations: WSO2's JSON (where the model and token counts sit, how the key is sent);
-- model_list: JSON array of model names.
CREATE TABLE llm_providers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    api_version    TEXT NOT NULL,
    description    TEXT NOT NULL,
    configurations TEXT NOT NULL,
    api_definition TEXT NOT NULL,
    model_list     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (name, api_version)
);

-- The provider keys of an AI API's targets, sealed (AES-256-GCM under the gateways'
-- credential key, bound to api/target): never stored or shown in the clear.
CREATE TABLE ai_api_credentials (
    api_id     TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    target     TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (api_id, target)
);
