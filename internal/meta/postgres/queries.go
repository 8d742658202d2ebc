package postgres

// Every statement the store runs, in one place. pgx prepares each text once
// per connection and reuses it (its statement cache), so these are parsed
// and planned once per connection, not per call.
//
// Statements that change what a cached reader may hold (a tag set or
// deleted, a manifest deleted) take a change-feed payload as their last
// parameter and send it with pg_notify when they changed something and the
// payload is not NULL (outside WithTx; inside, the transaction sends its
// changes as it commits).

// Repositories.
const (
	getRepositorySQL    = `SELECT id, name, created_at FROM repositories WHERE name = $1`
	insertRepositorySQL = `INSERT INTO repositories (name, created_at) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at`
	listRepositoriesSQL = `SELECT r.name FROM repositories r
		WHERE r.name > $1 AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
		ORDER BY r.name LIMIT $2`
)

// Blobs, links and leases.
const (
	insertBlobSQL = `INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (digest) DO NOTHING`
	getBlobSQL  = `SELECT digest, size, created_at FROM blobs WHERE digest = $1`
	linkBlobSQL = `INSERT INTO repository_blobs (repository_id, digest, linked_at)
		VALUES ($1, $2, $3) ON CONFLICT (repository_id, digest) DO NOTHING`
	getLinkedBlobSQL = `SELECT b.digest, b.size, b.created_at
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		WHERE rb.repository_id = $1 AND rb.digest = $2`
	listBlobReposSQL = `SELECT r.name FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = $1 ORDER BY r.name LIMIT $2`
	unlinkBlobSQL = `DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2`
	// The digests arrive as one array and leave in its order (ordinality),
	// a digest given twice and missing twice.
	missingLinksSQL = `SELECT d.digest FROM unnest($2::text[]) WITH ORDINALITY AS d (digest, n)
		WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb
			WHERE rb.repository_id = $1 AND rb.digest = d.digest)
		ORDER BY d.n`
	leaseBlobSQL = `INSERT INTO blob_leases (digest, expires_at) VALUES ($1, $2)
		ON CONFLICT (digest) DO UPDATE
		SET expires_at = GREATEST(blob_leases.expires_at, excluded.expires_at)`
	getLeaseSQL = `SELECT expires_at FROM blob_leases WHERE digest = $1`
)

// The manifest columns in the order scanManifest reads them; the content
// variants add content last.
const (
	manifestCols = `m.repository_id, m.digest, m.media_type, m.artifact_type, m.subject,
		m.config_digest, m.size, m.annotations, m.pushed_at, m.pushed_by, m.last_pulled_at`
	manifestColsContent = manifestCols + `, m.content`
	// The tag is resolved in a scalar subquery rather than a join, so that
	// both lookups are single-row primary-key probes whatever plan the
	// server caches: pgx prepares statements, and a generic plan made while
	// a repository was small joined by scanning all of its manifests.
	taggedFrom = ` FROM manifests m WHERE m.repository_id = $1 AND m.digest =
		(SELECT t.digest FROM tags t WHERE t.repository_id = $1 AND t.name = $2)`
	referrersFrom = ` FROM manifests m WHERE m.repository_id = $1 AND m.subject = $2`
)

