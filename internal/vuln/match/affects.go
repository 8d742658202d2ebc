package match

import (
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berth-registry/berth/internal/vuln/osv"
)

// parser reads a version in one ordering.
type parser func(string) (semantic.Version, error)

func semverParser(s string) (semantic.Version, error) { return semantic.ParseSemverVersion(s), nil }

func ecosystemParser(ecosystem string) parser {
	return func(s string) (semantic.Version, error) { return semantic.Parse(s, ecosystem) }
}

// installed is a package version prepared for comparing against ranges.
type installed struct {
	version string
	// eco and semver are the version parsed in the ecosystem's own ordering
	// and as semver; eco is nil when that ordering is unknown or the
	// version does not parse in it.
	eco, semver    semantic.Version
	parseEcosystem parser
}

// newInstalled prepares version of a package in ecosystem. A Go toolchain
// version ("go1.22.3", as build info spells the standard library's) is
// compared without its "go" prefix, as the Go vulnerability database lists
// stdlib versions.
func newInstalled(ecosystem, version string) *installed {
	if ecosystem == "Go" && strings.HasPrefix(version, "go") {
		version = strings.TrimPrefix(version, "go")
	}
	in := &installed{version: version, parseEcosystem: ecosystemParser(ecosystem)}
	if v, err := in.parseEcosystem(version); err == nil {
		in.eco = v
	}
	in.semver, _ = semverParser(version)
	return in
}

// affects reports whether the installed version is affected by entry a and,
// if so, the version that fixes it ("" when none is known). A version
// listed in a.Versions is affected; so is one inside an ECOSYSTEM or
// SEMVER range (GIT ranges name commits and match nothing here). An entry
// with neither ranges nor versions affects every version, as the schema
// says.
func (in *installed) affects(a *osv.Affected) (bool, string) {
	hit := slices.ContainsFunc(a.Versions, in.sameVersion)
	var fix string
	for _, rg := range a.Ranges {
		var (
			v     semantic.Version
			parse parser
		)
		switch rg.Type {
		case osv.RangeEcosystem:
			v, parse = in.eco, in.parseEcosystem
		case osv.RangeSemver:
			v, parse = in.semver, semverParser
		default:
			continue
		}
		if v == nil {
			continue
		}
		if ok, f := inRange(v, parse, rg.Events); ok {
			hit = true
			if fix == "" {
				fix = f
			}
		}
	}
	if hit {
		return true, fix
	}
	return len(a.Ranges) == 0 && len(a.Versions) == 0, ""
}

// sameVersion compares a listed version with the installed one as text,
// ignoring a leading "v" (Go module versions are listed without it).
func (in *installed) sameVersion(listed string) bool {
	return listed == in.version || strings.TrimPrefix(listed, "v") == strings.TrimPrefix(in.version, "v")
}

// The kinds of range event, in the order they sort at equal versions.
const (
	introduced = iota
	fixed
	lastAffected
	limit
)

// event is a range event with its version parsed; v is nil for
// introduced "0", which is below every version.
type event struct {
	kind int
	text string
	v    semantic.Version
}

func eventOf(e osv.Event) event {
	switch {
	case e.Introduced != "":
		return event{kind: introduced, text: e.Introduced}
	case e.Fixed != "":
		return event{kind: fixed, text: e.Fixed}
	case e.LastAffected != "":
		return event{kind: lastAffected, text: e.LastAffected}
	}
	return event{kind: limit, text: e.Limit}
}

// compare orders two parsed versions, nil (introduced "0") first; versions
// that cannot be compared count as equal.
func compare(a, b semantic.Version) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, err := a.Compare(b)
	if err != nil {
		return 0
	}
	return c
}

// inRange walks the events of one range in version order, as the OSV
// schema's evaluation algorithm does, and reports whether v is affected and
// the first fixed version above it. Events whose version does not parse
// are left out.
func inRange(v semantic.Version, parse parser, raw []osv.Event) (bool, string) {
	evs := make([]event, 0, len(raw))
	for _, r := range raw {
		e := eventOf(r)
		if e.kind != introduced || e.text != "0" {
			pv, err := parse(e.text)
			if err != nil {
				continue
			}
			e.v = pv
		}
		evs = append(evs, e)
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		if c := compare(a.v, b.v); c != 0 {
			return c
		}
		return a.kind - b.kind
	})
	affected := false
	for _, e := range evs {
		c := compare(v, e.v)
		switch e.kind {
		case introduced:
			if c < 0 {
				return affected, ""
			}
			affected = true
		case fixed, limit:
			if c < 0 {
				if affected && e.kind == fixed {
					return true, e.text
				}
				return affected, ""
			}
			affected = false
		case lastAffected:
			if c <= 0 {
				return affected, ""
			}
			affected = false
		}
	}
	return affected, ""
}
