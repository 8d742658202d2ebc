package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// Scan reports, policies and allowlists (migration 00010). Replicas share
// the queue: a claim locks the rows it takes with FOR UPDATE SKIP LOCKED,
// so two claims never wait for each other or take the same report.
const (
	scanReportCols = `digest, repository, status, scanner, error, attempts, owner, lease_until,
		queued_at, started_at, finished_at, generation, critical, high, medium, low, unknown,
		fixable, secrets, hygiene, worst`

	// queueScansSQL queues the digests $1 (sorted, unique) from the
	// repositories $2 and counts those it queued new or again. old is the
	// status before the statement, to tell those from reports that were
	// queued already (which only take the new repository).
	queueScansSQL = `WITH req AS (SELECT d, r FROM unnest($1::text[], $2::text[]) AS u (d, r)),
		old AS (SELECT s.digest, s.status FROM scan_reports s WHERE s.digest IN (SELECT d FROM req)),
		up AS (INSERT INTO scan_reports AS s (digest, repository, status, queued_at)
			SELECT d, r, 'queued', $3 FROM req ORDER BY d
			ON CONFLICT (digest) DO UPDATE SET repository = excluded.repository, status = 'queued',
				queued_at = CASE WHEN s.status = 'queued' THEN s.queued_at ELSE excluded.queued_at END,
				attempts = CASE WHEN s.status = 'queued' THEN s.attempts ELSE 0 END,
				owner = '', lease_until = NULL
			WHERE s.status = 'queued' OR ($4 AND s.status <> 'running')
			RETURNING s.digest)
		SELECT count(*) FROM up LEFT JOIN old ON old.digest = up.digest
		WHERE old.status IS DISTINCT FROM 'queued'`
	claimScansSQL = `WITH c AS (SELECT digest FROM scan_reports
			WHERE status IN ('queued', 'running') AND (status = 'queued' OR lease_until <= $3)
			ORDER BY queued_at, digest LIMIT $4
			FOR UPDATE SKIP LOCKED)
		UPDATE scan_reports s SET status = 'running', owner = $1, lease_until = $2, started_at = $3,
			attempts = s.attempts + 1
		FROM c WHERE s.digest = c.digest
		RETURNING s.digest, s.repository, s.attempts, s.queued_at`
	finishScanSQL = `UPDATE scan_reports SET status = $1, scanner = $2, error = $3, owner = '',
		lease_until = NULL, finished_at = $4, generation = $5, critical = $6, high = $7, medium = $8,
		low = $9, unknown = $10, fixable = $11, secrets = $12, hygiene = $13, worst = $14,
		inventory = $15, report = $16
		WHERE digest = $17 AND status = 'running' AND owner = $18`
	getScanReportSQL     = `SELECT ` + scanReportCols + `, NULL::bytea, NULL::bytea FROM scan_reports WHERE digest = $1`
	getScanReportDataSQL = `SELECT ` + scanReportCols + `, inventory, report FROM scan_reports WHERE digest = $1`
	staleScanReportsSQL  = `SELECT ` + scanReportCols + `, inventory, NULL::bytea FROM scan_reports
		WHERE status = 'done' AND digest > $1 AND generation < $2 AND inventory IS NOT NULL
		ORDER BY digest LIMIT $3`
	rematchScanSQL = `UPDATE scan_reports SET generation = $1, critical = $2, high = $3, medium = $4, low = $5,
		unknown = $6, fixable = $7, secrets = $8, hygiene = $9, worst = $10, report = $11
		WHERE digest = $12 AND status = 'done' AND generation < $1`
	unscannedManifestsSQL = `SELECT m.digest, MIN(r.name) FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		WHERE m.digest > $1 AND NOT EXISTS (SELECT 1 FROM scan_reports s WHERE s.digest = m.digest)
		GROUP BY m.digest ORDER BY m.digest LIMIT $2`
	// A NULL before ($1) or an empty scanner ($2) turns that criterion
	// off.
	requeueScansSQL = `UPDATE scan_reports SET status = 'queued', queued_at = $4, attempts = 0,
		owner = '', lease_until = NULL
		WHERE status IN ('done', 'failed') AND digest IN (SELECT digest FROM scan_reports
			WHERE status IN ('done', 'failed') AND (finished_at < $1 OR ($2::text <> '' AND scanner <> $2::text))
			ORDER BY finished_at, digest LIMIT $3
			FOR UPDATE SKIP LOCKED)`
	deleteOrphanScansSQL = `DELETE FROM scan_reports WHERE status <> 'running' AND digest IN (
		SELECT s.digest FROM scan_reports s
		WHERE s.status <> 'running' AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = s.digest)
		ORDER BY s.digest LIMIT $1
		FOR UPDATE SKIP LOCKED)`

	getScanPolicySQL = `SELECT p.id, sp.project_id IS NOT NULL, sp.scan_on_push, sp.block_severity,
		sp.unscanned, sp.wait_seconds, sp.updated_at, sp.updated_by
		FROM projects p LEFT JOIN scan_policies sp ON sp.project_id = p.id WHERE p.id = $1`
	putScanPolicySQL = `INSERT INTO scan_policies (project_id, scan_on_push, block_severity, unscanned,
			wait_seconds, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (project_id) DO UPDATE SET scan_on_push = excluded.scan_on_push,
			block_severity = excluded.block_severity, unscanned = excluded.unscanned,
			wait_seconds = excluded.wait_seconds, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`

	putAllowlistSQL = `INSERT INTO vuln_allowlist (project_id, vuln_id, reason, expires_at, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT ((COALESCE(project_id, 0)), vuln_id) DO UPDATE SET reason = excluded.reason,
			expires_at = excluded.expires_at, created_at = excluded.created_at, created_by = excluded.created_by`
	deleteAllowlistSQL = `DELETE FROM vuln_allowlist WHERE COALESCE(project_id, 0) = $1 AND vuln_id = $2`
	listAllowlistSQL   = `SELECT COALESCE(project_id, 0), vuln_id, reason, expires_at, created_at, created_by
		FROM vuln_allowlist WHERE COALESCE(project_id, 0) = $1 ORDER BY vuln_id`
)

