package oci_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
)

// The hot paths of a pull, through the whole in-process server over
// loopback HTTP. Profile them with, for example:
//
//	go test ./internal/api/oci -run '^$' -bench ManifestGetByTag -cpuprofile cpu.out

// benchClient returns a client whose transport keeps enough idle
// connections for b.RunParallel, so the benchmark measures requests and
// not TCP handshakes.
func benchClient(b *testing.B) *client {
	b.Helper()
	c := startServer(b)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	c.hc = berthtest.WithCredentials(&http.Client{Transport: tr}, berthtest.AdminUser, berthtest.AdminPassword)
	b.Cleanup(tr.CloseIdleConnections)
	return c
}

// benchGet runs req-like GET/HEAD requests in parallel and fails on any
// status other than 200.
func benchGet(b *testing.B, c *client, method, path, accept string) {
	b.Helper()
	url := c.url(path)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(method, url, nil)
			if err != nil {
				b.Error(err)
				return
			}
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			resp, err := c.hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s %s: status %d", method, path, resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkManifestGetByTag(b *testing.B) {
	c := benchClient(b)
	img := c.pushImage("bench/app", "latest", "bench")
	benchGet(b, c, "GET", "/v2/bench/app/manifests/latest", img.mediaType())
}

func BenchmarkBlobHead(b *testing.B) {
	c := benchClient(b)
	d := c.pushBlob("bench/app", blobData(1<<20))
	benchGet(b, c, "HEAD", "/v2/bench/app/blobs/"+d.String(), "")
}
