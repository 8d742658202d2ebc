package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// blockedBatcher returns a batcher on s's pool that acts as if a statement
// were running, so every lookup queues until release is called.
func blockedBatcher(s *Store) (b *tagBatcher, release func()) {
	b = newTagBatcher(s.pool, 1)
	b.inFlight = 1
	return b, func() {
		b.mu.Lock()
		b.inFlight--
		batch := b.next()
		b.mu.Unlock()
		if batch != nil {
			go b.run(context.Background(), batch)
		}
	}
}

// waitQueued waits until n lookups are queued in b.
func waitQueued(b *tagBatcher, n int) {
	for {
		b.mu.Lock()
		got := len(b.queued)
		b.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// lookupResult is what one lookup returned: a digest, or the error's class.
type lookupResult struct {
	Digest   digest.Digest
	NotFound bool
	Err      string
}

func resultOf(m *meta.Manifest, err error) lookupResult {
	switch {
	case errdefs.IsNotFound(err):
		return lookupResult{NotFound: true}
	case err != nil:
		return lookupResult{Err: err.Error()}
	}
	return lookupResult{Digest: m.Digest}
}

// TestTagBatcher resolves many lookups queued behind a running statement:
// they are answered together, each with its own answer, whether the tag
// exists, is missing, or belongs to another repository.
func TestTagBatcher(t *testing.T) {
	ctx := t.Context()
	s, _, repo, m := replicas(t, 3)
	other, err := s.EnsureRepository(ctx, "team/other")
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range m {
		if _, err := s.PutTag(ctx, repo, fmt.Sprintf("v%d", i), d); err != nil {
			t.Fatal(err)
		}
	}
	type query struct {
		repo int64
		tag  string
		want lookupResult
	}
	var queries []query
	for i := range 100 { // more than maxBatch: two statements
		q := query{repo: repo, tag: fmt.Sprintf("v%d", i%4)}
		switch {
		case i%4 == 3:
			q.want = lookupResult{NotFound: true} // no such tag
		case i%10 == 0:
			q.repo, q.want = other.ID, lookupResult{NotFound: true} // tag of another repository
		default:
			q.want = lookupResult{Digest: m[i%4]}
		}
		queries = append(queries, q)
	}
	for _, tc := range []struct {
		name      string
		n         int
		wantBatch int
	}{
		{"one lookup", 1, 1},
		{"one batch", maxBatch, 1},
		{"two batches", len(queries), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, release := blockedBatcher(s)
			got := make([]lookupResult, tc.n)
			var wg sync.WaitGroup
			for i, q := range queries[:tc.n] {
				wg.Go(func() { got[i] = resultOf(b.get(ctx, q.repo, q.tag)) })
			}
			waitQueued(b, tc.n)
			release()
			wg.Wait()
			for i, q := range queries[:tc.n] {
				if diff := cmp.Diff(q.want, got[i]); diff != "" {
					t.Errorf("lookup %d (%d, %q) (-want +got):\n%s", i, q.repo, q.tag, diff)
				}
			}
			if b.batches != tc.wantBatch {
				t.Errorf("%d statements for %d lookups, want %d", b.batches, tc.n, tc.wantBatch)
			}
		})
	}
}

// A lookup queued behind a running statement answers what was committed
// before it was asked, never an older answer.
func TestTagBatcherReadsItsOwnWrites(t *testing.T) {
	ctx := t.Context()
	s, _, repo, m := replicas(t, 2)
	if _, err := s.PutTag(ctx, repo, "latest", m[0]); err != nil {
		t.Fatal(err)
	}
	b, release := blockedBatcher(s)
	if _, err := s.PutTag(ctx, repo, "latest", m[1]); err != nil {
		t.Fatal(err)
	}
	done := make(chan lookupResult)
	go func() { done <- resultOf(b.get(ctx, repo, "latest")) }()
	waitQueued(b, 1)
	release()
	if diff := cmp.Diff(lookupResult{Digest: m[1]}, <-done); diff != "" {
		t.Errorf("lookup after the move (-want +got):\n%s", diff)
	}
}

// A caller that gives up stops waiting at once; the others in its batch
// are still answered.
func TestTagBatcherCancel(t *testing.T) {
	ctx := t.Context()
	s, _, repo, m := replicas(t, 1)
	if _, err := s.PutTag(ctx, repo, "latest", m[0]); err != nil {
		t.Fatal(err)
	}
	b, release := blockedBatcher(s)
	cctx, cancel := context.WithCancel(ctx)
	canceled := make(chan error)
	go func() { _, err := b.get(cctx, repo, "latest"); canceled <- err }()
	kept := make(chan lookupResult)
	go func() { kept <- resultOf(b.get(ctx, repo, "latest")) }()
	waitQueued(b, 2)
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled lookup: err %v, want context.Canceled", err)
	}
	release()
	if diff := cmp.Diff(lookupResult{Digest: m[0]}, <-kept); diff != "" {
		t.Errorf("the other lookup (-want +got):\n%s", diff)
	}
}

// A statement that fails fails every lookup in it, with the error of the
// database (here: the pool is closed), never "not found".
func TestTagBatcherError(t *testing.T) {
	url := newDatabase(t)
	s, err := Open(t.Context(), url, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, release := blockedBatcher(s)
	results := make(chan lookupResult, 3)
	for i := range 3 {
		go func() { results <- resultOf(b.get(t.Context(), 1, fmt.Sprintf("t%d", i))) }()
	}
	waitQueued(b, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	release()
	for range 3 {
		if r := <-results; r.Err == "" {
			t.Errorf("lookup on a closed pool: %+v, want an error", r)
		}
	}
}

func TestTagBatchesInFlight(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		maxConns int32
		want     int
	}{
		{1, 1},
		{2, 1},
		{1000, max(1, procs/2)},
	} {
		if got := tagBatchesInFlight(tc.maxConns); got != tc.want {
			t.Errorf("tagBatchesInFlight(%d) with %d CPUs = %d, want %d", tc.maxConns, procs, got, tc.want)
		}
	}
}
