package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/bench"
)

// runFlags holds the flags of the run command; size flags stay strings
// until parsed.
type runFlags struct {
	registry, scenarios, prefix, output, label, runID string
	concurrency, blobSize, chunkSize, largeSize       string
	duration                                          time.Duration
	pid, round, walks                                 int
	quick, list, verbose                              bool
	gcCommand                                         string
	gcBlobs, gcPushRate                               int
	gcLease                                           time.Duration
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("berthbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.registry, "registry", "http://127.0.0.1:5000", "registry base URL")
	fs.StringVar(&f.scenarios, "scenario", "all", "comma-separated scenario names, or all (see --list)")
	fs.StringVar(&f.prefix, "repo-prefix", "bench", "first path component of every repository used")
	fs.DurationVar(&f.duration, "duration", 0, "length of timed phases (default 10s, 2s with --quick)")
	fs.StringVar(&f.concurrency, "concurrency", "", "override concurrency: N for all, or scenario=N,...")
	fs.IntVar(&f.pid, "server-pid", 0, "server process id: read its CPU time and peak RSS from /proc")
	fs.StringVar(&f.output, "o", "table", "output format: table or json")
	fs.BoolVar(&f.quick, "quick", false, "smaller sizes and counts, for a smoke run")
	fs.StringVar(&f.blobSize, "blob-size", "", "size of the big blob (default 512MiB)")
	fs.StringVar(&f.chunkSize, "chunk-size", "", "chunk size of push-chunked (default 16MiB)")
	fs.StringVar(&f.largeSize, "large-size", "", "size of the large-blob scenario's blob (default 2GiB)")
	fs.IntVar(&f.walks, "walks", 0, "full walks per listing scenario (default 5)")
	fs.StringVar(&f.label, "label", "", "name of the server, recorded in the report (e.g. berth)")
	fs.IntVar(&f.round, "round", 0, "round number, recorded in the report")
	fs.StringVar(&f.runID, "run-id", "", "suffix making this run's new content distinct (default: from the clock)")
	fs.BoolVar(&f.list, "list", false, "list the scenarios and exit")
	fs.BoolVar(&f.verbose, "v", false, "log every phase to stderr")
	fs.StringVar(&f.gcCommand, "gc-command", "", "gc-sweep: the command that collects the server's stores, split at spaces (e.g. 'bin/berth gc --data-dir DIR')")
	fs.IntVar(&f.gcBlobs, "gc-blobs", 0, "gc-sweep: unreferenced blobs to seed (default 100000, 2000 with --quick)")
	fs.DurationVar(&f.gcLease, "gc-lease", 0, "gc-sweep: the longer of the server's uploads.blob_lease and gc.grace, waited out after seeding")
	fs.IntVar(&f.gcPushRate, "gc-push-rate", -1, "gc-sweep: images a second pushed during the sweep (default 20; 0: as fast as 2 workers go)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.output != "table" && f.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", f.output)
	}
	return f, nil
}

// config turns the flags into a bench.Config.
func (f *runFlags) config() (bench.Config, error) {
	c := bench.DefaultConfig()
	if f.quick {
		c = bench.QuickConfig()
	}
	c.RepoPrefix = f.prefix
	if f.runID != "" {
		c.RunID = f.runID
	}
	if f.duration > 0 {
		c.Duration = f.duration
	}
	if f.walks > 0 {
		c.Walks = f.walks
	}
	c.GCCommand = strings.Fields(f.gcCommand)
	c.GCLease = f.gcLease
	if f.gcBlobs > 0 {
		c.GCBlobs = f.gcBlobs
	}
	if f.gcPushRate >= 0 {
		c.GCPushRate = f.gcPushRate
	}
	for _, s := range []struct {
		flag string
		dst  *int64
	}{{f.blobSize, &c.BlobSize}, {f.chunkSize, &c.ChunkSize}, {f.largeSize, &c.LargeSize}} {
		if s.flag == "" {
			continue
		}
		n, err := bench.ParseSize(s.flag)
		if err != nil {
			return c, err
		}
		*s.dst = n
	}
	if f.concurrency != "" {
		m, err := bench.ParseConcurrency(f.concurrency)
		if err != nil {
			return c, err
		}
		c.Concurrency = m
	}
	return c, c.Validate()
}

// maxConcurrency is the largest concurrency any selected scenario uses; the
// connection pool is sized for it.
func maxConcurrency(c bench.Config, scs []bench.Scenario) int {
	n := c.SetupConcurrency
	for _, s := range scs {
		n = max(n, c.Concurrency[s.Name], c.Concurrency["*"], s.Concurrency)
	}
	return n
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return exitFatal
	}
	if f.list {
		for _, s := range bench.Scenarios() {
			opt := ""
			if !s.InAll {
				opt = " (opt-in, not in all)"
			}
			fmt.Fprintf(stdout, "%-14s %s%s\n", s.Name, s.Summary, opt)
		}
		return exitOK
	}
	cfg, err := f.config()
	if err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return exitFatal
	}
	scs, err := bench.Select(f.scenarios)
	if err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return exitFatal
	}
	client, err := bench.NewClient(f.registry, maxConcurrency(cfg, scs))
	if err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return exitFatal
	}
	defer client.Close()
	if user := os.Getenv("BERTHBENCH_USERNAME"); user != "" {
		client.SetBasicAuth(user, os.Getenv("BERTHBENCH_PASSWORD"))
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	env := &bench.Env{
		Client: client, Config: cfg, Meter: bench.ProcMeter{PID: f.pid}, Digests: bench.NewDigester(),
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := bench.Report{
		Tool: "berthbench", Registry: f.registry, Label: f.label, Round: f.round,
		Started: time.Now().UTC(), ServerPID: f.pid, GoVersion: runtime.Version(), Config: cfg,
		LoadStart: bench.LoadAverage(),
	}
	for _, s := range scs {
		if ctx.Err() != nil {
			break
		}
		rep.Results = append(rep.Results, s.Run(ctx, env)...)
	}
	rep.LoadEnd = bench.LoadAverage()
	if f.output == "json" {
		err = bench.WriteJSON(stdout, rep)
	} else {
		err = bench.WriteTable(stdout, rep)
	}
	if err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return exitFatal
	}
	if n := rep.Problems(); n > 0 {
		// Errors are part of the output, never hidden: say so on stderr too,
		// where a script running with -o json still shows it.
		fmt.Fprintf(stderr, "berthbench: %d problems (failed operations or unmeasured scenarios); see the output\n", n)
		return exitProblems
	}
	if ctx.Err() != nil {
		return exitFatal
	}
	return exitOK
}
