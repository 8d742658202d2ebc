package ref

import "github.com/berth-registry/berth/internal/errdefs"

// ValidTag reports whether tag is a valid tag: 1 to MaxTagLength bytes of
// [a-zA-Z0-9_.-], not starting with "." or "-". The error, of class
// errdefs.ErrInvalid, names the offending character.
func ValidTag(tag string) error {
	if tag == "" {
		return errdefs.Invalid("invalid tag: it is empty")
	}
	if len(tag) > MaxTagLength {
		return errdefs.Invalid("invalid tag %q…: it is %d bytes long; the limit is %d", tag[:32], len(tag), MaxTagLength)
	}
	if c := tag[0]; c == '.' || c == '-' {
		return errdefs.Invalid("invalid tag %q: it starts with %q; a tag must start with a letter, digit or \"_\"", tag, c)
	}
	for i := 0; i < len(tag); i++ {
		if !isTagChar(tag[i]) {
			return errdefs.Invalid(`invalid tag %q: %s at offset %d is not allowed; use letters, digits, "_", "." and "-"`,
				tag, describeAt(tag, i), i)
		}
	}
	return nil
}
