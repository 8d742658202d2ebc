package gc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// gathered returns every sample of reg as name{label values}: value, and
// the sample count of histograms.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsCountRuns(t *testing.T) {
	e := newEnv(t, backends[0])
	_, garbage := fixture(t, e)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c, err := New(e.meta, e.blobs, Config{Now: e.clock.Now, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(t.Context(), Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Run(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"berth_gc_runs_total{dry_run}":    1,
		"berth_gc_runs_total{ok}":         1,
		"berth_gc_blobs_reclaimed_total":  float64(len(garbage)),
		"berth_gc_bytes_reclaimed_total":  float64(rep.Bytes),
		"berth_gc_duration_seconds_count": 1,
		"berth_gc_links_pruned_total":     float64(rep.LinksPruned),
	}
	if d := cmp.Diff(want, gathered(t, reg)); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
	// The same Metrics registers with a second registry (a second server
	// in the process).
	if err := prometheus.NewRegistry().Register(m); err != nil {
		t.Errorf("register again: %v", err)
	}
}
