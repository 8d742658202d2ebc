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
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/bench"
)

// cmdRawS3 measures an S3 server directly with the payloads of the blob
// scenarios (bench.RunRawS3) and prints a report labelled raw-s3, which
// 'berthbench report' sets beside Berth's scale-out figures.
func cmdRawS3(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("berthbench raws3", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var r bench.RawS3
	fs.StringVar(&r.Endpoint, "endpoint", "", "S3 server base URL, http(s)://host:port (path-style addressing)")
	fs.StringVar(&r.Bucket, "bucket", "berthbench-raw", "bucket to use; created if missing")
	fs.StringVar(&r.Region, "region", "us-east-1", "region to sign requests for")
	partSize := fs.String("part-size", "16MiB", "multipart part size of the big object (Berth's s3.part_size)")
	quick := fs.Bool("quick", false, "the sizes of berthbench --quick")
	blobSize := fs.String("blob-size", "", "size of the big object (default that of the blob scenarios, 512MiB)")
	pid := fs.Int("server-pid", 0, "S3 server process id: read its CPU time and peak RSS from /proc")
	round := fs.Int("round", 0, "round number, recorded in the report")
	output := fs.String("o", "table", "output format: table or json")
	verbose := fs.Bool("v", false, "log every phase to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: berthbench raws3 --endpoint URL [flags]")
		fmt.Fprintln(stderr, "Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitFatal
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "berthbench raws3: -o %q: want table or json\n", *output)
		return exitFatal
	}
	r.AccessKey, r.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	cfg := bench.DefaultConfig()
	if *quick {
		cfg = bench.QuickConfig()
	}
	var err error
	if r.PartSize, err = bench.ParseSize(*partSize); err == nil && *blobSize != "" {
		cfg.BlobSize, err = bench.ParseSize(*blobSize)
	}
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "berthbench raws3:", err)
		return exitFatal
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	env := &bench.Env{Config: cfg, Meter: bench.ProcMeter{PID: *pid}, Digests: bench.NewDigester(),
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := bench.Report{
		Tool: "berthbench", Registry: r.Endpoint, Label: bench.LabelRawS3, Round: *round,
		Started: time.Now().UTC(), ServerPID: *pid, GoVersion: runtime.Version(), Config: cfg,
		LoadStart: bench.LoadAverage(),
	}
	results, err := bench.RunRawS3(ctx, env, r)
	if err != nil {
		fmt.Fprintln(stderr, "berthbench raws3:", err)
		return exitFatal
	}
	rep.Results, rep.LoadEnd = results, bench.LoadAverage()
	if *output == "json" {
		err = bench.WriteJSON(stdout, rep)
	} else {
		err = bench.WriteTable(stdout, rep)
	}
	if err != nil {
		fmt.Fprintln(stderr, "berthbench raws3:", err)
		return exitFatal
	}
	if n := rep.Problems(); n > 0 {
		fmt.Fprintf(stderr, "berthbench raws3: %d failed operations; see the output\n", n)
		return exitProblems
	}
	return exitOK
}
