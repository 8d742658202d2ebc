package scanner

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/opencontainers/go-digest"
)

// policyTTL is how long a process trusts its cached policies and
// allowlists; a change through another replica's API takes effect here
// within it.
const policyTTL = 10 * time.Second

// waitPoll is how often a pull waiting for a scan looks at its report.
const waitPoll = 250 * time.Millisecond

// GateFor returns the gate check for manifest GETs from repo by the caller
// in ctx, or nil when no gate applies (the project blocks nothing, or the
// caller is exempt): the cheap question asked on every GET, answered from
// the policy cache. It fits oci.Options.PullGate.
func (s *Service) GateFor(ctx context.Context, repo string) func(m *meta.Manifest) error {
	if exempt(access.PrincipalFrom(ctx)) {
		return nil
	}
	rules, err := s.policies.rules(ctx, s, access.ProjectOf(repo))
	if err == nil && rules.policy.BlockSeverity <= 0 {
		return nil
	}
	if errdefs.IsNotFound(err) {
		return nil
	}
	return func(m *meta.Manifest) error { return s.Gate(ctx, repo, m) }
}

// Gate decides whether the pull of manifest m from repo may go ahead under
// the project's scan policy: nil, or an errdefs.ErrDenied error whose
// message names the worst vulnerabilities and how to get an exception.
// Berth's own principals (the scanner) are exempt, and so is every artifact
// a scanner does not read (signatures, SBOMs, charts).
func (s *Service) Gate(ctx context.Context, repo string, m *meta.Manifest) error {
	if exempt(access.PrincipalFrom(ctx)) {
		return nil
	}
	v := s.verdict(ctx, repo, m, true)
	if v.Allowed {
		return nil
	}
	s.metrics.denied.Inc()
	return errdefs.Denied("%s", v.Reason)
}

// ExternalScannerName is the subject of the registry tokens Berth issues to
// an external scanner. No account can have it (robot accounts are named
// robot$…), so only those tokens carry it.
const ExternalScannerName = "berth-scanner"

// exempt reports whether p's pulls skip the gate: Berth itself, and an
// external scanner reading what it was asked to scan.
func exempt(p access.Principal) bool {
	return p.Kind == access.System || (p.Kind == access.RobotKind && p.Name == ExternalScannerName)
}

// verdict is the gate's decision for m in repo. With wait, an unscanned
// artifact under a "wait" policy is waited for.
func (s *Service) verdict(ctx context.Context, repo string, m *meta.Manifest, wait bool) Verdict {
	project := access.ProjectOf(repo)
	rules, err := s.policies.rules(ctx, s, project)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return Verdict{Allowed: true}
		}
		return Verdict{Reason: fmt.Sprintf("the scan policy of project %s could not be read (%v); try again", project, err)}
	}
	pol := rules.policy
	if pol.BlockSeverity <= 0 || !Scannable(m) {
		return Verdict{Allowed: true}
	}
	threshold := vuln.Severity(pol.BlockSeverity)
	ref := repo + "@" + m.Digest.String()
	st, err := s.scans.GetScanReport(ctx, m.Digest, false)
	if err != nil && !errdefs.IsNotFound(err) {
		return Verdict{Reason: fmt.Sprintf("the scan report of %s could not be read (%v); try again", ref, err)}
	}
	if (st == nil || st.Status != meta.ScanDone) && wait && pol.Unscanned == "wait" && pol.WaitSeconds > 0 {
		st = s.waitForScan(ctx, repo, m.Digest, st, time.Duration(pol.WaitSeconds)*time.Second)
	}
	switch {
	case st != nil && st.Status == meta.ScanUnsupported:
		return Verdict{Allowed: true}
	case st == nil || st.Status != meta.ScanDone:
		state := "has never been scanned"
		if st != nil {
			state = "has no finished scan (scan " + st.Status + ")"
		}
		if pol.Unscanned == "allow" {
			return Verdict{Allowed: true}
		}
		return Verdict{Reason: fmt.Sprintf("%s %s and project %s denies pulling unscanned artifacts; scan it with `berth scan %s --wait` and pull again",
			ref, state, project, ref)}
	}
	res, err := s.result(ctx, st)
	if err != nil {
		return Verdict{Reason: fmt.Sprintf("the scan report of %s could not be read (%v); try again", ref, err)}
	}
	allowed := rules.allowlisted(res.Vulnerabilities, s.now())
	var blocking []vuln.Finding
	for _, f := range res.Vulnerabilities {
		if f.Severity >= threshold && allowed[f.ID] == "" {
			blocking = append(blocking, f)
		}
	}
	if len(blocking) == 0 {
		return Verdict{Allowed: true}
	}
	return Verdict{Reason: denial(ref, project, threshold, blocking)}
}

