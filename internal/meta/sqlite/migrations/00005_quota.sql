-- Storage quotas per project (registry/quota.go enforces them; see
-- docs/quotas.md). Conventions of 00001: times are unix microseconds, a
-- zero figure is "no limit". PostgreSQL mirrors this table
-- (postgres/migrations/00005_quota.sql).

-- +goose Up
-- A project's quota goes with the project.
CREATE TABLE project_quotas (
    project_id     INTEGER NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    limit_bytes    INTEGER NOT NULL DEFAULT 0 CHECK (limit_bytes >= 0),
    warn_bytes     INTEGER NOT NULL DEFAULT 0 CHECK (warn_bytes >= 0),
    artifact_limit INTEGER NOT NULL DEFAULT 0 CHECK (artifact_limit >= 0),
    updated_at     INTEGER NOT NULL,
    updated_by     TEXT    NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE project_quotas;
