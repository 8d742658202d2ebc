package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// Vulnerability data (migration 00008).
var (
	vulnModifiedSQL = stmt(`SELECT modified FROM vuln_records WHERE id = ?`)
	upsertVulnSQL   = stmt(`INSERT INTO vuln_records (id, modified, source, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, source = excluded.source, data = excluded.data`)
	deleteVulnAffectedSQL = stmt(`DELETE FROM vuln_affected WHERE id = ?`)
	insertVulnAffectedSQL = stmt(`INSERT INTO vuln_affected (ecosystem, name, id) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`)
	bumpVulnGenerationSQL = stmt(`UPDATE vuln_generation SET generation = generation + 1 WHERE one = 1`)
	vulnGenerationSQL     = stmt(`SELECT generation FROM vuln_generation WHERE one = 1`)
	finishVulnImportSQL   = stmt(`INSERT INTO vuln_sources (name, imported_at, newest_modified, records)
		SELECT ?1, ?2, COALESCE(MAX(modified), 0), COUNT(*) FROM vuln_records WHERE source = ?1
		ON CONFLICT (name) DO UPDATE SET imported_at = excluded.imported_at,
			newest_modified = excluded.newest_modified, records = excluded.records
		RETURNING name, imported_at, newest_modified, records`)
	listVulnSourcesSQL = stmt(`SELECT name, imported_at, newest_modified, records FROM vuln_sources ORDER BY name`)
	vulnsForSQL        = stmt(`SELECT a.ecosystem, a.name, r.id, r.modified, r.data
		FROM json_each(?) k
		JOIN vuln_affected a ON a.ecosystem = k.value ->> 0 AND a.name = k.value ->> 1
		JOIN vuln_records r ON r.id = a.id
		ORDER BY r.id, a.ecosystem, a.name`)
	getVulnSQL         = stmt(`SELECT modified, data FROM vuln_records WHERE id = ?`)
	getVulnAffectedSQL = stmt(`SELECT ecosystem, name FROM vuln_affected WHERE id = ? ORDER BY ecosystem, name`)
)

var _ meta.VulnStore = (*Store)(nil)

// PutVulnRecords stores recs from source in one transaction, each replacing
// only an older stored version, and grows the generation if anything changed.
func (q *querier) PutVulnRecords(ctx context.Context, source string, recs []meta.VulnRecord) (res meta.VulnPutResult, err error) {
	defer errdefs.Wrapf(&err, "sqlite: store %d vulnerability records from %q", len(recs), source)
	for i := range recs {
		if recs[i].ID == "" {
			return res, errdefs.Invalid("record %d has no id", i)
		}
	}
	err = q.write(ctx, func(w runner) error {
		res = meta.VulnPutResult{}
		for i := range recs {
			if err := putVulnRecord(ctx, w, source, &recs[i], &res); err != nil {
				return err
			}
		}
		if res.Changed() {
			if _, err := w.exec(ctx, bumpVulnGenerationSQL); err != nil {
				return classify(err)
			}
		}
		return nil
	})
	return res, err
}

// putVulnRecord stores r unless a version as new or newer is stored, and
// counts what it did in res.
func putVulnRecord(ctx context.Context, w runner, source string, r *meta.VulnRecord, res *meta.VulnPutResult) error {
	mod := micros(r.Modified)
	var stored int64
	err := w.queryRow(ctx, vulnModifiedSQL, r.ID).Scan(&stored)
	exists := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return classify(err)
	case stored >= mod:
		res.Unchanged++
		return nil
	}
	if _, err := w.exec(ctx, upsertVulnSQL, r.ID, mod, source, r.Data); err != nil {
		return classify(err)
	}
	if exists {
		if _, err := w.exec(ctx, deleteVulnAffectedSQL, r.ID); err != nil {
			return classify(err)
		}
		res.Replaced++
	} else {
		res.Added++
	}
	for _, p := range r.Packages {
		if _, err := w.exec(ctx, insertVulnAffectedSQL, p.Ecosystem, p.Name, r.ID); err != nil {
			return classify(err)
		}
	}
	return nil
}

