// Package cache decorates a meta.Store with an in-memory cache of the reads
// on the pull path: repositories by name, and manifests by tag and by
// digest. A manifest HEAD or GET that hits the cache touches no database.
//
// Correctness rests on two rules:
//   - every write that can change a cached answer (a tag set or deleted, a
//     manifest deleted) invalidates it after its transaction commits and
//     before the write returns, so a client that got an answer to its write
//     never reads the old value from this process;
//   - a read that raced a write cannot put a stale answer back: readers note
//     the cache generation before reading the database and only fill the
//     cache if no invalidation happened meanwhile.
//
// When other processes write to the same database (replicas sharing
// PostgreSQL), a notification of their writes always arrives after they
// answered their client, so no answer that can change may come from memory:
// a client that moved a tag through one replica and reads it through
// another must see the move. In that shared mode (Options.Shared) the cache
// keeps only what cannot change: repository IDs (repositories are never
// renamed or reused) and manifest bytes by digest (a digest names its
// bytes). Every tag resolution and existence check goes to the database;
// the cache only saves fetching the bytes again. Invalidate, fed by the
// database's change feed, then merely frees the bytes of deleted manifests
// early. Single-process mode caches whole answers, with a TTL as a safety
// net.
//
// Access-control data (users, projects, members, robots, signing keys, the
// audit log) is never cached: those calls go straight to the wrapped store,
// so a revoked robot or removed member takes effect at once on every
// replica.
package cache

import (
	"context"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Options tune the cache.
type Options struct {
	// MaxBytes bounds the manifest bytes held. Zero means 64 MiB.
	MaxBytes int64
	// MaxContent is the largest manifest whose content is cached; larger
	// ones are cached without content. Zero means 256 KiB.
	MaxContent int64
	// TTL is how long an entry is trusted. Zero means 30 seconds.
	TTL time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Shared says other processes write to the same database: only
	// immutable data is cached (see the package comment).
	Shared bool
}

// Store is a caching meta.Store. The Content of a manifest it returns may be
// shared with the cache: callers must not modify it.
type Store struct {
	meta.Store
	opts Options

	mu        sync.Mutex
	gen       uint64
	repos     map[string]repoEntry
	tagged    map[tagKey]manifestEntry
	byDigest  map[digestKey]manifestEntry
	content   map[digest.Digest][]byte // shared mode: manifest bytes by digest
	usedBytes int64
}

type tagKey struct {
	repo int64
	tag  string
}

type digestKey struct {
	repo int64
	dgst digest.Digest
}

type repoEntry struct {
	r       meta.Repository
	expires time.Time
}

type manifestEntry struct {
	m       *meta.Manifest // Content is nil when too large to cache
	expires time.Time
}

var _ meta.Store = (*Store)(nil)

// New wraps s.
func New(s meta.Store, opts Options) *Store {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxContent <= 0 {
		opts.MaxContent = 256 << 10
	}
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Store{Store: s, opts: opts}
	c.reset()
	return c
}

func (c *Store) reset() {
	c.repos = make(map[string]repoEntry)
	c.tagged = make(map[tagKey]manifestEntry)
	c.byDigest = make(map[digestKey]manifestEntry)
	c.content = make(map[digest.Digest][]byte)
	c.usedBytes = 0
}

// Invalidate drops the cached answers the changes name, and stops any read
// that started before from filling the cache.
func (c *Store) Invalidate(changes ...meta.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, ch := range changes {
		switch {
		case ch.Tag != "":
			c.dropTag(tagKey{ch.RepositoryID, ch.Tag})
		case ch.Digest != "":
			if b, ok := c.content[ch.Digest]; ok {
				c.usedBytes -= int64(len(b))
				delete(c.content, ch.Digest)
			}
			k := digestKey{ch.RepositoryID, ch.Digest}
			if e, ok := c.byDigest[k]; ok {
				c.usedBytes -= int64(len(e.m.Content))
				delete(c.byDigest, k)
			}
			// Tags pointing at it are deleted (and invalidated) by the
			// same transaction; drop any tag entry naming it anyway.
			for tk, e := range c.tagged {
				if tk.repo == ch.RepositoryID && e.m.Digest == ch.Digest {
					c.dropTag(tk)
				}
			}
		}
	}
}

// InvalidateAll forgets everything (when changes may have been missed).
func (c *Store) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.reset()
}

// Follow applies the changes feed reports until ctx ends. Run it in its
// own goroutine when the backend is shared with other processes.
func (c *Store) Follow(ctx context.Context, feed meta.ChangeFeed) error {
	return feed.WatchChanges(ctx, func(changes []meta.Change, lost bool) {
		if lost {
			c.InvalidateAll()
			return
		}
		c.Invalidate(changes...)
	})
}

func (c *Store) dropTag(k tagKey) {
	if e, ok := c.tagged[k]; ok {
		c.usedBytes -= int64(len(e.m.Content))
		delete(c.tagged, k)
	}
}

