-- Access control: users, projects and their members, robot accounts, the
-- token service's signing keys and the audit log. Conventions of 00001:
-- times are unix microseconds (UTC, NULL where the domain has "never"),
-- names compare byte-wise, lists are JSON text. PostgreSQL mirrors these
-- tables (postgres/migrations/00002_access.sql).

-- +goose Up
-- groups is the JSON array of the identity provider's groups (idp_groups:
-- GROUPS is a keyword in both SQL dialects).
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL COLLATE BINARY UNIQUE,
    email           TEXT    NOT NULL DEFAULT '',
    password_hash   TEXT    NOT NULL DEFAULT '',
    sys_admin       INTEGER NOT NULL DEFAULT 0,
    issuer          TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    subject         TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    idp_groups      TEXT    NOT NULL DEFAULT '[]',
    cli_secret_hash TEXT    NOT NULL DEFAULT '',
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_login_at   INTEGER -- NULL when never
);
-- An OIDC identity belongs to one user; local accounts have no issuer.
CREATE UNIQUE INDEX users_subject ON users (issuer, subject) WHERE issuer <> '';

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL COLLATE BINARY UNIQUE,
    public     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL DEFAULT ''
);

-- Members name users and groups by name, not by id: a group exists only in
-- the identity provider, and a user may be granted a role before first
-- signing in. DeleteUser removes a user's rows itself.
CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('user', 'group')),
    name       TEXT    NOT NULL COLLATE BINARY,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, name)
) WITHOUT ROWID;
-- RolesOf: every membership of a user or group.
CREATE INDEX project_members_member ON project_members (kind, name);

-- project_id is NULL for a system robot.
CREATE TABLE robots (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL COLLATE BINARY UNIQUE,
    project_id   INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    description  TEXT    NOT NULL DEFAULT '',
    secret_hash  TEXT    NOT NULL DEFAULT '',
    permissions  TEXT    NOT NULL DEFAULT '[]', -- JSON array of RobotPermission
    expires_at   INTEGER, -- NULL: never
    disabled     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT '',
    last_used_at INTEGER  -- NULL when never
);
CREATE INDEX robots_project ON robots (project_id, name);

CREATE TABLE signing_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER -- NULL while it signs
) WITHOUT ROWID;

-- id orders the events: newest first is id descending, and BeforeID pages.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_kind TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    remote     TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    project    TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    resource   TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    outcome    TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_project ON audit_log (project, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- A registry that was open before access control keeps its data reachable
-- by the administrator: every first path component of an existing
-- repository becomes a private project created by the system, dated by its
-- oldest repository.
INSERT INTO projects (name, public, created_at, created_by)
SELECT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END AS project,
       0, MIN(created_at), ''
FROM repositories
GROUP BY project;

-- +goose Down
DROP TABLE audit_log;
DROP TABLE signing_keys;
DROP TABLE robots;
DROP TABLE project_members;
DROP TABLE projects;
DROP TABLE users;
