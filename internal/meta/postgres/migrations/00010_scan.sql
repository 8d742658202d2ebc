-- Vulnerability scanning, as in the SQLite backend
-- (sqlite/migrations/00010_scan.sql): scan reports (also the durable scan
-- queue), project scan policies and allowlists.

-- +goose Up
CREATE TABLE scan_reports (
    digest      text        COLLATE "C" NOT NULL PRIMARY KEY,
    repository  text        COLLATE "C" NOT NULL,
    status      text        NOT NULL
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'unsupported')),
    scanner     text        NOT NULL DEFAULT '',
    error       text        NOT NULL DEFAULT '',
    attempts    integer     NOT NULL DEFAULT 0,
    owner       text        NOT NULL DEFAULT '',
    lease_until timestamptz,
    queued_at   timestamptz NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz,
    generation  bigint      NOT NULL DEFAULT 0,
    critical    bigint      NOT NULL DEFAULT 0,
    high        bigint      NOT NULL DEFAULT 0,
    medium      bigint      NOT NULL DEFAULT 0,
    low         bigint      NOT NULL DEFAULT 0,
    unknown     bigint      NOT NULL DEFAULT 0,
    fixable     bigint      NOT NULL DEFAULT 0,
    secrets     bigint      NOT NULL DEFAULT 0,
    hygiene     bigint      NOT NULL DEFAULT 0,
    worst       integer     NOT NULL DEFAULT 0,
    inventory   bytea,
    report      bytea
);
CREATE INDEX scan_reports_claim ON scan_reports (queued_at, digest)
    WHERE status IN ('queued', 'running');
CREATE INDEX scan_reports_stale ON scan_reports (digest, generation) WHERE status = 'done';
CREATE INDEX scan_reports_requeue ON scan_reports (finished_at, digest)
    WHERE status IN ('done', 'failed');
CREATE INDEX manifests_digest ON manifests (digest, repository_id);

CREATE TABLE scan_policies (
    project_id     bigint      NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    scan_on_push   boolean     NOT NULL,
    block_severity integer     NOT NULL DEFAULT 0,
    unscanned      text        NOT NULL DEFAULT 'allow',
    wait_seconds   integer     NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL,
    updated_by     text        NOT NULL DEFAULT ''
);

-- project_id is NULL for a system-wide entry (meta's ProjectID 0).
CREATE TABLE vuln_allowlist (
    project_id bigint      REFERENCES projects (id) ON DELETE CASCADE,
    vuln_id    text        COLLATE "C" NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    expires_at timestamptz,
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX vuln_allowlist_key ON vuln_allowlist ((COALESCE(project_id, 0)), vuln_id);

-- +goose Down
DROP TABLE vuln_allowlist;
DROP TABLE scan_policies;
DROP INDEX manifests_digest;
DROP TABLE scan_reports;
