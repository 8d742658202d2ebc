package authn

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/oci"
)

// TokenPath is where the token endpoint is served, relative to the
// registry's root; a derived realm is the request's origin plus TokenPath.
const TokenPath = "/auth/token"

// challenge sets the WWW-Authenticate header of a 401: a Bearer challenge
// naming the token endpoint, the service and, for a resource, the scope a
// token needs; errParam ("invalid_token", "insufficient_scope") is added
// when not "".
func (g *Guard) challenge(w http.ResponseWriter, r *http.Request, need oci.Need, errParam string) {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quote(g.realm(r)))
	b.WriteString(`",service="`)
	b.WriteString(quote(g.opts.Tokens.Service()))
	b.WriteByte('"')
	if s := scope(need); s != "" {
		b.WriteString(`,scope="`)
		b.WriteString(quote(s))
		b.WriteByte('"')
	}
	if errParam != "" {
		b.WriteString(`,error="`)
		b.WriteString(errParam)
		b.WriteByte('"')
	}
	w.Header().Set("WWW-Authenticate", b.String())
}

// realm returns the token endpoint's URL for r.
func (g *Guard) realm(r *http.Request) string {
	if g.opts.Realm != "" {
		return g.opts.Realm
	}
	return Origin(r, g.opts.TrustProxy) + TokenPath
}

// Origin returns the scheme and host the client used to reach r, e.g.
// "https://registry.example.com". Behind a trusted proxy
// (trustProxy) X-Forwarded-Proto and X-Forwarded-Host say so; otherwise only
// the connection (TLS or not) and the Host header count.
func Origin(r *http.Request, trustProxy bool) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trustProxy {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

// ClientAddr returns the address of r's client, without port: the last
// X-Forwarded-For entry when trustProxy (the address the trusted proxy saw;
// earlier entries are the client's say and could be forged), else the
// connection's peer.
func ClientAddr(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if a := forwardedFor(r); a != "" {
			return a
		}
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// forwardedFor returns the last address of r's X-Forwarded-For headers, or
// "" if there is none or it is not an IP address.
func forwardedFor(r *http.Request) string {
	vals := r.Header.Values("X-Forwarded-For")
	if len(vals) == 0 {
		return ""
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimSpace(last)
	if net.ParseIP(last) == nil {
		return ""
	}
	return last
}

func firstValue(s string) string {
	v, _, _ := strings.Cut(s, ",")
	return strings.ToLower(strings.TrimSpace(v))
}

// scope returns the token scope need asks for, "" for the base check.
func scope(need oci.Need) string {
	switch {
	case need.Catalog:
		return "registry:catalog:*"
	case need.Repository == "":
		return ""
	}
	return "repository:" + need.Repository + ":" + actionList(need.Actions)
}

// actionList names actions as a token scope does: List is asked as pull,
// the only action a token grants for it.
func actionList(actions []access.Action) string {
	var names []string
	for _, a := range actions {
		s := string(a)
		if a == access.List {
			s = string(access.Pull)
		}
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	return strings.Join(names, ",")
}

// quote escapes s for a quoted-string of an HTTP header.
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
