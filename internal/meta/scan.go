package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Scan statuses. A report is queued when a scan is asked for, running
// while a scanner holds it, and ends done, failed or unsupported (the
// artifact is not an image a scanner can read: a signature, an SBOM, a Helm
// chart).
const (
	ScanQueued      = "queued"
	ScanRunning     = "running"
	ScanDone        = "done"
	ScanFailed      = "failed"
	ScanUnsupported = "unsupported"
)

// ScanSummary counts a report's findings. Vulnerability counts are by
// severity after merging aliases; Fixable counts the vulnerabilities with a
// known fixed version.
type ScanSummary struct {
	Critical int64
	High     int64
	Medium   int64
	Low      int64
	Unknown  int64
	Fixable  int64
	// Secrets and Hygiene count the findings beyond vulnerabilities.
	Secrets int64
	Hygiene int64
	// Worst is the highest vulnerability severity found, as the value of
	// vuln.Severity (0 = unknown or none).
	Worst int
}

// ScanRequest asks for the scan of a manifest digest, read from a
// repository that stores it.
type ScanRequest struct {
	Digest     digest.Digest
	Repository string
}

// ScanJob is a scan a scanner claimed.
type ScanJob struct {
	Digest     digest.Digest
	Repository string
	// Attempts counts the claims of this report, this one included.
	Attempts int
}

// ScanReport is the scan state and result of one manifest digest. Reports
// are per digest, not per repository: the same content scans the same.
type ScanReport struct {
	Digest digest.Digest
	// Repository is where the scan reads the artifact from (and pushes its
	// SBOMs to): the repository of the request that queued it last.
	Repository string
	// Status is one of the Scan* statuses.
	Status string
	// Scanner names what produced the result ("berth/1", "harbor:Trivy/0.50").
	Scanner string
	// Error says why a failed scan failed.
	Error    string
	Attempts int
	// Owner is the scanner holding a running report; LeaseUntil is when
	// its claim lapses and another may take it.
	Owner      string
	LeaseUntil time.Time
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// Generation is the vulnerability data generation (VulnStore) the
	// findings were matched at.
	Generation int64
	Summary    ScanSummary
	// Inventory is the stored package inventory (the caller's encoding),
	// kept so findings can be re-matched without reading layers; nil when
	// the scanner gave none (external scanners) or when not loaded.
	Inventory []byte
	// Report is the full result (the caller's encoding); nil when not
	// loaded.
	Report []byte
}

// ScanResult is what a scanner writes back for a claimed job.
type ScanResult struct {
	Digest digest.Digest
	// Owner must be the owner that claimed the job; a result from a
	// scanner whose claim lapsed and was taken over is ErrConflict.
	Owner      string
	Status     string // ScanDone, ScanFailed or ScanUnsupported
	Scanner    string
	Error      string
	FinishedAt time.Time
	Generation int64
	Summary    ScanSummary
	Inventory  []byte
	Report     []byte
}

// ScanRematch is a re-matched result of a done report.
type ScanRematch struct {
	Digest     digest.Digest
	Generation int64
	Summary    ScanSummary
	Report     []byte
}

// ScanPolicy is a project's scanning and pull-gate settings. A project
// without a stored policy has DefaultScanPolicy.
type ScanPolicy struct {
	ProjectID int64
	// ScanOnPush queues a scan of every manifest pushed to the project.
	ScanOnPush bool
	// BlockSeverity is the vuln.Severity value at or above which a pull is
	// denied; 0 turns the gate off.
	BlockSeverity int
	// Unscanned is what a gated pull of an artifact without a finished
	// scan gets: "allow", "deny" or "wait" (up to WaitSeconds for the
	// scan, then deny).
	Unscanned   string
	WaitSeconds int
	UpdatedAt   time.Time
	UpdatedBy   string
}

// DefaultScanPolicy is the policy of a project that stored none: no scan
// on push, no gate (as Harbor and ECR: a project opts in, since a scan
// adds SBOM referrers to its repositories).
func DefaultScanPolicy(projectID int64) ScanPolicy {
	return ScanPolicy{ProjectID: projectID, Unscanned: "allow"}
}

// AllowlistEntry exempts one vulnerability id (or any of its aliases) from
// the pull gate, in a project or system-wide (ProjectID 0), until ExpiresAt
// (zero: never).
type AllowlistEntry struct {
	ProjectID int64
	// VulnID is the vulnerability id as given ("CVE-2024-1234",
	// "GHSA-…"); the store compares it exactly.
	VulnID    string
	Reason    string
	ExpiresAt time.Time
	CreatedAt time.Time
	CreatedBy string
}

