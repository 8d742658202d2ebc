package bench

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// DocInput is everything the Markdown report shows besides the results.
type DocInput struct {
	// Machine is shown as a list, in order: CPU model, cores, RAM, kernel,
	// filesystem of the data directories, Go version, date, load...
	Machine [][2]string
	// Commands are the exact commands of the run.
	Commands []string
	// Notes are extra caveats of this run, one paragraph each.
	Notes []string
	// SelfCheck is the tool's own speed on this machine.
	SelfCheck []SelfCheck
}

// WriteMarkdown writes docs/benchmarks.md: status, summary against the
// targets, machine, commands, method, one table per scenario and every
// error. Without results from both servers it keeps the structure and marks
// the figures as not yet run.
func WriteMarkdown(w io.Writer, c *Comparison, in DocInput) error {
	var b strings.Builder
	b.WriteString("# Berth and CNCF Distribution side by side\n\n")
	b.WriteString("<!-- Written by scripts/bench.sh through `berthbench report`; edit the generator, not this file. -->\n\n")
	if c.Complete() {
		fmt.Fprintf(&b, "**Status: measured** — %d round(s) of Berth", c.Rounds[LabelBerth])
		if n := c.Rounds[LabelScaleOut]; n > 0 {
			fmt.Fprintf(&b, ", %d of Berth scale-out (PostgreSQL + S3)", n)
		}
		fmt.Fprintf(&b, " and %d of Distribution v3.1.2, alternating, medians shown.\n\n", c.Rounds[LabelDistribution])
	} else if len(c.Reports) > 0 {
		fmt.Fprintf(&b, "**Status: NOT YET RUN against both servers.** Only %s results are here (%d berth and %d distribution rounds), "+
			"so no ratio or verdict can be computed: this is a check of the harness, not a benchmark result.\n\n",
			strings.Join(slices.Sorted(maps.Keys(c.Rounds)), " and "), c.Rounds[LabelBerth], c.Rounds[LabelDistribution])
	} else {
		b.WriteString("**Status: NOT YET RUN.** The structure below is final; every figure shows \"—\" until ")
		b.WriteString("`scripts/bench.sh` has run against both servers. Numbers from a run against only one ")
		b.WriteString("server are never written here.\n\n")
	}
	if c.NonDefaultSizes() {
		b.WriteString("**Warning: these rounds used non-default sizes or concurrency (`--quick` or overrides)**; the ")
		b.WriteString("\"what\" column describes the full benchmark, the parameters under each scenario what actually ran.\n\n")
	}
	writeSummary(&b, c)
	writeScaleOut(&b, c)
	writeMachine(&b, in)
	writeRounds(&b, c)
	writeMethod(&b, in)
	for _, s := range Scenarios() {
		if !s.BerthOnly {
			writeScenario(&b, c, s)
		}
	}
	writeErrors(&b, c)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing the Markdown report: %w", err)
	}
	return nil
}

