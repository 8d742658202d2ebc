-- Tag immutability rules (package policy says what they mean). Conventions
-- of 00001: times are unix microseconds, lists are JSON text. PostgreSQL
-- mirrors this table (postgres/migrations/00004_immutability.sql).

-- +goose Up
-- project_id is NULL for a system-wide rule; a project's rules go with it.
CREATE TABLE immutability_rules (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    repositories TEXT    NOT NULL DEFAULT '[]', -- JSON array of patterns
    tags         TEXT    NOT NULL DEFAULT '[]', -- JSON array of patterns
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX immutability_rules_project ON immutability_rules (project_id, id);

-- +goose Down
DROP TABLE immutability_rules;
