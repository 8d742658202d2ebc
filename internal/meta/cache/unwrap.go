package cache

import "github.com/berth-registry/berth/internal/meta"

var _ meta.Unwrapper = (*Store)(nil)

// Unwrap returns the wrapped store, so that callers can find the optional
// abilities of the backend (meta.ImmutabilityOf) that the cache passes
// through untouched.
func (c *Store) Unwrap() meta.Store { return c.Store }