func writeSummary(b *strings.Builder, c *Comparison) {
	b.WriteString("## Summary against the targets\n\n")
	b.WriteString("Ratios are Berth / Distribution of the medians. For throughputs (MiB/s, ops/s) higher is better ")
	b.WriteString("and the target is a minimum; for times, CPU and memory lower is better and the target is a maximum. ")
	b.WriteString("Targets and verdicts are about Berth embedded (SQLite and filesystem, the default); the Berth scale-out ")
	b.WriteString("column (PostgreSQL and S3) is shown beside it and judged [below](#scale-out-berth-on-postgresql-and-s3).\n\n")
	b.WriteString("| scenario | what | unit | Distribution | Berth | Berth scale-out | Berth/Distribution | target | verdict |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, t := range Targets {
		var d, bv, sv float64 = math.NaN(), math.NaN(), math.NaN()
		if cmp := c.Find(t.Result); cmp != nil {
			d, bv, sv = cmp.Series[LabelDistribution].Median(), cmp.Series[LabelBerth].Median(), cmp.Series[LabelScaleOut].Median()
		}
		ratio, v := c.Verdict(t)
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s | %s (%s) | %s | %s |\n", t.Result, t.What, t.Unit,
			formatValue(d, t.Unit), formatValue(bv, t.Unit), formatValue(sv, t.Unit), formatRatio(ratio),
			direction(t.Unit.HigherIsBetter()), formatTarget(t.Ratio, t.Unit.HigherIsBetter()), v)
	}
	cpuR, cpuV, rssR, rssV := c.TotalVerdicts()
	d, bt, st := c.Totals[LabelDistribution], c.Totals[LabelBerth], c.Totals[LabelScaleOut]
	fmt.Fprintf(b, "| server CPU | CPU time over all count-bound phases | s | %s | %s | %s | %s (lower is better) | %s | %s |\n",
		fixed2(totalMedian(d, true)), fixed2(totalMedian(bt, true)), fixed2(totalMedian(st, true)),
		formatRatio(cpuR), formatTarget(CPUTarget, false), cpuV)
	fmt.Fprintf(b, "| server memory | highest peak RSS of any phase | MiB | %s | %s | %s | %s (lower is better) | %s | %s |\n\n",
		mibF(totalMedian(d, false)), mibF(totalMedian(bt, false)), mibF(totalMedian(st, false)),
		formatRatio(rssR), formatTarget(RSSTarget, false), rssV)
	b.WriteString("Berth scale-out's CPU and memory are those of the Berth process alone: PostgreSQL and the S3 server ")
	b.WriteString("do part of its work in their own processes, which are not counted.\n\n")
}

func totalMedian(t *Totals, cpu bool) float64 {
	if t == nil {
		return math.NaN()
	}
	if cpu {
		return Median(t.CPU)
	}
	return Median(t.PeakRSS)
}

func writeMachine(b *strings.Builder, in DocInput) {
	b.WriteString("## Machine\n\n")
	if len(in.Machine) == 0 {
		b.WriteString("Not yet recorded.\n\n")
	}
	for _, kv := range in.Machine {
		fmt.Fprintf(b, "- **%s**: %s\n", kv[0], kv[1])
	}
	if len(in.Machine) > 0 {
		b.WriteString("\n")
	}
	if len(in.SelfCheck) > 0 {
		b.WriteString("The load tool's own speed on this machine (`berthbench selfcheck`; loopback HTTP against an ")
		b.WriteString("in-process sink or source sharing the CPU, as a server does), to compare with the servers' rates below:\n\n")
		b.WriteString("| measurement | MiB/s |\n|---|---:|\n")
		for _, s := range in.SelfCheck {
			fmt.Fprintf(b, "| %s | %.0f |\n", s.Name, s.MiBps)
		}
		b.WriteString("\n")
	}
}

func writeRounds(b *strings.Builder, c *Comparison) {
	if len(c.Reports) == 0 {
		return
	}
	b.WriteString("Rounds, in the order they ran (1-minute load average at start → end; above ~1 at the start, other work was competing):\n\n")
	b.WriteString("| server | round | started (UTC) | load average |\n|---|---:|---|---|\n")
	reps := slices.Clone(c.Reports)
	slices.SortStableFunc(reps, func(x, y Report) int { return x.Started.Compare(y.Started) })
	for _, r := range reps {
		fmt.Fprintf(b, "| %s | %d | %s | %.2f → %.2f |\n", r.Label, r.Round, r.Started.Format("2006-01-02 15:04:05"), r.LoadStart, r.LoadEnd)
	}
	b.WriteString("\n")
}

