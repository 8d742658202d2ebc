package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/berth-registry/berth/internal/s3test"
)

// TestMain runs the tests, then stops the PostgreSQL and S3 servers the
// scale-out tests started and removes the berth binary the tests built.
func TestMain(m *testing.M) {
	pgtest.Begin()
	code := m.Run()
	if err := pgtest.End(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		code = max(code, 1)
	}
	s3test.Cleanup()
	berthtest.Cleanup()
	os.Exit(code)
}
