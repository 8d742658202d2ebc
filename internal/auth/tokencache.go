package auth

import (
	"sync"
	"time"
)

// tokenCacheSize bounds the verified-token cache. Each entry holds a token
// string (~0.5–1 KiB) and its claims, so the cache stays around 10 MiB.
const tokenCacheSize = 10_000

// tokenCache remembers verified access tokens until they expire, so that
// the hot path (a HEAD of a manifest at thousands of requests a second, each
// with the same Bearer token) costs a map lookup instead of an ECDSA
// verification. Only tokens that passed every check are stored, keyed by
// their exact bytes, so a hit is as good as a verification.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	entries map[string]cachedToken
}

type cachedToken struct {
	claims *Claims
	exp    time.Time
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{max: size, entries: make(map[string]cachedToken)}
}

// get returns the claims of raw if it is cached and not expired at now.
func (c *tokenCache) get(raw string, now time.Time) *Claims {
	c.mu.RLock()
	e, ok := c.entries[raw]
	c.mu.RUnlock()
	if !ok || !now.Before(e.exp) {
		return nil
	}
	return e.claims
}

// put stores the claims of raw until exp. When the cache is full it first
// drops expired entries, then arbitrary ones (a tenth of the cache), which
// only costs their holders one more verification.
func (c *tokenCache) put(raw string, claims *Claims, exp, now time.Time) {
	if !now.Before(exp) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max-c.max/10 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[raw] = cachedToken{claims: claims, exp: exp}
}

// size returns the number of cached tokens.
func (c *tokenCache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
