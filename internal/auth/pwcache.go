package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access"
)

// passwordCacheTTL is how long a successful password check is remembered.
const passwordCacheTTL = time.Minute

// passwordCacheSize bounds the password cache.
const passwordCacheSize = 10_000

// passwordCache remembers successful argon2id checks for a minute so that a
// client sending HTTP Basic on every request pays argon2id once a minute,
// not on every request. Entries are keyed by an HMAC of the user name and
// password under a key made at random when the process starts: the cache
// holds no password, nor anything that could be checked against a guess
// without that key. A hit stands for the whole login (the account is not
// read again), so Forget must drop a user's entries when the account changes.
type passwordCache struct {
	key     []byte
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedLogin
}

type cachedLogin struct {
	p   access.Principal
	exp time.Time
}

func newPasswordCache() *passwordCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+).
	return &passwordCache{key: key, entries: make(map[[sha256.Size]byte]cachedLogin)}
}

// id returns the cache key of a user name and password.
func (c *passwordCache) id(username, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// get returns the principal a login with username and password gave, if
// it succeeded less than a minute before now.
func (c *passwordCache) get(username, password string, now time.Time) (access.Principal, bool) {
	id := c.id(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return access.Principal{}, false
	}
	if !now.Before(e.exp) {
		delete(c.entries, id)
		return access.Principal{}, false
	}
	return e.p, true
}

// put remembers a successful login until now+passwordCacheTTL.
func (c *passwordCache) put(username, password string, p access.Principal, now time.Time) {
	id := c.id(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= passwordCacheSize {
		for k, e := range c.entries {
			if !now.Before(e.exp) || len(c.entries) >= passwordCacheSize {
				delete(c.entries, k)
			}
		}
	}
	c.entries[id] = cachedLogin{p: p, exp: now.Add(passwordCacheTTL)}
}

// forget drops every entry of the user called name.
func (c *passwordCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.p.Name == name {
			delete(c.entries, k)
		}
	}
}
