-- Vulnerability data, as in the SQLite backend
-- (sqlite/migrations/00008_vulndb.sql).

-- +goose Up
-- One row per record id; data is the record as the caller encoded it.
CREATE TABLE vuln_records (
    id       text        PRIMARY KEY,
    modified timestamptz NOT NULL,
    source   text        NOT NULL,
    data     bytea       NOT NULL
);
CREATE INDEX vuln_records_source ON vuln_records (source, modified);

-- The lookup index: which records affect a package of an ecosystem.
CREATE TABLE vuln_affected (
    ecosystem text NOT NULL,
    name      text NOT NULL,
    id        text NOT NULL REFERENCES vuln_records (id) ON DELETE CASCADE,
    PRIMARY KEY (ecosystem, name, id)
);
CREATE INDEX vuln_affected_id ON vuln_affected (id);

-- Where the data came from and how fresh it is, per source.
CREATE TABLE vuln_sources (
    name            text        PRIMARY KEY,
    imported_at     timestamptz NOT NULL,
    newest_modified timestamptz,
    records         bigint      NOT NULL DEFAULT 0
);

-- A single row: the generation grows with every change of the data, so
-- stored inventories can be re-matched when it moves.
CREATE TABLE vuln_generation (
    one        integer PRIMARY KEY CHECK (one = 1),
    generation bigint  NOT NULL
);
INSERT INTO vuln_generation (one, generation) VALUES (1, 0);

-- +goose Down
DROP TABLE vuln_generation;
DROP TABLE vuln_sources;
DROP TABLE vuln_affected;
DROP TABLE vuln_records;