// denial writes the message of a denied pull: how many vulnerabilities
// block it, the worst few with the packages they affect, and how to get an
// exception. One advisory hitting several binary packages of one source
// (libc6, libc-bin, …) counts once.
func denial(ref, project string, threshold vuln.Severity, blocking []vuln.Finding) string {
	const named = 3
	type group struct {
		f    vuln.Finding
		pkgs []string
	}
	var groups []*group
	byID := map[string]*group{}
	for _, f := range blocking {
		id := displayID(f)
		g := byID[id]
		if g == nil {
			g = &group{f: f}
			byID[id] = g
			groups = append(groups, g)
		}
		if len(g.pkgs) < 3 {
			g.pkgs = append(g.pkgs, f.Package.Name+" "+f.Package.Version)
		} else if len(g.pkgs) == 3 {
			g.pkgs = append(g.pkgs, "…")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pull of %s denied by the vulnerability policy of project %s: %d %s at or above %s: ",
		ref, project, len(groups), plural(len(groups), "vulnerability", "vulnerabilities"), threshold)
	for i, g := range groups[:min(named, len(groups))] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s, %s", displayID(g.f), g.f.Severity, strings.Join(g.pkgs, ", "))
		if g.f.FixedVersion != "" {
			fmt.Fprintf(&b, ", fixed in %s", g.f.FixedVersion)
		}
		b.WriteString(")")
	}
	if len(groups) > named {
		fmt.Fprintf(&b, " and %d more", len(groups)-named)
	}
	fmt.Fprintf(&b, "; see `berth vulns %s`. For an exception a project admin can run `berth allowlist add --project %s %s --reason ... --expires ...`",
		ref, project, displayID(groups[0].f))
	return b.String()
}

// displayID is the id people know a finding by: its CVE alias when it has
// one.
func displayID(f vuln.Finding) string {
	if strings.HasPrefix(f.ID, "CVE-") {
		return f.ID
	}
	for _, a := range f.Aliases {
		if strings.HasPrefix(a, "CVE-") {
			return a
		}
	}
	return f.ID
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// waitForScan makes sure dgst is queued and waits up to d for its scan to
// finish, returning the last report seen.
func (s *Service) waitForScan(ctx context.Context, repo string, dgst digest.Digest, st *meta.ScanReport, d time.Duration) *meta.ScanReport {
	if st == nil {
		if _, err := s.scans.QueueScans(ctx, []meta.ScanRequest{{Digest: dgst, Repository: repo}}, false, s.now()); err != nil {
			s.log.WarnContext(ctx, "queue a scan a pull waits for", "repository", repo, "digest", dgst, "err", err)
		}
		s.Kick()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return st
		case <-timer.C:
			return st
		case <-tick.C:
		}
		got, err := s.scans.GetScanReport(ctx, dgst, false)
		if err != nil {
			continue
		}
		st = got
		if st.Status != meta.ScanQueued && st.Status != meta.ScanRunning {
			return st
		}
	}
}

// result returns the decoded result of report st, from the cache when it
// holds this version of it.
func (s *Service) result(ctx context.Context, st *meta.ScanReport) (*Result, error) {
	k := resultKey{st.Digest, st.FinishedAt.UnixNano(), st.Generation}
	if r, ok := s.results.get(k); ok {
		return r, nil
	}
	full, err := s.scans.GetScanReport(ctx, st.Digest, true)
	if err != nil {
		return nil, err
	}
	if len(full.Report) == 0 {
		return nil, errdefs.NotFound("%s has no stored result", st.Digest)
	}
	r, err := decodeResult(full.Report)
	if err != nil {
		return nil, err
	}
	s.results.put(resultKey{full.Digest, full.FinishedAt.UnixNano(), full.Generation}, r)
	return r, nil
}

