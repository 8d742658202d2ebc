-- Promotion records: which artifact was promoted from where to where, by
-- whom and when. Conventions of 00001: times are unix microseconds.
-- Repositories are kept by name so that the history outlives them.
-- PostgreSQL mirrors this table (postgres/migrations/00006_promotion.sql).

-- +goose Up
CREATE TABLE promotions (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    digest                 TEXT    NOT NULL,
    source_repository      TEXT    NOT NULL COLLATE BINARY,
    source_project         TEXT    NOT NULL COLLATE BINARY,
    source_reference       TEXT    NOT NULL,
    destination_repository TEXT    NOT NULL COLLATE BINARY,
    destination_project    TEXT    NOT NULL COLLATE BINARY,
    tag                    TEXT    NOT NULL COLLATE BINARY,
    promoted_by            TEXT    NOT NULL DEFAULT '',
    promoted_at            INTEGER NOT NULL,
    children               INTEGER NOT NULL DEFAULT 0,
    referrers              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX promotions_digest ON promotions (digest, id);
CREATE INDEX promotions_source_project ON promotions (source_project, id);
CREATE INDEX promotions_destination_project ON promotions (destination_project, id);

-- +goose Down
DROP TABLE promotions;
