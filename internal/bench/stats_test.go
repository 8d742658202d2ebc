package bench

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single", durations(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p95 of 1..100", hundred, 95, 95 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p0 is the min", hundred, 0, time.Millisecond},
		{"nearest rank rounds up", durations(10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"p51 of four", durations(10, 20, 30, 40), 51, 30 * time.Millisecond},
		{"p99 of ten is the max", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name   string
		values []float64
		want   float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even averages the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"single", []float64{9}, 9},
		{"missing values are ignored", []float64{nan, 5, 1, nan, 3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.values...)
			if got := Median(tc.values); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.values, got, tc.want)
			}
			if diff := cmp.Diff(in, tc.values, cmp.Comparer(func(a, b float64) bool {
				return a == b || (math.IsNaN(a) && math.IsNaN(b))
			})); diff != "" {
				t.Errorf("Median modified its input:\n%s", diff)
			}
		})
	}
	for _, empty := range [][]float64{nil, {nan}} {
		if got := Median(empty); !math.IsNaN(got) {
			t.Errorf("Median(%v) = %v, want NaN", empty, got)
		}
	}
}

func TestSummarize(t *testing.T) {
	if Summarize(nil) != nil {
		t.Error("Summarize(nil) is not nil")
	}
	got := Summarize(durations(40, 10, 30, 20))
	want := &Latency{P50: 20, P95: 40, P99: 40, Max: 40, Mean: 25}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}
