package e2e

import (
	"testing"

	"github.com/berth-registry/berth/internal/pgtest"
)

// TestMain runs the tests through pgtest.Main, which the scale-out tests
// need for their PostgreSQL server and which stops it at the end.
//
// pgtest.Main and berthtest.Main both call m.Run and os.Exit, so only one
// of them can run; s3test.Main calls m.Run too. What is lost: berthtest's
// removal of the berth binary it built (a berthtest-bin-* directory in
// the temporary directory) and s3test's removal of versitygw's directory
// (the server itself dies with the test binary). One TestMain could run
// all three once they offer a form that returns the exit code instead of
// exiting.
func TestMain(m *testing.M) { pgtest.Main(m) }
