package main

import (
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/bench"
)

// cmdShow prints JSON reports written by 'berthbench -o json' as tables,
// errors included.
func cmdShow(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: berthbench show RESULT.json...")
		return exitFatal
	}
	reports, err := readReports(args)
	if err != nil {
		fmt.Fprintln(stderr, "berthbench show:", err)
		return exitFatal
	}
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := bench.WriteTable(stdout, r); err != nil {
			fmt.Fprintln(stderr, "berthbench show:", err)
			return exitFatal
		}
	}
	return exitOK
}
