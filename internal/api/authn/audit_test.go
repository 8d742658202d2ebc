package authn_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestAuditEvents: the handlers record what succeeded, the guard what it
// refused, each with who did it.
func TestAuditEvents(t *testing.T) {
	w := newWorld(t)
	dev, guest, maint := w.callers["dev"], w.callers["guest"], w.callers["maint"]
	ignore := cmpopts.IgnoreFields(meta.AuditEvent{}, "ID", "At")
	old := digest.FromBytes(w.alpha.manifest)

	// A push that moves v1, by dev.
	img := newImage(t, "audit")
	if r := w.push(t, dev, basicMode, "alpha/app", "v1", img); r.StatusCode != http.StatusCreated {
		t.Fatalf("push: %d %s", r.StatusCode, r.body)
	}
	moved := digest.FromBytes(img.manifest)
	want := meta.AuditEvent{ActorKind: "user", Actor: "dev", Remote: "127.0.0.1", Action: "artifact.push", Project: "alpha",
		Resource: "alpha/app@" + moved.String(), Outcome: "success", Detail: "tag v1: " + old.String() + " -> " + moved.String()}
	if diff := cmp.Diff([]meta.AuditEvent{want}, last(w.audit.find("artifact.push"), 1), ignore); diff != "" {
		t.Errorf("push event (-want +got):\n%s", diff)
	}
	m, err := w.store.GetRepository(context.Background(), "alpha/app")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := w.store.GetManifest(context.Background(), m.ID, moved, false)
	if err != nil {
		t.Fatal(err)
	}
	if mf.PushedBy != "dev" {
		t.Errorf("manifest pushed by %q, want dev", mf.PushedBy)
	}

	// A pull by tag (HEAD and blobs are not recorded), by guest.
	pulls := len(w.audit.find("artifact.pull"))
	w.send(t, guest, tokenMode, "HEAD", "/v2/alpha/app/manifests/v1", nil, nil)
	w.send(t, guest, tokenMode, "GET", "/v2/alpha/app/blobs/"+w.alpha.layerDigest.String(), nil, nil)
	if r := w.send(t, guest, tokenMode, "GET", "/v2/alpha/app/manifests/v1", nil, nil, "Accept", v1.MediaTypeImageManifest); r.StatusCode != http.StatusOK {
		t.Fatalf("pull: %d", r.StatusCode)
	}
	got := w.audit.find("artifact.pull")
	if len(got) != pulls+1 {
		t.Fatalf("%d pull events after HEAD, blob GET and GET, want 1 more than %d", len(got), pulls)
	}
	want = meta.AuditEvent{ActorKind: "user", Actor: "guest", Remote: "127.0.0.1", Action: "artifact.pull", Project: "alpha",
		Resource: "alpha/app@" + moved.String(), Outcome: "success", Detail: "tag v1"}
	if diff := cmp.Diff([]meta.AuditEvent{want}, last(got, 1), ignore); diff != "" {
		t.Errorf("pull event (-want +got):\n%s", diff)
	}

	// Deletes by maint: a tag, a manifest, a lone blob.
	lone := []byte("a blob nothing references")
	loneDigest := digest.FromBytes(lone)
	for _, step := range []struct {
		method, path string
		body         []byte
		status       int
	}{
		{"DELETE", "/v2/alpha/app/manifests/v1", nil, http.StatusAccepted},
		{"DELETE", "/v2/alpha/app/manifests/" + moved.String(), nil, http.StatusAccepted},
		{"POST", "/v2/alpha/app/blobs/uploads/?digest=" + loneDigest.String(), lone, http.StatusCreated},
		{"DELETE", "/v2/alpha/app/blobs/" + loneDigest.String(), nil, http.StatusAccepted},
	} {
		if r := w.send(t, maint, basicMode, step.method, step.path, step.body, nil); r.StatusCode != step.status {
			t.Fatalf("%s %s: %d %s", step.method, step.path, r.StatusCode, r.body)
		}
	}
	for action, resource := range map[string]string{
		"tag.delete":      "alpha/app:v1",
		"artifact.delete": "alpha/app@" + moved.String(),
		"blob.delete":     "alpha/app@" + loneDigest.String(),
	} {
		want := meta.AuditEvent{ActorKind: "user", Actor: "maint", Remote: "127.0.0.1", Action: action, Project: "alpha",
			Resource: resource, Outcome: "success"}
		if diff := cmp.Diff([]meta.AuditEvent{want}, w.audit.find(action), ignore); diff != "" {
			t.Errorf("%s events (-want +got):\n%s", action, diff)
		}
	}

	// A refusal, and nothing recorded for what was refused.
	w.send(t, guest, basicMode, "DELETE", "/v2/alpha/app/manifests/"+old.String(), nil, nil)
	denied := last(w.audit.find("access.denied"), 1)
	if len(denied) != 1 || denied[0].Actor != "guest" || denied[0].Outcome != "denied" || denied[0].Resource != "alpha/app" ||
		denied[0].Project != "alpha" || denied[0].ActorKind != "user" {
		t.Errorf("denied events %+v, want guest refused on alpha/app", denied)
	}
	if n := len(w.audit.find("artifact.delete")); n != 1 {
		t.Errorf("%d artifact.delete events after a refused delete, want 1", n)
	}
}

// last returns the last n events (fewer if there are not n).
func last(events []meta.AuditEvent, n int) []meta.AuditEvent {
	if len(events) < n {
		return events
	}
	return events[len(events)-n:]
}
