package oidcapi

import (
	"errors"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/access"
)

// maxUsername is the longest Berth user name.
const maxUsername = 64

// identity maps a verified ID token's claims to the identity Berth
// onboards: the user name from cfg.UsernameClaim (else the email, else the
// subject), made into a valid Berth user name; the email; the groups from
// cfg.GroupsClaim; admin when cfg.AdminGroup is one of them.
func identity(cfg Config, issuer, subject string, claims map[string]any) (access.OIDCIdentity, error) {
	if subject == "" {
		return access.OIDCIdentity{}, errors.New("the id token has no subject")
	}
	email, _ := claims["email"].(string)
	name := ""
	for _, candidate := range []string{stringClaim(claims, cfg.UsernameClaim), email, subject} {
		if name = username(candidate); name != "" {
			break
		}
	}
	if name == "" {
		return access.OIDCIdentity{}, errors.New("no claim of the id token makes a user name")
	}
	id := access.OIDCIdentity{Issuer: issuer, Subject: subject, Username: name, Email: email}
	if cfg.GroupsClaim != "" {
		id.Groups = groupsClaim(claims[cfg.GroupsClaim])
	}
	id.Admin = cfg.AdminGroup != "" && slices.Contains(id.Groups, cfg.AdminGroup)
	id.AdminManaged = cfg.AdminGroup != ""
	return id, nil
}

// stringClaim returns claim name of claims if it is a string, else "".
func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// username makes s a Berth user name ([a-z0-9][a-z0-9._-]{0,63}): lower
// case, other characters replaced by "-", leading punctuation dropped,
// at most 64 characters. It returns "" if nothing usable is left.
func username(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() == 0:
			// A name starts with a letter or digit.
		case r == '.' || r == '_' || r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() == maxUsername {
			break
		}
	}
	return b.String()
}

// groupsClaim reads a groups claim: a list of strings or a single string.
// Empty and duplicate names are dropped.
func groupsClaim(v any) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch g := v.(type) {
	case string:
		add(g)
	case []any:
		for _, e := range g {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}
