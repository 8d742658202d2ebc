package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

// Vulnerability data (migration 00008).
const (
	// The upsert replaces a stored record only if the new one is newer; the
	// CTE tells whether a row existed (added or replaced) and no row back
	// means the stored version was kept.
	upsertVulnSQL = `WITH old AS (SELECT modified FROM vuln_records WHERE id = $1)
		INSERT INTO vuln_records (id, modified, source, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, source = excluded.source, data = excluded.data
			WHERE vuln_records.modified < excluded.modified
		RETURNING (SELECT count(*) FROM old) > 0`
	deleteVulnAffectedSQL = `DELETE FROM vuln_affected WHERE id = $1`
	insertVulnAffectedSQL = `INSERT INTO vuln_affected (ecosystem, name, id)
		SELECT e, n, $3 FROM unnest($1::text[], $2::text[]) AS k(e, n)
		ON CONFLICT DO NOTHING`
	bumpVulnGenerationSQL = `UPDATE vuln_generation SET generation = generation + 1 WHERE one = 1`
	vulnGenerationSQL     = `SELECT generation FROM vuln_generation WHERE one = 1`
	finishVulnImportSQL   = `INSERT INTO vuln_sources (name, imported_at, newest_modified, records)
		SELECT $1::text, $2::timestamptz, MAX(modified), COUNT(*) FROM vuln_records WHERE source = $1::text
		ON CONFLICT (name) DO UPDATE SET imported_at = excluded.imported_at,
			newest_modified = excluded.newest_modified, records = excluded.records
		RETURNING name, imported_at, newest_modified, records`
	listVulnSourcesSQL = `SELECT name, imported_at, newest_modified, records FROM vuln_sources ORDER BY name`
	vulnsForSQL        = `SELECT a.ecosystem, a.name, r.id, r.modified, r.data
		FROM (SELECT DISTINCT e, n FROM unnest($1::text[], $2::text[]) AS u(e, n)) k
		JOIN vuln_affected a ON a.ecosystem = k.e AND a.name = k.n
		JOIN vuln_records r ON r.id = a.id
		ORDER BY r.id, a.ecosystem, a.name`
	getVulnSQL         = `SELECT modified, data FROM vuln_records WHERE id = $1`
	getVulnAffectedSQL = `SELECT ecosystem, name FROM vuln_affected WHERE id = $1 ORDER BY ecosystem, name`
)

var _ meta.VulnStore = (*Store)(nil)

// PutVulnRecords stores recs from source in one transaction, each replacing
// only an older stored version, and grows the generation if anything changed.
func (q *querier) PutVulnRecords(ctx context.Context, source string, recs []meta.VulnRecord) (res meta.VulnPutResult, err error) {
	defer errdefs.Wrapf(&err, "postgres: store %d vulnerability records from %q", len(recs), source)
	for i := range recs {
		if recs[i].ID == "" {
			return res, errdefs.Invalid("record %d has no id", i)
		}
	}
	err = q.atomic(ctx, func(db dbtx) error {
		var err error
		res, err = putVulnBatch(ctx, db, source, recs)
		return err
	})
	if err != nil {
		return meta.VulnPutResult{}, err
	}
	return res, nil
}

// batcher is what both the pool and a transaction offer to pipeline
// statements.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// putVulnBatch stores recs in two pipelined round trips: the upserts, then
// the package index rows of the records that were added or replaced.
func putVulnBatch(ctx context.Context, db dbtx, source string, recs []meta.VulnRecord) (meta.VulnPutResult, error) {
	var res meta.VulnPutResult
	bdb, ok := db.(batcher)
	if !ok {
		return res, errdefs.Unavailable("postgres: connection cannot pipeline statements")
	}
	upserts := &pgx.Batch{}
	for i := range recs {
		upserts.Queue(upsertVulnSQL, recs[i].ID, pgTime(recs[i].Modified), source, recs[i].Data)
	}
	existed := make([]*bool, len(recs)) // nil: kept the stored version
	br := bdb.SendBatch(ctx, upserts)
	for i := range recs {
		var e bool
		switch err := br.QueryRow().Scan(&e); {
		case errors.Is(err, pgx.ErrNoRows):
			res.Unchanged++
		case err != nil:
			_ = br.Close()
			return res, classify(err)
		default:
			existed[i] = &e
		}
	}
	if err := br.Close(); err != nil {
		return res, classify(err)
	}
	index := &pgx.Batch{}
	for i, e := range existed {
		switch {
		case e == nil:
			continue
		case *e:
			res.Replaced++
			index.Queue(deleteVulnAffectedSQL, recs[i].ID)
		default:
			res.Added++
		}
		if len(recs[i].Packages) > 0 {
			ecos, names := splitVulnPackages(recs[i].Packages)
			index.Queue(insertVulnAffectedSQL, ecos, names, recs[i].ID)
		}
	}
	if res.Changed() {
		index.Queue(bumpVulnGenerationSQL)
	}
	if index.Len() > 0 {
		if err := bdb.SendBatch(ctx, index).Close(); err != nil {
			return res, classify(err)
		}
	}
	return res, nil
}