func writeMethod(b *strings.Builder, in DocInput) {
	b.WriteString("## How it was run\n\n")
	if len(in.Commands) > 0 {
		b.WriteString("```sh\n")
		for _, c := range in.Commands {
			b.WriteString(c + "\n")
		}
		b.WriteString("```\n\n")
	} else {
		b.WriteString("```sh\nscripts/bench.sh --rounds 3\n```\n\n")
	}
	for _, p := range methodNotes {
		b.WriteString("- " + p + "\n")
	}
	for _, p := range in.Notes {
		b.WriteString("- " + p + "\n")
	}
	b.WriteString("\n")
}

var methodNotes = []string{
	"Every server runs on 127.0.0.1 and starts empty every round: Distribution and Berth embedded on a fresh " +
		"data directory (filesystem storage; Berth's metadata in SQLite), Berth scale-out on a fresh PostgreSQL " +
		"cluster and a fresh versitygw (S3, posix backend) with an empty bucket. Each round runs Distribution, " +
		"Berth, then Berth scale-out, and every figure is the median over the rounds (the per-round values are " +
		"listed in each table). Before each round `scripts/bench.sh` runs `sync` (so that no round pays for the " +
		"writeback, or the discards, of data an earlier round wrote or deleted) and waits until the 1-minute load " +
		"average is below `BENCH_QUIET_LOAD` (default 1.0).",
	"**Durability differs:** Distribution's filesystem driver does not fsync what it writes; Berth embedded " +
		"fsyncs blob data and its directory before the metadata that points at it commits (SQLite in WAL mode, " +
		"synchronous=FULL). Distribution's figures therefore include no fsync cost. Berth scale-out's PostgreSQL " +
		"runs with fsync=on and synchronous_commit=on; versitygw's posix backend writes objects without fsync.",
	"The servers and the load tool (`berthbench`) run on the same machine (cores above) and nothing is pinned " +
		"to a core: the tool's CPU use competes with the server's, and in scale-out rounds PostgreSQL and " +
		"versitygw share the same cores too. The tool's own speed is measured above.",
	"Server CPU seconds (utime+stime from /proc/<pid>/stat) and peak RSS (VmHWM from /proc/<pid>/status, " +
		"reset through clear_refs at the start of every phase) cover the measured phase only, not its set-up, " +
		"and the registry process only (for scale-out: Berth, not PostgreSQL or versitygw). For phases that run " +
		"for a fixed time (manifest HEAD/GET) CPU is shown per 1,000 operations, since a faster server does more " +
		"work in the same time; the server-wide CPU total leaves them out.",
	"Any response other than the expected 2xx is an error: it is counted, listed under Errors, and a result " +
		"with errors is never judged \"met\".",
	"Blob data is generated on the fly from a deterministic PRNG per blob (never held in memory) and every " +
		"pulled blob's digest is verified while reading.",
	"Distribution v3.1.2 runs with the configuration of its official image (filesystem storage, in-memory " +
		"blob descriptor cache) with access logs off and log level warn; this favours Distribution, if anything.",
}

// figureRow is one row of a scenario table.
type figureRow struct {
	name   string
	higher bool
	get    func(*Series) []float64
	format func(float64) string
	target *Target
}

func writeScenario(b *strings.Builder, c *Comparison, s Scenario) {
	fmt.Fprintf(b, "## `%s`\n\n%s.\n\n", s.Name, upperFirst(s.Summary))
	found := false
	for _, cmp := range c.Results {
		if cmp.Scenario != s.Name {
			continue
		}
		found = true
		writeResultTable(b, cmp)
	}
	if found {
		return
	}
	for _, k := range knownResults() {
		if k.scenario == s.Name {
			writeResultTable(b, Compared{Name: k.name, Scenario: s.Name, Series: map[string]*Series{}})
		}
	}
}

// known is a result every full run produces.
type known struct {
	name, scenario string
	unit           Unit
}

