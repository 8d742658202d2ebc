package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/cache"
)

// readyFeed reports, on ready, the first time the feed it wraps is in
// place.
type readyFeed struct {
	meta.ChangeFeed
	ready chan struct{}
}

func (f readyFeed) WatchChanges(ctx context.Context, fn func([]meta.Change, bool)) error {
	first := true
	return f.ChangeFeed.WatchChanges(ctx, func(changes []meta.Change, lost bool) {
		fn(changes, lost)
		if first {
			first = false
			close(f.ready)
		}
	})
}

// follow runs c.Follow(s) until the test ends, once the feed is in place.
func follow(t *testing.T, c *cache.Store, s *Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	feed := readyFeed{ChangeFeed: s, ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- c.Follow(ctx, feed) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Follow: %v", err)
		}
	})
	select {
	case <-feed.ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the change feed did not start within 20s")
	}
}

// Two replicas, each with its cache following the change feed: a tag moved
// or deleted through one is seen by the other once the notification
// arrives, long before the cache's TTL (an hour) would expire it.
func TestCachesFollowEachOther(t *testing.T) {
	ctx := t.Context()
	a, b, repo, m := replicas(t, 2)
	ca := cache.New(a, cache.Options{TTL: time.Hour})
	cb := cache.New(b, cache.Options{TTL: time.Hour})
	follow(t, ca, a)
	follow(t, cb, b)
	if _, err := ca.PutTag(ctx, repo, "latest", m[0]); err != nil {
		t.Fatal(err)
	}
	// eventually polls b's cache until the tag reads want ("" for absent).
	eventually := func(what string, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := ""
			mf, err := cb.GetTaggedManifest(ctx, repo, "latest", false)
			if err == nil {
				got = string(mf.Digest)
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: replica b still reads %q (err %v) after 20s, want %q", what, got, err, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	eventually("new tag", string(m[0])) // b's cache now holds it
	if _, err := ca.PutTag(ctx, repo, "latest", m[1]); err != nil {
		t.Fatal(err)
	}
	eventually("moved tag", string(m[1]))
	err := ca.WithTx(ctx, func(tx meta.Querier) error {
		_, err := tx.DeleteTag(ctx, repo, "latest")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually("deleted tag", "")
}
