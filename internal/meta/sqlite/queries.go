package sqlite

// Every statement the store runs, in one place. stmt registers each one so
// that Open can prepare them all on the writer connection before any
// transaction holds it (a statement prepared lazily inside a transaction
// would wait for the very connection the transaction holds).

// statements lists every registered statement text.
var statements []string

// stmt registers query and returns it.
func stmt(query string) string {
	statements = append(statements, query)
	return query
}

// Repositories.
var (
	getRepositorySQL    = stmt(`SELECT id, name, created_at FROM repositories WHERE name = ?`)
	insertRepositorySQL = stmt(`INSERT INTO repositories (name, created_at) VALUES (?, ?)
		ON CONFLICT (name) DO NOTHING`)
	listRepositoriesSQL = stmt(`SELECT r.name FROM repositories r
		WHERE r.name > ? AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
		ORDER BY r.name LIMIT ?`)
)

// Blobs, links and leases.
var (
	insertBlobSQL = stmt(`INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)
		ON CONFLICT (digest) DO NOTHING`)
	getBlobSQL  = stmt(`SELECT digest, size, created_at FROM blobs WHERE digest = ?`)
	linkBlobSQL = stmt(`INSERT INTO repository_blobs (repository_id, digest, linked_at)
		VALUES (?, ?, ?) ON CONFLICT (repository_id, digest) DO NOTHING`)
	getLinkedBlobSQL = stmt(`SELECT b.digest, b.size, b.created_at
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		WHERE rb.repository_id = ? AND rb.digest = ?`)
	listBlobReposSQL = stmt(`SELECT r.name FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = ? ORDER BY r.name LIMIT ?`)
	unlinkBlobSQL   = stmt(`DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?`)
	missingLinksSQL = stmt(`SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb
			WHERE rb.repository_id = ? AND rb.digest = j.value)
		ORDER BY j.key`)
	leaseBlobSQL = stmt(`INSERT INTO blob_leases (digest, expires_at) VALUES (?, ?)
		ON CONFLICT (digest) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)`)
	getLeaseSQL = stmt(`SELECT expires_at FROM blob_leases WHERE digest = ?`)
)

// The manifest columns in the order scanManifest reads them; the content
// variants add content last.
const (
	manifestCols = `m.repository_id, m.digest, m.media_type, m.artifact_type, m.subject,
		m.config_digest, m.size, m.annotations, m.pushed_at, m.pushed_by, m.last_pulled_at`
	manifestColsContent = manifestCols + `, m.content`
	taggedFrom          = ` FROM tags t JOIN manifests m
		ON m.repository_id = t.repository_id AND m.digest = t.digest
		WHERE t.repository_id = ? AND t.name = ?`
	referrersFrom = ` FROM manifests m WHERE m.repository_id = ? AND m.subject = ?`
)

// Manifests and their references.
var (
	getManifestSQL = stmt(`SELECT ` + manifestColsContent +
		` FROM manifests m WHERE m.repository_id = ? AND m.digest = ?`)
	getManifestMetaSQL = stmt(`SELECT ` + manifestCols +
		` FROM manifests m WHERE m.repository_id = ? AND m.digest = ?`)
	getTaggedSQL      = stmt(`SELECT ` + manifestColsContent + taggedFrom)
	getTaggedMetaSQL  = stmt(`SELECT ` + manifestCols + taggedFrom)
	insertManifestSQL = stmt(`INSERT INTO manifests (repository_id, digest, media_type,
		artifact_type, subject, config_digest, size, annotations, pushed_at, pushed_by,
		last_pulled_at, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest) DO NOTHING`)
	insertRefSQL = stmt(`INSERT INTO manifest_refs (repository_id, manifest_digest,
		child_digest, kind, size) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	deleteManifestSQL   = stmt(`DELETE FROM manifests WHERE repository_id = ? AND digest = ?`)
	missingManifestsSQL = stmt(`SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM manifests m
			WHERE m.repository_id = ? AND m.digest = j.value)
		ORDER BY j.key`)
	listRefUsersSQL = stmt(`SELECT manifest_digest FROM manifest_refs
		WHERE repository_id = ? AND child_digest = ? AND kind = ? ORDER BY manifest_digest LIMIT ?`)
	listReferrersSQL       = stmt(`SELECT ` + manifestCols + referrersFrom + ` ORDER BY m.digest`)
	listReferrersOfTypeSQL = stmt(`SELECT ` + manifestCols + referrersFrom +
		` AND m.artifact_type = ? ORDER BY m.digest`)
)

// Tags and their history.
var (
	getTagDigestSQL = stmt(`SELECT digest FROM tags WHERE repository_id = ? AND name = ?`)
	upsertTagSQL    = stmt(`INSERT INTO tags (repository_id, name, digest, updated_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (repository_id, name)
		DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`)
	getTagSQL         = stmt(`SELECT digest, updated_at FROM tags WHERE repository_id = ? AND name = ?`)
	deleteTagSQL      = stmt(`DELETE FROM tags WHERE repository_id = ? AND name = ? RETURNING digest`)
	insertTagEventSQL = stmt(`INSERT INTO tag_history (repository_id, tag, digest, previous, at)
		VALUES (?, ?, ?, ?, ?)`)
	listTagsSQL = stmt(`SELECT name FROM tags WHERE repository_id = ? AND name > ?
		ORDER BY name LIMIT ?`)
	listTagsOfSQL = stmt(`SELECT name FROM tags WHERE repository_id = ? AND digest = ?
		ORDER BY name`)
	tagHistorySQL = stmt(`SELECT digest, previous, at FROM tag_history
		WHERE repository_id = ? AND tag = ? ORDER BY id DESC LIMIT ?`)
)

const uploadCols = `id, repository_id, byte_offset, state, started_at, updated_at, expires_at`

// Upload sessions.
var (
	insertUploadSQL = stmt(`INSERT INTO uploads (` + uploadCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	getUploadSQL    = stmt(`SELECT ` + uploadCols + ` FROM uploads WHERE id = ?`)
	updateUploadSQL = stmt(`UPDATE uploads
		SET byte_offset = ?, state = ?, updated_at = ?, expires_at = ?
		WHERE id = ? AND byte_offset = ?`)
	getUploadOffsetSQL = stmt(`SELECT byte_offset FROM uploads WHERE id = ?`)
	deleteUploadSQL    = stmt(`DELETE FROM uploads WHERE id = ?`)
	listExpiredSQL     = stmt(`SELECT ` + uploadCols + ` FROM uploads WHERE expires_at < ?
		ORDER BY expires_at, id LIMIT ?`)
)

// Store-wide.
var (
	statsSQL = stmt(`SELECT
		(SELECT COUNT(*) FROM repositories),
		(SELECT COUNT(*) FROM manifests),
		(SELECT COUNT(*) FROM tags),
		(SELECT COUNT(*) FROM blobs),
		(SELECT COALESCE(SUM(size), 0) FROM blobs),
		(SELECT COUNT(*) FROM uploads)`)
	pingSQL = stmt(`SELECT 1`)
)
