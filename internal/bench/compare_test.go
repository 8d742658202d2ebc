package bench

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ratio, target float64
		higher        bool
		want          Verdict
	}{
		{"throughput above", 1.3, 1.25, true, Met},
		{"throughput equal", 1.25, 1.25, true, Met},
		{"throughput below", 1.2, 1.25, true, Missed},
		{"time below", 0.4, 0.5, false, Met},
		{"time above", 0.6, 0.5, false, Missed},
		{"no ratio", math.NaN(), 1, true, NoData},
		{"division by zero", math.Inf(1), 1, true, NoData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Judge(tc.ratio, tc.target, tc.higher); got != tc.want {
				t.Errorf("Judge(%v, %v, %v) = %s, want %s", tc.ratio, tc.target, tc.higher, got, tc.want)
			}
		})
	}
}

// round builds one round's report for a label from headline values by
// result name.
func round(label string, n int, cpu float64, rss int64, values map[string]float64, errs map[string]int64) Report {
	rep := Report{Tool: "berthbench", Label: label, Round: n, Config: DefaultConfig(),
		Started:   time.Date(2026, 11, 23, 6, n, 0, 0, time.UTC),
		LoadStart: 0.05, LoadEnd: 1.5}
	for _, s := range Scenarios() {
		for _, phaseName := range []string{"", "push", "pull", "head", "get"} {
			name := s.Name
			if phaseName != "" {
				name += "/" + phaseName
			}
			v, ok := values[name]
			if !ok {
				continue
			}
			unit := OpsPerSec
			for _, t := range Targets {
				if t.Result == name {
					unit = t.Unit
				}
			}
			timed := s.Name == "manifest-few" || s.Name == "manifest-many"
			rep.Results = append(rep.Results, Result{
				Name: name, Scenario: s.Name, Phase: phaseName, Timed: timed, Unit: unit, Value: v,
				Ops: 1000, Errors: errs[name], WallSeconds: 1,
				Latency: &Latency{P50: 1, P95: 2, P99: 3},
				Server:  &ServerUsage{CPUSeconds: cpu, PeakRSSBytes: rss, PeakScope: "phase"},
				Params:  map[string]int64{"blob_bytes": 512 << 20},
			})
		}
	}
	return rep
}

func sampleReports() []Report {
	d := map[string]float64{"push-mono": 200, "small-blobs/push": 100, "tag-list": 2.0, "manifest-few/head": 1000}
	b := map[string]float64{"push-mono": 260, "small-blobs/push": 200, "tag-list": 0.8, "manifest-few/head": 3000}
	var reps []Report
	for r := 1; r <= 3; r++ {
		scale := []float64{1, 0.9, 1.1}[r-1]
		dr, br := map[string]float64{}, map[string]float64{}
		for k, v := range d {
			dr[k] = v * scale
		}
		for k, v := range b {
			br[k] = v * scale
		}
		var berrs map[string]int64
		if r == 2 {
			berrs = map[string]int64{"small-blobs/push": 1}
		}
		reps = append(reps,
			round(LabelDistribution, r, 1.0, 100<<20, dr, nil),
			round(LabelBerth, r, 0.5, 40<<20, br, berrs))
	}
	return reps
}

// scaleOutReports adds three rounds of Berth scale-out and of raw S3 to
// sampleReports.
func scaleOutReports() []Report {
	reps := sampleReports()
	s := map[string]float64{"push-mono": 130, "small-blobs/push": 50, "tag-list": 1.0, "manifest-few/head": 1200,
		"manifest-few/get": 900}
	for r := 1; r <= 3; r++ {
		sr := map[string]float64{}
		for k, v := range s {
			sr[k] = v * []float64{1, 0.9, 1.1}[r-1]
		}
		reps = append(reps, round(LabelScaleOut, r, 0.8, 60<<20, sr, nil))
		raw := Report{Tool: "berthbench", Label: LabelRawS3, Round: r, Config: DefaultConfig(),
			Started: time.Date(2026, 11, 23, 6, r, 30, 0, time.UTC)}
		for name, v := range map[string]float64{RawPutBig: 260, RawPutSmall: 100} {
			unit := MiBPerSec
			if name == RawPutSmall {
				unit = OpsPerSec
			}
			raw.Results = append(raw.Results, Result{Name: name, Scenario: LabelRawS3, Unit: unit, Value: v,
				Ops: 1, WallSeconds: 1, Latency: &Latency{P50: 4, P95: 5, P99: 6},
				Server: &ServerUsage{CPUSeconds: 0.25, PeakRSSBytes: 30 << 20, PeakScope: "phase"}})
		}
		reps = append(reps, raw)
	}
	return reps
}

