-- Vulnerability data (package meta's VulnStore; package osv says what the
-- records hold). Conventions of 00001: times are unix microseconds.
-- PostgreSQL mirrors these tables (postgres/migrations/00008_vulndb.sql).

-- +goose Up
-- One row per record id; data is the record as the caller encoded it.
CREATE TABLE vuln_records (
    id       TEXT    PRIMARY KEY,
    modified INTEGER NOT NULL,
    source   TEXT    NOT NULL,
    data     BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX vuln_records_source ON vuln_records (source, modified);

-- The lookup index: which records affect a package of an ecosystem.
CREATE TABLE vuln_affected (
    ecosystem TEXT NOT NULL,
    name      TEXT NOT NULL,
    id        TEXT NOT NULL REFERENCES vuln_records (id) ON DELETE CASCADE,
    PRIMARY KEY (ecosystem, name, id)
) WITHOUT ROWID;
CREATE INDEX vuln_affected_id ON vuln_affected (id);

-- Where the data came from and how fresh it is, per source.
CREATE TABLE vuln_sources (
    name            TEXT    PRIMARY KEY,
    imported_at     INTEGER NOT NULL,
    newest_modified INTEGER NOT NULL DEFAULT 0,
    records         INTEGER NOT NULL DEFAULT 0
);

-- A single row: the generation grows with every change of the data, so
-- stored inventories can be re-matched when it moves.
CREATE TABLE vuln_generation (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    generation INTEGER NOT NULL
);
INSERT INTO vuln_generation (one, generation) VALUES (1, 0);

-- +goose Down
DROP TABLE vuln_generation;
DROP TABLE vuln_sources;
DROP TABLE vuln_affected;
DROP TABLE vuln_records;
