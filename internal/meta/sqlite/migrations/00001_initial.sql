-- The first schema of the metadata store. Table and column names are the
-- ones the PostgreSQL backend mirrors; timestamps are unix microseconds (UTC)
-- and names compare byte-wise (COLLATE BINARY), as the Distribution API's
-- `last` pagination needs.

-- +goose Up
CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL COLLATE BINARY UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE blobs (
    digest     TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A repository may serve a blob only through a link row.
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    digest        TEXT    NOT NULL REFERENCES blobs (digest),
    linked_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
-- Serves "who links this blob" for GC and the FK check when a blob row goes.
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

-- Leases pin blobs (recorded or still being written) against GC.
CREATE TABLE blob_leases (
    digest     TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX blob_leases_expires_at ON blob_leases (expires_at);

-- content is the last column so that reading the others never walks the
-- overflow pages of a large manifest.
CREATE TABLE manifests (
    repository_id  INTEGER NOT NULL REFERENCES repositories (id),
    digest         TEXT    NOT NULL,
    media_type     TEXT    NOT NULL,
    artifact_type  TEXT    NOT NULL DEFAULT '',
    subject        TEXT    NOT NULL DEFAULT '',
    config_digest  TEXT    NOT NULL DEFAULT '',
    size           INTEGER NOT NULL,
    annotations    TEXT,    -- JSON object; NULL when there are none
    pushed_at      INTEGER NOT NULL,
    pushed_by      TEXT    NOT NULL DEFAULT '',
    last_pulled_at INTEGER, -- NULL when never pulled
    content        BLOB    NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
-- Referrers: manifests of a repository by subject, already in digest order.
CREATE INDEX manifests_subject ON manifests (repository_id, subject, digest);

-- Edges from a manifest to the blobs and child manifests it names.
CREATE TABLE manifest_refs (
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT    NOT NULL,
    child_digest    TEXT    NOT NULL,
    kind            INTEGER NOT NULL, -- 1 blob, 2 manifest
    size            INTEGER NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, kind, child_digest),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX manifest_refs_child ON manifest_refs (repository_id, child_digest, kind);

-- The foreign key to manifests means a tag can never point at nothing: a
-- manifest cannot be deleted while a tag names it.
CREATE TABLE tags (
    repository_id INTEGER NOT NULL,
    name          TEXT    NOT NULL COLLATE BINARY,
    digest        TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX tags_digest ON tags (repository_id, digest);

-- digest is '' when the event deleted the tag; previous is '' when it
-- created it. id orders the events of a tag.
CREATE TABLE tag_history (
    id            INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    tag           TEXT    NOT NULL COLLATE BINARY,
    digest        TEXT    NOT NULL DEFAULT '',
    previous      TEXT    NOT NULL DEFAULT '',
    at            INTEGER NOT NULL
);
CREATE INDEX tag_history_tag ON tag_history (repository_id, tag, id);

-- byte_offset, not "offset": OFFSET is reserved in SQLite and PostgreSQL.
CREATE TABLE uploads (
    id            TEXT    NOT NULL PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    byte_offset   INTEGER NOT NULL,
    state         BLOB,
    started_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX uploads_expires_at ON uploads (expires_at, id);

-- +goose Down
DROP TABLE uploads;
DROP TABLE tag_history;
DROP TABLE tags;
DROP TABLE manifest_refs;
DROP TABLE manifests;
DROP TABLE blob_leases;
DROP TABLE repository_blobs;
DROP TABLE blobs;
DROP TABLE repositories;
