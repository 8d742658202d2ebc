package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// move is one PutTag that changed the tag, as its caller saw it.
type move struct{ Previous, Digest digest.Digest }

// raceLog collects what the racing goroutines saw.
type raceLog struct {
	mu       sync.Mutex
	moves    []move           // PutTag calls that changed the tag
	repoIDs  map[string]int64 // the id each repository name got
	uploadOK int              // UpdateUpload calls that won
	failures []error
}

func (l *raceLog) locked(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn()
}

// racer is one goroutine of TestReplicasRace, on one replica's store.
type racer struct {
	s    *Store
	repo int64
	m    []digest.Digest
	rng  *rand.Rand
	log  *raceLog
}

// round moves the hot tag (created by whichever goroutine wins), ensures a
// repository that others ensure too, and advances the shared upload by one
// byte from the offset it read.
func (r *racer) round(ctx context.Context, i int) error {
	d := r.m[r.rng.IntN(len(r.m))]
	prev, err := r.s.PutTag(ctx, r.repo, "hot", d)
	if err != nil {
		return fmt.Errorf("PutTag: %w", err)
	}
	if prev != d {
		r.log.locked(func() { r.log.moves = append(r.log.moves, move{prev, d}) })
	}
	name := fmt.Sprintf("race/%d", i%5)
	repo, err := r.s.EnsureRepository(ctx, name)
	if err != nil {
		return fmt.Errorf("EnsureRepository: %w", err)
	}
	r.log.locked(func() {
		if id, ok := r.log.repoIDs[name]; ok && id != repo.ID {
			r.log.failures = append(r.log.failures, fmt.Errorf("repository %s has ids %d and %d", name, id, repo.ID))
		}
		r.log.repoIDs[name] = repo.ID
	})
	u, err := r.s.GetUpload(ctx, "shared")
	if err != nil {
		return fmt.Errorf("GetUpload: %w", err)
	}
	next := *u
	next.Offset++
	next.State = fmt.Appendf(nil, "state at %d", next.Offset)
	switch err := r.s.UpdateUpload(ctx, &next, u.Offset); {
	case err == nil:
		r.log.locked(func() { r.log.uploadOK++ })
	case !errdefs.IsConflict(err):
		return fmt.Errorf("UpdateUpload: %w", err)
	}
	return nil
}

// TestReplicasRace runs two stores on one database, each with its own pool
// as two replicas would have, and many goroutines on each writing the same
// rows at once. Every answer must stay consistent with what the database
// recorded.
func TestReplicasRace(t *testing.T) {
	const workers, rounds = 8, 30 // per replica
	a, b, repo, m := replicas(t, 4)
	ctx := t.Context()
	mustCreate(t, a, &meta.Upload{ID: "shared", RepositoryID: repo, ExpiresAt: time.Now().Add(time.Hour)})
	log := &raceLog{repoIDs: map[string]int64{}}
	var wg sync.WaitGroup
	for w := range 2 * workers {
		r := &racer{s: []*Store{a, b}[w%2], repo: repo, m: m, rng: rand.New(rand.NewPCG(uint64(w), 1)), log: log}
		wg.Go(func() {
			for i := range rounds {
				if err := r.round(ctx, i); err != nil {
					log.locked(func() { log.failures = append(log.failures, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range log.failures {
		t.Error(err)
	}
	checkHistory(t, b, repo, log.moves)

	// No update of the upload was lost or applied twice.
	u, err := b.GetUpload(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if u.Offset != int64(log.uploadOK) || string(u.State) != fmt.Sprintf("state at %d", log.uploadOK) {
		t.Errorf("upload at offset %d (%q) after %d successful updates", u.Offset, u.State, log.uploadOK)
	}
	if log.uploadOK == 0 {
		t.Error("no UpdateUpload succeeded")
	}
}

// checkHistory checks that the history of the hot tag holds exactly the
// moves the callers saw, each once, as one chain (every event's previous
// digest is the one before it), ending at the tag's digest.
func checkHistory(t *testing.T, s *Store, repo int64, moves []move) {
	t.Helper()
	hist, err := s.TagHistory(t.Context(), repo, "hot", 0)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []move
	for i, ev := range slices.Backward(hist) {
		want := digest.Digest("")
		if i+1 < len(hist) {
			want = hist[i+1].Digest
		}
		if ev.Previous != want {
			t.Errorf("history event %d replaced %q, but the tag pointed at %q", len(hist)-i, ev.Previous, want)
		}
		recorded = append(recorded, move{ev.Previous, ev.Digest})
	}
	less := func(x, y move) int {
		if c := strings.Compare(string(x.Previous), string(y.Previous)); c != 0 {
			return c
		}
		return strings.Compare(string(x.Digest), string(y.Digest))
	}
	slices.SortFunc(moves, less)
	slices.SortFunc(recorded, less)
	if d := cmp.Diff(moves, recorded); d != "" {
		t.Errorf("moves the callers saw vs. the history (-callers +history):\n%s", d)
	}
	tag, err := s.GetTag(t.Context(), repo, "hot")
	if err != nil || len(hist) == 0 || tag.Digest != hist[0].Digest {
		t.Errorf("GetTag = %+v, %v; want the newest history digest", tag, err)
	}
}

// TestWithTxRetriesDeadlocks makes two transactions lock two tags in
// opposite orders: PostgreSQL aborts one as a deadlock, and WithTx must run
// it again instead of failing.
func TestWithTxRetriesDeadlocks(t *testing.T) {
	a, b, repo, m := replicas(t, 2)
	ctx := t.Context()
	for _, name := range []string{"x", "y"} {
		if _, err := a.PutTag(ctx, repo, name, m[0]); err != nil {
			t.Fatal(err)
		}
	}
	locked := make(chan struct{}, 2)
	proceed := make(chan struct{})
	attempts := make([]int, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*Store{a, b} {
		first, second := "x", "y"
		if i == 1 {
			first, second = "y", "x"
		}
		wg.Go(func() {
			errs[i] = s.WithTx(ctx, func(tx meta.Querier) error {
				attempts[i]++
				if _, err := tx.PutTag(ctx, repo, first, m[1]); err != nil {
					return err
				}
				if attempts[i] == 1 {
					locked <- struct{}{}
					<-proceed // both hold their first lock
				}
				_, err := tx.PutTag(ctx, repo, second, m[1])
				return err
			})
		})
	}
	<-locked
	<-locked
	close(proceed)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", i, err)
		}
	}
	if attempts[0]+attempts[1] < 3 {
		t.Errorf("attempts = %v; want one transaction run again after the deadlock", attempts)
	}
}

func mustCreate(t *testing.T, s *Store, u *meta.Upload) {
	t.Helper()
	if err := s.CreateUpload(t.Context(), u); err != nil {
		t.Fatal(err)
	}
}
