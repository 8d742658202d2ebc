// Command berth is the Berth OCI registry: server and command-line tool.
package main

import (
	"context"
	"os"

	"github.com/berth-registry/berth/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