// gateRules are a project's policy with the allowlist entries that apply
// to it (its own and the system-wide ones).
type gateRules struct {
	policy  meta.ScanPolicy
	entries []meta.AllowlistEntry
}

// allowlisted maps the ids of fs that a valid entry exempts to its reason.
func (g gateRules) allowlisted(fs []vuln.Finding, now time.Time) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		for _, e := range g.entries {
			if !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt) {
				continue
			}
			if names(f, e.VulnID) {
				out[f.ID] = e.Reason
				break
			}
		}
	}
	return out
}

// names reports whether id is f's id or one of its aliases.
func names(f vuln.Finding, id string) bool {
	if strings.EqualFold(f.ID, id) {
		return true
	}
	for _, a := range f.Aliases {
		if strings.EqualFold(a, id) {
			return true
		}
	}
	return false
}

// policyCache caches project policies and allowlists for policyTTL.
type policyCache struct {
	mu       sync.Mutex
	projects map[string]cachedRules
	system   cachedEntries
}

type cachedRules struct {
	policy  meta.ScanPolicy
	entries []meta.AllowlistEntry
	err     error
	at      time.Time
}

type cachedEntries struct {
	entries []meta.AllowlistEntry
	at      time.Time
}

func newPolicyCache() policyCache { return policyCache{projects: map[string]cachedRules{}} }

func (c *policyCache) invalidate(project string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.projects, project)
	c.system = cachedEntries{}
}

// policy returns project's policy (ErrNotFound for no such project).
func (c *policyCache) policy(ctx context.Context, s *Service, project string) (meta.ScanPolicy, error) {
	g, err := c.rules(ctx, s, project)
	return g.policy, err
}

// rules returns project's policy and the allowlist entries that apply.
func (c *policyCache) rules(ctx context.Context, s *Service, project string) (gateRules, error) {
	now := time.Now()
	c.mu.Lock()
	p, okP := c.projects[project]
	sys := c.system
	c.mu.Unlock()
	if !okP || now.Sub(p.at) > policyTTL {
		p = cachedRules{at: now}
		var proj *meta.Project
		proj, p.err = s.projects.GetProject(ctx, project)
		if p.err == nil {
			var pol *meta.ScanPolicy
			if pol, p.err = s.scans.GetScanPolicy(ctx, proj.ID); p.err == nil {
				p.policy = *pol
				p.entries, p.err = s.scans.ListAllowlist(ctx, proj.ID)
			}
		}
		if p.err != nil && !errdefs.IsNotFound(p.err) {
			return gateRules{}, p.err // not cached: try again next time
		}
		c.mu.Lock()
		c.projects[project] = p
		c.mu.Unlock()
	}
	if p.err != nil {
		return gateRules{}, p.err
	}
	if sys.at.IsZero() || now.Sub(sys.at) > policyTTL {
		entries, err := s.scans.ListAllowlist(ctx, 0)
		if err != nil {
			return gateRules{}, err
		}
		sys = cachedEntries{entries: entries, at: now}
		c.mu.Lock()
		c.system = sys
		c.mu.Unlock()
	}
	return gateRules{policy: p.policy, entries: append(append([]meta.AllowlistEntry(nil), p.entries...), sys.entries...)}, nil
}

// resultKey identifies one version of a stored result.
type resultKey struct {
	digest   digest.Digest
	finished int64
	gen      int64
}

// resultCache is a small LRU of decoded results, so gated pulls of a hot
// image do not decode its report each time.
type resultCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[digest.Digest]*list.Element
}

type resultEntry struct {
	key resultKey
	res *Result
}

func newResultCache(n int) resultCache {
	return resultCache{max: n, order: list.New(), items: map[digest.Digest]*list.Element{}}
}

func (c *resultCache) get(k resultKey) (*Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k.digest]
	if !ok || e.Value.(*resultEntry).key != k {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*resultEntry).res, true
}

func (c *resultCache) put(k resultKey, r *Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k.digest]; ok {
		e.Value = &resultEntry{k, r}
		c.order.MoveToFront(e)
		return
	}
	c.items[k.digest] = c.order.PushFront(&resultEntry{k, r})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*resultEntry).key.digest)
	}
}
