package postgres

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

func TestQuotaConformance(t *testing.T) {
	metatest.RunQuota(t, func(t *testing.T) meta.Store {
		return openTest(t, newDatabase(t), Options{})
	})
}
