package s3

import (
	"container/list"
	"sync"

	"github.com/opencontainers/go-digest"
)

// indexEntry is what an index object says about a digest: the full key of
// its data object, the upload id that wrote it, and its size.
type indexEntry struct {
	key  string
	id   string
	size int64
}

// indexCache is a bounded LRU cache of digest→indexEntry. A mapping never
// changes while the blob exists (data keys are never reused), so an entry
// can only be stale after a Delete on another replica; Open detects that
// when the data object is missing and evicts the entry. Safe for
// concurrent use; a nil *indexCache caches nothing.
type indexCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheItem, most recently used first
	items map[digest.Digest]*list.Element
}

type cacheItem struct {
	dgst  digest.Digest
	entry indexEntry
}

// newIndexCache returns a cache of up to max entries, or nil if max < 1.
func newIndexCache(max int) *indexCache {
	if max < 1 {
		return nil
	}
	return &indexCache{max: max, order: list.New(), items: make(map[digest.Digest]*list.Element)}
}

// get returns the entry of dgst and whether there is one.
func (c *indexCache) get(dgst digest.Digest) (indexEntry, bool) {
	if c == nil {
		return indexEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[dgst]
	if !ok {
		return indexEntry{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheItem).entry, true
}

// put records the entry of dgst, evicting the least recently used entry
// beyond the bound.
func (c *indexCache) put(dgst digest.Digest, e indexEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[dgst]; ok {
		el.Value.(*cacheItem).entry = e
		c.order.MoveToFront(el)
		return
	}
	c.items[dgst] = c.order.PushFront(&cacheItem{dgst: dgst, entry: e})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheItem).dgst)
	}
}

// evict forgets dgst.
func (c *indexCache) evict(dgst digest.Digest) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[dgst]; ok {
		c.order.Remove(el)
		delete(c.items, dgst)
	}
}

// len returns the number of entries.
func (c *indexCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
