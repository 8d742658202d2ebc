package registry

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/policy"
)

// rulesTTL is how long the immutability rules of a project are reused, as
// access facts are: a rule added or removed takes effect within it.
const rulesTTL = 2 * time.Second

// immutability finds and caches the tag immutability rules of projects.
// The zero value is ready: it finds the store's meta.ImmutabilityStore on
// first use (a store without one has no rules).
type immutability struct {
	once  sync.Once
	store meta.ImmutabilityStore

	mu      sync.Mutex
	entries map[string]rulesEntry // by project name; "" holds the system rules
}

type rulesEntry struct {
	rules   []policy.Rule
	expires time.Time
}

// ruleSet is what applies to one repository: its project's rules (with
// patterns relative to the project) and the system-wide ones (with
// patterns on the full name).
type ruleSet struct {
	repo         string
	relative     string
	project, sys []policy.Rule
}

// match returns the rule that makes tag immutable, or nil.
func (rs ruleSet) match(tag string) *policy.Rule {
	if r, ok := policy.Match(rs.project, rs.relative, tag); ok {
		return r
	}
	if r, ok := policy.Match(rs.sys, rs.repo, tag); ok {
		return r
	}
	return nil
}

// deny is the refusal to move or delete tag because of rule r.
func (rs ruleSet) deny(tag string, r *policy.Rule) error {
	return errdefs.Denied("tag %s of %s is immutable (%s)", tag, rs.repo, r)
}

// check returns a refusal if tag is immutable, nil if it is not.
func (rs ruleSet) check(tag string) error {
	if r := rs.match(tag); r != nil {
		return rs.deny(tag, r)
	}
	return nil
}

// immutableRules returns the rules that apply to repository repo, from a
// cache at most rulesTTL old. Rules that cannot be read fail the caller
// (ErrUnavailable from the store): a tag is never moved on a guess.
func (s *Service) immutableRules(ctx context.Context, repo string) (ruleSet, error) {
	imm := &s.immutable
	imm.once.Do(func() { imm.store, _ = meta.ImmutabilityOf(s.meta) })
	project := access.ProjectOf(repo)
	rs := ruleSet{repo: repo, relative: strings.TrimPrefix(strings.TrimPrefix(repo, project), "/")}
	if imm.store == nil {
		return rs, nil
	}
	var err error
	if rs.sys, err = s.cachedRules(ctx, ""); err != nil {
		return rs, err
	}
	if rs.project, err = s.cachedRules(ctx, project); err != nil {
		return rs, err
	}
	return rs, nil
}

// cachedRules returns the rules of project ("" for the system-wide rules).
func (s *Service) cachedRules(ctx context.Context, project string) ([]policy.Rule, error) {
	imm := &s.immutable
	now := s.opts.Now()
	imm.mu.Lock()
	e, ok := imm.entries[project]
	imm.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.rules, nil
	}
	rules, err := s.loadRules(ctx, project)
	if err != nil {
		return nil, err
	}
	imm.mu.Lock()
	if imm.entries == nil {
		imm.entries = make(map[string]rulesEntry)
	}
	imm.entries[project] = rulesEntry{rules: rules, expires: now.Add(rulesTTL)}
	imm.mu.Unlock()
	return rules, nil
}

// loadRules reads the rules of project ("" for the system-wide rules) from
// the store; a project that does not exist has none.
func (s *Service) loadRules(ctx context.Context, project string) ([]policy.Rule, error) {
	var id int64
	if project != "" {
		p, err := s.meta.GetProject(ctx, project)
		if errdefs.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		id = p.ID
	}
	stored, err := s.immutable.store.ListImmutabilityRules(ctx, id)
	if err != nil {
		return nil, err
	}
	rules := make([]policy.Rule, 0, len(stored))
	for _, r := range stored {
		rules = append(rules, policy.Rule{ID: r.ID, Repositories: r.Repositories, Tags: r.Tags})
	}
	return rules, nil
}
