package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
)

// TestMetrics pushes and pulls known content, then checks that /metrics
// counts the requests per route, times them in histogram buckets, counts
// bytes in and out, and reports store totals that match what was pushed.
func TestMetrics(t *testing.T) {
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	reg := p.Registry()
	ctx := context.Background()

	// Two images in one repository: every blob pushed in one POST except
	// one layer, pushed in three chunks.
	one, two := newImage(t, "metrics-1", linuxAmd64), newImage(t, "metrics-2", linuxArm64)
	chunked := one.Layers[1]
	chunk := int(chunked.Desc.Size/3) + 1
	var monolithic, storage int64
	for _, im := range []*image{one, two} {
		for _, b := range im.blobs() {
			storage += b.Desc.Size
			if b.Desc.Digest == chunked.Desc.Digest {
				if _, err := reg.PushBlobChunked(ctx, "metrics/app", b.Data, chunk); err != nil {
					t.Fatal(err)
				}
				continue
			}
			monolithic += b.Desc.Size
			if _, err := reg.PushBlob(ctx, "metrics/app", b.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	for tag, im := range map[string]*image{"one": one, "two": two} {
		if _, err := reg.PutManifest(ctx, "metrics/app", tag, im.Manifest.Desc.MediaType, im.Manifest.Data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.GetBlob(ctx, "metrics/app", two.Layers[0].Desc.Digest); err != nil {
		t.Fatal(err)
	}

	m := scrape(t, p)
	const total = "berth_http_requests_total"
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{total, requests("blob_upload_start", "POST", "201"), 5},
		{total, requests("blob_upload_start", "POST", "202"), 1},
		{total, requests("blob_upload", "PATCH", "202"), 3},
		{total, requests("blob_upload", "PUT", "201"), 1},
		{total, requests("manifest", "PUT", "201"), 2},
		{total, requests("blob", "GET", "200"), 1},
		{"berth_http_request_duration_seconds", requests("manifest", "PUT", ""), 2},
		{"berth_http_request_bytes_total", map[string]string{"route": "blob_upload_start"}, float64(monolithic)},
		{"berth_http_request_bytes_total", map[string]string{"route": "blob_upload"}, float64(chunked.Desc.Size)},
		{"berth_http_request_bytes_total", map[string]string{"route": "manifest"}, float64(one.Manifest.Desc.Size + two.Manifest.Desc.Size)},
		{"berth_http_response_bytes_total", map[string]string{"route": "blob"}, float64(two.Layers[0].Desc.Size)},
		{"berth_http_requests_in_flight", nil, 1},
		{"berth_repositories", nil, 1},
		{"berth_manifests", nil, 2},
		{"berth_tags", nil, 2},
		{"berth_blobs", nil, 6},
		{"berth_storage_bytes", nil, float64(storage)},
		{"berth_uploads_in_progress", nil, 0},
		{"berth_metadata_up", nil, 1},
	} {
		if _, ok := m[tc.name]; !ok {
			t.Errorf("/metrics has no %s", tc.name)
			continue
		}
		if got := m.value(tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%s = %v, want %v", tc.name, formatLabels(tc.labels), got, tc.want)
		}
	}
	for _, route := range []string{"blob_upload_start", "blob_upload", "manifest", "blob", "readyz"} {
		if !m.labelValues(total, "route")[route] {
			t.Errorf("%s has no route=%q series", total, route)
		}
	}
	h := m.histogram("berth_http_request_duration_seconds", requests("manifest", "PUT", ""))
	if h == nil || len(h.GetBucket()) < 5 {
		t.Fatalf("manifest PUT latency histogram has too few buckets: %v", h)
	}
	var prev uint64
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
			t.Errorf("histogram bucket le=%v count %d is out of order (previous %d, total %d)", b.GetUpperBound(), b.GetCumulativeCount(), prev, h.GetSampleCount())
		}
		prev = b.GetCumulativeCount()
	}
}

// TestHealth checks the liveness and readiness endpoints.
func TestHealth(t *testing.T) {
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	for _, tc := range []struct{ path, want string }{{"/healthz", "ok\n"}, {"/readyz", "ready\n"}} {
		resp, err := p.Client.Get(p.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, []byte(tc.want)) {
			t.Errorf("GET %s = %s %q, want 200 %q", tc.path, resp.Status, body, tc.want)
		}
	}
}
