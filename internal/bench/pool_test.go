package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunCountRunsEachIndexOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, conc int
	}{
		{"serial", 10, 1},
		{"more workers than ops", 3, 8},
		{"many", 1000, 32},
		{"zero concurrency means one", 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := make(map[int]int)
			tally := RunCount(context.Background(), tc.n, tc.conc, func(_ context.Context, _, i int) (int64, error) {
				mu.Lock()
				seen[i]++
				mu.Unlock()
				if i%5 == 4 {
					return 0, errors.New("every fifth fails")
				}
				return 10, nil
			})
			for i := range tc.n {
				if seen[i] != 1 {
					t.Errorf("index %d ran %d times", i, seen[i])
				}
			}
			fails := int64(tc.n / 5)
			if tally.Ops != int64(tc.n)-fails || tally.Errors != fails {
				t.Errorf("ops=%d errors=%d, want %d and %d", tally.Ops, tally.Errors, int64(tc.n)-fails, fails)
			}
			if tally.Bytes != 10*tally.Ops || int64(len(tally.Latencies)) != tally.Ops {
				t.Errorf("bytes=%d latencies=%d for %d ops", tally.Bytes, len(tally.Latencies), tally.Ops)
			}
		})
	}
}

func TestRunForStopsAndCounts(t *testing.T) {
	tally := RunFor(context.Background(), 20*time.Millisecond, 4, func(context.Context, int, int) (int64, error) { return 1, nil })
	if tally.Ops == 0 || tally.Errors != 0 || tally.Bytes != tally.Ops {
		t.Errorf("tally = ops %d errors %d bytes %d", tally.Ops, tally.Errors, tally.Bytes)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tally := RunCount(ctx, 1_000_000, 2, func(ctx context.Context, _, i int) (int64, error) {
		if i == 10 {
			cancel()
		}
		return 0, ctx.Err()
	})
	if tally.Ops+tally.Errors >= 1_000_000 {
		t.Errorf("ran %d operations after cancellation", tally.Ops+tally.Errors)
	}
	if tally.Errors != 0 {
		t.Errorf("cancellation counted as %d errors", tally.Errors)
	}
}

func TestErrorLogGroupsAndBounds(t *testing.T) {
	l := NewErrorLog()
	for i := range 3 {
		l.Add(fmt.Errorf("layer %d: %w", i, &StatusError{Op: "PUT blob", Status: http.StatusBadRequest, Code: "DIGEST_INVALID", Message: fmt.Sprintf("digest sha256:%d", i)}))
	}
	l.Add(errors.New("connection refused"))
	l.Add(errors.New("connection refused"))
	want := []ErrorSample{
		{Kind: "PUT blob: HTTP 400 DIGEST_INVALID", Example: "layer 0: PUT blob: HTTP 400 DIGEST_INVALID: digest sha256:0", Count: 3},
		{Kind: "connection refused", Example: "connection refused", Count: 2},
	}
	if diff := cmp.Diff(want, l.Samples()); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	for i := range 2 * maxDistinctErrors {
		l.Add(fmt.Errorf("distinct failure %d", i))
	}
	s := l.Samples()
	if len(s) != maxDistinctErrors+1 {
		t.Fatalf("%d samples kept, want %d plus the overflow line", len(s), maxDistinctErrors)
	}
	var total int64
	for _, e := range s {
		total += e.Count
	}
	if total != 5+2*maxDistinctErrors {
		t.Errorf("samples count %d errors, want %d: none may be lost", total, 5+2*maxDistinctErrors)
	}
}
