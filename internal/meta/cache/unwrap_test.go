package cache_test

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/cache"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// Immutability rules are found through the cache and never cached by it.
func TestImmutabilityThroughCache(t *testing.T) {
	metatest.RunImmutability(t, func(t *testing.T) meta.Store {
		return cache.New(openSQLite(t, filepath.Join(t.TempDir(), "m.db")), cache.Options{})
	})
}
