// Package postgres is the scale-out metadata backend: a meta.Store in a
// PostgreSQL database that any number of Berth replicas share (pgx v5, no
// ORM), with a change feed that keeps their in-memory caches correct.
//
// # Schema
//
// The numbered goose migrations embedded from migrations/ build the same
// tables and indexes as the SQLite backend, in PostgreSQL types: bigint
// identity ids, bytea content, json annotations, timestamptz times kept to
// the microsecond and returned in UTC, and COLLATE "C" on every name and
// digest so that they sort byte-wise whatever the database's collation.
// Open migrates (or, with SkipMigrations, only checks) the schema; Migrate
// and SchemaVersion serve a `berth migrate` command.
//
// # Concurrency
//
// Several processes write at once, so the database alone keeps the
// primitives correct; nothing relies on an in-process lock, which other
// replicas could not see. Every primitive is one statement, atomic on its
// own, and transactions run at READ COMMITTED:
//
//   - EnsureRepository, PutBlob, LinkBlob and CreateUpload insert with ON
//     CONFLICT, never by catching a unique violation (a failed statement
//     aborts the whole transaction in PostgreSQL);
//   - PutTag runs the function berth_put_tag, which locks the tag row
//     (SELECT ... FOR UPDATE, or the insert that creates it) before reading
//     the previous digest, so two replicas moving one tag each get the digest
//     they really replaced and record exactly one history row;
//   - UpdateUpload is one conditional UPDATE whose WHERE byte_offset = $n
//     PostgreSQL re-checks on the newest row after waiting, so of two
//     requests from one offset exactly one wins;
//   - LeaseBlob keeps the later expiry with GREATEST inside the upsert;
//   - MissingLinks and MissingManifests send the digests as one array and
//     keep its order with unnest ... WITH ORDINALITY.
//
// WithTx retries fn when PostgreSQL aborts the transaction over a deadlock
// or serialization failure, as the meta.Store contract allows.
//
// # Tag lookups
//
// GetTaggedManifest without content, the first read of every pull, is the
// one primitive the Store does not send as a statement of its own when it
// is busy: lookups that arrive while earlier ones run are resolved together
// by the next statement (batch.go), which starts after each of them was
// asked and so sees every write committed before it, as a statement of its
// own would. Inside a transaction every lookup is its own statement.
//
// # Errors inside a transaction
//
// PostgreSQL aborts a transaction at its first failed statement, so fn must
// stop at the first failed primitive. Most "expected" answers are not
// failed statements and leave the transaction usable: ErrNotFound from a
// lookup or from a delete or update that matched no row, ErrAlreadyExists
// from CreateUpload, ErrConflict from UpdateUpload. The answers that come
// from a failed foreign key check do abort it: ErrNotFound from LinkBlob,
// PutTag, PutManifest and CreateUpload (a missing blob, manifest or
// repository) and ErrConflict from DeleteManifest (still tagged).
//
// # Change feed
//
// The Store is a meta.ChangeFeed: PutTag, DeleteTag and DeleteManifest send
// pg_notify on the channel berth_changes in their own transaction, which
// PostgreSQL delivers to every listener at commit, in commit order, and
// never for a transaction rolled back. WatchChanges listens on a connection
// of its own and reconnects (reporting lost changes) when it drops. See
// feed.go for the payload format.
package postgres
