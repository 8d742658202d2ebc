-- Online garbage collection (package gc). PostgreSQL mirrors this file
-- (postgres/migrations/00003_gc.sql).

-- +goose Up
-- A tombstone is written in the transaction that deletes a garbage blob's
-- rows and removed once its bytes are gone from the blob store, so a crash
-- between the two leaves work the next run finishes. claimed_at is set
-- (unix microseconds) while a sweeper deletes the bytes; NULL before.
CREATE TABLE gc_tombstones (
    digest     TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    run_id     TEXT    NOT NULL,
    claimed_at INTEGER
) WITHOUT ROWID;
CREATE INDEX gc_tombstones_deleted_at ON gc_tombstones (deleted_at, digest);

-- The mark phase asks "does any manifest of any repository name this
-- blob?": the existing indexes start with the repository.
CREATE INDEX manifest_refs_child_any ON manifest_refs (child_digest, kind);
CREATE INDEX manifests_config_digest ON manifests (config_digest);

-- +goose Down
DROP INDEX manifests_config_digest;
DROP INDEX manifest_refs_child_any;
DROP TABLE gc_tombstones;
