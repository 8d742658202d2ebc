-- Crash-safe retention runs, as in the SQLite backend
-- (sqlite/migrations/00009_retention_owner.sql): the owner instance of a
-- run, and at most one unfinished real run per project.

-- +goose Up
ALTER TABLE retention_runs ADD COLUMN owner text NOT NULL DEFAULT '';
UPDATE retention_runs SET status = 'interrupted',
    error = 'interrupted: another real run of the project was already active'
WHERE NOT dry_run AND status IN ('queued', 'running') AND id NOT IN (
    SELECT MIN(id) FROM retention_runs WHERE NOT dry_run AND status IN ('queued', 'running') GROUP BY project_id);
CREATE UNIQUE INDEX retention_runs_one_active ON retention_runs (project_id)
    WHERE NOT dry_run AND status IN ('queued', 'running');

-- +goose Down
DROP INDEX retention_runs_one_active;
ALTER TABLE retention_runs DROP COLUMN owner;