// Manifests and their references.
const (
	getManifestSQL = `SELECT ` + manifestColsContent +
		` FROM manifests m WHERE m.repository_id = $1 AND m.digest = $2`
	getManifestMetaSQL = `SELECT ` + manifestCols +
		` FROM manifests m WHERE m.repository_id = $1 AND m.digest = $2`
	getTaggedSQL     = `SELECT ` + manifestColsContent + taggedFrom
	getTaggedMetaSQL = `SELECT ` + manifestCols + taggedFrom
	// The manifest and its references in one statement: the references are
	// inserted only if the manifest was (a digest stored already keeps its
	// row and its references).
	putManifestSQL = `WITH m AS (
			INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject,
				config_digest, size, annotations, pushed_at, pushed_by, last_pulled_at, content)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (repository_id, digest) DO NOTHING
			RETURNING repository_id, digest
		)
		INSERT INTO manifest_refs (repository_id, manifest_digest, child_digest, kind, size)
		SELECT m.repository_id, m.digest, r.child, r.kind, r.size
		FROM m, unnest($13::text[], $14::smallint[], $15::bigint[]) AS r (child, kind, size)
		ON CONFLICT DO NOTHING`
	deleteManifestSQL = `WITH d AS (
			DELETE FROM manifests WHERE repository_id = $1 AND digest = $2 RETURNING 1
		)
		SELECT count(*) FROM d LEFT JOIN LATERAL
			(SELECT pg_notify('berth_changes', $3) WHERE $3::text IS NOT NULL) n ON true`
	missingManifestsSQL = `SELECT d.digest FROM unnest($2::text[]) WITH ORDINALITY AS d (digest, n)
		WHERE NOT EXISTS (SELECT 1 FROM manifests m
			WHERE m.repository_id = $1 AND m.digest = d.digest)
		ORDER BY d.n`
	listRefUsersSQL = `SELECT manifest_digest FROM manifest_refs
		WHERE repository_id = $1 AND child_digest = $2 AND kind = $3
		ORDER BY manifest_digest LIMIT $4`
	listReferrersSQL       = `SELECT ` + manifestCols + referrersFrom + ` ORDER BY m.digest`
	listReferrersOfTypeSQL = `SELECT ` + manifestCols + referrersFrom +
		` AND m.artifact_type = $3 ORDER BY m.digest`
)

// Tags and their history.
const (
	// berth_put_tag (migrations/00001_initial.sql) locks the tag row so that
	// concurrent moves each see the true previous digest.
	putTagSQL = `SELECT berth_put_tag($1, $2, $3, $4, $5)`
	getTagSQL = `SELECT digest, updated_at FROM tags WHERE repository_id = $1 AND name = $2`
	// DELETE locks the row: of two concurrent deletes, one returns it.
	deleteTagSQL = `WITH d AS (
			DELETE FROM tags WHERE repository_id = $1 AND name = $2 RETURNING digest
		), h AS (
			INSERT INTO tag_history (repository_id, tag, digest, previous, at)
			SELECT $1, $2, '', d.digest, $3 FROM d
		)
		SELECT d.digest FROM d LEFT JOIN LATERAL
			(SELECT pg_notify('berth_changes', $4) WHERE $4::text IS NOT NULL) n ON true`
	listTagsSQL = `SELECT name FROM tags WHERE repository_id = $1 AND name > $2
		ORDER BY name LIMIT $3`
	listTagsOfSQL = `SELECT name FROM tags WHERE repository_id = $1 AND digest = $2
		ORDER BY name`
	tagHistorySQL = `SELECT digest, previous, at FROM tag_history
		WHERE repository_id = $1 AND tag = $2 ORDER BY id DESC LIMIT $3`
)

const uploadCols = `id, repository_id, byte_offset, state, started_at, updated_at, expires_at`

// Upload sessions.
const (
	insertUploadSQL = `INSERT INTO uploads (` + uploadCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO NOTHING`
	getUploadSQL = `SELECT ` + uploadCols + ` FROM uploads WHERE id = $1`
	// One conditional UPDATE is the offset guard; the second column tells
	// a missing session (NULL) from one at another offset.
	updateUploadSQL = `WITH u AS (
			UPDATE uploads SET byte_offset = $1, state = $2, updated_at = $3, expires_at = $4
			WHERE id = $5 AND byte_offset = $6 RETURNING 1
		)
		SELECT (SELECT count(*) FROM u), (SELECT byte_offset FROM uploads WHERE id = $5)`
	deleteUploadSQL = `DELETE FROM uploads WHERE id = $1`
	listExpiredSQL  = `SELECT ` + uploadCols + ` FROM uploads WHERE expires_at < $1
		ORDER BY expires_at, id LIMIT $2`
)

// Store-wide.
const (
	statsSQL = `SELECT
		(SELECT count(*) FROM repositories),
		(SELECT count(*) FROM manifests),
		(SELECT count(*) FROM tags),
		(SELECT count(*) FROM blobs),
		(SELECT COALESCE(sum(size), 0)::bigint FROM blobs),
		(SELECT count(*) FROM uploads)`
	notifySQL = `SELECT pg_notify('berth_changes', $1)`
)
