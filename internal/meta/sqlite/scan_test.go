package sqlite

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestScanConformance(t *testing.T) {
	metatest.RunScan(t, func(t *testing.T) meta.Store {
		s, _ := openTest(t, Options{})
		return s
	})
}
