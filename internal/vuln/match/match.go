// Package match finds the vulnerabilities that affect installed packages:
// it looks the packages up in a meta.VulnStore by (ecosystem, name) and
// checks each record's ranges with the ecosystem's own version ordering
// (osv-scalibr's semantic package: dpkg, apk, rpm, PEP 440, Maven, semver,
// …).
//
// A Matcher is built for many inventories at once, as re-matching every
// stored inventory after a data update needs: MatchMany looks every
// distinct package up in a few batched queries, parses each record once
// (and keeps it parsed across calls until the record changes), and decides
// each distinct (package, version) once however many inventories hold it.
package match

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
)

// lookupBatch bounds the packages of one VulnsFor query.
const lookupBatch = 2000

// Matcher matches packages against the records of a store. It is safe for
// concurrent use.
type Matcher struct {
	store meta.VulnStore

	mu      sync.Mutex
	records map[string]*parsed // by id, while the stored Modified is the same
}

// parsed is a record as the store last returned it, parsed.
type parsed struct {
	modified time.Time
	rec      *osv.Record
}

// New returns a Matcher reading records from store.
func New(store meta.VulnStore) *Matcher {
	return &Matcher{store: store, records: map[string]*parsed{}}
}

// Match returns the findings for the packages of one inventory, as
// MatchMany does.
func (m *Matcher) Match(ctx context.Context, pkgs []vuln.Package) ([]vuln.Finding, error) {
	out, err := m.MatchMany(ctx, [][]vuln.Package{pkgs})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// MatchMany returns, for each inventory of invs, the findings for its
// packages, sorted by package name, version and finding id. A package is
// looked up by its name and, when set, its SourceName (Debian records name
// source packages), in its ecosystem and in the ecosystem without a
// release ("Debian" for "Debian:12"). Withdrawn records are ignored;
// records of one package that alias each other become one finding whose
// Aliases list the other ids. A record the store returns that does not
// parse is an error. Findings of equal packages share their Aliases slice:
// treat it as read-only. To re-match a great many stored inventories, pass
// them in chunks of a few thousand; the parsed records are kept across
// calls.
func (m *Matcher) MatchMany(ctx context.Context, invs [][]vuln.Package) (_ [][]vuln.Finding, err error) {
	defer errdefs.Wrapf(&err, "match %d inventories", len(invs))
	// Each distinct package is decided once, however many inventories
	// hold it.
	memo := map[memoKey][]vuln.Finding{}
	var distinct []vuln.Package
	for _, inv := range invs {
		for _, p := range inv {
			if k := keyOf(p); memo[k] == nil {
				memo[k] = []vuln.Finding{}
				distinct = append(distinct, p)
			}
		}
	}
	byKey, err := m.lookup(ctx, distinct)
	if err != nil {
		return nil, err
	}
	for _, p := range distinct {
		memo[keyOf(p)] = findingsFor(p, byKey)
	}
	out := make([][]vuln.Finding, len(invs))
	for i, inv := range invs {
		n := 0
		for _, p := range inv {
			n += len(memo[keyOf(p)])
		}
		if n == 0 {
			continue
		}
		found := make([]vuln.Finding, 0, n)
		for _, p := range inv {
			for _, f := range memo[keyOf(p)] {
				f.Package = p
				found = append(found, f)
			}
		}
		sortFindings(found)
		out[i] = found
	}
	return out, nil
}

// memoKey is what decides a package's findings.
type memoKey struct{ eco, name, source, version string }

func keyOf(p vuln.Package) memoKey { return memoKey{p.Ecosystem, p.Name, p.SourceName, p.Version} }

// keysOf returns the index entries a package is looked up by.
func keysOf(p vuln.Package) []meta.VulnPackage {
	ecos := []string{p.Ecosystem}
	if base := baseEcosystem(p.Ecosystem); base != p.Ecosystem {
		ecos = append(ecos, base)
	}
	names := []string{p.Name}
	if p.SourceName != "" && p.SourceName != p.Name {
		names = append(names, p.SourceName)
	}
	keys := make([]meta.VulnPackage, 0, len(ecos)*len(names))
	for _, e := range ecos {
		for _, n := range names {
			keys = append(keys, meta.VulnPackage{Ecosystem: e, Name: vuln.IndexName(e, n)})
		}
	}
	return keys
}

// baseEcosystem drops the release from an ecosystem ("Debian:12" →
// "Debian").
func baseEcosystem(eco string) string {
	for i := range len(eco) {
		if eco[i] == ':' {
			return eco[:i]
		}
	}
	return eco
}

// lookup fetches, in batches, the records of pkgs, and returns them by
// index entry.
func (m *Matcher) lookup(ctx context.Context, pkgs []vuln.Package) (map[meta.VulnPackage][]*osv.Record, error) {
	seen := map[meta.VulnPackage]bool{}
	var keys []meta.VulnPackage
	for _, p := range pkgs {
		for _, k := range keysOf(p) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	byKey := map[meta.VulnPackage][]*osv.Record{}
	for len(keys) > 0 {
		n := min(len(keys), lookupBatch)
		recs, err := m.store.VulnsFor(ctx, keys[:n])
		if err != nil {
			return nil, err
		}
		keys = keys[n:]
		for _, sr := range recs {
			r, err := m.parse(sr)
			if err != nil {
				return nil, err
			}
			for _, k := range sr.Packages {
				byKey[k] = append(byKey[k], r)
			}
		}
	}
	return byKey, nil
}

// parse returns the parsed form of a stored record, from the cache while
// the record has not changed.
func (m *Matcher) parse(sr meta.VulnRecord) (*osv.Record, error) {
	m.mu.Lock()
	c, ok := m.records[sr.ID]
	m.mu.Unlock()
	if ok && c.modified.Equal(sr.Modified) {
		return c.rec, nil
	}
	r, err := osv.FromStored(sr)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.records[sr.ID] = &parsed{modified: sr.Modified, rec: r}
	m.mu.Unlock()
	return r, nil
}

// findingsFor decides which of the looked-up records affect p, with
// Package left for the caller to fill in.
func findingsFor(p vuln.Package, byKey map[meta.VulnPackage][]*osv.Record) []vuln.Finding {
	var cands []candidate
	seen := map[string]bool{}
	var in *installed
	for _, k := range keysOf(p) {
		for _, r := range byKey[k] {
			if seen[r.ID] || r.Withdrawn != nil {
				continue
			}
			seen[r.ID] = true
			if in == nil {
				in = newInstalled(p.Ecosystem, p.Version)
			}
			if c, ok := matchRecord(p, in, r); ok {
				cands = append(cands, c)
			}
		}
	}
	return merge(p.Ecosystem, cands)
}

// candidate is one record found to affect a package.
type candidate struct {
	rec   *osv.Record
	fixed string
	rating
}

// matchRecord checks the affected entries of r that name p.
func matchRecord(p vuln.Package, in *installed, r *osv.Record) (candidate, bool) {
	c := candidate{rec: r}
	hit := false
	for i := range r.Affected {
		a := &r.Affected[i]
		if !names(a.Package, p) {
			continue
		}
		ok, fix := in.affects(a)
		if !ok {
			continue
		}
		rt := rate(r, a)
		if !hit || rt.severity > c.severity {
			c.rating = rt
		}
		if c.fixed == "" {
			c.fixed = fix
		}
		hit = true
	}
	return c, hit
}

// names reports whether an affected entry's package is p (by name or
// source name, in p's ecosystem or that ecosystem without its release).
func names(ap osv.Package, p vuln.Package) bool {
	if ap.Ecosystem != p.Ecosystem && ap.Ecosystem != baseEcosystem(p.Ecosystem) {
		return false
	}
	n := vuln.IndexName(ap.Ecosystem, ap.Name)
	return n == vuln.IndexName(ap.Ecosystem, p.Name) ||
		(p.SourceName != "" && n == vuln.IndexName(ap.Ecosystem, p.SourceName))
}

func sortFindings(fs []vuln.Finding) {
	slices.SortFunc(fs, func(a, b vuln.Finding) int {
		return cmp.Or(
			cmp.Compare(a.Package.Name, b.Package.Name),
			cmp.Compare(a.Package.Version, b.Package.Version),
			cmp.Compare(a.Package.Location, b.Package.Location),
			cmp.Compare(a.ID, b.ID),
		)
	})
}