// splitVulnPackages returns the ecosystems and names of pkgs as two
// parallel arrays, for unnest.
func splitVulnPackages(pkgs []meta.VulnPackage) (ecos, names []string) {
	ecos, names = make([]string, len(pkgs)), make([]string, len(pkgs))
	for i, p := range pkgs {
		ecos[i], names[i] = p.Ecosystem, p.Name
	}
	return ecos, names
}

// FinishVulnImport records the import time of source and recomputes its
// record count and newest modification time.
func (q *querier) FinishVulnImport(ctx context.Context, source string, at time.Time) (_ meta.VulnSource, err error) {
	defer errdefs.Wrapf(&err, "postgres: finish import of vulnerability source %q", source)
	s, err := scanVulnSource(q.db.QueryRow(ctx, finishVulnImportSQL, source, pgTimeOrNow(at)))
	if err != nil {
		return meta.VulnSource{}, classify(err)
	}
	return *s, nil
}

func scanVulnSource(row pgx.Row) (*meta.VulnSource, error) {
	var (
		s      meta.VulnSource
		newest *time.Time
	)
	if err := row.Scan(&s.Name, &s.ImportedAt, &newest, &s.Records); err != nil {
		return nil, err
	}
	s.ImportedAt = s.ImportedAt.UTC()
	if newest != nil {
		s.NewestModified = newest.UTC()
	}
	return &s, nil
}

// VulnSources returns every source, by name.
func (q *querier) VulnSources(ctx context.Context) (_ []meta.VulnSource, err error) {
	defer errdefs.Wrapf(&err, "postgres: list vulnerability sources")
	rows, err := q.db.Query(ctx, listVulnSourcesSQL)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.VulnSource
	for rows.Next() {
		s, err := scanVulnSource(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, *s)
	}
	return out, classify(rows.Err())
}

// VulnGeneration returns the generation of the vulnerability data.
func (q *querier) VulnGeneration(ctx context.Context) (gen int64, err error) {
	defer errdefs.Wrapf(&err, "postgres: vulnerability data generation")
	if err := q.db.QueryRow(ctx, vulnGenerationSQL).Scan(&gen); err != nil {
		return 0, classify(err)
	}
	return gen, nil
}

// VulnsFor returns the records that affect any of pkgs, in id order, each
// once, with the packages of pkgs they matched.
func (q *querier) VulnsFor(ctx context.Context, pkgs []meta.VulnPackage) (_ []meta.VulnRecord, err error) {
	defer errdefs.Wrapf(&err, "postgres: vulnerabilities of %d packages", len(pkgs))
	if len(pkgs) == 0 {
		return nil, nil
	}
	ecos, names := splitVulnPackages(pkgs)
	rows, err := q.db.Query(ctx, vulnsForSQL, ecos, names)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.VulnRecord
	for rows.Next() {
		var (
			p    meta.VulnPackage
			id   string
			mod  time.Time
			data []byte
		)
		if err := rows.Scan(&p.Ecosystem, &p.Name, &id, &mod, &data); err != nil {
			return nil, classify(err)
		}
		if n := len(out); n > 0 && out[n-1].ID == id {
			out[n-1].Packages = append(out[n-1].Packages, p)
			continue
		}
		out = append(out, meta.VulnRecord{ID: id, Modified: mod.UTC(), Packages: []meta.VulnPackage{p}, Data: data})
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// VulnRecord returns the record with id, or ErrNotFound.
func (q *querier) VulnRecord(ctx context.Context, id string) (_ *meta.VulnRecord, err error) {
	defer errdefs.Wrapf(&err, "postgres: vulnerability record %q", id)
	r := meta.VulnRecord{ID: id}
	switch err := q.db.QueryRow(ctx, getVulnSQL, id).Scan(&r.Modified, &r.Data); {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, errdefs.NotFound("vulnerability record %q not found", id)
	case err != nil:
		return nil, classify(err)
	}
	r.Modified = r.Modified.UTC()
	rows, err := q.db.Query(ctx, getVulnAffectedSQL, id)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p meta.VulnPackage
		if err := rows.Scan(&p.Ecosystem, &p.Name); err != nil {
			return nil, classify(err)
		}
		r.Packages = append(r.Packages, p)
	}
	return &r, classify(rows.Err())
}