var (
	_ meta.ScanStore = (*Store)(nil)
	_ meta.ScanStore = (*querier)(nil)
)

// QueueScans queues a scan of each request's digest, again (with force)
// for a digest whose report is final, in one statement.
func (q *querier) QueueScans(ctx context.Context, reqs []meta.ScanRequest, force bool, at time.Time) (n int, err error) {
	defer errdefs.Wrapf(&err, "postgres: queue %d scans", len(reqs))
	if len(reqs) == 0 {
		return 0, nil
	}
	// One row per digest (the last request's repository wins, as if the
	// requests ran in turn), in digest order so that concurrent calls lock
	// rows in the same order.
	repo := make(map[digest.Digest]string, len(reqs))
	for _, r := range reqs {
		repo[r.Digest] = r.Repository
	}
	digests := make([]string, 0, len(repo))
	for d := range repo {
		digests = append(digests, string(d))
	}
	slices.Sort(digests)
	repos := make([]string, len(digests))
	for i, d := range digests {
		repos[i] = repo[digest.Digest(d)]
	}
	if err := q.db.QueryRow(ctx, queueScansSQL, digests, repos, pgTime(at), force).Scan(&n); err != nil {
		return 0, classify(err)
	}
	return n, nil
}

// ClaimScans marks up to n claimable reports running for owner, skipping
// those another replica is claiming.
func (q *querier) ClaimScans(ctx context.Context, owner string, n int, lease time.Duration, now time.Time) (_ []meta.ScanJob, err error) {
	defer errdefs.Wrapf(&err, "postgres: claim %d scans for %q", n, owner)
	if n <= 0 {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, claimScansSQL, owner, pgTime(now.Add(lease)), pgTime(now), n)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	type claimed struct {
		job    meta.ScanJob
		queued time.Time
	}
	var got []claimed
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.job.Digest, &c.job.Repository, &c.job.Attempts, &c.queued); err != nil {
			return nil, classify(err)
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	slices.SortFunc(got, func(a, b claimed) int {
		return cmp.Or(a.queued.Compare(b.queued), strings.Compare(string(a.job.Digest), string(b.job.Digest)))
	})
	jobs := make([]meta.ScanJob, len(got))
	for i, c := range got {
		jobs[i] = c.job
	}
	return jobs, nil
}

// nullBytes is b as a column value: NULL when empty.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// FinishScan stores the result of a report r.Owner holds running.
func (q *querier) FinishScan(ctx context.Context, r meta.ScanResult) (err error) {
	defer errdefs.Wrapf(&err, "postgres: finish scan of %s", r.Digest)
	switch r.Status {
	case meta.ScanDone, meta.ScanFailed, meta.ScanUnsupported:
	default:
		return errdefs.Invalid("status %q is not final", r.Status)
	}
	s := r.Summary
	tag, err := q.db.Exec(ctx, finishScanSQL, r.Status, r.Scanner, r.Error, pgTimeOrNow(r.FinishedAt),
		r.Generation, s.Critical, s.High, s.Medium, s.Low, s.Unknown, s.Fixable, s.Secrets, s.Hygiene, s.Worst,
		nullBytes(r.Inventory), nullBytes(r.Report), string(r.Digest), r.Owner)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.Conflict("the report is not running for %q", r.Owner)
	}
	return nil
}

