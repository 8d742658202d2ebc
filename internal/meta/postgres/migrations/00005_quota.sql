-- Storage quotas per project, as in the SQLite backend
-- (sqlite/migrations/00005_quota.sql). A zero figure is "no limit".

-- +goose Up
-- A project's quota goes with the project. The registry locks the row
-- (FOR UPDATE) in the transaction that checks a push against it.
CREATE TABLE project_quotas (
    project_id     bigint      NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    limit_bytes    bigint      NOT NULL DEFAULT 0 CHECK (limit_bytes >= 0),
    warn_bytes     bigint      NOT NULL DEFAULT 0 CHECK (warn_bytes >= 0),
    artifact_limit bigint      NOT NULL DEFAULT 0 CHECK (artifact_limit >= 0),
    updated_at     timestamptz NOT NULL,
    updated_by     text        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE project_quotas;
