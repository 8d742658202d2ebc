package bench

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
)

func names(scs []Scenario) []string {
	out := make([]string, len(scs))
	for i, s := range scs {
		out[i] = s.Name
	}
	return out
}

func TestSelect(t *testing.T) {
	all := []string{"push-mono", "push-chunked", "pull", "push-images", "small-blobs", "manifest-few",
		"manifest-many", "tag-push", "tag-list", "catalog"}
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"all", all},
		{"pull,push-mono", []string{"pull", "push-mono"}},
		{"all,large-blob", append(append([]string{}, all...), "large-blob")},
		{" tag-list , tag-list,catalog", []string{"tag-list", "catalog"}},
	} {
		t.Run(tc.list, func(t *testing.T) {
			got, err := Select(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Errorf("Select(%q) (-want +got):\n%s", tc.list, diff)
			}
		})
	}
	for _, bad := range []string{"", "nope", "pull,nope"} {
		if _, err := Select(bad); !errdefs.IsInvalid(err) {
			t.Errorf("Select(%q) err = %v, want class invalid", bad, err)
		}
	}
}

// TestScenarioNamesAreStable guards the names scripts/bench.sh and
// docs/benchmarks.md use, and that every target names a real result.
func TestScenarioNamesAreStable(t *testing.T) {
	known := map[string]bool{}
	for _, s := range Scenarios() {
		known[s.Name] = true
	}
	for _, tgt := range Targets {
		scenario, _, _ := strings.Cut(tgt.Result, "/")
		if !known[scenario] {
			t.Errorf("target %q names no scenario", tgt.Result)
		}
	}
}

func TestConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if err := QuickConfig().Validate(); err != nil {
		t.Fatalf("quick config: %v", err)
	}
	c.Concurrency = map[string]int{"*": 4, "tag-push": 9}
	for _, tc := range []struct {
		name string
		def  int
		want int
	}{{"tag-push", 16, 9}, {"small-blobs", 32, 4}} {
		if got := c.concurrency(tc.name, tc.def); got != tc.want {
			t.Errorf("concurrency(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := DefaultConfig().concurrency("small-blobs", 32); got != 32 {
		t.Errorf("default concurrency = %d, want 32", got)
	}
	bad := DefaultConfig()
	bad.RepoPrefix, bad.ChunkSize, bad.Walks = "Bench", 0, 0
	err := bad.Validate()
	if !errdefs.IsInvalid(err) {
		t.Fatalf("Validate = %v, want class invalid", err)
	}
	for _, want := range []string{"prefix", "chunk", "walks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %s", err, want)
		}
	}
}

func TestHeadline(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Result
		want float64
	}{
		{"MiB/s", Result{Unit: MiBPerSec, Bytes: 512 << 20, WallSeconds: 2}, 256},
		{"ops/s", Result{Unit: OpsPerSec, Ops: 300, WallSeconds: 1.5}, 200},
		{"blobs/min", Result{Unit: BlobsPerMin, Ops: 1000, WallSeconds: 30}, 2000},
		{"walk time is the median walk", Result{Unit: SecsPerWalk, Ops: 3, WallSeconds: 9, Latency: &Latency{P50: 2500}}, 2.5},
		{"no time, no figure", Result{Unit: OpsPerSec, Ops: 3}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := headline(tc.r); got != tc.want {
				t.Errorf("headline = %v, want %v", got, tc.want)
			}
		})
	}
}
