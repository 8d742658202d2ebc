package registry

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
)

// Storage quotas (docs/quotas.md). A push into a project with a quota is
// checked twice: early, outside any transaction, so a refused upload never
// commits its bytes (and a chunked upload stops as soon as what it received
// alone is over what is left); and exactly, inside the transaction that
// records the blob link or the manifest, after meta.QuotaQuerier.LockQuota,
// so two pushes racing for the last bytes of a project cannot both pass.
// Projects without a quota pay one cached lookup per push.

// quotaTTL is how long a project's quota (or its absence) is reused: a
// quota set or removed takes effect within it on every replica.
const quotaTTL = 2 * time.Second

// quotas finds and caches project quotas. The zero value is ready: it
// finds the store's meta.QuotaStore on first use (a store without one
// enforces no quotas).
type quotas struct {
	once  sync.Once
	store meta.QuotaStore

	mu      sync.Mutex
	entries map[string]quotaEntry // by project name
}

type quotaEntry struct {
	quota   *meta.Quota // nil: none
	expires time.Time
}

// quotaOf returns the quota of the project of repository repo from a
// cache at most quotaTTL old, or nil when it has none.
func (s *Service) quotaOf(ctx context.Context, repo string) (*meta.Quota, error) {
	qc := &s.quotas
	qc.once.Do(func() { qc.store, _ = meta.QuotaOf(s.meta) })
	if qc.store == nil {
		return nil, nil
	}
	project := access.ProjectOf(repo)
	now := s.opts.Now()
	qc.mu.Lock()
	e, ok := qc.entries[project]
	qc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.quota, nil
	}
	q, err := qc.store.GetQuota(ctx, project)
	if errdefs.IsNotFound(err) {
		q, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read quota of project %q: %w", project, err)
	}
	qc.mu.Lock()
	if qc.entries == nil {
		qc.entries = make(map[string]quotaEntry)
	}
	qc.entries[project] = quotaEntry{quota: q, expires: now.Add(quotaTTL)}
	qc.mu.Unlock()
	return q, nil
}

// quotaProject returns the project of repo when it has a quota (so pushes
// into it must be checked), else "".
func (s *Service) quotaProject(ctx context.Context, repo string) (string, error) {
	q, err := s.quotaOf(ctx, repo)
	if err != nil || q == nil {
		return "", err
	}
	return q.Project, nil
}

// quotaDelta is what a push adds to a project.
type quotaDelta struct {
	stored    int64
	artifacts int64
}

// checkQuotaTx refuses (ErrDenied) a change that adds addStored bytes and
// addArtifacts artifacts to project, inside transaction tx, if it would
// bring the project over its quota. It locks the project's quota until tx
// ends, so call it before the writes it guards; a project without a quota
// passes. Promotion (promote.go) calls it with what a copy adds.
func (s *Service) checkQuotaTx(ctx context.Context, tx meta.Querier, project string, addStored int64, addArtifacts int) error {
	return s.quotaTx(ctx, tx, project, func(meta.QuotaQuerier) (quotaDelta, error) {
		return quotaDelta{stored: addStored, artifacts: int64(addArtifacts)}, nil
	})
}

// quotaTx locks the quota of project (a no-op for ""), computes what the
// push adds with delta (after the lock, so it sees what racing pushes
// committed) and refuses it if it goes over a limit. A push crossing the
// warning threshold is logged and audited (in tx, so only if it commits).
func (s *Service) quotaTx(ctx context.Context, tx meta.Querier, project string, delta func(meta.QuotaQuerier) (quotaDelta, error)) error {
	if project == "" {
		return nil
	}
	qq, ok := meta.QuotaTxOf(tx)
	if !ok {
		return nil
	}
	q, err := qq.LockQuota(ctx, project)
	if errdefs.IsNotFound(err) {
		return nil // removed since it was cached
	}
	if err != nil {
		return err
	}
	d, err := delta(qq)
	if err != nil || (d.stored <= 0 && d.artifacts <= 0) {
		return err
	}
	u, err := qq.ProjectUsage(ctx, project)
	if err != nil {
		return err
	}
	if err := overQuota(q, u, d); err != nil {
		return err
	}
	if q.WarnBytes > 0 && u.StoredBytes < q.WarnBytes && u.StoredBytes+d.stored >= q.WarnBytes {
		return s.warnQuota(ctx, tx, q, u.StoredBytes+d.stored)
	}
	return nil
}

