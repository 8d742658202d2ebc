package transfer_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/pgtest"
)

// TestMain stops the PostgreSQL server the destination tests start.
func TestMain(m *testing.M) { pgtest.Main(m) }
