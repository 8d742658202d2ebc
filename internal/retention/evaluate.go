package retention

import (
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// unit is one thing rules decide: a tag, or an untagged manifest that
// nothing in the snapshot refers to (an untagged child or referrer is no
// unit: it follows what refers to it).
type unit struct {
	tag    string // "" for an untagged manifest
	tagIdx int    // index in Snapshot.Tags, -1 for an untagged manifest
	m      *mstate
	// age is the later of the tag's SetAt and the manifest's push.
	age    time.Time
	setNew bool // age comes from SetAt (a later tag set than the push)

	decided bool
	delete  bool
	rule    int
	reason  string
	// retainRule and retainReason remember the first retain rule whose
	// scope and selection took the unit without keeping it.
	retainRule   int
	retainReason string
}

// pulledAt is when the unit was last used: its last pull, or its age when
// that is later (a push or a promotion counts as a use) or it was never
// pulled.
func (u *unit) pulledAt() time.Time {
	if u.m.info.LastPulledAt.After(u.age) {
		return u.m.info.LastPulledAt
	}
	return u.age
}

// mstate is one manifest of the snapshot during evaluation.
type mstate struct {
	info      *ManifestInfo
	stub      bool // named by a tag but absent from Snapshot.Manifests
	tags      []int
	dependent bool // a child of a manifest of the snapshot, or a referrer of one
	referrers []*mstate
	children  []*mstate
	parents   []*mstate // indexes naming it and its subject, for reasons
	live      bool
	why       string // why it stays (live) or goes
	unit      *unit  // its untagged unit, if it is one

	// Scratch space of the rule being applied (see rank).
	stamp  int
	rankAt time.Time
	rank   int
}

// Evaluate applies p to one repository and returns the plan; see the
// package doc for the semantics. p should have passed Validate: a rule that
// did not (a regular expression that does not compile) selects less. A
// policy with no rule that applies to the repository keeps everything.
// Evaluate runs in O(n log n) in the tags and manifests of s and does not
// modify p or s.
func Evaluate(p *Policy, s *Snapshot, o Options) *Plan {
	e := newEvaluation(s, o)
	for i, r := range sortedRules(p) {
		c := compileRule(&r)
		if !c.inScope(s.Project, s.Repository) {
			continue
		}
		e.apply(&c, i+1)
	}
	e.finishUnits()
	e.markLive()
	return e.plan()
}

type evaluation struct {
	s      *Snapshot
	o      Options
	ms     map[digest.Digest]*mstate
	units  []*unit
	cosign map[digest.Digest][]int // subject → cosign-style tags (indexes) that follow it
	tagDec []Decision              // by index in s.Tags
}

func newEvaluation(s *Snapshot, o Options) *evaluation {
	e := &evaluation{
		s:      s,
		o:      o,
		ms:     make(map[digest.Digest]*mstate, len(s.Manifests)),
		cosign: make(map[digest.Digest][]int),
		tagDec: make([]Decision, len(s.Tags)),
	}
	for i := range s.Manifests {
		e.ms[s.Manifests[i].Digest] = &mstate{info: &s.Manifests[i]}
	}
	e.link()
	e.buildUnits()
	return e
}

// link records the edges between the manifests of the snapshot.
func (e *evaluation) link() {
	for i := range e.s.Manifests {
		m := e.ms[e.s.Manifests[i].Digest]
		for _, d := range m.info.Children {
			if c, ok := e.ms[d]; ok && c != m {
				c.dependent = true
				c.parents = append(c.parents, m)
				m.children = append(m.children, c)
			}
		}
		if subj, ok := e.ms[m.info.Subject]; ok && subj != m {
			m.dependent = true
			m.parents = append(m.parents, subj)
			subj.referrers = append(subj.referrers, m)
		}
	}
}

// buildUnits makes a unit of every tag (but cosign-style tags whose subject
// is in the snapshot: they follow it) and of every untagged manifest that
// nothing in the snapshot refers to.
func (e *evaluation) buildUnits() {
	for i := range e.s.Tags {
		t := &e.s.Tags[i]
		m := e.ms[t.Digest]
		if m == nil {
			m = &mstate{info: &ManifestInfo{Digest: t.Digest}, stub: true}
			e.ms[t.Digest] = m
		}
		m.tags = append(m.tags, i)
		e.tagDec[i] = Decision{Tag: t.Name, Digest: t.Digest}
		if subj, ok := cosignSubject(t.Name); ok && e.ms[subj] != nil && !e.ms[subj].stub {
			e.cosign[subj] = append(e.cosign[subj], i)
			continue
		}
		u := &unit{tag: t.Name, tagIdx: i, m: m, age: m.info.PushedAt}
		if t.SetAt.After(u.age) {
			u.age, u.setNew = t.SetAt, true
		}
		e.units = append(e.units, u)
	}
	for i := range e.s.Manifests {
		m := e.ms[e.s.Manifests[i].Digest]
		if len(m.tags) == 0 && !m.dependent {
			m.unit = &unit{tagIdx: -1, m: m, age: m.info.PushedAt}
			e.units = append(e.units, m.unit)
		}
	}
}

// apply walks one rule (in priority order) over the units it selects.
func (e *evaluation) apply(c *compiledRule, stamp int) {
	var selected []*unit
	for _, u := range e.units {
		if c.selects(u) {
			selected = append(selected, u)
		}
	}
	if len(selected) == 0 {
		return
	}
	// The criterion looks at every unit the rule selects, decided or not,
	// as ECR and Harbor do; the walk then lets only undecided ones take
	// the rule's verdict.
	keep, detail := judge(c.Rule, selected, e.o.Now, stamp)
	retain := c.action() == Retain
	prefix := "rule " + itoa(c.Priority) + " (" + c.criterion() + "): "
	for i, u := range selected {
		if u.decided || (retain && !keep[i] && u.retainRule != 0) {
			continue
		}
		reason := prefix + detail(i)
		switch {
		case !retain:
			u.decided, u.delete, u.rule, u.reason = true, !keep[i], c.Priority, reason
		case keep[i]:
			u.decided, u.rule, u.reason = true, c.Priority, reason
		case u.retainRule == 0:
			u.retainRule, u.retainReason = c.Priority, reason
		}
	}
}

// finishUnits settles the units no rule decided and applies tag
// immutability to the tags that would go.
func (e *evaluation) finishUnits() {
	for _, u := range e.units {
		if !u.decided {
			u.decided = true
			if u.retainRule != 0 {
				u.delete, u.rule = true, u.retainRule
				u.reason = "not retained by any rule; " + u.retainReason
			} else {
				u.reason = "no rule selects it"
			}
		}
		if u.tagIdx < 0 {
			continue
		}
		if u.delete {
			if rule, ok := e.immutable(u.tag); ok {
				u.delete = false
				u.reason = "immutable (" + rule + "); " + u.reason
			}
		}
		e.tagDec[u.tagIdx].Delete, e.tagDec[u.tagIdx].Rule, e.tagDec[u.tagIdx].Reason = u.delete, u.rule, u.reason
	}
}

func (e *evaluation) immutable(tag string) (string, bool) {
	if e.o.Immutable == nil {
		return "", false
	}
	return e.o.Immutable(tag)
}

// markLive marks every manifest that stays: those a kept tag or a kept
// untagged unit names, then the children and referrers of what stays, and
// the manifests of cosign-style tags whose subject stays. What is not
// marked goes.
func (e *evaluation) markLive() {
	var work []*mstate
	mark := func(m *mstate, why string) {
		if !m.live {
			m.live, m.why = true, why
			work = append(work, m)
		}
	}
	for _, u := range e.units {
		if u.delete {
			continue
		}
		if u.tagIdx < 0 {
			mark(u.m, u.reason)
		} else {
			mark(u.m, "")
		}
	}
	for _, idxs := range e.cosign {
		for _, i := range idxs {
			if rule, ok := e.immutable(e.s.Tags[i].Name); ok {
				e.tagDec[i].Reason = "immutable (" + rule + ")"
				mark(e.ms[e.s.Tags[i].Digest], "")
			}
		}
	}
	for len(work) > 0 {
		m := work[len(work)-1]
		work = work[:len(work)-1]
		for _, c := range m.children {
			mark(c, "child of kept index "+string(m.info.Digest))
		}
		for _, r := range m.referrers {
			mark(r, "referrer of kept "+string(m.info.Digest))
		}
		for _, i := range e.cosign[m.info.Digest] {
			if e.tagDec[i].Reason == "" {
				e.tagDec[i].Reason = "signature of kept " + string(m.info.Digest)
			}
			mark(e.ms[e.s.Tags[i].Digest], "")
		}
	}
	for subj, idxs := range e.cosign {
		if e.ms[subj].live {
			continue
		}
		for _, i := range idxs {
			if e.tagDec[i].Reason == "" {
				e.tagDec[i].Delete = true
				e.tagDec[i].Reason = "signature of " + string(subj) + ", which goes"
			}
		}
	}
}

// plan assembles the decisions in their documented order.
func (e *evaluation) plan() *Plan {
	p := &Plan{Repository: e.s.Repository, Tags: append([]Decision(nil), e.tagDec...)}
	slices.SortStableFunc(p.Tags, func(a, b Decision) int { return strings.Compare(a.Tag, b.Tag) })
	for i := range e.s.Manifests {
		m := e.ms[e.s.Manifests[i].Digest]
		if !e.untaggedAfter(m) {
			continue
		}
		d := Decision{Digest: m.info.Digest, Delete: !m.live, Reason: m.why}
		if m.unit != nil {
			d.Rule = m.unit.rule
			d.Reason = m.unit.reason
		}
		if d.Delete {
			p.DeleteBytes += m.info.Size
			if m.unit == nil {
				d.Reason = e.goneReason(m)
			}
		} else if d.Reason == "" {
			d.Reason = "kept"
		}
		p.Manifests = append(p.Manifests, d)
	}
	slices.SortFunc(p.Manifests, func(a, b Decision) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return p
}

// untaggedAfter reports whether m has no tag left once the plan is done.
func (e *evaluation) untaggedAfter(m *mstate) bool {
	for _, i := range m.tags {
		if !e.tagDec[i].Delete {
			return false
		}
	}
	return true
}

// goneReason explains why a manifest that was no unit goes.
func (e *evaluation) goneReason(m *mstate) string {
	prefix := ""
	if len(m.tags) > 0 {
		prefix = "its tags go; "
	}
	if len(m.parents) > 0 {
		p := m.parents[0]
		if m.info.Subject == p.info.Digest {
			return prefix + "referrer of " + string(p.info.Digest) + ", which goes"
		}
		return prefix + "child of " + string(p.info.Digest) + ", which goes"
	}
	return prefix + "no kept tag, index or subject refers to it"
}
