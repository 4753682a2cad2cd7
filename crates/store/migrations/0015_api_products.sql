-- API products live beside APIs, as in WSO2's AM_API (API_TYPE = 'APIPRODUCT'): one table,
-- so names and contexts are unique across both and products share the lifecycle history,
-- revisions (at most 5), deployments and subscriptions of APIs. Every query that reads
-- API definitions filters on kind = 'API'; products' definitions are ApiProduct JSON and
-- their revisions ProductRevision JSON (the product with its included APIs frozen).
ALTER TABLE apis ADD COLUMN kind TEXT NOT NULL DEFAULT 'API';
CREATE INDEX apis_kind ON apis (kind);
