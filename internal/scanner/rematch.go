package scanner

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/opencontainers/go-digest"
)

// rematchBatch is how many stored inventories one re-match step reads,
// matches and writes back: large enough that the packages images share
// are looked up once per batch (the matcher decides each distinct package
// once per call), small enough to keep a batch in tens of megabytes.
const rematchBatch = 2000

// RematchStats says what a re-match pass did.
type RematchStats struct {
	// Generation is the data generation matched against.
	Generation int64
	// Reports counts the reports re-matched.
	Reports int
	// Changed counts those whose summary changed.
	Changed int
	// Took is how long the pass took.
	Took time.Duration
}

// Rematch matches every finished built-in scan whose findings predate the
// current vulnerability data again, from its stored inventory (no layer
// is read), and stores the new findings. It is what makes a new advisory
// show on images scanned before it was imported. progress, if not nil,
// hears after each batch.
func (s *Service) Rematch(ctx context.Context, progress func(RematchStats)) (RematchStats, error) {
	s.rematchMu.Lock()
	defer s.rematchMu.Unlock()
	start := time.Now()
	gen, err := s.vulns.VulnGeneration(ctx)
	if err != nil {
		return RematchStats{}, err
	}
	st := RematchStats{Generation: gen}
	var after digest.Digest
	for {
		reports, err := s.scans.StaleScanReports(ctx, gen, after, rematchBatch)
		if err != nil {
			return st, fmt.Errorf("read stale scan reports: %w", err)
		}
		if len(reports) == 0 {
			break
		}
		after = reports[len(reports)-1].Digest
		if err := s.rematchBatch(ctx, gen, reports, &st); err != nil {
			return st, err
		}
		st.Took = time.Since(start)
		if progress != nil {
			progress(st)
		}
		if len(reports) < rematchBatch {
			break
		}
	}
	st.Took = time.Since(start)
	s.metrics.rematched.Add(float64(st.Reports))
	if st.Reports > 0 {
		s.log.InfoContext(ctx, "re-matched stored inventories against new vulnerability data",
			"generation", gen, "reports", st.Reports, "changed", st.Changed, "took", st.Took.Round(time.Millisecond))
	}
	return st, nil
}

// rematchBatch re-matches one batch of reports: one MatchMany over every
// platform of every report, one store write.
func (s *Service) rematchBatch(ctx context.Context, gen int64, reports []meta.ScanReport, st *RematchStats) error {
	// Decoding and encoding are most of the CPU a re-match costs besides
	// matching; they run on every core.
	invs := make([]*storedInventory, len(reports))
	errs := make([]error, len(reports))
	parallel(len(reports), func(i int) { invs[i], errs[i] = decodeInventory(reports[i].Inventory) })
	var all [][]vuln.Package
	for k, inv := range invs {
		if errs[k] != nil {
			// An inventory this version cannot read is rescanned instead.
			r := reports[k]
			s.log.WarnContext(ctx, "re-match: stored inventory unreadable, queueing a rescan", "digest", r.Digest, "err", errs[k])
			if _, err := s.scans.QueueScans(ctx, []meta.ScanRequest{{Digest: r.Digest, Repository: r.Repository}}, true, s.now()); err != nil {
				return err
			}
			invs[k] = nil
			continue
		}
		for _, res := range inv.Results {
			all = append(all, res.Packages)
		}
	}
	found, err := s.matcher.MatchMany(ctx, all)
	if err != nil {
		return fmt.Errorf("re-match: %w", err)
	}
	// found is in platform order; start[k] is where report k's begin.
	start := make([]int, len(invs))
	i := 0
	for k, inv := range invs {
		start[k] = i
		if inv != nil {
			i += len(inv.Results)
		}
	}
	ups := make([]*meta.ScanRematch, len(invs))
	parallel(len(invs), func(k int) {
		inv := invs[k]
		if inv == nil {
			return
		}
		res := buildResult(inv, found[start[k]:start[k]+len(inv.Results)])
		body, err := encode(res)
		if err != nil {
			errs[k] = err
			return
		}
		ups[k] = &meta.ScanRematch{Digest: reports[k].Digest, Generation: gen, Summary: summarize(res), Report: body}
	})
	updates := make([]meta.ScanRematch, 0, len(reports))
	for k, u := range ups {
		if u == nil {
			if invs[k] != nil {
				return errs[k]
			}
			continue
		}
		if u.Summary != reports[k].Summary {
			st.Changed++
		}
		updates = append(updates, *u)
	}
	n, err := s.scans.RematchScans(ctx, updates)
	if err != nil {
		return fmt.Errorf("store re-matched reports: %w", err)
	}
	st.Reports += n
	return nil
}

// parallel runs fn(0..n-1) on every core and waits.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
