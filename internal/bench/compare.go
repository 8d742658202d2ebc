package bench

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
)

// The labels scripts/bench.sh gives the servers: Berth embedded (SQLite and
// filesystem), Distribution, and Berth scale-out (PostgreSQL and S3).
const (
	LabelBerth        = "berth"
	LabelDistribution = "distribution"
	LabelScaleOut     = "berth-scaleout"
)

// Target is a goal from the benchmark issue, as a ratio Berth/Distribution
// of a result's headline figure. Whether the ratio must be at least or at
// most Ratio follows from Unit: at least for throughputs, at most for times.
type Target struct {
	Result string
	What   string
	Unit   Unit
	Ratio  float64
}

// Targets lists the goals, in the order the summary shows them.
var Targets = []Target{
	{"push-mono", "512 MiB monolithic push", MiBPerSec, 1.25},
	{"push-chunked", "512 MiB chunked push (16 MiB PATCH)", MiBPerSec, 1.3},
	{"pull", "512 MiB pull", MiBPerSec, 1.0},
	{"push-images", "8 concurrent 10-layer image pushes", MiBPerSec, 1.2},
	{"small-blobs/push", "64 KiB blob push, c=32", OpsPerSec, 2.5},
	{"small-blobs/pull", "64 KiB blob pull, c=32", OpsPerSec, 8},
	{"manifest-few/head", "manifest HEAD by tag, 16 tags, c=64", OpsPerSec, 2.3},
	{"manifest-few/get", "manifest GET by tag, 16 tags, c=64", OpsPerSec, 2.3},
	{"manifest-many/head", "manifest HEAD by tag, 5,000 tags, c=64", OpsPerSec, 2},
	{"manifest-many/get", "manifest GET by tag, 5,000 tags, c=64", OpsPerSec, 2},
	{"tag-push", "5,000 tag pushes (manifest PUT by tag; ops/s = tags/s)", OpsPerSec, 1.5},
	{"tag-list", "tag list walk, 5,000 tags, n=100", SecsPerWalk, 0.5},
	{"catalog", "catalog walk, 1,000 repositories, n=100", SecsPerWalk, 1.0},
}

// Server-wide goals, as ratios Berth/Distribution where lower is better.
const (
	CPUTarget = 0.6
	RSSTarget = 0.5
)

// Verdict is the outcome of checking one figure against its target.
type Verdict string

// The verdicts.
const (
	Met     Verdict = "met"
	Missed  Verdict = "missed"
	NoData  Verdict = "no data"
	Invalid Verdict = "invalid: errors"
)

// Judge compares ratio with target in the direction given.
func Judge(ratio, target float64, higherIsBetter bool) Verdict {
	switch {
	case math.IsNaN(ratio) || math.IsInf(ratio, 0):
		return NoData
	case higherIsBetter && ratio >= target, !higherIsBetter && ratio <= target:
		return Met
	default:
		return Missed
	}
}

// Ratio returns b/d, or NaN when either is missing or d is zero.
func Ratio(b, d float64) float64 {
	if math.IsNaN(b) || math.IsNaN(d) || d == 0 {
		return math.NaN()
	}
	return b / d
}

// Series is one result of one server over the rounds.
type Series struct {
	Unit    Unit
	Values  []float64 // headline figure, per round
	P50     []float64 // latency percentiles in ms, per round
	P95     []float64
	P99     []float64
	CPU     []float64 // server CPU seconds, or per 1,000 operations when Timed
	PeakRSS []float64 // bytes
	// RSSStart is the server's RSS when the phase started, in bytes: next
	// to PeakRSS it shows whether memory grew during the phase.
	RSSStart []float64
	Ops      []int64
	Errors   int64    // summed over rounds
	Failed   []string // reasons the result could not be measured
	Params   map[string]int64
	Timed    bool
}

// Median of the headline figure, NaN without data.
func (s *Series) Median() float64 {
	if s == nil {
		return math.NaN()
	}
	return Median(s.Values)
}

// Clean reports whether the series has data and no errors.
func (s *Series) Clean() bool {
	return s != nil && len(s.Values) > 0 && s.Errors == 0 && len(s.Failed) == 0
}

// Compared is one result name with both servers' series.
type Compared struct {
	Name     string
	Scenario string
	Series   map[string]*Series // by label
}

// Totals is one server's whole-run usage, one value per round.
type Totals struct {
	// CPU is the server CPU seconds summed over every phase bound by a
	// count of operations (timed phases are left out: a faster server does
	// more operations in the same time and so spends more CPU).
	CPU []float64
	// PeakRSS is the highest peak RSS of any phase, in bytes.
	PeakRSS []float64
}

// Comparison is the side-by-side view of several rounds of the servers
// (and of the raw S3 reference figures).
type Comparison struct {
	Results []Compared         // in the order of Scenarios()
	Totals  map[string]*Totals // by label
	Rounds  map[string]int     // rounds seen, by label
	Reports []Report
}