// overQuota returns the refusal of adding d to usage u under q, or nil.
func overQuota(q *meta.Quota, u meta.Usage, d quotaDelta) error {
	if q.LimitBytes > 0 && d.stored > 0 && u.StoredBytes+d.stored > q.LimitBytes {
		return errdefs.Denied("quota exceeded for project %q: storing %s would bring %s to %s, over the %s limit",
			q.Project, bytesize.Format(d.stored), bytesize.Format(u.StoredBytes), bytesize.Format(u.StoredBytes+d.stored),
			bytesize.Format(q.LimitBytes))
	}
	if q.ArtifactLimit > 0 && d.artifacts > 0 && u.Artifacts+d.artifacts > q.ArtifactLimit {
		return errdefs.Denied("quota exceeded for project %q: %d more artifact(s) would bring %d to %d, over the limit of %d artifacts",
			q.Project, d.artifacts, u.Artifacts, u.Artifacts+d.artifacts, q.ArtifactLimit)
	}
	return nil
}

// warnQuota logs and audits a project crossing its warning threshold.
func (s *Service) warnQuota(ctx context.Context, tx meta.Querier, q *meta.Quota, stored int64) error {
	msg := fmt.Sprintf("project %q stores %s, at or over its warning threshold of %s (limit %s)",
		q.Project, bytesize.Format(stored), bytesize.Format(q.WarnBytes), limitText(q.LimitBytes))
	s.log.WarnContext(ctx, "storage quota warning threshold crossed", "project", q.Project,
		"stored_bytes", stored, "warn_bytes", q.WarnBytes, "limit_bytes", q.LimitBytes)
	p := access.PrincipalFrom(ctx)
	return tx.AppendAudit(ctx, []meta.AuditEvent{{
		At: s.now(), ActorKind: string(p.Kind), Actor: p.Name, Action: "quota.warning",
		Project: q.Project, Resource: "quota", Outcome: "success", Detail: msg,
	}})
}

func limitText(n int64) string {
	if n <= 0 {
		return "none"
	}
	return bytesize.Format(n)
}

// blobQuotaTx checks, inside tx, linking blob dgst of size bytes into a
// repository of project ("" when it has no quota): a blob the project
// already links adds nothing.
func (s *Service) blobQuotaTx(ctx context.Context, tx meta.Querier, project string, dgst digest.Digest, size int64) error {
	return s.quotaTx(ctx, tx, project, func(qq meta.QuotaQuerier) (quotaDelta, error) {
		has, err := qq.ProjectHasBlob(ctx, project, dgst)
		if err != nil || has {
			return quotaDelta{}, err
		}
		return quotaDelta{stored: size}, nil
	})
}

// manifestQuotaTx checks, inside tx, storing manifest m with refs in
// repository repoID of project: its bytes unless the project stores the
// digest already, and one artifact unless the repository holds it, less
// the children it turns from artifacts into parts of it.
func (s *Service) manifestQuotaTx(ctx context.Context, tx meta.Querier, project string, m *meta.Manifest, refs []meta.Reference) error {
	return s.quotaTx(ctx, tx, project, func(qq meta.QuotaQuerier) (quotaDelta, error) {
		var d quotaDelta
		if _, err := tx.GetManifest(ctx, m.RepositoryID, m.Digest, false); err == nil {
			return d, nil // stored already: the push changes nothing
		} else if !errdefs.IsNotFound(err) {
			return d, err
		}
		has, err := qq.ProjectHasManifest(ctx, project, m.Digest)
		if err != nil {
			return d, err
		}
		if !has {
			d.stored = m.Size
		}
		d.artifacts = 1
		for _, r := range refs {
			if r.Kind != meta.RefManifest {
				continue
			}
			parents, err := tx.ListManifestParents(ctx, m.RepositoryID, r.Digest)
			if err != nil {
				return d, err
			}
			if len(parents) == 0 {
				d.artifacts--
			}
		}
		return d, nil
	})
}

// precheckBlob refuses, outside any transaction, a blob of size bytes
// about to be committed into repo if it would bring the project over its
// byte limit; the exact check follows in the recording transaction.
func (s *Service) precheckBlob(ctx context.Context, repo string, dgst digest.Digest, size int64) error {
	q, err := s.quotaOf(ctx, repo)
	if err != nil || q == nil || q.LimitBytes <= 0 {
		return err
	}
	has, err := s.quotas.store.ProjectHasBlob(ctx, q.Project, dgst)
	if err != nil || has {
		return err
	}
	u, err := s.quotas.store.ProjectUsage(ctx, q.Project)
	if err != nil {
		return err
	}
	return overQuota(q, u, quotaDelta{stored: size})
}

