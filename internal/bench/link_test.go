package bench

import (
	"net/url"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
)

func TestNextLink(t *testing.T) {
	base, err := url.Parse("http://127.0.0.1:5000/v2/a/b/tags/list?n=100")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header string
		want         string // "" when there is no next link
	}{
		{"spec form", `</v2/a/b/tags/list?last=t099&n=100>; rel="next"`, "http://127.0.0.1:5000/v2/a/b/tags/list?last=t099&n=100"},
		{"catalog", `</v2/_catalog?last=x%2Fy&n=100>; rel="next"`, "http://127.0.0.1:5000/v2/_catalog?last=x%2Fy&n=100"},
		{"absolute target", `<https://other.example/v2/_catalog?last=z>; rel="next"`, "https://other.example/v2/_catalog?last=z"},
		{"unquoted rel", `</v2/x?last=1>; rel=next`, "http://127.0.0.1:5000/v2/x?last=1"},
		{"rel list", `</v2/x?last=2>; rel="prefetch next"`, "http://127.0.0.1:5000/v2/x?last=2"},
		{"upper case", `</v2/x?last=3>; REL="Next"`, "http://127.0.0.1:5000/v2/x?last=3"},
		{"next after prev", `</v2/x?p=1>; rel="prev", </v2/x?last=4>; rel="next"`, "http://127.0.0.1:5000/v2/x?last=4"},
		{"comma inside a quoted param", `</v2/x?p=1>; title="a, b"; rel="prev", </v2/x?last=5>; rel="next"`, "http://127.0.0.1:5000/v2/x?last=5"},
		{"relative path", `<list?last=6>; rel="next"`, "http://127.0.0.1:5000/v2/a/b/tags/list?last=6"},
		{"empty header", ``, ""},
		{"only prev", `</v2/x?p=1>; rel="prev"`, ""},
		{"no rel", `</v2/x?p=1>`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := NextLink(tc.header, base)
			if err != nil {
				t.Fatalf("NextLink(%q): %v", tc.header, err)
			}
			if ok != (tc.want != "") {
				t.Fatalf("NextLink(%q) ok = %v, want %v", tc.header, ok, tc.want != "")
			}
			if ok && got.String() != tc.want {
				t.Errorf("NextLink(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}

func TestNextLinkMalformed(t *testing.T) {
	for _, header := range []string{
		`/v2/x?last=1; rel="next"`,
		`</v2/x?last=1; rel="next"`,
		`</v2/x?last=1>; rel="prev", junk`,
		`<http://[::1>; rel="next"`,
	} {
		t.Run(header, func(t *testing.T) {
			_, _, err := NextLink(header, nil)
			if !errdefs.IsInvalid(err) {
				t.Errorf("NextLink(%q) err = %v, want class invalid", header, err)
			}
		})
	}
}
