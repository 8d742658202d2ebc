// Command berthbench is a load tool that speaks the OCI Distribution API
// over plain HTTP. It runs named scenarios against one registry and prints
// what each measured; with --server-pid it also reads the server's CPU time
// and peak RSS from /proc. Its "report" subcommand compares the JSON
// outputs of several rounds against two servers and writes the Markdown of
// docs/benchmarks.md; "selfcheck" measures how fast the tool itself can
// generate, hash, send and receive data; "raws3" measures an S3 server
// directly with the payloads of the blob scenarios, the reference for
// Berth's scale-out mode on that server; "show" prints saved JSON results
// as tables.
//
//	berthbench --registry http://127.0.0.1:5000 --scenario all -o table
//	berthbench report --out docs/benchmarks.md results/*.json
//	berthbench selfcheck
//	berthbench raws3 --endpoint http://127.0.0.1:7070 --bucket raw -o json
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK       = 0
	exitFatal    = 1 // bad usage or nothing could be measured
	exitProblems = 3 // the run finished, but some operations failed
)

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return cmdReport(args[1:], stdout, stderr)
		case "selfcheck":
			return cmdSelfcheck(args[1:], stdout, stderr)
		case "show":
			return cmdShow(args[1:], stdout, stderr)
		case "raws3":
			return cmdRawS3(args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		case "help", "-h", "--help":
			fmt.Fprintln(stdout, "usage:")
			fmt.Fprintln(stdout, "  berthbench [run] [flags]              run scenarios against a registry (run --help for flags)")
			fmt.Fprintln(stdout, "  berthbench report [flags] FILE...     compare JSON results of two servers as Markdown")
			fmt.Fprintln(stdout, "  berthbench show FILE...               print JSON results as tables")
			fmt.Fprintln(stdout, "  berthbench selfcheck [flags]          measure the tool's own generate/hash/send speed")
			fmt.Fprintln(stdout, "  berthbench raws3 --endpoint URL       measure an S3 server itself with the blob scenarios' payloads")
			fmt.Fprintln(stdout, "")
			fmt.Fprintln(stdout, "A registry with access control: set BERTHBENCH_USERNAME and BERTHBENCH_PASSWORD")
			fmt.Fprintln(stdout, "(sent as HTTP Basic credentials with every request).")
			return exitOK
		}
	}
	return cmdRun(args, stdout, stderr)
}
