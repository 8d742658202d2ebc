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

// The lifecycle abilities (promotion records and pulls, quotas, retention)
// are found through the cache too: the server always wraps its store in it.
func TestLifecycleThroughCache(t *testing.T) {
	open := func(t *testing.T) meta.Store {
		return cache.New(openSQLite(t, filepath.Join(t.TempDir(), "m.db")), cache.Options{})
	}
	t.Run("Promotion", func(t *testing.T) { metatest.RunPromotion(t, open) })
	t.Run("Quota", func(t *testing.T) { metatest.RunQuota(t, open) })
	t.Run("Retention", func(t *testing.T) { metatest.RunRetention(t, open) })
}
