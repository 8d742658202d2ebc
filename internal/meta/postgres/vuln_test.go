package postgres

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestVulnConformance(t *testing.T) {
	metatest.RunVuln(t, func(t *testing.T) meta.Store {
		return openTest(t, newDatabase(t), Options{})
	})
}