// generation returns the current generation, read before a database read.
func (c *Store) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// GetRepository answers from the cache when it can.
func (c *Store) GetRepository(ctx context.Context, name string) (*meta.Repository, error) {
	now := c.opts.Now()
	c.mu.Lock()
	e, ok := c.repos[name]
	c.mu.Unlock()
	// Repositories are never renamed, deleted or reused, so a cached ID
	// stays right in every mode; the TTL only bounds memory of unused names.
	if ok && now.Before(e.expires) {
		r := e.r
		return &r, nil
	}
	gen := c.generation()
	r, err := c.Store.GetRepository(ctx, name)
	if err == nil {
		c.putRepo(gen, r)
	}
	return r, err
}

// EnsureRepository creates or returns the repository and caches it.
func (c *Store) EnsureRepository(ctx context.Context, name string) (*meta.Repository, error) {
	gen := c.generation()
	r, err := c.Store.EnsureRepository(ctx, name)
	if err == nil {
		c.putRepo(gen, r)
	}
	return r, err
}

func (c *Store) putRepo(gen uint64, r *meta.Repository) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.repos[r.Name] = repoEntry{r: *r, expires: c.opts.Now().Add(c.opts.TTL)}
	}
}

// GetTaggedManifest answers from the cache when it can.
func (c *Store) GetTaggedManifest(ctx context.Context, repoID int64, tag string, withContent bool) (*meta.Manifest, error) {
	if c.opts.Shared {
		m, err := c.Store.GetTaggedManifest(ctx, repoID, tag, false)
		if err != nil || !withContent {
			return m, err
		}
		return c.addContent(ctx, m)
	}
	k := tagKey{repoID, tag}
	if m, ok := c.lookup(func() (manifestEntry, bool) { e, ok := c.tagged[k]; return e, ok }, withContent); ok {
		return m, nil
	}
	gen := c.generation()
	m, err := c.Store.GetTaggedManifest(ctx, repoID, tag, withContent)
	if err == nil {
		c.fill(gen, m, withContent, func(e manifestEntry) int64 { return swap(c.tagged, k, e) })
	}
	return m, err
}

// GetManifest answers from the cache when it can.
func (c *Store) GetManifest(ctx context.Context, repoID int64, dgst digest.Digest, withContent bool) (*meta.Manifest, error) {
	if c.opts.Shared {
		m, err := c.Store.GetManifest(ctx, repoID, dgst, false)
		if err != nil || !withContent {
			return m, err
		}
		return c.addContent(ctx, m)
	}
	k := digestKey{repoID, dgst}
	if m, ok := c.lookup(func() (manifestEntry, bool) { e, ok := c.byDigest[k]; return e, ok }, withContent); ok {
		return m, nil
	}
	gen := c.generation()
	m, err := c.Store.GetManifest(ctx, repoID, dgst, withContent)
	if err == nil {
		c.fill(gen, m, withContent, func(e manifestEntry) int64 { return swap(c.byDigest, k, e) })
	}
	return m, err
}

// addContent fills in m's bytes from the content cache, or reads them (and
// caches them when small enough). The bytes of a digest never change, so
// they are shared by every repository and replica.
func (c *Store) addContent(ctx context.Context, m *meta.Manifest) (*meta.Manifest, error) {
	c.mu.Lock()
	b, ok := c.content[m.Digest]
	c.mu.Unlock()
	if ok {
		m.Content = b
		return m, nil
	}
	full, err := c.Store.GetManifest(ctx, m.RepositoryID, m.Digest, true)
	if err != nil {
		return nil, err // deleted between the two reads: as if it were gone
	}
	if size := int64(len(full.Content)); size <= c.opts.MaxContent {
		c.mu.Lock()
		if c.usedBytes+size > c.opts.MaxBytes {
			c.reset()
		}
		if _, ok := c.content[full.Digest]; !ok {
			c.content[full.Digest] = full.Content
			c.usedBytes += size
		}
		c.mu.Unlock()
	}
	return full, nil
}

// lookup returns a copy of a live entry that can answer the request.
func (c *Store) lookup(get func() (manifestEntry, bool), withContent bool) (*meta.Manifest, bool) {
	now := c.opts.Now()
	c.mu.Lock()
	e, ok := get()
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) || (withContent && e.m.Content == nil) {
		return nil, false
	}
	m := *e.m
	if !withContent {
		m.Content = nil
	}
	return &m, true
}

// fill caches m unless the generation moved since the read began. Content
// is kept only when read and small enough.
func (c *Store) fill(gen uint64, m *meta.Manifest, withContent bool, put func(manifestEntry) int64) {
	cp := *m
	if !withContent || int64(len(cp.Content)) > c.opts.MaxContent {
		cp.Content = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	size := int64(len(cp.Content))
	if c.usedBytes+size > c.opts.MaxBytes {
		// Simple and bounded: start over rather than track recency.
		c.reset()
	}
	c.usedBytes += size - put(manifestEntry{m: &cp, expires: c.opts.Now().Add(c.opts.TTL)})
}

// swap stores e under k and returns the content size of the entry it
// replaced.
func swap[K comparable](m map[K]manifestEntry, k K, e manifestEntry) int64 {
	old, ok := m[k]
	m[k] = e
	if !ok {
		return 0
	}
	return int64(len(old.m.Content))
}
