package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

var _ meta.Dumper = (*Store)(nil)

// The dump's queries run once per transfer, so they are not prepared.
const (
	dumpReposSQL  = `SELECT id, name, created_at FROM repositories ORDER BY id`
	dumpBlobsSQL  = `SELECT digest, size, created_at FROM blobs ORDER BY created_at, digest`
	dumpLinksSQL  = `SELECT r.name, rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id ORDER BY r.id, rb.digest`
	dumpLeasesSQL = `SELECT digest, expires_at FROM blob_leases ORDER BY digest`
	// rowid is insertion order: a child manifest was stored before any
	// index naming it could be.
	dumpManifestsSQL = `SELECT r.name, ` + manifestColsContent + ` FROM manifests m
		JOIN repositories r ON r.id = m.repository_id ORDER BY m.rowid`
	dumpRefsSQL = `SELECT child_digest, kind, size FROM manifest_refs
		WHERE repository_id = ? AND manifest_digest = ? ORDER BY kind, child_digest`
	dumpTagsSQL = `SELECT r.name, t.name, t.digest, t.updated_at FROM tags t
		JOIN repositories r ON r.id = t.repository_id ORDER BY r.id, t.name`
)

// Dump reads out every repository, blob, link, lease, manifest and tag.
func (s *Store) Dump(ctx context.Context, fn func(meta.Record) error) error {
	steps := []struct {
		what  string
		query string
		scan  func(*sql.Rows) (meta.Record, error)
	}{
		{"repositories", dumpReposSQL, scanDumpRepo},
		{"blobs", dumpBlobsSQL, scanDumpBlob},
		{"links", dumpLinksSQL, scanDumpLink},
		{"leases", dumpLeasesSQL, scanDumpLease},
		{"manifests", dumpManifestsSQL, s.scanDumpManifest(ctx)},
		{"tags", dumpTagsSQL, scanDumpTag},
	}
	for _, st := range steps {
		if err := s.dumpRows(ctx, st.query, st.scan, fn); err != nil {
			return fmt.Errorf("sqlite: dump %s: %w", st.what, err)
		}
	}
	return nil
}

func (s *Store) dumpRows(ctx context.Context, query string, scan func(*sql.Rows) (meta.Record, error), fn func(meta.Record) error) error {
	rows, err := s.reader.QueryContext(ctx, query)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		rec, err := scan(rows)
		if err != nil {
			return classify(err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

func scanDumpRepo(rows *sql.Rows) (meta.Record, error) {
	var (
		r       meta.Repository
		created int64
	)
	if err := rows.Scan(&r.ID, &r.Name, &created); err != nil {
		return meta.Record{}, err
	}
	r.CreatedAt = fromMicros(created)
	return meta.Record{Repository: &r}, nil
}

func scanDumpBlob(rows *sql.Rows) (meta.Record, error) {
	var (
		b       meta.Blob
		created int64
	)
	if err := rows.Scan(&b.Digest, &b.Size, &created); err != nil {
		return meta.Record{}, err
	}
	b.CreatedAt = fromMicros(created)
	return meta.Record{Blob: &b}, nil
}

func scanDumpLink(rows *sql.Rows) (meta.Record, error) {
	var l meta.Link
	if err := rows.Scan(&l.Repository, &l.Digest); err != nil {
		return meta.Record{}, err
	}
	return meta.Record{Link: &l}, nil
}

func scanDumpLease(rows *sql.Rows) (meta.Record, error) {
	var (
		l       meta.Lease
		expires int64
	)
	if err := rows.Scan(&l.Digest, &expires); err != nil {
		return meta.Record{}, err
	}
	l.ExpiresAt = fromMicros(expires)
	return meta.Record{Lease: &l}, nil
}

// scanDumpManifest reads a manifest row and then its references (on the
// reader pool, which has connections to spare for the second query).
func (s *Store) scanDumpManifest(ctx context.Context) func(*sql.Rows) (meta.Record, error) {
	return func(rows *sql.Rows) (meta.Record, error) {
		var repo string
		m, err := scanManifest(prefixScanner{rows, &repo}, true)
		if err != nil {
			return meta.Record{}, err
		}
		refRows, err := s.reader.QueryContext(ctx, dumpRefsSQL, m.RepositoryID, string(m.Digest))
		if err != nil {
			return meta.Record{}, err
		}
		defer refRows.Close()
		var refs []meta.Reference
		for refRows.Next() {
			var r meta.Reference
			var d string
			if err := refRows.Scan(&d, &r.Kind, &r.Size); err != nil {
				return meta.Record{}, err
			}
			r.Digest = digest.Digest(d)
			refs = append(refs, r)
		}
		if err := refRows.Err(); err != nil {
			return meta.Record{}, err
		}
		return meta.Record{Manifest: &meta.DumpedManifest{Repository: repo, Manifest: *m, Refs: refs}}, nil
	}
}

// prefixScanner scans one leading column into first, then the rest as
// scanManifest expects.
type prefixScanner struct {
	rows  *sql.Rows
	first *string
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}

func scanDumpTag(rows *sql.Rows) (meta.Record, error) {
	var (
		t       meta.DumpedTag
		updated int64
	)
	if err := rows.Scan(&t.Repository, &t.Tag.Name, &t.Tag.Digest, &updated); err != nil {
		return meta.Record{}, err
	}
	t.Tag.UpdatedAt = fromMicros(updated)
	return meta.Record{Tag: &t}, nil
}
