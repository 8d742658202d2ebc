package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/opencontainers/go-digest"
)

func TestScanConformance(t *testing.T) {
	metatest.RunScan(t, func(t *testing.T) meta.Store {
		return openTest(t, newDatabase(t), Options{})
	})
}

// TestScanClaimsAcrossReplicas has scanners on two replicas (each store
// with its own pool) claim one queue at once: every report is claimed
// exactly once, and a report a replica claimed and then finished is never
// handed to the other.
func TestScanClaimsAcrossReplicas(t *testing.T) {
	const reports, perReplica, batch = 300, 4, 3
	ctx := t.Context()
	url := newDatabase(t)
	stores := []*Store{openTest(t, url, Options{}), openTest(t, url, Options{})}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	reqs := make([]meta.ScanRequest, reports)
	for i := range reqs {
		reqs[i] = meta.ScanRequest{Digest: digest.FromString(fmt.Sprint(i)), Repository: "team/app"}
	}
	if n, err := stores[0].QueueScans(ctx, reqs, false, now); err != nil || n != reports {
		t.Fatalf("QueueScans = %d, %v; want %d", n, err, reports)
	}

	var (
		mu      sync.Mutex
		claimed = map[digest.Digest]string{}
		errs    []error
		wg      sync.WaitGroup
	)
	for w := range 2 * perReplica {
		s, owner := stores[w%2], fmt.Sprintf("replica-%d/worker-%d", w%2, w)
		wg.Go(func() {
			for {
				// The lease outlives the test: nothing lapses, so a second
				// claim of a report can only be a race.
				jobs, err := s.ClaimScans(ctx, owner, batch, time.Hour, now)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if len(jobs) == 0 {
					return
				}
				for _, j := range jobs {
					mu.Lock()
					if prev, dup := claimed[j.Digest]; dup {
						errs = append(errs, fmt.Errorf("%s claimed by %s and %s", j.Digest, prev, owner))
					}
					claimed[j.Digest] = owner
					mu.Unlock()
					if j.Attempts != 1 {
						t.Errorf("%s claimed with attempts %d, want 1", j.Digest, j.Attempts)
					}
					err := s.FinishScan(ctx, meta.ScanResult{Digest: j.Digest, Owner: owner, Status: meta.ScanDone,
						Scanner: "berth/1", FinishedAt: now})
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("FinishScan(%s) by %s: %w", j.Digest, owner, err))
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(claimed) != reports {
		t.Errorf("%d reports claimed, want %d", len(claimed), reports)
	}
	for _, r := range reqs {
		rep, err := stores[1].GetScanReport(ctx, r.Digest, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status != meta.ScanDone || rep.Attempts != 1 {
			t.Errorf("report %s = %s after %d attempts; want done after 1", r.Digest, rep.Status, rep.Attempts)
		}
	}
}
