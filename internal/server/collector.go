package server

import (
	"context"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/prometheus/client_golang/prometheus"
)

// storeCollector exports store-wide counts (repositories, manifests, tags,
// blobs, stored bytes, open uploads) from the metadata store, read at most
// once per maxAge however often Prometheus scrapes.
type storeCollector struct {
	store  meta.Store
	maxAge time.Duration

	mu      sync.Mutex
	at      time.Time
	last    meta.Stats
	lastErr error

	repos, manifests, tags, blobs, bytes, uploads, up *prometheus.Desc
}

func newStoreCollector(s meta.Store, maxAge time.Duration) *storeCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("berth_"+name, help, nil, nil)
	}
	return &storeCollector{
		store: s, maxAge: maxAge,
		repos:     d("repositories", "Repositories known to the registry."),
		manifests: d("manifests", "Manifests stored, counted per repository."),
		tags:      d("tags", "Tags across all repositories."),
		blobs:     d("blobs", "Distinct blobs stored."),
		bytes:     d("storage_bytes", "Bytes of distinct blobs stored (each counted once)."),
		uploads:   d("uploads_in_progress", "Blob upload sessions open."),
		up:        d("metadata_up", "Whether the last read of store statistics succeeded."),
	}
}

// Describe sends the metric descriptions.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.repos, c.manifests, c.tags, c.blobs, c.bytes, c.uploads, c.up} {
		ch <- d
	}
}

// Collect sends the (possibly cached) counts.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > c.maxAge {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.last, c.lastErr = c.store.Stats(ctx)
		cancel()
		c.at = time.Now()
	}
	st, err := c.last, c.lastErr
	c.mu.Unlock()
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	if err != nil {
		return
	}
	for _, m := range []struct {
		d *prometheus.Desc
		v int64
	}{{c.repos, st.Repositories}, {c.manifests, st.Manifests}, {c.tags, st.Tags}, {c.blobs, st.Blobs}, {c.bytes, st.BlobBytes}, {c.uploads, st.Uploads}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, float64(m.v))
	}
}
