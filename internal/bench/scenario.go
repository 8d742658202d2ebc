package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Config sizes the scenarios. DefaultConfig gives the sizes the benchmark
// report is about; QuickConfig gives a smoke run of a couple of minutes.
type Config struct {
	// RepoPrefix is the first path component of every repository the tool
	// creates.
	RepoPrefix string `json:"repo_prefix"`
	// RunID makes the blobs and repositories of scenarios that must push new
	// content distinct from those of earlier runs against the same server.
	RunID string `json:"run_id"`
	// BlobSize is the size of the big blob (push-mono, push-chunked, pull).
	BlobSize int64 `json:"blob_bytes"`
	// ChunkSize is the PATCH size of push-chunked.
	ChunkSize int64 `json:"chunk_bytes"`
	// LargeSize is the size of the large-blob scenario's blob.
	LargeSize int64 `json:"large_bytes"`
	// Images is the number of images push-images pushes at once, each of
	// ImageLayers layers around LayerSize bytes (the shared base is twice
	// that).
	Images      int   `json:"images"`
	ImageLayers int   `json:"image_layers"`
	LayerSize   int64 `json:"layer_bytes"`
	// SmallCount blobs of SmallSize bytes are pushed, then pulled.
	SmallCount int   `json:"small_count"`
	SmallSize  int64 `json:"small_bytes"`
	// FewTags and ManyTags are the tag counts of the two repositories whose
	// manifests are resolved; ManyTags is also the repository tag-list walks.
	FewTags  int `json:"few_tags"`
	ManyTags int `json:"many_tags"`
	// TagPushes is the number of tags tag-push creates.
	TagPushes int `json:"tag_pushes"`
	// Repos is the number of repositories catalog sets up and walks.
	Repos int `json:"repos"`
	// PageSize is the n of paginated listings.
	PageSize int `json:"page_size"`
	// Walks is how many times tag-list and catalog walk a listing.
	Walks int `json:"walks"`
	// Duration is how long timed phases run.
	Duration time.Duration `json:"duration"`
	// Concurrency overrides the default concurrency of scenarios by name; the
	// key "*" applies to every scenario that has none of its own.
	Concurrency map[string]int `json:"concurrency,omitempty"`
	// SetupConcurrency is the concurrency of untimed fixture set-up.
	SetupConcurrency int `json:"setup_concurrency"`
	// GCBlobs unreferenced blobs of GCBlobSize bytes are what gc-sweep
	// collects; GCLease is the server's uploads.blob_lease (gc-sweep waits
	// it out after seeding); GCPushRate is the images a second pushed
	// during the sweep; GCCommand is the `berth gc` command line that
	// collects the server's stores (-o json is appended).
	GCBlobs    int           `json:"gc_blobs"`
	GCBlobSize int64         `json:"gc_blob_bytes"`
	GCLease    time.Duration `json:"gc_lease"`
	GCPushRate int           `json:"gc_push_rate"`
	GCCommand  []string      `json:"gc_command,omitempty"`
}

// DefaultConfig returns the sizes of the benchmark the report targets.
func DefaultConfig() Config {
	return Config{
		RepoPrefix:       "bench",
		RunID:            fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff),
		BlobSize:         512 << 20,
		ChunkSize:        16 << 20,
		LargeSize:        2 << 30,
		Images:           8,
		ImageLayers:      10,
		LayerSize:        4 << 20,
		SmallCount:       2000,
		SmallSize:        64 << 10,
		FewTags:          16,
		ManyTags:         5000,
		TagPushes:        5000,
		Repos:            1000,
		PageSize:         100,
		Walks:            5,
		Duration:         10 * time.Second,
		SetupConcurrency: 16,
		GCBlobs:          100_000,
		GCBlobSize:       2 << 10,
		GCPushRate:       20,
	}
}

// QuickConfig returns DefaultConfig scaled down for a smoke run: every
// flow is exercised, at a fraction of the sizes and counts.
func QuickConfig() Config {
	c := DefaultConfig()
	c.BlobSize = 64 << 20
	c.ChunkSize = 4 << 20
	c.LargeSize = 256 << 20
	c.LayerSize = 512 << 10
	c.SmallCount = 200
	c.ManyTags = 500
	c.TagPushes = 500
	c.Repos = 150
	c.Walks = 3
	c.Duration = 2 * time.Second
	c.GCBlobs = 2000
	return c
}

// concurrency returns the concurrency for scenario name: its override, the
// "*" override, or def.
func (c Config) concurrency(name string, def int) int {
	if n, ok := c.Concurrency[name]; ok && n > 0 {
		return n
	}
	if n, ok := c.Concurrency["*"]; ok && n > 0 {
		return n
	}
	return def
}

