-- Vulnerability scanning (package meta's ScanStore): scan reports, which
-- are also the durable scan queue, project scan policies and allowlists.
-- Conventions of 00001: times are unix microseconds (NULL where the domain
-- has "never"). PostgreSQL mirrors these tables
-- (postgres/migrations/00010_scan.sql).

-- +goose Up
-- One report per manifest digest, whatever repositories store it. A
-- rowid table (not WITHOUT ROWID): inventory and report may be large, and
-- they come last so that reading the other columns never walks their
-- overflow pages.
CREATE TABLE scan_reports (
    digest      TEXT    NOT NULL PRIMARY KEY,
    repository  TEXT    NOT NULL,
    status      TEXT    NOT NULL
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'unsupported')),
    scanner     TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    owner       TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER, -- NULL unless running
    queued_at   INTEGER NOT NULL,
    started_at  INTEGER, -- NULL until first claimed
    finished_at INTEGER, -- NULL until first finished
    generation  INTEGER NOT NULL DEFAULT 0,
    critical    INTEGER NOT NULL DEFAULT 0,
    high        INTEGER NOT NULL DEFAULT 0,
    medium      INTEGER NOT NULL DEFAULT 0,
    low         INTEGER NOT NULL DEFAULT 0,
    unknown     INTEGER NOT NULL DEFAULT 0,
    fixable     INTEGER NOT NULL DEFAULT 0,
    secrets     INTEGER NOT NULL DEFAULT 0,
    hygiene     INTEGER NOT NULL DEFAULT 0,
    worst       INTEGER NOT NULL DEFAULT 0,
    inventory   BLOB,    -- NULL: none stored
    report      BLOB     -- NULL: no result yet
);
-- ClaimScans: the queue in order. Only queued and running reports are in
-- it, so done ones (most of the table) cost a claim nothing.
CREATE INDEX scan_reports_claim ON scan_reports (queued_at, digest)
    WHERE status IN ('queued', 'running');
-- StaleScanReports: done reports in digest order with the generation in
-- the index, so a page reads only the rows it returns. (An index leading
-- with status would also tempt the planner for claims, and sort there.)
CREATE INDEX scan_reports_stale ON scan_reports (digest, generation) WHERE status = 'done';
-- RequeueScans: finished reports, oldest first.
CREATE INDEX scan_reports_requeue ON scan_reports (finished_at, digest)
    WHERE status IN ('done', 'failed');
-- UnscannedManifests and DeleteOrphanScanReports ask whether any
-- repository stores a digest.
CREATE INDEX manifests_digest ON manifests (digest, repository_id);

-- One policy per project; it goes with the project. A project without a
-- row has meta.DefaultScanPolicy.
CREATE TABLE scan_policies (
    project_id     INTEGER NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    scan_on_push   INTEGER NOT NULL,
    block_severity INTEGER NOT NULL DEFAULT 0,
    unscanned      TEXT    NOT NULL DEFAULT 'allow',
    wait_seconds   INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL,
    updated_by     TEXT    NOT NULL DEFAULT ''
);

-- project_id is NULL for a system-wide entry (meta's ProjectID 0), so that
-- a project's entries go with it (project ids may be reused). The unique
-- index is the key: one entry per vulnerability id and scope.
CREATE TABLE vuln_allowlist (
    project_id INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    vuln_id    TEXT    NOT NULL COLLATE BINARY,
    reason     TEXT    NOT NULL DEFAULT '',
    expires_at INTEGER, -- NULL: never
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX vuln_allowlist_key ON vuln_allowlist (COALESCE(project_id, 0), vuln_id);

-- +goose Down
DROP TABLE vuln_allowlist;
DROP TABLE scan_policies;
DROP INDEX manifests_digest;
DROP TABLE scan_reports;
