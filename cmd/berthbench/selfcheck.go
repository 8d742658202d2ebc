package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/berth-registry/berth/internal/bench"
)

func cmdSelfcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("berthbench selfcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizeFlag := fs.String("size", "1GiB", "bytes to generate, hash and send per measurement")
	output := fs.String("o", "table", "output format: table or json")
	jsonOut := fs.String("json-out", "", "also write the JSON to this file")
	if err := fs.Parse(args); err != nil {
		return exitFatal
	}
	size, err := bench.ParseSize(*sizeFlag)
	if err != nil || size <= 0 {
		fmt.Fprintln(stderr, "berthbench selfcheck: --size must be a positive size")
		return exitFatal
	}
	checks, err := bench.RunSelfCheck(context.Background(), size)
	if err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return exitFatal
	}
	if *jsonOut != "" {
		var buf bytes.Buffer
		err := writeJSON(&buf, checks)
		if err == nil {
			err = os.WriteFile(*jsonOut, buf.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "berthbench:", err)
			return exitFatal
		}
	}
	if *output == "json" {
		if err := writeJSON(stdout, checks); err != nil {
			fmt.Fprintln(stderr, "berthbench:", err)
			return exitFatal
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tMiB\tseconds\tMiB/s\t")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.0f\t\n", c.Name, c.Bytes>>20, c.Seconds, c.MiBps)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, "berthbench:", err)
		return exitFatal
	}
	return exitOK
}
