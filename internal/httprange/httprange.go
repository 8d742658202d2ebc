// Package httprange parses and formats the byte ranges of the Distribution
// API's chunked uploads: the Content-Range a client sends with each PATCH and
// the Range a registry returns to say how much it holds.
//
// Both are inclusive "<start>-<end>" pairs without the "bytes" unit of RFC
// 9110, a quirk of the distribution-spec. Some clients add the unit anyway, so
// ParseContentRange also takes the RFC form.
package httprange

import (
	"math"
	"strconv"

	"github.com/berth-registry/berth/internal/errdefs"
)

// ParseContentRange parses an upload PATCH Content-Range header value into
// the inclusive byte offsets it names. Accepted forms (no other spaces):
//
//	<start>-<end>                    distribution-spec (^[0-9]+-[0-9]+$)
//	bytes <start>-<end>              RFC 9110 unit, no complete length
//	bytes <start>-<end>/<size>       with a complete length, which must exceed end
//	bytes <start>-<end>/*            unknown complete length
//
// start and end are unsigned decimal integers that fit in int64 with
// start <= end, so a range always covers at least one byte; an empty chunk
// has no valid Content-Range (some clients send "0--1" for one, which is
// refused). Errors are of class errdefs.ErrInvalid; callers answer them with
// 416 Requested Range Not Satisfiable, as the spec asks.
func ParseContentRange(s string) (start, end int64, err error) {
	rest := s
	unit := len(rest) >= len("bytes ") && rest[:len("bytes ")] == "bytes "
	if unit {
		rest = rest[len("bytes "):]
	}
	start, rest, ok := leadingInt(rest)
	if !ok {
		return 0, 0, invalid(s, "it must start with the first byte offset, a decimal number that fits in 63 bits")
	}
	if rest == "" || rest[0] != '-' {
		return 0, 0, invalid(s, `want "<start>-<end>"`)
	}
	end, rest, ok = leadingInt(rest[1:])
	if !ok {
		return 0, 0, invalid(s, `the last byte offset after "-" must be a decimal number that fits in 63 bits`)
	}
	if end < start {
		return 0, 0, invalid(s, "the last byte offset is before the first")
	}
	if rest == "" {
		return start, end, nil
	}
	if !unit || rest[0] != '/' {
		return 0, 0, invalid(s, "unexpected text after the range")
	}
	if rest == "/*" {
		return start, end, nil
	}
	size, rest, ok := leadingInt(rest[1:])
	switch {
	case !ok || rest != "":
		return 0, 0, invalid(s, `the complete length after "/" must be "*" or a decimal number`)
	case size <= end:
		return 0, 0, invalid(s, "the range ends beyond the complete length")
	}
	return start, end, nil
}

// leadingInt parses the run of ASCII digits at the start of s, returning the
// value and the rest of s. ok is false if there are no digits or the value
// exceeds math.MaxInt64.
func leadingInt(s string) (v int64, rest string, ok bool) {
	i := 0
	for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		d := int64(s[i] - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, s, false
		}
		v = v*10 + d
	}
	return v, s[i:], i > 0
}

func invalid(s, why string) error {
	return errdefs.Invalid("invalid Content-Range %s: %s", strconv.Quote(s), why)
}

// FormatRange returns the Range header value of an upload response for an
// upload holding offset bytes: "0-<offset-1>", the inclusive range received.
//
// An upload holding no bytes (offset <= 0) formats as "0-0". The spec has no
// way to say "nothing yet" (opencontainers/distribution-spec#577, #578), so
// this follows the reference registry (distribution/distribution) and the
// example the spec itself once gave for a fresh upload. Clients differ: the
// distribution client library (also in Docker Engine's pusher) reads a Range
// after each PATCH and fails on "0--1" (what zot and go-containerregistry's
// test registry send) but takes "0-0"; regclient, when it must resume after
// a refused first chunk, reads "0-0" as one byte held and retries from offset
// 1, which is refused in turn. The conformance suite accepts either form.
func FormatRange(offset int64) string {
	if offset <= 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(offset-1, 10)
}
