package meta

import (
	"context"
	"time"
)

// ImmutabilityRule is a stored tag immutability rule of a project, or a
// system-wide one (ProjectID 0). What the patterns mean is package policy's
// business; the store keeps them as given, in order.
type ImmutabilityRule struct {
	ID int64
	// ProjectID is the project the rule belongs to, 0 for a system-wide
	// rule.
	ProjectID int64
	// Repositories are repository patterns (empty: every repository).
	Repositories []string
	// Tags are tag patterns, '!' marking an exclusion.
	Tags      []string
	CreatedAt time.Time
	// CreatedBy names who added it ("" for the system).
	CreatedBy string
}

// ImmutabilityStore stores tag immutability rules. It is an optional
// ability of a Store, found with ImmutabilityOf; the SQLite and PostgreSQL
// backends have it.
type ImmutabilityStore interface {
	// PutImmutabilityRule stores a new rule r and sets r.ID and
	// r.CreatedAt (now when zero, else as given, at the precision the
	// store keeps); ErrNotFound if r.ProjectID names no project. IDs are
	// unique across projects and grow with each rule added.
	PutImmutabilityRule(ctx context.Context, r *ImmutabilityRule) error
	// DeleteImmutabilityRule removes rule id of project projectID (0:
	// system-wide); ErrNotFound if that project has no such rule.
	DeleteImmutabilityRule(ctx context.Context, projectID, id int64) error
	// ListImmutabilityRules returns the rules of project projectID (0:
	// the system-wide ones, not those of every project), oldest first.
	ListImmutabilityRules(ctx context.Context, projectID int64) ([]ImmutabilityRule, error)
}

// Unwrapper is a Store that decorates another (such as the pull-path
// cache); ImmutabilityOf and similar finders look through it for optional
// abilities the decorator does not add itself.
type Unwrapper interface {
	// Unwrap returns the decorated store.
	Unwrap() Store
}

// ImmutabilityOf returns the ImmutabilityStore of s, looking through
// decorators that implement Unwrapper, and whether s has one.
func ImmutabilityOf(s Store) (ImmutabilityStore, bool) {
	for s != nil {
		if is, ok := s.(ImmutabilityStore); ok {
			return is, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