func TestScaleOutVerdicts(t *testing.T) {
	c := Compare(scaleOutReports())
	type got struct {
		Ratio   float64
		Verdict Verdict
	}
	results := map[string]got{}
	for _, tgt := range ScaleOutTargets {
		r, v := c.ScaleOutVerdict(tgt)
		if math.IsNaN(r) {
			r = -1
		}
		results[tgt.Result] = got{math.Round(r*100) / 100, v}
	}
	want := map[string]got{
		"manifest-few/head":  {0.4, Missed}, // 1200/3000 < 0.5
		"manifest-few/get":   {-1, NoData},  // no embedded figure
		"manifest-many/head": {-1, NoData},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, results[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// Scale-out rounds do not change the embedded verdicts.
	if r, v := c.Verdict(Targets[0]); math.Round(r*100)/100 != 1.3 || v != Met {
		t.Errorf("push-mono verdict with scale-out rounds = %v %s, want 1.3 met", r, v)
	}
	for _, tc := range []struct {
		pair      S3Pair
		wantRatio float64
		wantClean bool
	}{
		{S3Pairs[0], 0.5, true}, // push-mono 130 / put-big 260
		{S3Pairs[3], 0.5, true}, // small-blobs/push 50 / put-small 100
		{S3Pairs[2], -1, false}, // no raw GET
	} {
		t.Run(tc.pair.Berth, func(t *testing.T) {
			_, _, ratio, clean := c.S3Ratio(tc.pair)
			if math.IsNaN(ratio) {
				ratio = -1
			}
			if ratio != tc.wantRatio || clean != tc.wantClean {
				t.Errorf("S3Ratio = %v clean %v, want %v clean %v", ratio, clean, tc.wantRatio, tc.wantClean)
			}
		})
	}
}

func TestCompareVerdicts(t *testing.T) {
	c := Compare(sampleReports())
	if !c.Complete() {
		t.Fatal("comparison of both servers is not complete")
	}
	type got struct {
		Ratio   float64
		Verdict Verdict
	}
	results := map[string]got{}
	for _, tgt := range Targets {
		r, v := c.Verdict(tgt)
		if math.IsNaN(r) {
			r = -1
		}
		results[tgt.Result] = got{math.Round(r*100) / 100, v}
	}
	want := map[string]got{
		"push-mono":         {1.3, Met},   // 260/200 ≥ 1.25
		"small-blobs/push":  {2, Invalid}, // errors in one Berth round void it
		"tag-list":          {0.4, Met},   // 0.8/2.0 ≤ 0.5
		"manifest-few/head": {3, Met},     // 3000/1000 ≥ 2.3
		"push-chunked":      {-1, NoData},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, results[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	cpuR, cpuV, rssR, rssV := c.TotalVerdicts()
	// Timed phases (manifest-few) are left out of the CPU total: 3 phases each.
	if cpuR != 0.5 || cpuV != Met || rssR != 0.4 || rssV != Met {
		t.Errorf("totals: cpu %v %s, rss %v %s; want 0.5 met, 0.4 met", cpuR, cpuV, rssR, rssV)
	}
	if got := c.Totals[LabelDistribution].CPU; !cmp.Equal(got, []float64{3, 3, 3}) {
		t.Errorf("distribution CPU totals = %v, want 3 count-bound phases of 1 s per round", got)
	}
}

func TestNonDefaultSizes(t *testing.T) {
	reps := sampleReports()
	if Compare(reps).NonDefaultSizes() {
		t.Error("default-sized rounds reported as non-default")
	}
	reps[3].Config = QuickConfig()
	if !Compare(reps).NonDefaultSizes() {
		t.Error("a quick round went unnoticed")
	}
	reps[3].Config = DefaultConfig()
	reps[3].Config.Concurrency = map[string]int{"*": 4}
	if !Compare(reps).NonDefaultSizes() {
		t.Error("a concurrency override went unnoticed")
	}
}

func TestCompareIncomplete(t *testing.T) {
	var dOnly []Report
	for _, r := range sampleReports() {
		if r.Label == LabelDistribution {
			dOnly = append(dOnly, r)
		}
	}
	c := Compare(dOnly)
	if c.Complete() {
		t.Error("Distribution-only comparison claims to be complete")
	}
	if _, v := c.Verdict(Targets[0]); v != NoData {
		t.Errorf("verdict without Berth = %s, want %s", v, NoData)
	}
}

func goldenMarkdown(t *testing.T, name string, reports []Report, in DocInput) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, Compare(reports), in); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", name, diff)
	}
}

func TestMarkdownGolden(t *testing.T) {
	in := DocInput{
		Machine:   [][2]string{{"CPU", "Test CPU"}, {"cores", "2"}},
		Commands:  []string{"scripts/bench.sh --rounds 3"},
		Notes:     []string{"A note of this run."},
		SelfCheck: []SelfCheck{{Name: "generate", MiBps: 6000}},
	}
	t.Run("measured", func(t *testing.T) { goldenMarkdown(t, "measured.golden.md", sampleReports(), in) })
	t.Run("measured with scale-out", func(t *testing.T) { goldenMarkdown(t, "scaleout.golden.md", scaleOutReports(), in) })
	t.Run("not yet run", func(t *testing.T) { goldenMarkdown(t, "not-run.golden.md", nil, DocInput{}) })
}
