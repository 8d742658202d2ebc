package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-registry/berth/internal/bench"
)

// multiFlag collects a flag given several times, in order.
type multiFlag []string

// String joins the values given so far.
func (m *multiFlag) String() string { return strings.Join(*m, "; ") }

// Set appends one more value.
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("berthbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the Markdown here instead of stdout")
	selfcheck := fs.String("selfcheck", "", "JSON from 'berthbench selfcheck -o json' to include")
	requireBoth := fs.Bool("require-both", false, "refuse to write unless both berth and distribution results are given")
	var meta, commands, notes multiFlag
	fs.Var(&meta, "meta", "machine fact as key=value (repeatable, shown in order)")
	fs.Var(&commands, "command", "a command of the run, shown verbatim (repeatable)")
	fs.Var(&notes, "note", "an extra caveat of this run (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: berthbench report [flags] RESULT.json...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitFatal
	}
	in := bench.DocInput{Commands: commands, Notes: notes}
	for _, kv := range meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(stderr, "berthbench report: --meta %q: want key=value\n", kv)
			return exitFatal
		}
		in.Machine = append(in.Machine, [2]string{k, v})
	}
	if *selfcheck != "" {
		b, err := os.ReadFile(*selfcheck)
		if err == nil {
			err = json.Unmarshal(b, &in.SelfCheck)
		}
		if err != nil {
			fmt.Fprintf(stderr, "berthbench report: --selfcheck %s: %v\n", *selfcheck, err)
			return exitFatal
		}
	}
	reports, err := readReports(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "berthbench report:", err)
		return exitFatal
	}
	cmp := bench.Compare(reports)
	if *requireBoth && !cmp.Complete() {
		fmt.Fprintf(stderr, "berthbench report: --require-both: have %d berth and %d distribution rounds; not writing\n",
			cmp.Rounds[bench.LabelBerth], cmp.Rounds[bench.LabelDistribution])
		return exitFatal
	}
	var buf bytes.Buffer
	if err := bench.WriteMarkdown(&buf, cmp, in); err != nil {
		fmt.Fprintln(stderr, "berthbench report:", err)
		return exitFatal
	}
	if *out == "" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		// Hand-written sections (opt-in scenarios) survive a regeneration.
		prev, _ := os.ReadFile(*out) // a missing file keeps nothing
		err = os.WriteFile(*out, bench.KeepSections(prev, buf.Bytes(), bench.KeptSections), 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "berthbench report:", err)
		return exitFatal
	}
	return exitOK
}

func readReports(paths []string) ([]bench.Report, error) {
	var out []bench.Report
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		r, err := bench.ReadReport(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if r.Label == "" {
			return nil, fmt.Errorf("%s: report has no label; run berthbench with --label", p)
		}
		out = append(out, r)
	}
	return out, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