func (c Config) repo(parts ...string) string {
	return strings.Join(append([]string{c.RepoPrefix}, parts...), "/")
}

// Validate reports every size or count that cannot work.
func (c Config) Validate() error {
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(c.RepoPrefix != "" && c.RepoPrefix == strings.ToLower(c.RepoPrefix), "repo prefix %q must be non-empty lowercase", c.RepoPrefix)
	check(c.BlobSize > 0 && c.LargeSize > 0 && c.LayerSize >= 4 && c.SmallSize > 0, "blob sizes must be positive")
	check(c.ChunkSize > 0, "chunk size %d must be positive", c.ChunkSize)
	check(c.Images > 0 && c.ImageLayers > 0, "images and layers must be positive")
	check(c.SmallCount > 0 && c.FewTags > 0 && c.ManyTags > 0 && c.TagPushes > 0 && c.Repos > 0, "counts must be positive")
	check(c.PageSize > 0 && c.Walks > 0, "page size and walks must be positive")
	check(c.Duration > 0, "duration must be positive")
	check(c.GCBlobs > 0 && c.GCBlobSize > 0 && c.GCPushRate >= 0 && c.GCLease >= 0, "gc-sweep counts and sizes must be positive")
	if len(problems) > 0 {
		return errdefs.Invalid("bench config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Unit is how a result's headline figure is measured, and so which
// direction is better.
type Unit string

// The units of headline figures.
const (
	MiBPerSec   Unit = "MiB/s"  // higher is better
	OpsPerSec   Unit = "ops/s"  // higher is better
	SecsPerWalk Unit = "s/walk" // median time of one full paginated walk; lower is better
)

// HigherIsBetter reports the direction of the unit.
func (u Unit) HigherIsBetter() bool { return u != SecsPerWalk }

// Result is what one phase of a scenario measured.
type Result struct {
	// Name is "scenario" or "scenario/phase"; it is stable across versions
	// of the tool, since scripts and docs refer to it.
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	Phase    string `json:"phase,omitempty"`
	// Timed is true for phases bound by Config.Duration rather than by a
	// count of operations: their server CPU compares per operation.
	Timed       bool             `json:"timed,omitempty"`
	Concurrency int              `json:"concurrency"`
	Params      map[string]int64 `json:"params,omitempty"`
	Ops         int64            `json:"ops"`
	Errors      int64            `json:"errors"`
	Bytes       int64            `json:"bytes"`
	WallSeconds float64          `json:"wall_seconds"`
	// Value is the headline figure in Unit.
	Value        float64       `json:"value"`
	Unit         Unit          `json:"unit"`
	Latency      *Latency      `json:"latency,omitempty"`
	Server       *ServerUsage  `json:"server,omitempty"`
	ErrorSamples []ErrorSample `json:"error_samples,omitempty"`
	// Failed says why the scenario could not be measured at all (its set-up
	// failed); the other fields are then empty.
	Failed string `json:"failed,omitempty"`
}

// Env is what a scenario runs with.
type Env struct {
	Client  *Client
	Config  Config
	Meter   ProcMeter
	Digests *Digester
	Log     *slog.Logger
}

// Scenario is a named benchmark: it sets up its fixtures (untimed) and
// measures one or more phases.
type Scenario struct {
	Name    string
	Summary string
	// InAll is false for opt-in scenarios that "all" does not select.
	InAll bool
	// BerthOnly: the scenario measures a Berth feature with no
	// counterpart in the servers compared, so the comparison report
	// leaves it out (docs/benchmarks.md has its own section for it).
	BerthOnly bool
	// Concurrency is the default concurrency of the timed phases.
	Concurrency int
	run         func(ctx context.Context, e *Env, sc Scenario) ([]Result, error)
}

// Scenarios returns every scenario in the order "all" runs them.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "push-mono", Summary: "push one big blob: POST, then PUT ?digest= with the whole body", InAll: true, Concurrency: 1, run: runPushMono},
		{Name: "push-chunked", Summary: "push one big blob in chunks: POST, PATCH with Content-Range per chunk, PUT ?digest=", InAll: true, Concurrency: 1, run: runPushChunked},
		{Name: "pull", Summary: "pull the big blob of push-mono, verifying its digest while reading", InAll: true, Concurrency: 1, run: runPull},
		{Name: "push-images", Summary: "push several multi-layer images at once that share a base layer (HEAD before each blob, config, manifest by tag)", InAll: true, Concurrency: 8, run: runPushImages},
		{Name: "small-blobs", Summary: "push many small distinct blobs, then pull them all", InAll: true, Concurrency: 32, run: runSmallBlobs},
		{Name: "manifest-few", Summary: "HEAD, then GET, manifests by random tag in a repository with few tags, for a fixed time", InAll: true, Concurrency: 64, run: runManifestFew},
		{Name: "manifest-many", Summary: "HEAD, then GET, manifests by random tag in a repository with many tags, for a fixed time", InAll: true, Concurrency: 64, run: runManifestMany},
		{Name: "tag-push", Summary: "push small distinct manifests by tag, sharing one config and layer (tags/s)", InAll: true, Concurrency: 16, run: runTagPush},
		{Name: "tag-list", Summary: "walk the tag list of the many-tag repository page by page, following Link", InAll: true, Concurrency: 1, run: runTagList},
		{Name: "catalog", Summary: "walk the catalog page by page, following Link, over many repositories", InAll: true, Concurrency: 1, run: runCatalog},
		{Name: "large-blob", Summary: "push, then pull, a very large blob, to show server memory stays flat", InAll: false, Concurrency: 1, run: runLargeBlob},
		{Name: "gc-sweep", Summary: "seed many small unreferenced blobs, then time a `berth gc` run over them while images are pushed (needs --gc-command)", InAll: false, BerthOnly: true, Concurrency: 1, run: runGCSweep},
	}
}

// Select resolves a comma-separated list of scenario names, where "all"
// stands for every scenario with InAll, into scenarios in the order given
// (duplicates dropped). Unknown names are an error of class ErrInvalid.
func Select(list string) ([]Scenario, error) {
	all := Scenarios()
	var out []Scenario
	add := func(s Scenario) {
		if !slices.ContainsFunc(out, func(o Scenario) bool { return o.Name == s.Name }) {
			out = append(out, s)
		}
	}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			for _, s := range all {
				if s.InAll {
					add(s)
				}
			}
			continue
		}
		i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == name })
		if i < 0 {
			return nil, errdefs.Invalid("unknown scenario %q (try --list)", name)
		}
		add(all[i])
	}
	if len(out) == 0 {
		return nil, errdefs.Invalid("no scenario selected")
	}
	return out, nil
}