// knownResults lists the results of every scenario, so that the report
// keeps its structure before any figure exists.
func knownResults() []known {
	var out []known
	for _, t := range Targets {
		scenario, _, _ := strings.Cut(t.Result, "/")
		out = append(out, known{t.Result, scenario, t.Unit})
	}
	return append(out,
		known{"large-blob/push", "large-blob", MiBPerSec},
		known{"large-blob/pull", "large-blob", MiBPerSec})
}

func writeResultTable(b *strings.Builder, cmp Compared) {
	d, bs, ss := cmp.Series[LabelDistribution], cmp.Series[LabelBerth], cmp.Series[LabelScaleOut]
	unit := Unit("")
	var target *Target
	for i, t := range Targets {
		if t.Result == cmp.Name {
			target = &Targets[i]
		}
	}
	for _, k := range knownResults() {
		if k.name == cmp.Name {
			unit = k.unit
		}
	}
	for _, s := range []*Series{d, bs, ss} {
		if s != nil && s.Unit != "" {
			unit = s.Unit
		}
	}
	if cmp.Name != cmp.Scenario {
		fmt.Fprintf(b, "### `%s`\n\n", cmp.Name)
	}
	if p := paramsOf(d, bs, ss); p != "" {
		fmt.Fprintf(b, "Parameters: %s.\n\n", p)
	}
	rows := []figureRow{
		{name: headlineName(unit), higher: unit.HigherIsBetter(), get: func(s *Series) []float64 { return s.Values },
			format: func(v float64) string { return formatValue(v, unit) }, target: target},
		{name: "latency p50, ms", get: func(s *Series) []float64 { return s.P50 }, format: fixed2},
		{name: "latency p95, ms", get: func(s *Series) []float64 { return s.P95 }, format: fixed2},
		{name: "latency p99, ms", get: func(s *Series) []float64 { return s.P99 }, format: fixed2},
		{name: cpuName(d, bs, ss), get: func(s *Series) []float64 { return s.CPU }, format: fixed2},
		{name: "server peak RSS, MiB", get: func(s *Series) []float64 { return s.PeakRSS }, format: mibF},
	}
	b.WriteString("| figure | Distribution | Berth | Berth scale-out | Berth/Distribution | target | verdict |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
	if cmp.Scenario == "large-blob" {
		// The point of the scenario: does memory grow with the blob?
		rows = append(rows, figureRow{name: "server RSS at phase start, MiB", get: func(s *Series) []float64 { return s.RSSStart }, format: mibF})
	}
	if singleOp(d, bs, ss) {
		rows = slices.Delete(rows, 1, 4) // one operation per round: its latency is the headline
	}
	for _, r := range rows {
		dv, bv, sv := medianOf(d, r.get), medianOf(bs, r.get), medianOf(ss, r.get)
		ratio := Ratio(bv, dv)
		tgt, verdict := "", ""
		if r.target != nil {
			tgt = formatTarget(r.target.Ratio, r.higher)
			verdict = string(Judge(ratio, r.target.Ratio, r.higher))
			if (d != nil && !d.Clean()) || (bs != nil && !bs.Clean()) {
				verdict = string(Invalid)
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s (%s) | %s | %s |\n", r.name, r.format(dv), r.format(bv), r.format(sv),
			formatRatio(ratio), direction(r.higher), tgt, verdict)
	}
	fmt.Fprintf(b, "| per round (headline) | %s | %s | %s | | | |\n", rounds(d, unit), rounds(bs, unit), rounds(ss, unit))
	fmt.Fprintf(b, "| errors (all rounds) | %s | %s | %s | | | |\n\n", errorCount(d), errorCount(bs), errorCount(ss))
}

// singleOp reports whether every round of every present series made at most
// one operation.
func singleOp(series ...*Series) bool {
	seen := false
	for _, s := range series {
		if s == nil {
			continue
		}
		for _, n := range s.Ops {
			seen = true
			if n > 1 {
				return false
			}
		}
	}
	return seen
}

func headlineName(u Unit) string {
	switch u {
	case MiBPerSec:
		return "throughput, MiB/s"
	case OpsPerSec:
		return "throughput, ops/s"
	case SecsPerWalk:
		return "time per full walk, s (median of walks)"
	}
	return "headline"
}

func cpuName(series ...*Series) string {
	for _, s := range series {
		if s != nil && s.Timed {
			return "server CPU s per 1,000 ops"
		}
	}
	return "server CPU, s"
}

func medianOf(s *Series, get func(*Series) []float64) float64 {
	if s == nil {
		return math.NaN()
	}
	return Median(get(s))
}

func paramsOf(series ...*Series) string {
	for _, s := range series {
		if s == nil || len(s.Params) == 0 {
			continue
		}
		keys := make([]string, 0, len(s.Params))
		for k := range s.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%s", k, formatParam(k, s.Params[k]))
		}
		return strings.Join(parts, ", ")
	}
	return ""
}

func formatParam(k string, v int64) string {
	if strings.HasSuffix(k, "_bytes") && v >= 1<<10 {
		return sizeString(v)
	}
	return fmt.Sprint(v)
}

// sizeString prints a byte count with the largest binary unit that
// divides it evenly enough to read.
func sizeString(v int64) string {
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", v>>30)
	case v >= 1<<20 && v%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", v>>20)
	case v >= 1<<10 && v%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", v>>10)
	}
	return fmt.Sprintf("%.1fMiB", float64(v)/(1<<20))
}

