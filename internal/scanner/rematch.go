package scanner

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/opencontainers/go-digest"
)

// rematchBatch is how many stored inventories one re-match step reads,
// matches and writes back.
const rematchBatch = 500

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
	invs := make([]*storedInventory, 0, len(reports))
	var all [][]vuln.Package
	for _, r := range reports {
		inv, err := decodeInventory(r.Inventory)
		if err != nil {
			// An inventory this version cannot read is rescanned instead.
			s.log.WarnContext(ctx, "re-match: stored inventory unreadable, queueing a rescan", "digest", r.Digest, "err", err)
			if _, err := s.scans.QueueScans(ctx, []meta.ScanRequest{{Digest: r.Digest, Repository: r.Repository}}, true, s.now()); err != nil {
				return err
			}
			invs = append(invs, nil)
			continue
		}
		invs = append(invs, inv)
		for _, res := range inv.Results {
			all = append(all, res.Packages)
		}
	}
	found, err := s.matcher.MatchMany(ctx, all)
	if err != nil {
		return fmt.Errorf("re-match: %w", err)
	}
	updates := make([]meta.ScanRematch, 0, len(reports))
	i := 0
	for k, inv := range invs {
		if inv == nil {
			continue
		}
		n := len(inv.Results)
		res := buildResult(inv, found[i:i+n])
		i += n
		body, err := encode(res)
		if err != nil {
			return err
		}
		sum := summarize(res)
		if sum != reports[k].Summary {
			st.Changed++
		}
		updates = append(updates, meta.ScanRematch{Digest: reports[k].Digest, Generation: gen, Summary: sum, Report: body})
	}
	n, err := s.scans.RematchScans(ctx, updates)
	if err != nil {
		return fmt.Errorf("store re-matched reports: %w", err)
	}
	st.Reports += n
	return nil
}
