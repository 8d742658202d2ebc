package ref

import (
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// ValidRepository reports whether name is a valid repository name: one or
// more "/"-separated components, each lowercase letters and digits joined by
// single separators (".", "_", "__" or a run of "-"), at most
// MaxRepositoryLength bytes in all. The error, of class errdefs.ErrInvalid,
// names the offending component and character.
func ValidRepository(name string) error {
	if name == "" {
		return errdefs.Invalid("invalid repository name: it is empty")
	}
	if len(name) > MaxRepositoryLength {
		return errdefs.Invalid("invalid repository name %q…: it is %d bytes long; the limit is %d",
			name[:32], len(name), MaxRepositoryLength)
	}
	start := 0
	for n := 1; ; n++ {
		end := len(name)
		if i := strings.IndexByte(name[start:], '/'); i >= 0 {
			end = start + i
		}
		if err := checkComponent(name, start, end, n); err != nil {
			return err
		}
		if end == len(name) {
			return nil
		}
		start = end + 1
	}
}

// checkComponent checks name[start:end], the n-th path component.
func checkComponent(name string, start, end, n int) error {
	c := name[start:end]
	if c == "" {
		return errdefs.Invalid(`invalid repository name %q: component %d is empty; a name cannot start or end with "/" or contain "//"`,
			name, n)
	}
	for i := 0; ; {
		if !isLowerAlnum(c[i]) {
			return badChar(name, start, i, n, i == 0)
		}
		for i < len(c) && isLowerAlnum(c[i]) {
			i++
		}
		if i == len(c) {
			return nil
		}
		sep := i
		switch c[i] {
		case '.':
			i++
		case '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return badChar(name, start, i, n, false)
		}
		if i == len(c) {
			return errdefs.Invalid("invalid repository name %q: component %d (%q) ends with %q; it must end with a lowercase letter or digit",
				name, n, c, c[sep:])
		}
	}
}

// badChar explains why the byte at offset i of component n (which begins at
// offset start of name) cannot be there. first says it is the component's
// first byte; otherwise, if it is a separator, it follows another separator.
func badChar(name string, start, i, n int, first bool) error {
	c := name[start:]
	if end := strings.IndexByte(c, '/'); end >= 0 {
		c = c[:end]
	}
	b := c[i]
	switch {
	case 'A' <= b && b <= 'Z':
		return errdefs.Invalid("invalid repository name %q: component %d (%q) has uppercase %q at offset %d; repository names must be lowercase",
			name, n, c, b, start+i)
	case b == '.' || b == '_' || b == '-':
		if first {
			return errdefs.Invalid("invalid repository name %q: component %d (%q) starts with %q; it must start with a lowercase letter or digit",
				name, n, c, b)
		}
		return errdefs.Invalid(`invalid repository name %q: component %d (%q) has %q at offset %d right after another separator; `+
			`separators are one ".", one or two "_", or a run of "-", each between letters or digits`,
			name, n, c, b, start+i)
	}
	return errdefs.Invalid(`invalid repository name %q: component %d (%q) has %s at offset %d, which is not allowed; `+
		`use lowercase letters, digits, ".", "_", "-" and "/"`,
		name, n, c, describeAt(name, start+i), start+i)
}