func scanScanReport(row pgx.Row) (*meta.ScanReport, error) {
	var (
		r                        meta.ScanReport
		lease, started, finished *time.Time
		s                        = &r.Summary
	)
	err := row.Scan(&r.Digest, &r.Repository, &r.Status, &r.Scanner, &r.Error, &r.Attempts, &r.Owner, &lease,
		&r.QueuedAt, &started, &finished, &r.Generation, &s.Critical, &s.High, &s.Medium, &s.Low, &s.Unknown,
		&s.Fixable, &s.Secrets, &s.Hygiene, &s.Worst, &r.Inventory, &r.Report)
	if err != nil {
		return nil, err
	}
	r.LeaseUntil, r.QueuedAt = fromNullTime(lease), r.QueuedAt.UTC()
	r.StartedAt, r.FinishedAt = fromNullTime(started), fromNullTime(finished)
	return &r, nil
}

// GetScanReport returns the report of dgst, with its data when withData.
func (q *querier) GetScanReport(ctx context.Context, dgst digest.Digest, withData bool) (_ *meta.ScanReport, err error) {
	defer errdefs.Wrapf(&err, "postgres: scan report of %s", dgst)
	query := getScanReportSQL
	if withData {
		query = getScanReportDataSQL
	}
	return getOne(ctx, q.db, scanScanReport, "scan report", query, string(dgst))
}

// StaleScanReports returns done reports with an inventory matched at a
// generation below generation, by digest after after.
func (q *querier) StaleScanReports(ctx context.Context, generation int64, after digest.Digest, limit int) (_ []meta.ScanReport, err error) {
	defer errdefs.Wrapf(&err, "postgres: scan reports older than generation %d", generation)
	return queryAll(ctx, q.db, scanScanReport, staleScanReportsSQL, string(after), generation, limitArg(limit))
}

