package bench

import (
	"net/url"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// NextLink returns the target of the rel="next" link in an RFC 8288 Link
// header value, resolved against base (the URL of the request that returned
// it). ok is false when the header has no next link, which ends a paginated
// walk. A header that cannot be parsed is an error of class errdefs.ErrInvalid.
//
// The registry spec's form is `</v2/name/tags/list?n=100&last=x>; rel="next"`,
// but several links, unquoted rel values and space-separated rel lists are
// accepted too.
func NextLink(header string, base *url.URL) (next *url.URL, ok bool, err error) {
	rest := strings.TrimSpace(header)
	for rest != "" {
		if rest[0] != '<' {
			return nil, false, errdefs.Invalid("link header %q: expected '<' at %q", header, rest)
		}
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return nil, false, errdefs.Invalid("link header %q: unterminated '<'", header)
		}
		target := rest[1:end]
		params, remaining := splitLinkParams(rest[end+1:])
		rest = remaining
		if !relIsNext(params) {
			continue
		}
		u, err := url.Parse(target)
		if err != nil {
			return nil, false, errdefs.Invalid("link header target %q: %v", target, err)
		}
		if base != nil {
			u = base.ResolveReference(u)
		}
		return u, true, nil
	}
	return nil, false, nil
}

// splitLinkParams reads the ";"-separated parameters of one link up to the
// "," that starts the next link (commas inside quotes do not count) and
// returns them with the remaining header text.
func splitLinkParams(s string) (params map[string]string, rest string) {
	params = make(map[string]string)
	inQuote := false
	end := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				end = i
				i = len(s)
			}
		}
	}
	rest = ""
	if end < len(s) {
		rest = strings.TrimSpace(s[end+1:])
	}
	for _, part := range strings.Split(s[:end], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			continue
		}
		params[k] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return params, rest
}

func relIsNext(params map[string]string) bool {
	for _, r := range strings.Fields(params["rel"]) {
		if strings.EqualFold(r, "next") {
			return true
		}
	}
	return false
}