// Run runs the scenario. A set-up failure yields one Result with Failed
// set, after any phases already measured.
func (s Scenario) Run(ctx context.Context, e *Env) []Result {
	e.Log.Info("scenario start", "scenario", s.Name)
	results, err := s.run(ctx, e, s)
	if err != nil {
		e.Log.Error("scenario failed", "scenario", s.Name, "err", err)
		results = append(results, Result{Name: s.Name, Scenario: s.Name, Failed: err.Error()})
	}
	return results
}

// phase describes one measured part of a scenario.
type phase struct {
	scenario    string
	name        string // "" when the scenario has a single phase
	concurrency int
	unit        Unit
	timed       bool
	params      map[string]int64
}

// measure runs fn between two readings of the server's usage and turns its
// tally into a Result. A failure to read /proc voids the server figures
// only, and is logged.
func (e *Env) measure(p phase, fn func() Tally) Result {
	probe, err := e.Meter.Start()
	if err != nil {
		e.Log.Warn("server usage unavailable", "scenario", p.scenario, "err", err)
	}
	t := fn()
	usage, err := e.Meter.Stop(probe)
	if err != nil {
		e.Log.Warn("server usage unavailable", "scenario", p.scenario, "err", err)
	}
	r := Result{
		Name: p.scenario, Scenario: p.scenario, Phase: p.name, Timed: p.timed,
		Concurrency: p.concurrency, Params: p.params,
		Ops: t.Ops, Errors: t.Errors, Bytes: t.Bytes, WallSeconds: t.Wall.Seconds(),
		Unit: p.unit, Latency: Summarize(t.Latencies), Server: usage,
		ErrorSamples: t.Failures.Samples(),
	}
	if p.name != "" {
		r.Name += "/" + p.name
	}
	r.Value = headline(r)
	e.Log.Info("phase done", "result", r.Name, "ops", r.Ops, "errors", r.Errors,
		"wall", t.Wall.Round(time.Millisecond), "value", fmt.Sprintf("%.2f %s", r.Value, r.Unit))
	return r
}

// headline computes the figure a result is judged by.
func headline(r Result) float64 {
	if r.WallSeconds <= 0 {
		return 0
	}
	switch r.Unit {
	case MiBPerSec:
		return float64(r.Bytes) / (1 << 20) / r.WallSeconds
	case OpsPerSec:
		return float64(r.Ops) / r.WallSeconds
	case BlobsPerMin:
		return float64(r.Ops) * 60 / r.WallSeconds
	case SecsPerWalk:
		if r.Latency == nil {
			return 0
		}
		return r.Latency.P50 / 1000
	}
	return 0
}