// RematchScans stores re-matched results of done reports at an older
// generation, in one transaction.
func (q *querier) RematchScans(ctx context.Context, rs []meta.ScanRematch) (n int, err error) {
	defer errdefs.Wrapf(&err, "postgres: store %d re-matched scan reports", len(rs))
	if len(rs) == 0 {
		return 0, nil
	}
	// Digest order, as QueueScans locks rows.
	sorted := slices.SortedFunc(slices.Values(rs), func(a, b meta.ScanRematch) int {
		return strings.Compare(string(a.Digest), string(b.Digest))
	})
	err = q.atomic(ctx, func(db dbtx) error {
		n = 0
		bdb, ok := db.(batcher)
		if !ok {
			return errdefs.Unavailable("postgres: connection cannot pipeline statements")
		}
		b := &pgx.Batch{}
		for _, r := range sorted {
			s := r.Summary
			b.Queue(rematchScanSQL, r.Generation, s.Critical, s.High, s.Medium, s.Low, s.Unknown, s.Fixable,
				s.Secrets, s.Hygiene, s.Worst, nullBytes(r.Report), string(r.Digest))
		}
		br := bdb.SendBatch(ctx, b)
		for range sorted {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return classify(err)
			}
			n += int(tag.RowsAffected())
		}
		return classify(br.Close())
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// UnscannedManifests returns stored manifest digests without a report,
// each with the smallest name of a repository storing it.
func (q *querier) UnscannedManifests(ctx context.Context, after digest.Digest, limit int) (_ []meta.ScanRequest, err error) {
	defer errdefs.Wrapf(&err, "postgres: manifests without a scan report after %q", after)
	return queryAll(ctx, q.db, func(row pgx.Row) (*meta.ScanRequest, error) {
		var r meta.ScanRequest
		if err := row.Scan(&r.Digest, &r.Repository); err != nil {
			return nil, err
		}
		return &r, nil
	}, unscannedManifestsSQL, string(after), limitArg(limit))
}

// RequeueScans queues again finished reports that are due, oldest first.
func (q *querier) RequeueScans(ctx context.Context, before time.Time, scanner string, limit int, at time.Time) (n int, err error) {
	defer errdefs.Wrapf(&err, "postgres: queue rescans")
	if before.IsZero() && scanner == "" {
		return 0, nil
	}
	tag, err := q.db.Exec(ctx, requeueScansSQL, nullTime(before), scanner, limitArg(limit), pgTime(at))
	if err != nil {
		return 0, classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteOrphanScanReports removes reports of digests no repository stores.
func (q *querier) DeleteOrphanScanReports(ctx context.Context, limit int) (n int, err error) {
	defer errdefs.Wrapf(&err, "postgres: delete scan reports of deleted manifests")
	tag, err := q.db.Exec(ctx, deleteOrphanScansSQL, limitArg(limit))
	if err != nil {
		return 0, classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// GetScanPolicy returns the stored or default policy of projectID.
func (q *querier) GetScanPolicy(ctx context.Context, projectID int64) (_ *meta.ScanPolicy, err error) {
	defer errdefs.Wrapf(&err, "postgres: scan policy of project %d", projectID)
	var (
		p        meta.ScanPolicy
		stored   bool
		onPush   *bool
		severity *int
		unscan   *string
		wait     *int
		updated  *time.Time
		by       *string
	)
	err = q.db.QueryRow(ctx, getScanPolicySQL, projectID).Scan(&p.ProjectID, &stored,
		&onPush, &severity, &unscan, &wait, &updated, &by)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("project %d not found", projectID)
	}
	if err != nil {
		return nil, classify(err)
	}
	if !stored {
		d := meta.DefaultScanPolicy(projectID)
		return &d, nil
	}
	p.ScanOnPush, p.BlockSeverity, p.Unscanned = *onPush, *severity, *unscan
	p.WaitSeconds, p.UpdatedAt, p.UpdatedBy = *wait, fromNullTime(updated), *by
	return &p, nil
}

// PutScanPolicy creates or replaces the policy of p.ProjectID.
func (q *querier) PutScanPolicy(ctx context.Context, p *meta.ScanPolicy) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put scan policy of project %d", p.ProjectID)
	updated := pgTimeOrNow(p.UpdatedAt)
	_, err = q.db.Exec(ctx, putScanPolicySQL, p.ProjectID, p.ScanOnPush, p.BlockSeverity, p.Unscanned,
		p.WaitSeconds, updated, p.UpdatedBy)
	if isFKViolation(err) {
		return errdefs.NotFound("project %d not found", p.ProjectID)
	}
	if err != nil {
		return classify(err)
	}
	p.UpdatedAt = updated.UTC()
	return nil
}

// allowlistScope is the stored project_id of an entry: NULL for the
// system-wide ones (ProjectID 0).
func allowlistScope(projectID int64) *int64 {
	if projectID == 0 {
		return nil
	}
	return &projectID
}

// PutAllowlistEntry creates or replaces the entry (e.ProjectID, e.VulnID).
func (q *querier) PutAllowlistEntry(ctx context.Context, e *meta.AllowlistEntry) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put allowlist entry %q of project %d", e.VulnID, e.ProjectID)
	if e.VulnID == "" {
		return errdefs.Invalid("an allowlist entry needs a vulnerability id")
	}
	created := pgTimeOrNow(e.CreatedAt)
	_, err = q.db.Exec(ctx, putAllowlistSQL, allowlistScope(e.ProjectID), e.VulnID, e.Reason,
		nullTime(e.ExpiresAt), created, e.CreatedBy)
	if isFKViolation(err) {
		return errdefs.NotFound("project %d not found", e.ProjectID)
	}
	if err != nil {
		return classify(err)
	}
	e.CreatedAt, e.ExpiresAt = created.UTC(), fromNullTime(nullTime(e.ExpiresAt))
	return nil
}

// DeleteAllowlistEntry removes (projectID, vulnID); ErrNotFound if absent.
func (q *querier) DeleteAllowlistEntry(ctx context.Context, projectID int64, vulnID string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete allowlist entry %q of project %d", vulnID, projectID)
	tag, err := q.db.Exec(ctx, deleteAllowlistSQL, projectID, vulnID)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("no allowlist entry %q in project %d", vulnID, projectID)
	}
	return nil
}

// ListAllowlist returns the entries of projectID (0: system-wide) by
// vulnerability id.
func (q *querier) ListAllowlist(ctx context.Context, projectID int64) (_ []meta.AllowlistEntry, err error) {
	defer errdefs.Wrapf(&err, "postgres: allowlist of project %d", projectID)
	return queryAll(ctx, q.db, func(row pgx.Row) (*meta.AllowlistEntry, error) {
		var (
			e       meta.AllowlistEntry
			expires *time.Time
		)
		if err := row.Scan(&e.ProjectID, &e.VulnID, &e.Reason, &expires, &e.CreatedAt, &e.CreatedBy); err != nil {
			return nil, err
		}
		e.ExpiresAt, e.CreatedAt = fromNullTime(expires), e.CreatedAt.UTC()
		return &e, nil
	}, listAllowlistSQL, projectID)
}
