-- Crash-safe retention runs. A run row names the process instance that
-- works it (owner), and at most one real run of a project may be queued or
-- running at a time (dry runs may overlap). PostgreSQL mirrors this
-- (postgres/migrations/00009_retention_owner.sql).

-- +goose Up
ALTER TABLE retention_runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
-- Older servers let a second real run of a project start; keep the oldest
-- unfinished one of each project and interrupt the others so that the
-- index below can be built.
UPDATE retention_runs SET status = 'interrupted',
    error = 'interrupted: another real run of the project was already active'
WHERE dry_run = 0 AND status IN ('queued', 'running') AND id NOT IN (
    SELECT MIN(id) FROM retention_runs WHERE dry_run = 0 AND status IN ('queued', 'running') GROUP BY project_id);
CREATE UNIQUE INDEX retention_runs_one_active ON retention_runs (project_id)
    WHERE dry_run = 0 AND status IN ('queued', 'running');

-- +goose Down
DROP INDEX retention_runs_one_active;
ALTER TABLE retention_runs DROP COLUMN owner;
