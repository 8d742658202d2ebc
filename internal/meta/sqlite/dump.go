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

	dumpUsersSQL    = `SELECT ` + userCols + ` FROM users ORDER BY id`
	dumpProjectsSQL = `SELECT ` + projectCols + ` FROM projects ORDER BY id`
	dumpMembersSQL  = `SELECT project_id, kind, name, role, created_at FROM project_members
		ORDER BY project_id, kind = 'group', name`
	dumpRobotsSQL = `SELECT ` + robotCols + ` FROM robots ORDER BY id`
	dumpAuditSQL  = `SELECT ` + auditCols + ` FROM audit_log ORDER BY id`
)

// Dump reads out every repository, blob, link, lease, manifest and tag,
// then the access records (dumpAccess). Signing keys stay behind: the
// destination makes its own.
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
	return s.dumpAccess(ctx, fn)
}

// dumpAccess reads users, projects with their members, robots and the
// audit log in one read transaction, so that every member and robot names
// a project of the same snapshot.
func (s *Store) dumpAccess(ctx context.Context, fn func(meta.Record) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: dump access records: %w", classify(err))
	}
	// Read-only: rolling back only ends the snapshot.
	defer func() { _ = tx.Rollback() }()

	err = dumpEach(ctx, tx, dumpUsersSQL, scanUser, func(u *meta.User) error {
		return fn(meta.Record{User: u})
	})
	if err != nil {
		return fmt.Errorf("sqlite: dump users: %w", err)
	}
	projects, err := dumpProjects(ctx, tx)
	if err != nil {
		return fmt.Errorf("sqlite: dump projects: %w", err)
	}
	names := make(map[int64]string, len(projects))
	for _, p := range projects {
		names[p.Project.ID] = p.Project.Name
		if err := fn(meta.Record{Project: p}); err != nil {
			return err
		}
	}
	err = dumpEach(ctx, tx, dumpRobotsSQL, scanRobot, func(r *meta.Robot) error {
		project, ok := names[r.ProjectID]
		if !ok && r.ProjectID != 0 {
			return fmt.Errorf("robot %q names project %d, which does not exist", r.Name, r.ProjectID)
		}
		return fn(meta.Record{Robot: &meta.DumpedRobot{Project: project, Robot: *r}})
	})
	if err != nil {
		return fmt.Errorf("sqlite: dump robots: %w", err)
	}
	err = dumpEach(ctx, tx, dumpAuditSQL, scanAudit, func(e *meta.AuditEvent) error {
		return fn(meta.Record{Audit: e})
	})
	if err != nil {
		return fmt.Errorf("sqlite: dump audit log: %w", err)
	}
	return nil
}

// dumpProjects reads every project with its members. Projects are few, so
// they are held in memory while the members are matched to them.
func dumpProjects(ctx context.Context, tx *sql.Tx) ([]*meta.DumpedProject, error) {
	var (
		projects []*meta.DumpedProject
		byID     = map[int64]*meta.DumpedProject{}
	)
	err := dumpEach(ctx, tx, dumpProjectsSQL, scanProject, func(p *meta.Project) error {
		dp := &meta.DumpedProject{Project: *p}
		projects = append(projects, dp)
		byID[p.ID] = dp
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = dumpEach(ctx, tx, dumpMembersSQL, scanMember, func(m *meta.Member) error {
		if dp := byID[m.ProjectID]; dp != nil {
			dp.Members = append(dp.Members, *m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return projects, nil
}

// dumpEach runs query in tx and calls fn with each row as scan reads it,
// stopping at the first error.
func dumpEach[T any](ctx context.Context, tx *sql.Tx, query string, scan func(scanner) (*T, error), fn func(*T) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return classify(err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return classify(rows.Err())
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