// quotaBody limits body to what the project of repo has left under its
// byte limit for an upload holding offset bytes (plus one byte, to tell
// "exactly at the limit" from "over it"). It returns the body and the most
// bytes the upload may hold (negative: no limit).
func (s *Service) quotaBody(ctx context.Context, repo string, offset int64, body io.Reader) (io.Reader, int64, error) {
	q, err := s.quotaOf(ctx, repo)
	if err != nil || q == nil || q.LimitBytes <= 0 {
		return body, -1, err
	}
	u, err := s.quotas.store.ProjectUsage(ctx, q.Project)
	if err != nil {
		return nil, 0, err
	}
	left := max(q.LimitBytes-u.StoredBytes, 0)
	return io.LimitReader(body, max(left-offset, 0)+1), left, nil
}

// uploadOverQuota refuses an upload of repo that holds size bytes when
// that alone is over left, the room quotaBody found (negative: no limit).
func (s *Service) uploadOverQuota(ctx context.Context, repo string, size, left int64) error {
	if left < 0 || size <= left {
		return nil
	}
	q, err := s.quotaOf(ctx, repo)
	if err != nil || q == nil {
		return err
	}
	return errdefs.Denied("quota exceeded for project %q: this upload has received %s, more than the %s left under the %s limit",
		q.Project, bytesize.Format(size), bytesize.Format(left), bytesize.Format(q.LimitBytes))
}

// refusedAfterCommit records a blob whose bytes were committed but whose
// link the exact quota check refused (a racing push took the room), so
// garbage collection removes the bytes once the commit lease ends.
func (s *Service) refusedAfterCommit(ctx context.Context, dgst digest.Digest, size int64) {
	ctx = context.WithoutCancel(ctx)
	if err := s.meta.PutBlob(ctx, meta.Blob{Digest: dgst, Size: size, CreatedAt: s.now()}); err != nil {
		s.log.WarnContext(ctx, "record a blob refused by its quota for garbage collection", "digest", dgst, "err", err)
	}
}

// QuotaStatus is a project's quota with its current usage.
type QuotaStatus struct {
	// Quota is the project's quota; nil when it has none.
	Quota *meta.Quota
	Usage meta.Usage
	// Percent is StoredBytes as a percentage of the byte limit (0 without
	// one).
	Percent float64
	// Warning is set when StoredBytes is at or over the warning threshold
	// (or the limit, when no threshold is set).
	Warning bool
}

// ProjectQuotaStatus computes the usage of project in store m (which must
// have a meta.QuotaStore, else ErrUnavailable) with its quota, and updates
// the berth_project_storage_bytes series.
func ProjectQuotaStatus(ctx context.Context, m meta.Store, project string) (*QuotaStatus, error) {
	qs, ok := meta.QuotaOf(m)
	if !ok {
		return nil, errdefs.Unavailable("this server keeps no quotas (its metadata store cannot)")
	}
	q, err := qs.GetQuota(ctx, project)
	if errdefs.IsNotFound(err) {
		q, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := qs.ProjectUsage(ctx, project)
	if err != nil {
		return nil, err
	}
	projectStorage.WithLabelValues(project, "stored").Set(float64(u.StoredBytes))
	projectStorage.WithLabelValues(project, "logical").Set(float64(u.LogicalBytes))
	st := &QuotaStatus{Quota: q, Usage: u}
	if q != nil {
		if q.LimitBytes > 0 {
			st.Percent = 100 * float64(u.StoredBytes) / float64(q.LimitBytes)
		}
		threshold := q.WarnBytes
		if threshold <= 0 {
			threshold = q.LimitBytes
		}
		st.Warning = threshold > 0 && u.StoredBytes >= threshold
	}
	return st, nil
}

// projectStorage is berth_project_storage_bytes{project,kind}, set each
// time a project's usage is computed for a report.
var projectStorage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "berth_project_storage_bytes",
	Help: "Storage a project uses, as last computed: kind=stored counts each blob and manifest once, kind=logical what its artifacts add up to.",
}, []string{"project", "kind"})

// QuotaMetrics returns the collector of berth_project_storage_bytes, for
// the server to register.
func QuotaMetrics() prometheus.Collector { return projectStorage }
