package auth

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// quiet discards log lines.
var quiet = slog.New(slog.DiscardHandler)

// clock is a settable clock for the Now options.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newStore opens a SQLite metadata store in a temporary directory.
func newStore(t *testing.T) meta.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newTokens starts a token service on store with clk and the given
// overrides of the default options.
func newTokens(t *testing.T, store meta.SigningKeys, clk *clock, opts TokenOptions) *TokenService {
	t.Helper()
	opts.Now, opts.Logger = clk.Now, quiet
	ts, err := NewTokenService(context.Background(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// unretired returns the ids of the store's keys that are not retired.
func unretired(t *testing.T, store meta.SigningKeys) []string {
	t.Helper()
	keys, err := store.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			ids = append(ids, k.ID)
		}
	}
	return ids
}
