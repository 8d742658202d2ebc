package admin_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// caller is who sends a request; user "" is anonymous.
type caller struct{ user, pass string }

var (
	anon     = caller{}
	root     = caller{"admin", admintest.AdminPassword}
	alice    = caller{"alice", "alice-password"} // projectAdmin of team
	bob      = caller{"bob", "bob-password"}     // guest of team
	carol    = caller{"carol", "carol-password"} // no project
	badPass  = caller{"alice", "wrong-password"}
	nobody   = caller{"nobody", "whatever-pass"}
	teamPriv = "team" // a private project
	openPub  = "open" // a public project
)

// world is a server with the fixtures above.
func world(t *testing.T) *admintest.Server {
	t.Helper()
	s := admintest.Start(t)
	for _, c := range []caller{alice, bob, carol} {
		s.AddUser(t, c.user, c.pass, false)
	}
	s.AddProject(t, teamPriv, false)
	s.AddProject(t, openPub, true)
	s.AddMember(t, teamPriv, alice.user, access.ProjectAdmin)
	s.AddMember(t, teamPriv, bob.user, access.Guest)
	return s
}

// response is a finished response with its body.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends a request as c; body is a string (sent as is) or a value
// (sent as JSON), nil for none.
func send(t *testing.T, s *admintest.Server, c caller, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// errCode returns the code of an error response, "" if it is none.
func (r response) errCode() string {
	var e wire.Errors
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// decodeInto decodes the body into v.
func (r response) decodeInto(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; run go test -update if the change is intended):\n%s", name, diff)
	}
}
