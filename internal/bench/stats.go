package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p percent of
// the values are less than or equal to it. It returns 0 for an empty slice.
// sorted must be in ascending order.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Median returns the median of values: the middle value, or the mean of the
// two middle values when the count is even. NaN values (missing data) are
// ignored; with no other values the result is NaN. values is not modified.
func Median(values []float64) float64 {
	s := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// Latency summarises the per-operation latencies of a phase, in
// milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summarize sorts durations in place and returns their percentiles, or nil
// when there are none.
func Summarize(durations []time.Duration) *Latency {
	if len(durations) == 0 {
		return nil
	}
	slices.Sort(durations)
	var sum time.Duration
	for _, d := range durations {
		sum += d
	}
	return &Latency{
		P50:  ms(Percentile(durations, 50)),
		P95:  ms(Percentile(durations, 95)),
		P99:  ms(Percentile(durations, 99)),
		Max:  ms(durations[len(durations)-1]),
		Mean: ms(sum / time.Duration(len(durations))),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
