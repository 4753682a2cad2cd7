-- Bandwidth throttling policies (WSO2 BANDWIDTHLIMIT): a policy limits either requests
-- (request_count) or bytes (data_amount data_unit per unit_time time_unit). data_amount 0
-- means a request-count policy.
ALTER TABLE throttling_policies ADD COLUMN data_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttling_policies ADD COLUMN data_unit TEXT NOT NULL DEFAULT 'KB';
