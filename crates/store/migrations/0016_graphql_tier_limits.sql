-- GraphQL limits of subscription tiers (WSO2's graphQLMaxDepth and graphQLMaxComplexity):
-- the deepest and the most complex query a subscriber of the tier may send to a GraphQL
-- API; 0 = no limit.
ALTER TABLE throttling_policies ADD COLUMN graphql_max_depth BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttling_policies ADD COLUMN graphql_max_complexity BIGINT NOT NULL DEFAULT 0;
