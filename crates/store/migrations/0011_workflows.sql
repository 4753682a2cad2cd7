-- Approval workflows (WSO2's AM_WORKFLOWS): one row per request that waits for, or got, an
-- administrator's decision. `id` is WSO2's external workflow reference; `reference` names
-- what the request is about (an application, subscription, API, …); `payload` is the
-- deferred action as JSON text, performed on approval. The audit trail stays in the row:
-- who asked and when, who decided, when and why.
CREATE TABLE workflows (
    id            TEXT PRIMARY KEY,
    workflow_type TEXT NOT NULL,
    status        TEXT NOT NULL,
    reference     TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    description   TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    decided_by    TEXT,
    decided_at    BIGINT,
    comment       TEXT
);
CREATE INDEX workflows_status_type ON workflows (status, workflow_type, created_at);
CREATE INDEX workflows_reference ON workflows (reference, workflow_type);

-- An application created while AM_APPLICATION_CREATION needs approval is CREATED until
-- decided, then APPROVED or REJECTED (WSO2's application statuses).
ALTER TABLE applications ADD COLUMN status TEXT NOT NULL DEFAULT 'APPROVED';
