package cache

import "github.com/berth-registry/berth/internal/meta"

var _ meta.QuerierUnwrapper = (*txQuerier)(nil)

// UnwrapQuerier returns the backend's transaction Querier, so that the
// registry finds its optional abilities (meta.QuotaTxOf) inside a
// transaction of the cache. Those are reads and locks: nothing the cache
// must invalidate.
func (q *txQuerier) UnwrapQuerier() meta.Querier { return q.Querier }
