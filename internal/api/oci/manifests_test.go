package oci_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/config"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtDockerForeign  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mtNonDistrib     = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
)

// wantManifest fails unless GET and HEAD of ref in repo serve body as
// media type mt.
func (c *client) wantManifest(repo, ref, mt string, body []byte) {
	c.t.Helper()
	d := digest.FromBytes(body)
	for _, m := range []string{"GET", "HEAD"} {
		r := c.do(m, "/v2/"+repo+"/manifests/"+ref, nil, "Accept", mt)
		wantStatus(c.t, r, http.StatusOK)
		wantHeader(c.t, r, "Content-Type", mt)
		wantHeader(c.t, r, "Docker-Content-Digest", d.String())
		wantHeader(c.t, r, "Content-Length", strconv.Itoa(len(body)))
		wantHeader(c.t, r, "ETag", `"`+d.String()+`"`)
		want := body
		if m == "HEAD" {
			want = nil
		}
		if !bytes.Equal(r.body, want) {
			c.t.Errorf("%s %s:%s body differs from what was pushed:\n got %q\nwant %q", m, repo, ref, clip(r.body), clip(want))
		}
	}
}

func TestManifestPushPull(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	img := newImage(t, "pushpull")
	c.pushBlobs("man/a", img)
	// Odd but valid formatting: the registry must keep the exact bytes.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, img.manifest, "", "\t"); err != nil {
		t.Fatal(err)
	}
	body := append(pretty.Bytes(), '\n')
	d := digest.FromBytes(body)

	t.Run("by tag", func(t *testing.T) {
		r := c.with(t).putManifest("man/a", "v1", v1.MediaTypeImageManifest, body)
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "Location", "/v2/man/a/manifests/"+d.String())
		wantHeader(t, r, "Docker-Content-Digest", d.String())
		wantHeader(t, r, "OCI-Subject", "")
		c.with(t).wantManifest("man/a", "v1", v1.MediaTypeImageManifest, body)
		c.with(t).wantManifest("man/a", d.String(), v1.MediaTypeImageManifest, body)
	})
	t.Run("by digest", func(t *testing.T) {
		r := c.with(t).putManifest("man/a", img.digest.String(), v1.MediaTypeImageManifest, img.manifest)
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "Location", "/v2/man/a/manifests/"+img.digest.String())
		wantHeader(t, r, "Docker-Content-Digest", img.digest.String())
		c.with(t).wantManifest("man/a", img.digest.String(), v1.MediaTypeImageManifest, img.manifest)
	})
	t.Run("pushed again", func(t *testing.T) {
		r := c.with(t).putManifest("man/a", "v1", v1.MediaTypeImageManifest, body)
		wantStatus(t, r, http.StatusCreated)
		c.with(t).wantManifest("man/a", "v1", v1.MediaTypeImageManifest, body)
	})
	t.Run("sha512 reference", func(t *testing.T) {
		d512 := digest.SHA512.FromBytes(img.manifest)
		r := c.with(t).putManifest("man/a", d512.String(), v1.MediaTypeImageManifest, img.manifest)
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "Docker-Content-Digest", d512.String())
		r = c.with(t).do("GET", "/v2/man/a/manifests/"+d512.String(), nil)
		wantStatus(t, r, http.StatusOK)
		wantHeader(t, r, "Docker-Content-Digest", d512.String())
		if !bytes.Equal(r.body, img.manifest) {
			t.Error("sha512-addressed manifest body differs")
		}
	})
	t.Run("If-None-Match", func(t *testing.T) {
		etag := `"` + d.String() + `"`
		for _, m := range []string{"GET", "HEAD"} {
			r := c.with(t).do(m, "/v2/man/a/manifests/v1", nil, "If-None-Match", etag)
			wantStatus(t, r, http.StatusNotModified)
			if len(r.body) != 0 {
				t.Errorf("%s 304 has a body", m)
			}
			r = c.with(t).do(m, "/v2/man/a/manifests/v1", nil, "If-None-Match", `"sha256:other"`)
			wantStatus(t, r, http.StatusOK)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		for _, path := range []string{
			"/v2/man/a/manifests/nope",
			"/v2/man/a/manifests/" + digest.FromString("nope").String(),
			"/v2/man/other/manifests/v1",
			"/v2/man/other/manifests/" + d.String(),
		} {
			for _, m := range []string{"GET", "HEAD"} {
				wantError(t, c.with(t).do(m, path, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
			}
		}
	})
	t.Run("invalid reference", func(t *testing.T) {
		for _, ref := range []string{".hidden", "-x", strings.Repeat("t", 129), "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e"} {
			for _, m := range []string{"GET", "PUT", "DELETE"} {
				r := c.with(t).do(m, "/v2/man/a/manifests/"+ref, img.manifest, "Content-Type", v1.MediaTypeImageManifest)
				wantError(t, r, http.StatusBadRequest, "MANIFEST_INVALID")
			}
		}
	})
}

func TestManifestReferences(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	// Everything exists in man/elsewhere, so a registry that checked the
	// global blob table instead of the repository would accept the pushes.
	full := c.pushImage("man/elsewhere", "v1", "refs")
	child := c.pushImage("man/elsewhere", "child", "child")
	c.pushBlob("man/refs", []byte("start the repository"))

	missingLayer := newImage(t, "refs, one layer missing")
	c.pushBlob("man/refs", missingLayer.config)
	c.pushBlob("man/refs", missingLayer.layers[0])

	tests := []struct {
		label, mt string
		body      []byte
		missing   digest.Digest
	}{
		{"config and layers only in another repository", v1.MediaTypeImageManifest, full.manifest, digest.FromBytes(full.config)},
		{"one layer only in another repository", v1.MediaTypeImageManifest, missingLayer.manifest, digest.FromBytes(missingLayer.layers[1])},
		{"index child only in another repository", v1.MediaTypeImageIndex, newIndex(t, child), child.digest},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			c := c.with(t)
			r := c.putManifest("man/refs", "bad", tt.mt, tt.body)
			msg := wantError(t, r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
			if !strings.Contains(msg, tt.missing.String()) {
				t.Errorf("message %q does not name the missing %s", msg, tt.missing)
			}
			wantError(t, c.do("GET", "/v2/man/refs/manifests/bad", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
			wantError(t, c.do("GET", "/v2/man/refs/manifests/"+digest.FromBytes(tt.body).String(), nil),
				http.StatusNotFound, "MANIFEST_UNKNOWN")
		})
	}

	t.Run("non-distributable layers may be absent", func(t *testing.T) {
		c := c.with(t)
		foreign := []byte("a layer fetched from elsewhere")
		img := newImage(t, "nondist", func(m *v1.Manifest) {
			d := desc(mtNonDistrib, foreign)
			d.URLs = []string{"https://example.com/layer"}
			m.Layers = append(m.Layers, d)
		})
		c.pushBlobs("man/nondist", img)
		c.pushManifest("man/nondist", "v1", v1.MediaTypeImageManifest, img.manifest)
		c.wantManifest("man/nondist", "v1", v1.MediaTypeImageManifest, img.manifest)
	})
	t.Run("docker foreign layers may be absent", func(t *testing.T) {
		c := c.with(t)
		cfg, layer := []byte(`{"os":"windows"}`), []byte("docker layer")
		c.pushBlob("man/foreign", cfg)
		c.pushBlob("man/foreign", layer)
		body := mustJSON(t, map[string]any{
			"schemaVersion": 2,
			"mediaType":     mtDockerManifest,
			"config":        desc(mtDockerConfig, cfg),
			"layers": []v1.Descriptor{
				{MediaType: mtDockerForeign, Digest: digest.FromString("windows base"), Size: 12,
					URLs: []string{"https://example.com/base"}},
				desc(mtDockerLayer, layer),
			},
		})
		c.pushManifest("man/foreign", "v1", mtDockerManifest, body)
		c.wantManifest("man/foreign", "v1", mtDockerManifest, body)
	})
}

func TestManifestInvalid(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	img := newImage(t, "invalid")
	c.pushBlobs("man/inv", img)
	noMediaType := newImage(t, "invalid", func(m *v1.Manifest) { m.MediaType = "" })
	schema1 := []byte(`{"schemaVersion":1,"name":"man/inv","tag":"v1","architecture":"amd64","fsLayers":[],"history":[]}`)
	tests := []struct {
		label, ref, mt string
		body           []byte
		status         int
		code, msg      string
	}{
		{"digest does not match", digest.FromString("other").String(), v1.MediaTypeImageManifest, img.manifest,
			http.StatusBadRequest, "DIGEST_INVALID", img.digest.String()},
		{"sha512 digest does not match", digest.SHA512.FromString("other").String(), v1.MediaTypeImageManifest, img.manifest,
			http.StatusBadRequest, "DIGEST_INVALID", ""},
		{"docker schema 1 signed", "v1", "application/vnd.docker.distribution.manifest.v1+prettyjws", schema1,
			http.StatusBadRequest, "MANIFEST_INVALID", "schema 1"},
		{"docker schema 1 unsigned", "v1", "application/vnd.docker.distribution.manifest.v1+json", schema1,
			http.StatusBadRequest, "MANIFEST_INVALID", "schema 1"},
		{"docker schema 1 as json", "v1", "application/json", schema1,
			http.StatusBadRequest, "MANIFEST_INVALID", "schema 1"},
		{"unknown media type", "v1", "application/vnd.example.thing+json",
			[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}`),
			http.StatusBadRequest, "MANIFEST_INVALID", "application/vnd.example.thing+json"},
		{"unknown content type and no mediaType", "v1", "text/plain", noMediaType.manifest,
			http.StatusBadRequest, "MANIFEST_INVALID", ""},
		{"content type and mediaType disagree", "v1", v1.MediaTypeImageIndex, img.manifest,
			http.StatusBadRequest, "MANIFEST_INVALID", "must match"},
		{"not JSON", "v1", v1.MediaTypeImageManifest, []byte("not json"),
			http.StatusBadRequest, "MANIFEST_INVALID", ""},
		{"empty body", "v1", v1.MediaTypeImageManifest, []byte{},
			http.StatusBadRequest, "MANIFEST_INVALID", "empty"},
		{"no config", "v1", v1.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"mediaType":"` + v1.MediaTypeImageManifest + `","layers":[]}`),
			http.StatusBadRequest, "MANIFEST_INVALID", "config"},
		{"bad descriptor digest", "v1", v1.MediaTypeImageManifest,
			[]byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:xyz","size":1}}`),
			http.StatusBadRequest, "MANIFEST_INVALID", "config.digest"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			c := c.with(t)
			r := c.putManifest("man/inv", tt.ref, tt.mt, tt.body)
			msg := wantError(t, r, tt.status, tt.code)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not contain %q", msg, tt.msg)
			}
			if r.Header.Get("Docker-Content-Digest") != "" || r.Header.Get("Location") != "" {
				t.Errorf("refused push has Docker-Content-Digest %q, Location %q",
					r.Header.Get("Docker-Content-Digest"), r.Header.Get("Location"))
			}
		})
	}
	if got := c.catalog(); len(got) != 0 {
		t.Errorf("refused pushes created repositories %q", got)
	}
}

