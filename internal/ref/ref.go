// Package ref validates the names in Distribution API URLs: repository names,
// tags, and the <reference> of /v2/<name>/manifests/<reference>, which is a tag
// or a digest.
//
// The validators are hand-written byte scanners (they run on every request)
// that accept exactly the distribution-spec grammars:
//
//	repository  [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*   at most 255 bytes
//	tag         [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//	digest      sha256:<64 lowercase hex> | sha512:<128 lowercase hex>
//
// Every error is of class errdefs.ErrInvalid and says what is wrong and where.
package ref

import (
	"fmt"
	"unicode/utf8"
)

// MaxRepositoryLength is the longest repository name accepted, in bytes.
const MaxRepositoryLength = 255

// MaxTagLength is the longest tag accepted, in bytes.
const MaxTagLength = 128

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isTagChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// describeAt names the character starting at s[i] for an error message,
// decoding UTF-8 so that "é" is shown as one character.
func describeAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[i])
	}
	return fmt.Sprintf("%q", r)
}
