package admin

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRoutesDocumented checks that every route the router serves is in the
// OpenAPI document and every documented operation is served, by asking the
// router itself which pattern answers each documented request.
func TestRoutesDocumented(t *testing.T) {
	h := New(Options{})
	var served []string
	for _, rt := range h.routes() {
		served = append(served, rt.method+" "+rt.path)
	}
	doc := OpenAPI()
	var documented []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes served (-) and documented (+) differ:\n%s", diff)
	}

	param := regexp.MustCompile(`\{[a-z]+\}`)
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		t.Run(op, func(t *testing.T) {
			req := httptest.NewRequest(method, param.ReplaceAllString(path, "x"), nil)
			if _, pattern := h.mux.Handler(req); pattern != op {
				t.Errorf("%s is served by %q", op, pattern)
			}
		})
	}
}
