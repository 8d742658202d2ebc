package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/registry"
	"github.com/opencontainers/go-digest"
)

// lastPulled reads the stored last-pull time of dgst in repo.
func (e *env) lastPulled(t *testing.T, repo string, dgst digest.Digest) time.Time {
	t.Helper()
	ctx := context.Background()
	r, err := e.meta.GetRepository(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.meta.GetManifest(ctx, r.ID, dgst, false)
	if err != nil {
		t.Fatal(err)
	}
	return m.LastPulledAt
}

// pull GETs (withContent) or HEADs repo:reference.
func (e *env) pull(t *testing.T, repo, reference string, withContent bool) {
	t.Helper()
	if _, err := e.svc.GetManifest(context.Background(), repo, reference, withContent); err != nil {
		t.Fatalf("pull %s:%s: %v", repo, reference, err)
	}
}

func (e *env) flushPulls(t *testing.T) int {
	t.Helper()
	n, err := e.svc.FlushPulls(context.Background())
	if err != nil {
		t.Fatalf("FlushPulls: %v", err)
	}
	return n
}

func micro(tm time.Time) time.Time { return tm.UTC().Truncate(time.Microsecond) }

func TestPullsRecordedAfterFlush(t *testing.T) {
	tests := []struct {
		name        string
		reference   func(p pushed) string
		withContent bool
		recorded    bool
	}{
		{"GET by tag", func(pushed) string { return "v1" }, true, true},
		{"GET by digest", func(p pushed) string { return p.digest.String() }, true, true},
		{"HEAD is no pull", func(pushed) string { return "v1" }, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img := e.pushPromotable(t, "team/app", "v1", "a")
			e.pull(t, "team/app", tc.reference(img), tc.withContent)
			if got := e.lastPulled(t, "team/app", img.digest); !got.IsZero() {
				t.Fatalf("last pull stored as %v before any flush: the pull wrote to the database", got)
			}
			want := 0
			if tc.recorded {
				want = 1
			}
			if n := e.flushPulls(t); n != want {
				t.Fatalf("flush wrote %d manifests, want %d", n, want)
			}
			wantAt := time.Time{}
			if tc.recorded {
				wantAt = micro(e.clock.Now())
			}
			if got := e.lastPulled(t, "team/app", img.digest); !got.Equal(wantAt) {
				t.Errorf("last pull = %v, want %v", got, wantAt)
			}
		})
	}
}

func TestPullsCoalesce(t *testing.T) {
	e := newEnv(t)
	a := e.pushPromotable(t, "team/app", "a", "a")
	b := e.pushPromotable(t, "team/app", "b", "b")
	for range 50 {
		e.pull(t, "team/app", "a", true)
		e.pull(t, "team/app", b.digest.String(), true)
		e.clock.Advance(time.Second)
	}
	last := e.clock.Now().Add(-time.Second)
	if n := e.svc.PendingPulls(); n != 2 {
		t.Fatalf("pending = %d after 100 pulls of 2 manifests, want 2", n)
	}
	if n := e.flushPulls(t); n != 2 {
		t.Fatalf("one flush wrote %d rows for 100 pulls of 2 manifests, want 2", n)
	}
	for _, d := range []digest.Digest{a.digest, b.digest} {
		if got := e.lastPulled(t, "team/app", d); !got.Equal(micro(last)) {
			t.Errorf("last pull of %s = %v, want the latest pull %v", d, got, micro(last))
		}
	}
	if n := e.flushPulls(t); n != 0 {
		t.Errorf("a second flush wrote %d rows, want 0", n)
	}
}

func TestPullsNeverMoveBackwards(t *testing.T) {
	e := newEnv(t)
	img := e.pushPromotable(t, "team/app", "v1", "a")
	e.pull(t, "team/app", "v1", true)
	e.flushPulls(t)
	later := micro(e.clock.Now())
	// Another replica's clock, or a pull noted before a slow flush: older.
	e.clock.Advance(-time.Hour)
	e.pull(t, "team/app", "v1", true)
	e.flushPulls(t)
	if got := e.lastPulled(t, "team/app", img.digest); !got.Equal(later) {
		t.Errorf("last pull = %v after an older pull, want %v", got, later)
	}
}

func TestPullFlusherFlushesWhenStopped(t *testing.T) {
	e := newEnv(t)
	img := e.pushPromotable(t, "team/app", "v1", "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.RunPullFlusher(ctx, 24*time.Hour)
	}()
	e.pull(t, "team/app", "v1", true)
	cancel()
	<-done
	if got := e.lastPulled(t, "team/app", img.digest); !got.Equal(micro(e.clock.Now())) {
		t.Errorf("last pull = %v after the flusher stopped, want %v", got, micro(e.clock.Now()))
	}
	if n := e.svc.PendingPulls(); n != 0 {
		t.Errorf("%d pulls left pending after the final flush", n)
	}
}

func TestPullsBoundedAndFlushedEarlyWhenFull(t *testing.T) {
	defer registry.SetMaxPendingPulls(3)()
	e := newEnv(t)
	var imgs []pushed
	for _, s := range []string{"a", "b", "c", "d"} {
		imgs = append(imgs, e.pushPromotable(t, "team/app", s, s))
	}
	for _, s := range []string{"a", "b", "c", "d"} {
		e.pull(t, "team/app", s, true)
	}
	if n := e.svc.PendingPulls(); n != 3 {
		t.Fatalf("pending = %d with a cap of 3, want 3", n)
	}
	// A flusher with a long interval flushes at once: the set is full.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.svc.RunPullFlusher(ctx, 24*time.Hour)
	// Wait (as long as the test may run) for the early flush.
	for _, img := range imgs[:3] {
		for e.lastPulled(t, "team/app", img.digest).IsZero() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := e.lastPulled(t, "team/app", imgs[3].digest); !got.IsZero() {
		t.Errorf("the pull over the cap was recorded (%v), want it dropped", got)
	}
}