// ScanStore keeps scan reports (which are also the durable scan queue),
// project scan policies and vulnerability allowlists. It is an optional
// ability of a Store, found with ScanOf; the SQLite and PostgreSQL backends
// have it.
type ScanStore interface {
	// QueueScans queues a scan for each request at at. A digest without a
	// report gets a queued one. With force, a digest whose report is not
	// queued or running is queued again (its result stays readable until
	// the new one replaces it); without force it is left alone. A queued
	// report takes the request's repository (one queued already keeps its
	// place in the queue); one queued again starts with Attempts 0. It
	// returns how many reports it queued (new or again).
	QueueScans(ctx context.Context, reqs []ScanRequest, force bool, at time.Time) (int, error)
	// ClaimScans marks up to n reports running for owner until
	// now+lease, oldest queued first, and returns them: queued ones, and
	// running ones whose lease lapsed (LeaseUntil at or before now: a
	// scanner that died). Attempts grows by one with each claim. On
	// PostgreSQL two replicas never claim the same report.
	ClaimScans(ctx context.Context, owner string, n int, lease time.Duration, now time.Time) ([]ScanJob, error)
	// FinishScan stores r for a report owner holds running: status,
	// result, summary and generation replace the old ones (FinishedAt is
	// now when zero; an empty Inventory or Report is stored as none), and
	// the claim ends. ErrConflict if the report is not running for r.Owner
	// (or does not exist); ErrInvalid for a status that is not final.
	FinishScan(ctx context.Context, r ScanResult) error
	// GetScanReport returns the report of dgst, with Inventory and Report
	// when withData; ErrNotFound if there is none.
	GetScanReport(ctx context.Context, dgst digest.Digest, withData bool) (*ScanReport, error)
	// StaleScanReports returns, by digest after after, up to limit done
	// reports with a stored inventory whose Generation is below generation,
	// with Inventory loaded (Report not).
	StaleScanReports(ctx context.Context, generation int64, after digest.Digest, limit int) ([]ScanReport, error)
	// RematchScans stores re-matched results in one transaction; a report
	// that is not done, or whose Generation is not below the new one, is
	// left alone. It returns how many it updated.
	RematchScans(ctx context.Context, rs []ScanRematch) (int, error)
	// UnscannedManifests returns up to limit manifest digests, in digest
	// order after after, that some repository stores and that have no
	// report, each with one repository storing it.
	UnscannedManifests(ctx context.Context, after digest.Digest, limit int) ([]ScanRequest, error)
	// RequeueScans queues again up to limit done or failed reports that
	// finished before before (when before is not zero), or whose Scanner
	// is not scanner (when scanner is not ""), oldest first, with Attempts
	// 0 and their results kept readable as with QueueScans; it returns how
	// many.
	RequeueScans(ctx context.Context, before time.Time, scanner string, limit int, at time.Time) (int, error)
	// DeleteOrphanScanReports removes up to limit reports whose digest no
	// repository stores any more and that are not running, and returns
	// how many.
	DeleteOrphanScanReports(ctx context.Context, limit int) (int, error)

	// GetScanPolicy returns the policy of project projectID, or
	// DefaultScanPolicy when it stored none; ErrNotFound if the project
	// does not exist.
	GetScanPolicy(ctx context.Context, projectID int64) (*ScanPolicy, error)
	// PutScanPolicy creates or replaces the policy of p.ProjectID and sets
	// p.UpdatedAt (now when zero); ErrNotFound if the project does not
	// exist. Deleting a project deletes its policy.
	PutScanPolicy(ctx context.Context, p *ScanPolicy) error

	// PutAllowlistEntry creates or replaces the entry (ProjectID, VulnID)
	// and sets CreatedAt (now when zero); ErrNotFound if ProjectID names no
	// project, ErrInvalid without a VulnID.
	PutAllowlistEntry(ctx context.Context, e *AllowlistEntry) error
	// DeleteAllowlistEntry removes (projectID, vulnID); ErrNotFound if
	// there is none.
	DeleteAllowlistEntry(ctx context.Context, projectID int64, vulnID string) error
	// ListAllowlist returns the entries of project projectID (0: the
	// system-wide ones), expired ones included, by VulnID.
	ListAllowlist(ctx context.Context, projectID int64) ([]AllowlistEntry, error)
}

// ScanOf returns the ScanStore of s, looking through decorators that
// implement Unwrapper, and whether s has one.
func ScanOf(s Store) (ScanStore, bool) {
	for s != nil {
		if ss, ok := s.(ScanStore); ok {
			return ss, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
