package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Scan reports, policies and allowlists (migration 00010). SQLite runs one
// write transaction at a time, so a claim needs no row locks: the single
// writer makes read-then-update atomic.

const (
	scanReportCols = `digest, repository, status, scanner, error, attempts, owner, lease_until,
		queued_at, started_at, finished_at, generation, critical, high, medium, low, unknown,
		fixable, secrets, hygiene, worst`
	scanPolicyCols = `scan_on_push, block_severity, unscanned, wait_seconds, updated_at, updated_by`
	allowlistCols  = `COALESCE(project_id, 0), vuln_id, reason, expires_at, created_at, created_by`
)

var (
	scanStatusSQL  = stmt(`SELECT status FROM scan_reports WHERE digest = ?`)
	insertScanSQL  = stmt(`INSERT INTO scan_reports (digest, repository, status, queued_at) VALUES (?, ?, 'queued', ?)`)
	setScanRepoSQL = stmt(`UPDATE scan_reports SET repository = ? WHERE digest = ?`)
	requeueScanSQL = stmt(`UPDATE scan_reports SET repository = ?, status = 'queued', queued_at = ?, attempts = 0,
		owner = '', lease_until = NULL WHERE digest = ?`)
	claimScansSQL = stmt(`UPDATE scan_reports SET status = 'running', owner = ?1, lease_until = ?2,
		started_at = ?3, attempts = attempts + 1
		WHERE digest IN (SELECT digest FROM scan_reports
			WHERE status IN ('queued', 'running') AND (status = 'queued' OR lease_until <= ?3)
			ORDER BY queued_at, digest LIMIT ?4)
		RETURNING digest, repository, attempts, queued_at`)
	finishScanSQL = stmt(`UPDATE scan_reports SET status = ?, scanner = ?, error = ?, owner = '',
		lease_until = NULL, finished_at = ?, generation = ?, critical = ?, high = ?, medium = ?, low = ?,
		unknown = ?, fixable = ?, secrets = ?, hygiene = ?, worst = ?, inventory = ?, report = ?
		WHERE digest = ? AND status = 'running' AND owner = ?`)
	getScanReportSQL     = stmt(`SELECT ` + scanReportCols + `, NULL, NULL FROM scan_reports WHERE digest = ?`)
	getScanReportDataSQL = stmt(`SELECT ` + scanReportCols + `, inventory, report FROM scan_reports WHERE digest = ?`)
	staleScanReportsSQL  = stmt(`SELECT ` + scanReportCols + `, inventory, NULL FROM scan_reports
		WHERE status = 'done' AND digest > ? AND generation < ? AND inventory IS NOT NULL
		ORDER BY digest LIMIT ?`)
	rematchScanSQL = stmt(`UPDATE scan_reports SET generation = ?, critical = ?, high = ?, medium = ?, low = ?,
		unknown = ?, fixable = ?, secrets = ?, hygiene = ?, worst = ?, report = ?
		WHERE digest = ? AND status = 'done' AND generation < ?`)
	unscannedManifestsSQL = stmt(`SELECT m.digest, MIN(r.name) FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		WHERE m.digest > ? AND NOT EXISTS (SELECT 1 FROM scan_reports s WHERE s.digest = m.digest)
		GROUP BY m.digest ORDER BY m.digest LIMIT ?`)
	// A zero before (?1 NULL) or an empty scanner (?2 '') turns that
	// criterion off.
	requeueScansSQL = stmt(`UPDATE scan_reports SET status = 'queued', queued_at = ?4, attempts = 0,
		owner = '', lease_until = NULL
		WHERE digest IN (SELECT digest FROM scan_reports
			WHERE status IN ('done', 'failed') AND (finished_at < ?1 OR (?2 <> '' AND scanner <> ?2))
			ORDER BY finished_at, digest LIMIT ?3)`)
	deleteOrphanScansSQL = stmt(`DELETE FROM scan_reports WHERE digest IN (SELECT s.digest FROM scan_reports s
		WHERE s.status <> 'running' AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = s.digest)
		ORDER BY s.digest LIMIT ?)`)

	getScanPolicySQL = stmt(`SELECT p.id, sp.project_id IS NOT NULL, sp.scan_on_push, sp.block_severity,
		sp.unscanned, sp.wait_seconds, sp.updated_at, sp.updated_by
		FROM projects p LEFT JOIN scan_policies sp ON sp.project_id = p.id WHERE p.id = ?`)
	putScanPolicySQL = stmt(`INSERT INTO scan_policies (project_id, ` + scanPolicyCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id) DO UPDATE SET scan_on_push = excluded.scan_on_push,
			block_severity = excluded.block_severity, unscanned = excluded.unscanned,
			wait_seconds = excluded.wait_seconds, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`)

	putAllowlistSQL = stmt(`INSERT INTO vuln_allowlist (project_id, vuln_id, reason, expires_at, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (COALESCE(project_id, 0), vuln_id) DO UPDATE SET reason = excluded.reason,
			expires_at = excluded.expires_at, created_at = excluded.created_at, created_by = excluded.created_by`)
	deleteAllowlistSQL = stmt(`DELETE FROM vuln_allowlist WHERE COALESCE(project_id, 0) = ? AND vuln_id = ?`)
	listAllowlistSQL   = stmt(`SELECT ` + allowlistCols + ` FROM vuln_allowlist
		WHERE COALESCE(project_id, 0) = ? ORDER BY vuln_id`)
)

var (
	_ meta.ScanStore = (*Store)(nil)
	_ meta.ScanStore = (*querier)(nil)
)

// QueueScans queues a scan of each request's digest, again (with force)
// for a digest whose report is final.
func (q *querier) QueueScans(ctx context.Context, reqs []meta.ScanRequest, force bool, at time.Time) (n int, err error) {
	defer errdefs.Wrapf(&err, "sqlite: queue %d scans", len(reqs))
	if len(reqs) == 0 {
		return 0, nil
	}
	queued := micros(at)
	err = q.write(ctx, func(w runner) error {
		n = 0
		for _, r := range reqs {
			var status string
			err := w.queryRow(ctx, scanStatusSQL, string(r.Digest)).Scan(&status)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				_, err = w.exec(ctx, insertScanSQL, string(r.Digest), r.Repository, queued)
				n++
			case err != nil:
			case status == meta.ScanQueued:
				_, err = w.exec(ctx, setScanRepoSQL, r.Repository, string(r.Digest))
			case status == meta.ScanRunning || !force:
			default:
				_, err = w.exec(ctx, requeueScanSQL, r.Repository, queued, string(r.Digest))
				n++
			}
			if err != nil {
				return classify(err)
			}
		}
		return nil
	})
	return n, err
}

// ClaimScans marks up to n claimable reports running for owner.
func (q *querier) ClaimScans(ctx context.Context, owner string, n int, lease time.Duration, now time.Time) (jobs []meta.ScanJob, err error) {
	defer errdefs.Wrapf(&err, "sqlite: claim %d scans for %q", n, owner)
	if n <= 0 {
		return nil, nil
	}
	err = q.write(ctx, func(w runner) error {
		rows, err := w.query(ctx, claimScansSQL, owner, micros(now.Add(lease)), micros(now), n)
		if err != nil {
			return classify(err)
		}
		defer rows.Close()
		type claimed struct {
			job    meta.ScanJob
			queued int64
		}
		var got []claimed
		for rows.Next() {
			var c claimed
			if err := rows.Scan(&c.job.Digest, &c.job.Repository, &c.job.Attempts, &c.queued); err != nil {
				return classify(err)
			}
			got = append(got, c)
		}
		if err := rows.Err(); err != nil {
			return classify(err)
		}
		slices.SortFunc(got, func(a, b claimed) int {
			return cmp.Or(cmp.Compare(a.queued, b.queued), cmp.Compare(a.job.Digest, b.job.Digest))
		})
		jobs = make([]meta.ScanJob, len(got))
		for i, c := range got {
			jobs[i] = c.job
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// finalScanStatus reports whether status ends a scan.
func finalScanStatus(status string) bool {
	return status == meta.ScanDone || status == meta.ScanFailed || status == meta.ScanUnsupported
}

// nullBytes is b as a column value: NULL when empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// FinishScan stores the result of a report r.Owner holds running.
func (q *querier) FinishScan(ctx context.Context, r meta.ScanResult) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: finish scan of %s", r.Digest)
	if !finalScanStatus(r.Status) {
		return errdefs.Invalid("status %q is not final", r.Status)
	}
	s := r.Summary
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, finishScanSQL, r.Status, r.Scanner, r.Error, microsOrNow(r.FinishedAt),
			r.Generation, s.Critical, s.High, s.Medium, s.Low, s.Unknown, s.Fixable, s.Secrets, s.Hygiene, s.Worst,
			nullBytes(r.Inventory), nullBytes(r.Report), string(r.Digest), r.Owner))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.Conflict("the report is not running for %q", r.Owner)
		}
		return nil
	})
}

func scanScanReport(row scanner) (*meta.ScanReport, error) {
	var (
		r                        meta.ScanReport
		lease, started, finished sql.NullInt64
		queued                   int64
		s                        = &r.Summary
	)
	err := row.Scan(&r.Digest, &r.Repository, &r.Status, &r.Scanner, &r.Error, &r.Attempts, &r.Owner, &lease,
		&queued, &started, &finished, &r.Generation, &s.Critical, &s.High, &s.Medium, &s.Low, &s.Unknown,
		&s.Fixable, &s.Secrets, &s.Hygiene, &s.Worst, &r.Inventory, &r.Report)
	if err != nil {
		return nil, err
	}
	r.LeaseUntil, r.QueuedAt = fromNullMicros(lease), fromMicros(queued)
	r.StartedAt, r.FinishedAt = fromNullMicros(started), fromNullMicros(finished)
	return &r, nil
}

// GetScanReport returns the report of dgst, with its data when withData.
func (q *querier) GetScanReport(ctx context.Context, dgst digest.Digest, withData bool) (_ *meta.ScanReport, err error) {
	defer errdefs.Wrapf(&err, "sqlite: scan report of %s", dgst)
	query := getScanReportSQL
	if withData {
		query = getScanReportDataSQL
	}
	r, err := scanScanReport(q.read.queryRow(ctx, query, string(dgst)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("no scan report of %s", dgst)
	}
	if err != nil {
		return nil, classify(err)
	}
	return r, nil
}

// StaleScanReports returns done reports with an inventory matched at a
// generation below generation, by digest after after.
func (q *querier) StaleScanReports(ctx context.Context, generation int64, after digest.Digest, limit int) (_ []meta.ScanReport, err error) {
	defer errdefs.Wrapf(&err, "sqlite: scan reports older than generation %d", generation)
	rows, err := q.read.query(ctx, staleScanReportsSQL, string(after), generation, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanScanReport)
}

// RematchScans stores re-matched results of done reports at an older
// generation, in one transaction.
func (q *querier) RematchScans(ctx context.Context, rs []meta.ScanRematch) (n int, err error) {
	defer errdefs.Wrapf(&err, "sqlite: store %d re-matched scan reports", len(rs))
	if len(rs) == 0 {
		return 0, nil
	}
	err = q.write(ctx, func(w runner) error {
		n = 0
		for _, r := range rs {
			s := r.Summary
			k, err := affected(w.exec(ctx, rematchScanSQL, r.Generation, s.Critical, s.High, s.Medium, s.Low,
				s.Unknown, s.Fixable, s.Secrets, s.Hygiene, s.Worst, nullBytes(r.Report), string(r.Digest), r.Generation))
			if err != nil {
				return classify(err)
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}

// UnscannedManifests returns stored manifest digests without a report,
// each with the smallest name of a repository storing it.
func (q *querier) UnscannedManifests(ctx context.Context, after digest.Digest, limit int) (_ []meta.ScanRequest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: manifests without a scan report after %q", after)
	rows, err := q.read.query(ctx, unscannedManifestsSQL, string(after), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, func(row scanner) (*meta.ScanRequest, error) {
		var r meta.ScanRequest
		if err := row.Scan(&r.Digest, &r.Repository); err != nil {
			return nil, err
		}
		return &r, nil
	})
}

// RequeueScans queues again finished reports that are due, oldest first.
func (q *querier) RequeueScans(ctx context.Context, before time.Time, scanner string, limit int, at time.Time) (n int, err error) {
	defer errdefs.Wrapf(&err, "sqlite: queue rescans")
	if before.IsZero() && scanner == "" {
		return 0, nil
	}
	err = q.write(ctx, func(w runner) error {
		k, err := affected(w.exec(ctx, requeueScansSQL, nullMicros(before), scanner, limitArg(limit), micros(at)))
		n = int(k)
		return classify(err)
	})
	return n, err
}

// DeleteOrphanScanReports removes reports of digests no repository stores.
func (q *querier) DeleteOrphanScanReports(ctx context.Context, limit int) (n int, err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete scan reports of deleted manifests")
	err = q.write(ctx, func(w runner) error {
		k, err := affected(w.exec(ctx, deleteOrphanScansSQL, limitArg(limit)))
		n = int(k)
		return classify(err)
	})
	return n, err
}

// GetScanPolicy returns the stored or default policy of projectID.
func (q *querier) GetScanPolicy(ctx context.Context, projectID int64) (_ *meta.ScanPolicy, err error) {
	defer errdefs.Wrapf(&err, "sqlite: scan policy of project %d", projectID)
	var (
		p        meta.ScanPolicy
		stored   bool
		onPush   sql.NullBool
		severity sql.NullInt64
		unscan   sql.NullString
		wait     sql.NullInt64
		updated  sql.NullInt64
		by       sql.NullString
	)
	err = q.read.queryRow(ctx, getScanPolicySQL, projectID).Scan(&p.ProjectID, &stored,
		&onPush, &severity, &unscan, &wait, &updated, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("project %d not found", projectID)
	}
	if err != nil {
		return nil, classify(err)
	}
	if !stored {
		d := meta.DefaultScanPolicy(projectID)
		return &d, nil
	}
	p.ScanOnPush, p.BlockSeverity, p.Unscanned = onPush.Bool, int(severity.Int64), unscan.String
	p.WaitSeconds, p.UpdatedAt, p.UpdatedBy = int(wait.Int64), fromNullMicros(updated), by.String
	return &p, nil
}

// PutScanPolicy creates or replaces the policy of p.ProjectID.
func (q *querier) PutScanPolicy(ctx context.Context, p *meta.ScanPolicy) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: put scan policy of project %d", p.ProjectID)
	updated := microsOrNow(p.UpdatedAt)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, putScanPolicySQL, p.ProjectID, p.ScanOnPush, p.BlockSeverity, p.Unscanned,
			p.WaitSeconds, updated, p.UpdatedBy)
		if isFKViolation(err) {
			return errdefs.NotFound("project %d not found", p.ProjectID)
		}
		if err != nil {
			return classify(err)
		}
		p.UpdatedAt = fromMicros(updated)
		return nil
	})
}

// allowlistScope is the stored project_id of an entry: NULL for the
// system-wide ones (ProjectID 0).
func allowlistScope(projectID int64) sql.NullInt64 {
	return sql.NullInt64{Int64: projectID, Valid: projectID != 0}
}

// PutAllowlistEntry creates or replaces the entry (e.ProjectID, e.VulnID).
func (q *querier) PutAllowlistEntry(ctx context.Context, e *meta.AllowlistEntry) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: put allowlist entry %q of project %d", e.VulnID, e.ProjectID)
	if e.VulnID == "" {
		return errdefs.Invalid("an allowlist entry needs a vulnerability id")
	}
	created := microsOrNow(e.CreatedAt)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, putAllowlistSQL, allowlistScope(e.ProjectID), e.VulnID, e.Reason,
			nullMicros(e.ExpiresAt), created, e.CreatedBy)
		if isFKViolation(err) {
			return errdefs.NotFound("project %d not found", e.ProjectID)
		}
		if err != nil {
			return classify(err)
		}
		e.CreatedAt, e.ExpiresAt = fromMicros(created), fromNullMicros(nullMicros(e.ExpiresAt))
		return nil
	})
}

// DeleteAllowlistEntry removes (projectID, vulnID); ErrNotFound if absent.
func (q *querier) DeleteAllowlistEntry(ctx context.Context, projectID int64, vulnID string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete allowlist entry %q of project %d", vulnID, projectID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteAllowlistSQL, projectID, vulnID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("no allowlist entry %q in project %d", vulnID, projectID)
		}
		return nil
	})
}

// ListAllowlist returns the entries of projectID (0: system-wide) by
// vulnerability id.
func (q *querier) ListAllowlist(ctx context.Context, projectID int64) (_ []meta.AllowlistEntry, err error) {
	defer errdefs.Wrapf(&err, "sqlite: allowlist of project %d", projectID)
	rows, err := q.read.query(ctx, listAllowlistSQL, projectID)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, func(row scanner) (*meta.AllowlistEntry, error) {
		var (
			e       meta.AllowlistEntry
			expires sql.NullInt64
			created int64
		)
		if err := row.Scan(&e.ProjectID, &e.VulnID, &e.Reason, &expires, &created, &e.CreatedBy); err != nil {
			return nil, err
		}
		e.ExpiresAt, e.CreatedAt = fromNullMicros(expires), fromMicros(created)
		return &e, nil
	})
}
