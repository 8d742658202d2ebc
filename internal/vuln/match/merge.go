package match

import (
	"slices"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berth-registry/berth/internal/vuln"
)

// merge turns the records found for one package into findings, one per
// group of records that alias each other (directly or through a chain):
// the finding takes the first id of the group (by text, CVE ids last, so a
// record of the package's own database names it), lists every other id and
// alias, the worst severity and CVSS score, and the highest fixed version
// (the one that fixes them all).
func merge(ecosystem string, cands []candidate) []vuln.Finding {
	if len(cands) == 0 {
		return nil
	}
	group := make([]int, len(cands)) // union-find parents
	for i := range group {
		group[i] = i
	}
	root := func(i int) int {
		for group[i] != i {
			group[i] = group[group[i]]
			i = group[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, c := range cands {
		for _, id := range append([]string{c.rec.ID}, c.rec.Aliases...) {
			if j, ok := owner[id]; ok {
				group[root(i)] = root(j)
			} else {
				owner[id] = i
			}
		}
	}
	members := map[int][]int{}
	var roots []int
	for i := range cands {
		r := root(i)
		if _, ok := members[r]; !ok {
			roots = append(roots, r)
		}
		members[r] = append(members[r], i)
	}
	out := make([]vuln.Finding, 0, len(roots))
	for _, r := range roots {
		out = append(out, mergeGroup(ecosystem, cands, members[r]))
	}
	return out
}

// mergeGroup makes one finding of the candidates at idx.
func mergeGroup(ecosystem string, cands []candidate, idx []int) vuln.Finding {
	slices.SortFunc(idx, func(a, b int) int { return compareIDs(cands[a].rec.ID, cands[b].rec.ID) })
	first := cands[idx[0]]
	f := vuln.Finding{ID: first.rec.ID, Summary: first.rec.Summary, FixedVersion: first.fixed}
	ids := map[string]bool{}
	for _, i := range idx {
		c := cands[i]
		ids[c.rec.ID] = true
		for _, a := range c.rec.Aliases {
			ids[a] = true
		}
		f.Severity = max(f.Severity, c.severity)
		f.CVSS = max(f.CVSS, c.cvss)
		if f.Summary == "" {
			f.Summary = c.rec.Summary
		}
		if c.fixed != "" && (f.FixedVersion == "" || laterVersion(ecosystem, c.fixed, f.FixedVersion)) {
			f.FixedVersion = c.fixed
		}
	}
	delete(ids, f.ID)
	for id := range ids {
		f.Aliases = append(f.Aliases, id)
	}
	slices.Sort(f.Aliases)
	return f
}

// compareIDs orders record ids so that a finding is named by a record of
// the package's own database rather than a bare CVE: CVE ids sort last,
// the rest by text.
func compareIDs(a, b string) int {
	ca, cb := isCVE(a), isCVE(b)
	switch {
	case ca && !cb:
		return 1
	case cb && !ca:
		return -1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isCVE(id string) bool { return len(id) > 4 && id[:4] == "CVE-" }

// laterVersion reports whether version a is above b in the ecosystem's
// ordering (by text when it has none).
func laterVersion(ecosystem, a, b string) bool {
	va, err := semantic.Parse(a, ecosystem)
	if err != nil {
		return a > b
	}
	c, err := va.CompareStr(b)
	if err != nil {
		return a > b
	}
	return c > 0
}
