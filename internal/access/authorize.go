package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Authorize returns those of wanted that p may take on repository repo (a
// full name), in the order of Actions. A push (Push in wanted) to a project
// that does not exist creates it — private, with p as its project admin —
// when the AutoCreate policy allows p (robots never), and then decides
// again; without a project, nobody may push. Project facts are cached per (project, principal) for at most 2 s.
func (s *Service) Authorize(ctx context.Context, p Principal, repo string, wanted []Action) ([]Action, error) {
	project := ProjectOf(repo)
	facts, err := s.loadFacts(ctx, p, project)
	if err != nil {
		return nil, fmt.Errorf("authorize %s on %s: %w", p, repo, err)
	}
	if facts.Project == nil && slices.Contains(wanted, Push) && s.mayAutoCreate(p) {
		if err := s.autoCreate(ctx, p, project); err != nil {
			return nil, fmt.Errorf("authorize %s on %s: %w", p, repo, err)
		}
		if facts, err = s.loadFacts(ctx, p, project); err != nil {
			return nil, fmt.Errorf("authorize %s on %s: %w", p, repo, err)
		}
	}
	granted := s.decide(p, facts, repo)
	var out []Action
	for _, a := range granted {
		// Repositories live in projects: nobody pushes outside one, not
		// even a system administrator when auto-create is off.
		if a == Push && facts.Project == nil {
			continue
		}
		if slices.Contains(wanted, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// RepoFilter returns a predicate for catalog listing: true for the
// repositories p may List (or, for robots, Pull: a pull-only robot sees what
// it can pull). The predicate loads each project's facts once and memoises
// them for its own life; it is safe for concurrent use. A project whose
// facts cannot be loaded is filtered out (and logged).
func (s *Service) RepoFilter(ctx context.Context, p Principal) func(repo string) bool {
	var mu sync.Mutex
	memo := map[string]ProjectFacts{}
	return func(repo string) bool {
		project := ProjectOf(repo)
		mu.Lock()
		facts, ok := memo[project]
		if !ok {
			var err error
			facts, err = s.loadFacts(ctx, p, project)
			if err != nil {
				s.log.WarnContext(ctx, "catalog filter: cannot load project; hiding it", "project", project, "err", err)
				facts = ProjectFacts{}
			}
			memo[project] = facts
		}
		mu.Unlock()
		granted := s.decide(p, facts, repo)
		return Has(granted, List) || (p.Kind == RobotKind && Has(granted, Pull))
	}
}

// CanMountFrom reports whether p may pull from repository repo, the source
// of a cross-repository mount. An error loading facts counts as no.
func (s *Service) CanMountFrom(ctx context.Context, p Principal, repo string) bool {
	got, err := s.Authorize(ctx, p, repo, []Action{Pull})
	if err != nil {
		s.log.WarnContext(ctx, "mount source check failed; refusing the mount", "repository", repo, "err", err)
		return false
	}
	return Has(got, Pull)
}

// mayAutoCreate reports whether a push by p may create a project.
func (s *Service) mayAutoCreate(p Principal) bool {
	switch s.auto {
	case AutoCreateAdmins:
		return isSysAdmin(p)
	case AutoCreateUsers:
		return p.Kind == System || p.Kind == UserKind
	}
	return false
}

// autoCreate creates the private project name for a push by p, with p (a
// user) as its project admin. A project created meanwhile by someone else
// is not an error; an invalid name creates nothing (the push is then denied).
func (s *Service) autoCreate(ctx context.Context, p Principal, name string) error {
	if validProjectName(name) != nil {
		return nil
	}
	err := s.createProject(ctx, p, name, false)
	if errdefs.IsAlreadyExists(err) {
		return nil // created meanwhile by someone else
	}
	s.record(ctx, p, "project.create", name, name, &err)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "created project on push", "project", name, "by", p.String())
	return nil
}

// loadFacts returns the facts of project for p, from the cache when fresh.
func (s *Service) loadFacts(ctx context.Context, p Principal, project string) (ProjectFacts, error) {
	key := factsKey{project: project, principal: factsPrincipal(p)}
	now := s.now()
	if f, ok := s.cache.get(key, now); ok {
		return f, nil
	}
	f, err := s.queryFacts(ctx, p, project)
	if err != nil {
		return ProjectFacts{}, err
	}
	s.cache.put(key, f, now)
	return f, nil
}

// queryFacts reads the facts of project for p from the store.
func (s *Service) queryFacts(ctx context.Context, p Principal, project string) (ProjectFacts, error) {
	proj, err := s.store.GetProject(ctx, project)
	if errdefs.IsNotFound(err) {
		return ProjectFacts{}, nil
	}
	if err != nil {
		return ProjectFacts{}, fmt.Errorf("load project %q: %w", project, err)
	}
	facts := ProjectFacts{Project: proj}
	if p.Kind != UserKind {
		return facts, nil
	}
	roles, err := s.store.RolesOf(ctx, p.Name, p.Groups)
	if err != nil {
		return ProjectFacts{}, fmt.Errorf("load roles of %s: %w", p.Name, err)
	}
	for _, r := range roles {
		if r.ProjectID == proj.ID && !slices.Contains(facts.Roles, Role(r.Role)) {
			facts.Roles = append(facts.Roles, Role(r.Role))
		}
	}
	return facts, nil
}

// factsPrincipal names what, of p, the facts depend on: a user's name and
// groups; for other kinds only the kind (their facts are the project row).
func factsPrincipal(p Principal) string {
	if p.Kind != UserKind {
		return string(p.Kind)
	}
	groups := slices.Clone(p.Groups)
	slices.Sort(groups)
	return "user\x00" + p.Name + "\x00" + strings.Join(groups, "\x00")
}

// factsKey identifies cached facts.
type factsKey struct{ project, principal string }

type factsEntry struct {
	facts ProjectFacts
	at    time.Time
}

// factsCache keeps facts for a short time. It holds at most maxEntries;
// when full, expired entries are swept and, if that is not enough, all.
type factsCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[factsKey]factsEntry
}

const maxFactsEntries = 10000

func newFactsCache(ttl time.Duration) *factsCache {
	return &factsCache{ttl: ttl, m: map[factsKey]factsEntry{}}
}

func (c *factsCache) get(k factsKey, now time.Time) (ProjectFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return ProjectFacts{}, false
	}
	return e.facts, true
}

func (c *factsCache) put(k factsKey, f ProjectFacts, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxFactsEntries {
		for key, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, key)
			}
		}
		if len(c.m) >= maxFactsEntries {
			clear(c.m)
		}
	}
	c.m[k] = factsEntry{facts: f, at: now}
}

func (c *factsCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