// paddedImage returns an image manifest of exactly size bytes.
func paddedImage(t *testing.T, img *image, size int) []byte {
	t.Helper()
	var m v1.Manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Annotations = map[string]string{"pad": ""}
	base := len(mustJSON(t, m))
	if size < base {
		t.Fatalf("cannot pad a %d-byte manifest to %d", base, size)
	}
	m.Annotations["pad"] = strings.Repeat("x", size-base)
	b := mustJSON(t, m)
	if len(b) != size {
		t.Fatalf("padded manifest is %d bytes, want %d", len(b), size)
	}
	return b
}

func TestManifestSizeLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 2000} {
		name := "default 4 MiB"
		edit := func(*config.Config) {}
		max := 4 << 20
		if limit > 0 {
			name = strconv.Itoa(limit) + " bytes"
			edit = func(cfg *config.Config) { cfg.HTTP.MaxManifestBytes = int64(limit) }
			max = limit
		}
		t.Run(name, func(t *testing.T) {
			c := startServer(t, edit)
			img := newImage(t, "size")
			c.pushBlobs("man/size", img)

			atLimit := paddedImage(t, img, max)
			c.pushManifest("man/size", "at-limit", v1.MediaTypeImageManifest, atLimit)
			c.wantManifest("man/size", "at-limit", v1.MediaTypeImageManifest, atLimit)

			over := paddedImage(t, img, max+1)
			r := c.putManifest("man/size", "over", v1.MediaTypeImageManifest, over)
			wantError(t, r, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")

			// Without a Content-Length the limit is enforced while reading.
			req, err := http.NewRequest("PUT", c.url("/v2/man/size/manifests/over"), io.MultiReader(bytes.NewReader(over)))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1
			req.Header.Set("Content-Type", v1.MediaTypeImageManifest)
			wantError(t, c.send(req), http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")
			wantError(t, c.do("GET", "/v2/man/size/manifests/over", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		})
	}
}

func TestManifestTags(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "man/tags"
	one := c.pushImage(repo, "", "one")
	two := c.pushImage(repo, "", "two")

	t.Run("tag parameters on a push by digest", func(t *testing.T) {
		c := c.with(t)
		r := c.do("PUT", "/v2/"+repo+"/manifests/"+one.digest.String()+"?tag=b&tag=a&tag=c&tag=a", one.manifest,
			"Content-Type", v1.MediaTypeImageManifest)
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "Docker-Content-Digest", one.digest.String())
		if diff := cmp.Diff([]string{"a", "b", "c"}, r.Header.Values("OCI-Tag")); diff != "" {
			t.Errorf("OCI-Tag headers (-want +got):\n%s", diff)
		}
		for _, tag := range []string{"a", "b", "c"} {
			c.wantManifest(repo, tag, v1.MediaTypeImageManifest, one.manifest)
		}
	})
	t.Run("invalid tag parameter stores nothing", func(t *testing.T) {
		c := c.with(t)
		img := newImage(t, "badtag")
		c.pushBlobs(repo, img)
		r := c.do("PUT", "/v2/"+repo+"/manifests/"+img.digest.String()+"?tag=ok&tag=.bad", img.manifest,
			"Content-Type", v1.MediaTypeImageManifest)
		wantError(t, r, http.StatusBadRequest, "MANIFEST_INVALID")
		wantError(t, c.do("GET", "/v2/"+repo+"/manifests/ok", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		wantError(t, c.do("GET", "/v2/"+repo+"/manifests/"+img.digest.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	})
	t.Run("tag moves", func(t *testing.T) {
		c := c.with(t)
		c.pushManifest(repo, "moving", v1.MediaTypeImageManifest, one.manifest)
		c.wantManifest(repo, "moving", v1.MediaTypeImageManifest, one.manifest)
		c.pushManifest(repo, "moving", v1.MediaTypeImageManifest, two.manifest)
		c.wantManifest(repo, "moving", v1.MediaTypeImageManifest, two.manifest)
		c.wantManifest(repo, one.digest.String(), v1.MediaTypeImageManifest, one.manifest)
	})
	t.Run("delete by tag removes only the tag", func(t *testing.T) {
		c := c.with(t)
		wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/a", nil), http.StatusAccepted)
		wantError(t, c.do("GET", "/v2/"+repo+"/manifests/a", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		wantError(t, c.do("HEAD", "/v2/"+repo+"/manifests/a", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		wantError(t, c.do("DELETE", "/v2/"+repo+"/manifests/a", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		c.wantManifest(repo, one.digest.String(), v1.MediaTypeImageManifest, one.manifest)
		c.wantManifest(repo, "b", v1.MediaTypeImageManifest, one.manifest)
		if tags := c.tags(repo); slices.Contains(tags, "a") || !slices.Contains(tags, "b") {
			t.Errorf("tags after deleting a: %q", tags)
		}
	})
	t.Run("delete by digest removes the manifest and its tags", func(t *testing.T) {
		c := c.with(t)
		wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/"+one.digest.String(), nil), http.StatusAccepted)
		for _, ref := range []string{one.digest.String(), "b", "c"} {
			wantError(t, c.do("GET", "/v2/"+repo+"/manifests/"+ref, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
			wantError(t, c.do("HEAD", "/v2/"+repo+"/manifests/"+ref, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		if diff := cmp.Diff([]string{"moving"}, c.tags(repo)); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
		wantError(t, c.do("DELETE", "/v2/"+repo+"/manifests/"+one.digest.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		c.wantManifest(repo, "moving", v1.MediaTypeImageManifest, two.manifest)
		// The blobs are still there, so the manifest can be pushed again.
		c.pushManifest(repo, "back", v1.MediaTypeImageManifest, one.manifest)
		c.wantManifest(repo, "back", v1.MediaTypeImageManifest, one.manifest)
	})
	t.Run("delete in an unknown repository", func(t *testing.T) {
		r := c.with(t).do("DELETE", "/v2/man/none/manifests/"+one.digest.String(), nil)
		wantError(t, r, http.StatusNotFound, "MANIFEST_UNKNOWN")
	})
}

func TestManifestIndex(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "man/index"
	amd := c.pushImage(repo, "", "amd64")
	arm := c.pushImage(repo, "", "arm64")
	idx := newIndex(t, amd, arm)
	d := c.pushManifest(repo, "multi", v1.MediaTypeImageIndex, idx)
	if d != digest.FromBytes(idx) {
		t.Fatalf("index digest %s, want %s", d, digest.FromBytes(idx))
	}
	c.wantManifest(repo, "multi", v1.MediaTypeImageIndex, idx)

	r := c.do("DELETE", "/v2/"+repo+"/manifests/"+amd.digest.String(), nil)
	msg := wantError(t, r, http.StatusConflict, "DENIED")
	if !strings.Contains(msg, d.String()) {
		t.Errorf("message %q does not name the index %s", msg, d)
	}
	c.wantManifest(repo, amd.digest.String(), v1.MediaTypeImageManifest, amd.manifest)

	// Deleting the tag of the index does not free the child: the index
	// is still there.
	wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/multi", nil), http.StatusAccepted)
	wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/"+amd.digest.String(), nil), http.StatusConflict)

	wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/"+d.String(), nil), http.StatusAccepted)
	wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/"+amd.digest.String(), nil), http.StatusAccepted)
	wantError(t, c.do("GET", "/v2/"+repo+"/manifests/"+amd.digest.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	c.wantManifest(repo, arm.digest.String(), v1.MediaTypeImageManifest, arm.manifest)
}

func TestManifestDocker(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "man/docker"
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("docker layer bytes")
	c.pushBlob(repo, cfg)
	c.pushBlob(repo, layer)
	man := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     mtDockerManifest,
		"config":        desc(mtDockerConfig, cfg),
		"layers":        []v1.Descriptor{desc(mtDockerLayer, layer)},
	})
	md := c.pushManifest(repo, "v1", mtDockerManifest, man)
	c.wantManifest(repo, "v1", mtDockerManifest, man)

	md2 := digest.FromBytes(man)
	list := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     mtDockerList,
		"manifests": []map[string]any{{
			"mediaType": mtDockerManifest, "digest": md, "size": len(man),
			"platform": map[string]string{"architecture": "amd64", "os": "linux"},
		}},
	})
	if md != md2 {
		t.Fatalf("docker manifest digest %s, want %s", md, md2)
	}
	c.pushManifest(repo, "list", mtDockerList, list)
	c.wantManifest(repo, "list", mtDockerList, list)
	c.wantManifest(repo, digest.FromBytes(list).String(), mtDockerList, list)
}

func TestManifestSubject(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "man/subject"
	base := c.pushImage(repo, "v1", "subject base")
	absent := digest.FromString("a manifest never pushed")
	for _, tt := range []struct {
		label   string
		subject v1.Descriptor
	}{
		{"subject present", v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: base.digest, Size: int64(len(base.manifest))}},
		{"subject absent", v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: absent, Size: 123}},
	} {
		t.Run(tt.label, func(t *testing.T) {
			c := c.with(t)
			sig := newImage(t, "sig "+tt.label, func(m *v1.Manifest) {
				m.ArtifactType = "application/vnd.example.signature"
				m.Subject = &tt.subject
			})
			c.pushBlobs(repo, sig)
			r := c.putManifest(repo, sig.digest.String(), v1.MediaTypeImageManifest, sig.manifest)
			wantStatus(t, r, http.StatusCreated)
			wantHeader(t, r, "OCI-Subject", tt.subject.Digest.String())
			c.wantManifest(repo, sig.digest.String(), v1.MediaTypeImageManifest, sig.manifest)
		})
	}
	t.Run("index with subject", func(t *testing.T) {
		c := c.with(t)
		idx := v1.Index{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    v1.MediaTypeImageIndex,
			ArtifactType: "application/vnd.example.bundle",
			Manifests:    []v1.Descriptor{desc(v1.MediaTypeImageManifest, base.manifest)},
			Subject:      &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: base.digest, Size: int64(len(base.manifest))},
		}
		body := mustJSON(t, idx)
		r := c.putManifest(repo, "bundle", v1.MediaTypeImageIndex, body)
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "OCI-Subject", base.digest.String())
	})
}
