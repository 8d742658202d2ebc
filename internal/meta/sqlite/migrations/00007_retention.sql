-- Retention policies, their runs and reports, and the trash of tags that
-- retention removed (restorable until purged). Conventions of 00001: times
-- are unix microseconds. PostgreSQL mirrors these tables
-- (postgres/migrations/00007_retention.sql).

-- +goose Up
-- One policy per project; it goes with the project.
CREATE TABLE retention_policies (
    project_id  INTEGER NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    policy      TEXT    NOT NULL,             -- the policy document (JSON)
    schedule    TEXT    NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    next_run_at INTEGER,                      -- NULL: no scheduled run
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX retention_policies_due ON retention_policies (next_run_at) WHERE enabled = 1;

-- progress is a JSON object of counters, rewritten as the run goes.
CREATE TABLE retention_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    dry_run      INTEGER NOT NULL,
    trigger      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    progress     TEXT    NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    heartbeat_at INTEGER,
    error        TEXT    NOT NULL DEFAULT '',
    created_by   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX retention_runs_project ON retention_runs (project_id, id);
CREATE INDEX retention_runs_status ON retention_runs (status, id);

-- The deletions a run made (or, dry, would make), one row each.
CREATE TABLE retention_report (
    run_id     INTEGER NOT NULL REFERENCES retention_runs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    repository TEXT    NOT NULL,
    tag        TEXT    NOT NULL DEFAULT '',
    digest     TEXT    NOT NULL,
    rule       INTEGER NOT NULL DEFAULT 0,
    reason     TEXT    NOT NULL DEFAULT '',
    outcome    TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- tag is '' for an untagged manifest chosen for deletion; the manifest
-- itself stays until the row is purged. run_id is informative (no key:
-- runs may be pruned before their trash).
CREATE TABLE retention_trash (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id    INTEGER NOT NULL REFERENCES repositories (id),
    tag              TEXT    NOT NULL COLLATE BINARY DEFAULT '',
    digest           TEXT    NOT NULL,
    deleted_at       INTEGER NOT NULL,
    restorable_until INTEGER NOT NULL,
    run_id           INTEGER NOT NULL DEFAULT 0,
    reason           TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX retention_trash_tag ON retention_trash (repository_id, tag, id);
CREATE INDEX retention_trash_digest ON retention_trash (repository_id, digest);
CREATE INDEX retention_trash_until ON retention_trash (restorable_until);

-- +goose Down
DROP TABLE retention_trash;
DROP TABLE retention_report;
DROP TABLE retention_runs;
DROP TABLE retention_policies;
