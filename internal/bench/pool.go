package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a phase. worker is the index of the goroutine
// running it (for per-worker buffers and random sources) and i the index
// of the operation (for count-bound phases; a running count for timed
// ones). It returns the payload bytes it moved.
type Op func(ctx context.Context, worker, i int) (int64, error)

// Tally is what a phase did, before it is turned into a Result.
type Tally struct {
	Ops       int64 // operations that succeeded
	Errors    int64 // operations that failed
	Bytes     int64 // payload bytes of successful operations
	Wall      time.Duration
	Latencies []time.Duration // of successful operations
	Failures  *ErrorLog
}

// ErrorLog counts errors by kind, keeping one example message per kind and
// at most a bounded number of kinds, so a flood of failures cannot exhaust
// memory. The kind of a *StatusError is its operation, status and OCI code
// (messages often embed digests and would never group); other errors are
// grouped by message. It is safe for concurrent use.
type ErrorLog struct {
	mu     sync.Mutex
	counts map[string]*ErrorSample
	order  []string
	other  int64
}

// maxDistinctErrors bounds the kinds of error an ErrorLog keeps.
const maxDistinctErrors = 20

// NewErrorLog returns an empty ErrorLog.
func NewErrorLog() *ErrorLog { return &ErrorLog{counts: make(map[string]*ErrorSample)} }

// Add records one error.
func (l *ErrorLog) Add(err error) {
	msg := truncate(err.Error(), 300)
	key := msg
	var se *StatusError
	if errors.As(err, &se) {
		key = fmt.Sprintf("%s: HTTP %d %s", se.Op, se.Status, se.Code)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.counts[key]; ok {
		s.Count++
		return
	}
	if len(l.order) >= maxDistinctErrors {
		l.other++
		return
	}
	l.order = append(l.order, key)
	l.counts[key] = &ErrorSample{Kind: key, Example: msg, Count: 1}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ErrorSample is one kind of error, an example message of it and how often
// it occurred.
type ErrorSample struct {
	Kind    string `json:"kind"`
	Example string `json:"example"`
	Count   int64  `json:"count"`
}

// Samples returns the recorded kinds, most frequent first, with a final
// entry counting the errors whose kinds were not kept.
func (l *ErrorLog) Samples() []ErrorSample {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ErrorSample, 0, len(l.order)+1)
	for _, k := range l.order {
		out = append(out, *l.counts[k])
	}
	slices.SortStableFunc(out, func(a, b ErrorSample) int { return int(b.Count - a.Count) })
	if l.other > 0 {
		out = append(out, ErrorSample{Kind: "(other kinds not kept)", Count: l.other})
	}
	return out
}

// workerTally is one worker's share, merged after the phase so that
// workers never contend on a lock while timing.
type workerTally struct {
	ops, errs, bytes int64
	lat              []time.Duration
}

// RunCount runs op for i in [0, n) on c workers and tallies the outcome.
// It stops early, counting nothing more, when ctx is cancelled.
func RunCount(ctx context.Context, n, c int, op Op) Tally {
	var next atomic.Int64
	return runWorkers(ctx, c, n, op, func() (int, bool) {
		i := int(next.Add(1)) - 1
		return i, i < n
	})
}

// RunFor runs op repeatedly on c workers until d has elapsed (operations in
// flight then are finished and counted) and tallies the outcome.
func RunFor(ctx context.Context, d time.Duration, c int, op Op) Tally {
	deadline := time.Now().Add(d)
	var next atomic.Int64
	return runWorkers(ctx, c, 1024, op, func() (int, bool) {
		return int(next.Add(1)) - 1, time.Now().Before(deadline)
	})
}

// runWorkers starts c goroutines that take operation indexes from next
// until it says stop. sizeHint presizes each worker's latency slice.
func runWorkers(ctx context.Context, c, sizeHint int, op Op, next func() (int, bool)) Tally {
	c = max(c, 1)
	failures := NewErrorLog()
	tallies := make([]workerTally, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[w]
			t.lat = make([]time.Duration, 0, sizeHint/c+1)
			for ctx.Err() == nil {
				i, ok := next()
				if !ok {
					return
				}
				t0 := time.Now()
				n, err := op(ctx, w, i)
				if err != nil {
					if errors.Is(err, context.Canceled) && ctx.Err() != nil {
						return
					}
					t.errs++
					failures.Add(err)
					continue
				}
				t.lat = append(t.lat, time.Since(t0))
				t.ops++
				t.bytes += n
			}
		}()
	}
	wg.Wait()
	total := Tally{Wall: time.Since(start), Failures: failures}
	for _, t := range tallies {
		total.Ops += t.ops
		total.Errors += t.errs
		total.Bytes += t.bytes
		total.Latencies = append(total.Latencies, t.lat...)
	}
	return total
}
