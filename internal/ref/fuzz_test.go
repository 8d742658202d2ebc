package ref

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Oracles built from github.com/distribution/reference's exported regular
// expressions. Differences from Berth, handled below:
//   - reference has no repository-only expression; NameRegexp allows an
//     optional "domain[:port]/" prefix. Matching "a/"+s pins the domain to
//     "a" (or none), so the match holds exactly when s is a path.
//   - reference limits the whole name to 255 bytes outside its expressions
//     (RepositoryNameTotalLengthMax); Berth applies that limit to the repository name.
//   - DigestRegexp accepts any algorithm and upper-case hex of 32 or more
//     digits; Berth accepts only sha256 and sha512 with exact lowercase hex.
var (
	anchoredName   = regexp.MustCompile(`^(?:` + reference.NameRegexp.String() + `)$`)
	anchoredTag    = regexp.MustCompile(`^(?:` + reference.TagRegexp.String() + `)$`)
	anchoredDigest = regexp.MustCompile(`^(?:` + reference.DigestRegexp.String() + `)$`)
)

// checkClass fails if err is set but not of class Invalid.
func checkClass(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("error %q is not of class Invalid", err)
	}
}

func FuzzValidRepository(f *testing.F) {
	for _, s := range []string{"a", "library/ubuntu", "a__b/c---d/e.f", "A", "a//b", "a/", "a..b", "a___b",
		"localhost:5000/a", "a/b:tag", "é", strings.Repeat("ab/", 85) + "c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidRepository(s)
		checkClass(t, err)
		theirs := anchoredName.MatchString("a/" + s)
		if len(s) > reference.RepositoryNameTotalLengthMax {
			if err == nil {
				t.Fatalf("accepted %d-byte name %q", len(s), s)
			}
			return
		}
		if (err == nil) != theirs {
			t.Fatalf("ValidRepository(%q) = %v, distribution/reference match = %v", s, err, theirs)
		}
	})
}

func FuzzValidTag(f *testing.F) {
	for _, s := range []string{"latest", "v1.0", "_x", ".x", "-x", "a:b", strings.Repeat("t", 128), strings.Repeat("t", 129), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidTag(s)
		checkClass(t, err)
		if theirs := anchoredTag.MatchString(s); (err == nil) != theirs {
			t.Fatalf("ValidTag(%q) = %v, distribution/reference match = %v", s, err, theirs)
		}
	})
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"latest", digest.FromString("x").String(), digest.SHA512.FromString("x").String(),
		digest.SHA384.FromString("x").String(), "sha256:ABC", "md5:" + strings.Repeat("0", 32), "a:b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tag, dg, err := ParseReference(s)
		checkClass(t, err)
		isTag, isDigest := anchoredTag.MatchString(s), anchoredDigest.MatchString(s)
		if isTag && isDigest {
			t.Fatalf("%q matches both the tag and the digest expression", s)
		}
		switch {
		case err != nil:
			if tag != "" || dg != "" {
				t.Fatalf("ParseReference(%q) returned %q, %q with error %v", s, tag, dg, err)
			}
			if isTag || isDigest && supportedDigestShape(s) {
				t.Fatalf("ParseReference(%q) = %v, but distribution/reference accepts it (tag %v, digest %v)", s, err, isTag, isDigest)
			}
		case tag != "":
			if dg != "" || tag != s || !isTag {
				t.Fatalf("ParseReference(%q) = tag %q, digest %q; tag expression match %v", s, tag, dg, isTag)
			}
		default:
			if string(dg) != s || !isDigest {
				t.Fatalf("ParseReference(%q) = digest %q; digest expression match %v", s, dg, isDigest)
			}
			if _, err := digest.Parse(s); err != nil {
				t.Fatalf("ParseReference accepted %q but go-digest refuses it: %v", s, err)
			}
		}
	})
}

// supportedDigestShape reports whether s, which matches DigestRegexp, is one
// Berth must accept: sha256 or sha512 with the exact number of lowercase hex
// digits.
func supportedDigestShape(s string) bool {
	alg, enc, _ := strings.Cut(s, ":")
	want := map[string]int{"sha256": 64, "sha512": 128}[alg]
	return want != 0 && len(enc) == want && strings.ToLower(enc) == enc
}