// FinishVulnImport records the import time of source and recomputes its
// record count and newest modification time.
func (q *querier) FinishVulnImport(ctx context.Context, source string, at time.Time) (src meta.VulnSource, err error) {
	defer errdefs.Wrapf(&err, "sqlite: finish import of vulnerability source %q", source)
	err = q.write(ctx, func(w runner) error {
		s, err := scanVulnSource(w.queryRow(ctx, finishVulnImportSQL, source, microsOrNow(at)))
		if err != nil {
			return classify(err)
		}
		src = *s
		return nil
	})
	return src, err
}

func scanVulnSource(row scanner) (*meta.VulnSource, error) {
	var (
		s                meta.VulnSource
		imported, newest int64
	)
	if err := row.Scan(&s.Name, &imported, &newest, &s.Records); err != nil {
		return nil, err
	}
	s.ImportedAt = fromMicros(imported)
	if newest != 0 {
		s.NewestModified = fromMicros(newest)
	}
	return &s, nil
}

// VulnSources returns every source, by name.
func (q *querier) VulnSources(ctx context.Context) (_ []meta.VulnSource, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list vulnerability sources")
	rows, err := q.read.query(ctx, listVulnSourcesSQL)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanVulnSource)
}

// VulnGeneration returns the generation of the vulnerability data.
func (q *querier) VulnGeneration(ctx context.Context) (gen int64, err error) {
	defer errdefs.Wrapf(&err, "sqlite: vulnerability data generation")
	if err := q.read.queryRow(ctx, vulnGenerationSQL).Scan(&gen); err != nil {
		return 0, classify(err)
	}
	return gen, nil
}

// VulnsFor returns the records that affect any of pkgs, in id order, each
// once, with the packages of pkgs they matched.
func (q *querier) VulnsFor(ctx context.Context, pkgs []meta.VulnPackage) (_ []meta.VulnRecord, err error) {
	defer errdefs.Wrapf(&err, "sqlite: vulnerabilities of %d packages", len(pkgs))
	if len(pkgs) == 0 {
		return nil, nil
	}
	keys := make([][2]string, 0, len(pkgs))
	seen := make(map[meta.VulnPackage]bool, len(pkgs))
	for _, p := range pkgs {
		if !seen[p] {
			seen[p] = true
			keys = append(keys, [2]string{p.Ecosystem, p.Name})
		}
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return nil, errdefs.Invalid("encode packages: %v", err)
	}
	rows, err := q.read.query(ctx, vulnsForSQL, string(arg))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.VulnRecord
	for rows.Next() {
		var (
			p    meta.VulnPackage
			id   string
			mod  int64
			data []byte
		)
		if err := rows.Scan(&p.Ecosystem, &p.Name, &id, &mod, &data); err != nil {
			return nil, classify(err)
		}
		if n := len(out); n > 0 && out[n-1].ID == id {
			out[n-1].Packages = append(out[n-1].Packages, p)
			continue
		}
		out = append(out, meta.VulnRecord{ID: id, Modified: fromMicros(mod), Packages: []meta.VulnPackage{p}, Data: data})
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// VulnRecord returns the record with id, or ErrNotFound.
func (q *querier) VulnRecord(ctx context.Context, id string) (_ *meta.VulnRecord, err error) {
	defer errdefs.Wrapf(&err, "sqlite: vulnerability record %q", id)
	r := meta.VulnRecord{ID: id}
	var mod int64
	switch err := q.read.queryRow(ctx, getVulnSQL, id).Scan(&mod, &r.Data); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errdefs.NotFound("vulnerability record %q not found", id)
	case err != nil:
		return nil, classify(err)
	}
	r.Modified = fromMicros(mod)
	rows, err := q.read.query(ctx, getVulnAffectedSQL, id)
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
