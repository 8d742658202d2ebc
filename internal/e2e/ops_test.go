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
	tr := pushTraffic(t, p.Registry())
	m := scrape(t, p)
	checkTrafficMetrics(t, m, tr)
	checkLatencyHistogram(t, m)
}

// traffic is what pushTraffic sent, in bytes.
type traffic struct {
	// monolithic is the size of the blobs pushed in one POST, chunked of
	// the blob pushed in three PATCH requests, manifests of the two
	// manifests, pulled of the blob read back.
	monolithic, chunked, manifests, pulled int64
	// storage is the size of every distinct blob.
	storage int64
}

// pushTraffic pushes two images to one repository (every blob in one POST
// except one layer, sent in three chunks), tags them, and pulls one layer.
func pushTraffic(t *testing.T, reg *berthtest.Registry) traffic {
	t.Helper()
	ctx := context.Background()
	one, two := newImage(t, "metrics-1", linuxAmd64), newImage(t, "metrics-2", linuxArm64)
	chunked := one.Layers[1]
	tr := traffic{chunked: chunked.Desc.Size, pulled: two.Layers[0].Desc.Size}
	for _, im := range []*image{one, two} {
		for _, b := range im.blobs() {
			tr.storage += b.Desc.Size
			var err error
			if b.Desc.Digest == chunked.Desc.Digest {
				_, err = reg.PushBlobChunked(ctx, "metrics/app", b.Data, int(b.Desc.Size/3)+1)
			} else {
				tr.monolithic += b.Desc.Size
				_, err = reg.PushBlob(ctx, "metrics/app", b.Data)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for tag, im := range map[string]*image{"one": one, "two": two} {
		tr.manifests += im.Manifest.Desc.Size
		if _, err := reg.PutManifest(ctx, "metrics/app", tag, im.Manifest.Desc.MediaType, im.Manifest.Data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.GetBlob(ctx, "metrics/app", two.Layers[0].Desc.Digest); err != nil {
		t.Fatal(err)
	}
	return tr
}

// checkTrafficMetrics compares one scrape with the traffic that preceded
// it.
func checkTrafficMetrics(t *testing.T, m metrics, tr traffic) {
	t.Helper()
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
		{"berth_http_request_bytes_total", map[string]string{"route": "blob_upload_start"}, float64(tr.monolithic)},
		{"berth_http_request_bytes_total", map[string]string{"route": "blob_upload"}, float64(tr.chunked)},
		{"berth_http_request_bytes_total", map[string]string{"route": "manifest"}, float64(tr.manifests)},
		{"berth_http_response_bytes_total", map[string]string{"route": "blob"}, float64(tr.pulled)},
		{"berth_http_requests_in_flight", nil, 1},
		{"berth_repositories", nil, 1},
		{"berth_manifests", nil, 2},
		{"berth_tags", nil, 2},
		{"berth_blobs", nil, 6},
		{"berth_storage_bytes", nil, float64(tr.storage)},
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
}

// checkLatencyHistogram wants buckets in the manifest PUT latency
// histogram, with cumulative counts in order.
func checkLatencyHistogram(t *testing.T, m metrics) {
	t.Helper()
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