func rounds(s *Series, u Unit) string {
	if s == nil || len(s.Values) == 0 {
		return "—"
	}
	parts := make([]string, len(s.Values))
	for i, v := range s.Values {
		parts[i] = formatValue(v, u)
	}
	return strings.Join(parts, " / ")
}

func errorCount(s *Series) string {
	if s == nil {
		return "—"
	}
	out := fmt.Sprint(s.Errors)
	if len(s.Failed) > 0 {
		out += fmt.Sprintf(" + %d not measured", len(s.Failed))
	}
	if s.Errors > 0 || len(s.Failed) > 0 {
		out = "**" + out + "**"
	}
	return out
}

func writeErrors(b *strings.Builder, c *Comparison) {
	b.WriteString("## Errors\n\n")
	n := 0
	for _, rep := range c.Reports {
		for _, r := range rep.Results {
			if r.Failed != "" {
				fmt.Fprintf(b, "- %s round %d, `%s`: not measured: %s\n", rep.Label, rep.Round, r.Name, r.Failed)
				n++
			}
			if r.Errors > 0 && len(r.ErrorSamples) == 0 {
				fmt.Fprintf(b, "- %s round %d, `%s`: %d failed operations (no message recorded)\n", rep.Label, rep.Round, r.Name, r.Errors)
				n++
			}
			for _, s := range r.ErrorSamples {
				fmt.Fprintf(b, "- %s round %d, `%s`: %d × %s (e.g. `%s`)\n", rep.Label, rep.Round, r.Name, s.Count, s.Kind, s.Example)
				n++
			}
		}
	}
	switch {
	case len(c.Reports) == 0:
		b.WriteString("Not yet run.\n")
	case n == 0:
		b.WriteString("None: every request got the expected 2xx response.\n")
	}
}

// formatValue prints a headline figure with precision fitting its size.
func formatValue(v float64, u Unit) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case u == SecsPerWalk && v >= 0.1:
		return fmt.Sprintf("%.3f", v)
	case u == SecsPerWalk:
		return fmt.Sprintf("%.3g", v) // three significant digits of a few ms
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func formatTarget(r float64, higher bool) string {
	v := strconv.FormatFloat(r, 'f', -1, 64)
	if higher {
		return "≥ " + v + "×"
	}
	return "≤ " + v + "×"
}

func direction(higher bool) string {
	if higher {
		return "higher is better"
	}
	return "lower is better"
}

func fixed2(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

func mibF(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.1f", v/(1<<20))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
