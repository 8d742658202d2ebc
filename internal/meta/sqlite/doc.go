// Package sqlite is the embedded metadata backend: a meta.Store kept in one
// SQLite file (modernc.org/sqlite, pure Go) in WAL mode with
// synchronous=FULL, so every commit is durable once it returns.
//
// # Schema
//
// The schema is built by the numbered goose migrations embedded from
// migrations/; PostgreSQL mirrors the same tables and columns. Timestamps are
// unix microseconds (UTC) and names compare byte-wise.
//
//	repositories (id, name UNIQUE, created_at)
//	  │
//	  ├── repository_blobs (repository_id, digest) ──► blobs (digest, size, created_at)
//	  │                                                blob_leases (digest, expires_at)
//	  ├── manifests (repository_id, digest, media_type, artifact_type, subject,
//	  │     │        config_digest, size, annotations, pushed_at, pushed_by,
//	  │     │        last_pulled_at, content)          index (repository_id, subject, digest)
//	  │     ├── manifest_refs (repository_id, manifest_digest, kind, child_digest, size)
//	  │     │         ON DELETE CASCADE               index (repository_id, child_digest, kind)
//	  │     └── tags (repository_id, name, digest, updated_at)
//	  │               FK (repository_id, digest): a tag never points at nothing
//	  ├── tag_history (id, repository_id, tag, digest, previous, at)
//	  └── uploads (id, repository_id, byte_offset, state, started_at, updated_at, expires_at)
//
// Access control (00002) names repositories by their first path component,
// the project, not by foreign key:
//
//	users (id, name UNIQUE, …, issuer, subject)        UNIQUE (issuer, subject) WHERE issuer <> ''
//	projects (id, name UNIQUE, public, created_at, created_by)
//	  ├── project_members (project_id, kind, name, role)  ON DELETE CASCADE, index (kind, name)
//	  └── robots (id, name UNIQUE, project_id NULL for system robots, permissions JSON, …)
//	signing_keys (id, algorithm, private_key, created_at, retired_at)
//	audit_log (id, at, actor, action, project, resource, outcome, …)  indexes (at, id), (project, id), (actor, id)
//
// # Two connection pools
//
// SQLite lets one writer in at a time. Were writers to share a pool, two
// connections would race for the write lock and one would wait in
// busy_timeout or fail with SQLITE_BUSY ("database is locked"). So the Store
// opens the file twice:
//
//   - a writer pool of exactly one connection (transactions begin
//     IMMEDIATE) that runs every write and every WithTx: Go's pool queues
//     writers instead of SQLite refusing them;
//   - a reader pool of several query_only connections for autocommit reads,
//     which WAL lets run alongside the writer, each seeing the last commit.
//
// Every statement is prepared once per connection and reused, which keeps
// the hot reads (manifest by tag, linked blob, tag pages) cheap.
package sqlite
