package oidcapi

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
)

// page is what the result page shows: either Error, or the signed-in user
// and, when one was just issued, the CLI secret with the commands that use
// it.
type page struct {
	Error    string
	User     string
	Secret   string
	Host     string // registry host for docker login
	BerthURL string // server argument for berth login
}

// pageTemplate renders page. It loads nothing from elsewhere: the style is
// inline and the page's Content-Security-Policy forbids everything else.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{if .Error}}Sign-in failed{{else}}Signed in{{end}} · Berth</title>
<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1b1f24;line-height:1.5}
h1{font-size:1.4rem}
pre,code{font-family:ui-monospace,monospace;background:#f3f4f6;border-radius:4px}
pre{padding:.75rem;overflow-x:auto}
code{padding:.1rem .3rem}
.secret{font-size:1.1rem;word-break:break-all;display:block;padding:.75rem}
.warn{color:#9a3412}
.error{color:#b91c1c}
</style>
</head>
<body>
{{if .Error -}}
<h1 class="error">Sign-in failed</h1>
<p id="error">{{.Error}}</p>
<p><a href="login">Sign in again</a></p>
{{- else -}}
<h1>Signed in to Berth</h1>
<p>Your user name is <code id="username">{{.User}}</code>.</p>
{{if .Secret -}}
<h2>Your CLI secret</h2>
<p class="warn">Copy it now: it is shown only this once. It is the password docker, helm and the berth CLI use,
and it keeps working after you close this page, until you get a new one or your account is disabled.</p>
<code class="secret" id="cli-secret">{{.Secret}}</code>
<p>Log in with docker (paste the secret when asked for the password):</p>
<pre>docker login -u {{.User}} {{.Host}}</pre>
<p>Log in with the berth CLI:</p>
<pre>berth login {{.BerthURL}} -u {{.User}}</pre>
<p>Lost it? <a href="login?new_cli_secret=1">Get a new CLI secret</a> (the old one stops working).</p>
{{- else -}}
<p>You already have a CLI secret; docker and the berth CLI log in with it as <code>{{.User}}</code>.</p>
<p>Lost it? <a href="login?new_cli_secret=1">Get a new CLI secret</a> (the old one stops working).</p>
{{- end}}
<p>You can close this page. Berth keeps no browser session.</p>
{{- end}}
</body>
</html>
`))

// render writes p as an HTML page with status. The page is never cached
// and may not be framed or load anything.
func (h *Handler) render(w http.ResponseWriter, status int, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		// The template is fixed and its data are strings: this is a bug.
		http.Error(w, "internal error rendering the sign-in page", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	noStore(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// noStore keeps browsers and proxies from caching the response.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}