// Compare groups reports by label and result name.
func Compare(reports []Report) *Comparison {
	c := &Comparison{Totals: map[string]*Totals{}, Rounds: map[string]int{}, Reports: reports}
	byName := map[string]*Compared{}
	for _, rep := range reports {
		label := rep.Label
		c.Rounds[label]++
		tot := c.Totals[label]
		if tot == nil {
			tot = &Totals{}
			c.Totals[label] = tot
		}
		var cpu, peak float64
		var metered bool
		for _, r := range rep.Results {
			cmp := byName[r.Name]
			if cmp == nil {
				cmp = &Compared{Name: r.Name, Scenario: r.Scenario, Series: map[string]*Series{}}
				byName[r.Name] = cmp
			}
			s := cmp.Series[label]
			if s == nil {
				s = &Series{Unit: r.Unit, Params: r.Params, Timed: r.Timed}
				cmp.Series[label] = s
			}
			s.add(r)
			if r.Server != nil && r.Failed == "" {
				metered = true
				if !r.Timed {
					cpu += r.Server.CPUSeconds
				}
				peak = math.Max(peak, float64(r.Server.PeakRSSBytes))
			}
		}
		if metered {
			tot.CPU = append(tot.CPU, cpu)
			tot.PeakRSS = append(tot.PeakRSS, peak)
		}
	}
	for _, cmp := range byName {
		c.Results = append(c.Results, *cmp)
	}
	order := scenarioOrder()
	sort.SliceStable(c.Results, func(i, j int) bool {
		a, b := c.Results[i], c.Results[j]
		if order[a.Scenario] != order[b.Scenario] {
			return order[a.Scenario] < order[b.Scenario]
		}
		return phaseRank(a.Name) < phaseRank(b.Name)
	})
	return c
}

func (s *Series) add(r Result) {
	if r.Failed != "" {
		s.Failed = append(s.Failed, r.Failed)
		return
	}
	if s.Unit == "" {
		s.Unit = r.Unit
	}
	s.Values = append(s.Values, r.Value)
	s.Ops = append(s.Ops, r.Ops)
	s.Errors += r.Errors
	if l := r.Latency; l != nil {
		s.P50, s.P95, s.P99 = append(s.P50, l.P50), append(s.P95, l.P95), append(s.P99, l.P99)
	}
	if u := r.Server; u != nil {
		cpu := u.CPUSeconds
		if r.Timed {
			cpu = math.NaN()
			if r.Ops > 0 {
				cpu = u.CPUSeconds / float64(r.Ops) * 1000
			}
		}
		s.CPU = append(s.CPU, cpu)
		s.PeakRSS = append(s.PeakRSS, float64(u.PeakRSSBytes))
		s.RSSStart = append(s.RSSStart, float64(u.RSSStartBytes))
	}
}

// scenarioOrder ranks scenario names by their place in Scenarios();
// unknown names sort last.
func scenarioOrder() map[string]int {
	m := map[string]int{}
	for i, s := range Scenarios() {
		m[s.Name] = i + 1
	}
	return m
}

// phaseRank orders the phases of one scenario as they run.
func phaseRank(name string) int {
	for i, suffix := range []string{"/push", "/head", "/pull", "/get"} {
		if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
			return i
		}
	}
	return -1
}

// Find returns the comparison of a result name, or nil.
func (c *Comparison) Find(name string) *Compared {
	i := slices.IndexFunc(c.Results, func(r Compared) bool { return r.Name == name })
	if i < 0 {
		return nil
	}
	return &c.Results[i]
}

// NonDefaultSizes reports whether any round ran with sizes, counts,
// durations or concurrency other than DefaultConfig's.
func (c *Comparison) NonDefaultSizes() bool {
	norm := func(cfg Config) Config {
		cfg.RunID, cfg.RepoPrefix, cfg.SetupConcurrency, cfg.LargeSize = "", "", 0, 0
		if len(cfg.Concurrency) == 0 {
			cfg.Concurrency = nil
		}
		return cfg
	}
	want := norm(DefaultConfig())
	for _, r := range c.Reports {
		if !reflect.DeepEqual(norm(r.Config), want) {
			return true
		}
	}
	return false
}

// Complete reports whether both servers have at least one round.
func (c *Comparison) Complete() bool {
	return c.Rounds[LabelBerth] > 0 && c.Rounds[LabelDistribution] > 0
}

// Verdict judges a result against its target, Berth against
// Distribution: no data when a side is missing, invalid when a side had
// errors or a failed set-up.
func (c *Comparison) Verdict(t Target) (ratio float64, v Verdict) {
	return c.judge(t, LabelBerth, LabelDistribution)
}

// judge compares the medians of result t.Result of two labels, num/den,
// with t's ratio, the way Verdict does.
func (c *Comparison) judge(t Target, num, den string) (ratio float64, v Verdict) {
	cmp := c.Find(t.Result)
	if cmp == nil {
		return math.NaN(), NoData
	}
	b, d := cmp.Series[num], cmp.Series[den]
	if b == nil || d == nil {
		return math.NaN(), NoData
	}
	ratio = Ratio(b.Median(), d.Median())
	if !b.Clean() || !d.Clean() {
		return ratio, Invalid
	}
	return ratio, Judge(ratio, t.Ratio, t.Unit.HigherIsBetter())
}

// TotalVerdicts judges the server-wide CPU and peak RSS goals.
func (c *Comparison) TotalVerdicts() (cpuRatio float64, cpu Verdict, rssRatio float64, rss Verdict) {
	b, d := c.Totals[LabelBerth], c.Totals[LabelDistribution]
	if b == nil || d == nil {
		return math.NaN(), NoData, math.NaN(), NoData
	}
	cpuRatio = Ratio(Median(b.CPU), Median(d.CPU))
	rssRatio = Ratio(Median(b.PeakRSS), Median(d.PeakRSS))
	return cpuRatio, Judge(cpuRatio, CPUTarget, false), rssRatio, Judge(rssRatio, RSSTarget, false)
}

// formatRatio prints a ratio to three significant digits ("1.23×",
// "0.995×", so that a ratio just under a target of 1 does not print as 1),
// or "—".
func formatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return fmt.Sprintf("%.3g×", r)
}
