package oci

import (
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/google/go-cmp/cmp"
)

// TestNeed checks what every route asks the guard for.
func TestNeed(t *testing.T) {
	const (
		pull   = access.Pull
		push   = access.Push
		del    = access.Delete
		list   = access.List
		repo   = "team/app"
		prefix = "/v2/" + repo
	)
	tests := []struct {
		method, path string
		want         Need
	}{
		{"GET", "/v2/", Need{}},
		{"GET", "/v2/_catalog", Need{Catalog: true}},
		{"GET", prefix + "/tags/list", Need{Repository: repo, Actions: []access.Action{list}}},
		{"GET", prefix + "/manifests/v1", Need{Repository: repo, Actions: []access.Action{pull}}},
		{"HEAD", prefix + "/manifests/v1", Need{Repository: repo, Actions: []access.Action{pull}}},
		{"PUT", prefix + "/manifests/v1", Need{Repository: repo, Actions: []access.Action{pull, push}}},
		{"DELETE", prefix + "/manifests/v1", Need{Repository: repo, Actions: []access.Action{del}}},
		{"GET", prefix + "/blobs/" + testDigest, Need{Repository: repo, Actions: []access.Action{pull}}},
		{"HEAD", prefix + "/blobs/" + testDigest, Need{Repository: repo, Actions: []access.Action{pull}}},
		{"DELETE", prefix + "/blobs/" + testDigest, Need{Repository: repo, Actions: []access.Action{del}}},
		{"POST", prefix + "/blobs/uploads/", Need{Repository: repo, Actions: []access.Action{pull, push}}},
		{"GET", prefix + "/blobs/uploads/abc", Need{Repository: repo, Actions: []access.Action{pull, push}}},
		{"PATCH", prefix + "/blobs/uploads/abc", Need{Repository: repo, Actions: []access.Action{pull, push}}},
		{"PUT", prefix + "/blobs/uploads/abc", Need{Repository: repo, Actions: []access.Action{pull, push}}},
		{"DELETE", prefix + "/blobs/uploads/abc", Need{Repository: repo, Actions: []access.Action{pull, push}}},
		{"GET", prefix + "/referrers/" + testDigest, Need{Repository: repo, Actions: []access.Action{pull}}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rt, ok := parsePath(tt.path)
			if !ok {
				t.Fatalf("parsePath(%q) failed", tt.path)
			}
			if diff := cmp.Diff(tt.want, need(rt, tt.method)); diff != "" {
				t.Errorf("need (-want +got):\n%s", diff)
			}
		})
	}
}
