package ref

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// checkErr fails unless err is nil when wantMsg is "", or an Invalid error
// containing wantMsg otherwise.
func checkErr(t *testing.T, err error, wantMsg string) {
	t.Helper()
	switch {
	case wantMsg == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case wantMsg == "":
	case err == nil:
		t.Errorf("no error, want one containing %q", wantMsg)
	case !errors.Is(err, errdefs.ErrInvalid):
		t.Errorf("error %q is not of class Invalid", err)
	case !strings.Contains(err.Error(), wantMsg):
		t.Errorf("error %q does not contain %q", err, wantMsg)
	}
}

func TestValidRepository(t *testing.T) {
	max := strings.Repeat("a/", 127) + "a" // 255 bytes
	tests := []struct {
		name    string
		wantMsg string
	}{
		{"a", ""},
		{"0", ""},
		{"library/ubuntu", ""},
		{"a.b", ""},
		{"a_b", ""},
		{"a__b", ""},
		{"a-b", ""},
		{"a---b", ""},
		{"foo.bar/baz_qux/x--y/z__0", ""},
		{"a0/b1/c2/d3/e4/f5/g6", ""},
		{max, ""},
		{"", "it is empty"},
		{max + "a", "it is 256 bytes long; the limit is 255"},
		{"/a", "component 1 is empty"},
		{"a/", "component 2 is empty"},
		{"a//b", "component 2 is empty"},
		{"A", `component 1 ("A") has uppercase 'A' at offset 0; repository names must be lowercase`},
		{"library/Ubuntu", `component 2 ("Ubuntu") has uppercase 'U' at offset 8`},
		{".a", `component 1 (".a") starts with '.'`},
		{"a/-b", `component 2 ("-b") starts with '-'`},
		{"a/_b", `starts with '_'`},
		{"a.", `component 1 ("a.") ends with "."`},
		{"a__", `ends with "__"`},
		{"a/b--", `component 2 ("b--") ends with "--"`},
		{"a..b", `has '.' at offset 2 right after another separator`},
		{"a___b", `has '_' at offset 3 right after another separator`},
		{"a.-b", `has '-' at offset 2 right after another separator`},
		{"a_-b", `has '-' at offset 2`},
		{"a-_b", `has '_' at offset 2`},
		{"a b", `has ' ' at offset 1, which is not allowed`},
		{"a:b", `has ':' at offset 1`},
		{"a@sha256", `has '@' at offset 1`},
		{"x/café", `component 2 ("café") has 'é' at offset 5`},
		{"a\xffb", `has byte 0xff at offset 1`},
		{"a/b\x00", `has '\x00' at offset 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, ValidRepository(tt.name), tt.wantMsg)
		})
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		tag     string
		wantMsg string
	}{
		{"latest", ""},
		{"v1.0.0", ""},
		{"_", ""},
		{"A", ""},
		{"0", ""},
		{"a-b_c.D--__..", ""},
		{strings.Repeat("x", 128), ""},
		{"", "it is empty"},
		{strings.Repeat("x", 129), "129 bytes long; the limit is 128"},
		{".hidden", `it starts with '.'`},
		{"-rc1", `it starts with '-'`},
		{"a b", `' ' at offset 1 is not allowed`},
		{"a:b", `':' at offset 1`},
		{"a/b", `'/' at offset 1`},
		{"ä", `'ä' at offset 0`},
		{"a\xff", `byte 0xff at offset 1`},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			checkErr(t, ValidTag(tt.tag), tt.wantMsg)
		})
	}
}

func TestParseReference(t *testing.T) {
	d256 := digest.FromString("x")
	d512 := digest.SHA512.FromString("x")
	tests := []struct {
		ref     string
		wantTag string
		wantDg  digest.Digest
		wantMsg string
	}{
		{"latest", "latest", "", ""},
		{"v1.2.3-rc.1", "v1.2.3-rc.1", "", ""},
		{string(d256), "", d256, ""},
		{string(d512), "", d512, ""},
		{"", "", "", "invalid tag: it is empty"},
		{"-x", "", "", "it starts with '-'"},
		{"sha256", "sha256", "", ""},
		{digest.SHA384.FromString("x").String(), "", "", `algorithm "sha384" is not supported; supported algorithms are sha256 and sha512`},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", "", "", `algorithm "md5" is not supported`},
		{":" + d256.Encoded(), "", "", `algorithm "" is not supported`},
		{"SHA256:" + d256.Encoded(), "", "", `algorithm "SHA256" is not supported`},
		{"sha256:" + strings.ToUpper(d256.Encoded()), "", "", "is not a lowercase hex digit"},
		{"sha256:" + d256.Encoded()[:63] + "g", "", "", "'g' at offset 70 is not a lowercase hex digit"},
		{"sha256:abc", "", "", "a sha256 digest has 64 hex digits, this one has 3"},
		{"sha512:" + d256.Encoded(), "", "", "a sha512 digest has 128 hex digits, this one has 64"},
		{string(d256) + "\n", "", "", "this one has 65"},
		{"sha256:" + d256.Encoded()[:32] + ":" + d256.Encoded()[:31], "", "", "':' at offset 39"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			tag, dg, err := ParseReference(tt.ref)
			checkErr(t, err, tt.wantMsg)
			if diff := cmp.Diff([2]string{tt.wantTag, string(tt.wantDg)}, [2]string{tag, string(dg)}); diff != "" {
				t.Errorf("ParseReference(%q) (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

// TestDigestAlgorithmsAvailable checks that both accepted algorithms can
// verify content, which needs their crypto packages linked.
func TestDigestAlgorithmsAvailable(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		if !alg.Available() {
			t.Errorf("%s is not available", alg)
		}
	}
}
