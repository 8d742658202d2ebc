package oci_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/config"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushTiny pushes a minimal artifact (empty config, no layers) to repo
// under each tag and returns its body.
func (c *client) pushTiny(repo string, tags ...string) []byte {
	c.t.Helper()
	c.pushBlob(repo, []byte("{}"))
	m := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.tiny",
		Config:       v1.DescriptorEmptyJSON,
		Layers:       []v1.Descriptor{},
	}
	body := mustJSON(c.t, m)
	for _, tag := range tags {
		c.pushManifest(repo, tag, v1.MediaTypeImageManifest, body)
	}
	return body
}

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// page is one page of a listing.
type page struct {
	items []string
	next  string // the Link target, or ""
	// null says the list was JSON null instead of an array.
	null bool
}

// getPage fetches one listing page: field is "tags" or "repositories".
func (c *client) getPage(path, field string) page {
	c.t.Helper()
	r := c.do("GET", path, nil)
	wantStatus(c.t, r, http.StatusOK)
	wantHeader(c.t, r, "Content-Type", "application/json")
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		c.t.Fatalf("GET %s: body %q: %v", path, r.body, err)
	}
	var p page
	p.null = string(body[field]) == "null"
	if err := json.Unmarshal(body[field], &p.items); err != nil || p.items == nil && !p.null {
		c.t.Fatalf("GET %s: %q is %s, want a JSON array", path, field, body[field])
	}
	if links := r.Header.Values("Link"); len(links) > 0 {
		m := nextLink.FindStringSubmatch(links[0])
		if len(links) != 1 || m == nil {
			c.t.Fatalf("GET %s: Link %q is not one rel=next link", path, links)
		}
		p.next = m[1]
	}
	return p
}

// walk follows a listing from path through its Link headers, checking each
// page holds at most n items, and returns every item.
func (c *client) walk(path, field string, n int) []string {
	c.t.Helper()
	var all []string
	for i := 0; path != ""; i++ {
		if i > 1000 {
			c.t.Fatal("pagination does not end")
		}
		p := c.getPage(path, field)
		if p.null {
			c.t.Errorf("page %s: %s is null, want an array", path, field)
		}
		if len(p.items) > n {
			c.t.Errorf("page %s has %d items, more than %d", path, len(p.items), n)
		}
		if p.next != "" && len(p.items) == 0 {
			c.t.Errorf("page %s is empty but links to %s", path, p.next)
		}
		all = append(all, p.items...)
		path = p.next // used as-is, as clients do
	}
	return all
}

// trickyTags sort differently under byte order than under most
// locale-aware collations.
var trickyTags = []string{"b", "a_b", "A", "a.b", "_x", "a-b", "Z", "aa", "a", "0", "B-1", "a0", "9", "a__b", "a--b"}

const tagsRepo = "list/tags"

// tagsServer starts a server with a small page size whose repository
// tagsRepo holds trickyTags, and returns the tags in byte order.
func tagsServer(t *testing.T, maxPage int) (*client, []string) {
	t.Helper()
	c := startServer(t, func(cfg *config.Config) { cfg.HTTP.MaxPageSize = maxPage })
	c.pushTiny(tagsRepo, trickyTags...)
	want := slices.Clone(trickyTags)
	slices.Sort(want) // byte order
	return c, want
}

func TestTagsList(t *testing.T) {
	t.Parallel()
	const maxPage, repo = 4, tagsRepo
	c, want := tagsServer(t, maxPage)

	t.Run("shape", func(t *testing.T) {
		r := c.with(t).do("GET", "/v2/"+repo+"/tags/list?n=2", nil)
		wantStatus(t, r, http.StatusOK)
		if diff := cmp.Diff(`{"name":"list/tags","tags":["0","9"]}`, string(r.body)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})
	for _, n := range []int{1, 2, 3, maxPage} {
		t.Run("walk n="+strconv.Itoa(n), func(t *testing.T) {
			got := c.with(t).walk("/v2/"+repo+"/tags/list?n="+strconv.Itoa(n), "tags", n)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("exact last page has no link", func(t *testing.T) {
		// 15 tags: after the 12th, one page of 3 remains.
		p := c.with(t).getPage("/v2/"+repo+"/tags/list?n=3&last="+url.QueryEscape(want[11]), "tags")
		if diff := cmp.Diff(want[12:], p.items); diff != "" || p.next != "" {
			t.Errorf("last page %q next %q; want %q and no link", p.items, p.next, want[12:])
		}
	})
}

func TestTagsListEdges(t *testing.T) {
	t.Parallel()
	const maxPage, repo = 4, tagsRepo
	c, want := tagsServer(t, maxPage)
	t.Run("last that is not a tag", func(t *testing.T) {
		p := c.with(t).getPage("/v2/"+repo+"/tags/list?n=3&last=a.", "tags")
		if diff := cmp.Diff([]string{"a.b", "a0", "a__b"}, p.items); diff != "" {
			t.Errorf("page after %q (-want +got):\n%s", "a.", diff)
		}
	})
	t.Run("last after every tag", func(t *testing.T) {
		p := c.with(t).getPage("/v2/"+repo+"/tags/list?last=zzz", "tags")
		if p.null {
			t.Fatal(`an empty page of a tags list says "tags":null instead of []`)
		}
		if len(p.items) != 0 || p.next != "" {
			t.Errorf("page after the end: %q, next %q", p.items, p.next)
		}
	})
	t.Run("n capped at max_page_size", func(t *testing.T) {
		for _, q := range []string{"", "?n=100", "?n=" + strconv.Itoa(maxPage+1)} {
			p := c.with(t).getPage("/v2/"+repo+"/tags/list"+q, "tags")
			if diff := cmp.Diff(want[:maxPage], p.items); diff != "" {
				t.Errorf("%q: first page (-want +got):\n%s", q, diff)
			}
			if p.next == "" {
				t.Errorf("%q: capped page has no Link", q)
			}
		}
	})
	t.Run("n=0", func(t *testing.T) {
		r := c.with(t).do("GET", "/v2/"+repo+"/tags/list?n=0", nil)
		wantStatus(t, r, http.StatusOK)
		if diff := cmp.Diff(`{"name":"list/tags","tags":[]}`, string(r.body)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
		if l := r.Header.Get("Link"); l != "" {
			t.Errorf("n=0 has Link %q", l)
		}
	})
	t.Run("bad n", func(t *testing.T) {
		for _, n := range []string{"-1", "abc", "1.5", "0x10", "99999999999999999999"} {
			r := c.with(t).do("GET", "/v2/"+repo+"/tags/list?n="+url.QueryEscape(n), nil)
			wantError(t, r, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID")
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		wantError(t, c.with(t).do("GET", "/v2/list/none/tags/list", nil), http.StatusNotFound, "NAME_UNKNOWN")
	})
	t.Run("repository without tags", func(t *testing.T) {
		c := c.with(t)
		c.pushBlob("list/untagged", []byte("only a blob"))
		r := c.do("GET", "/v2/list/untagged/tags/list", nil)
		wantStatus(t, r, http.StatusOK)
		if string(r.body) == `{"name":"list/untagged","tags":null}` {
			t.Fatal(`tags list of a repository without tags says "tags":null instead of []`)
		}
		if diff := cmp.Diff(`{"name":"list/untagged","tags":[]}`, string(r.body)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	const maxPage = 3
	c := startServer(t, func(cfg *config.Config) { cfg.HTTP.MaxPageSize = maxPage })

	t.Run("empty", func(t *testing.T) {
		r := c.with(t).do("GET", "/v2/_catalog", nil)
		wantStatus(t, r, http.StatusOK)
		if string(r.body) == `{"repositories":null}` {
			t.Fatal(`an empty catalog says "repositories":null instead of []`)
		}
		if diff := cmp.Diff(`{"repositories":[]}`, string(r.body)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})

	names := []string{"b/a", "a_b", "a/b", "a.b", "a", "a-b", "a0", "a__b", "a/b/c", "ab"}
	for _, n := range names {
		c.pushTiny(n, "latest")
	}
	// Repositories without manifests are not listed.
	c.pushBlob("only/blobs", []byte("no manifest here"))
	c.startUpload("only/upload")
	emptied := c.pushTiny("was/full", "latest")
	wantStatus(t, c.do("DELETE", "/v2/was/full/manifests/"+digestOf(emptied), nil), http.StatusAccepted)
	c.pushTiny("untagged") // holds a manifest without a tag
	c.pushManifest("untagged", digestOf(emptied), v1.MediaTypeImageManifest, emptied)

	want := append(slices.Clone(names), "untagged")
	slices.Sort(want)
	for _, n := range []int{1, 2, maxPage} {
		t.Run("walk n="+strconv.Itoa(n), func(t *testing.T) {
			got := c.with(t).walk("/v2/_catalog?n="+strconv.Itoa(n), "repositories", n)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("catalog (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("n capped at max_page_size", func(t *testing.T) {
		p := c.with(t).getPage("/v2/_catalog?n=1000", "repositories")
		if diff := cmp.Diff(want[:maxPage], p.items); diff != "" || p.next == "" {
			t.Errorf("first page %q, next %q; want %q and a link", p.items, p.next, want[:maxPage])
		}
	})
	t.Run("last page has no link", func(t *testing.T) {
		p := c.with(t).getPage("/v2/_catalog?n=2&last="+url.QueryEscape(want[len(want)-3]), "repositories")
		if diff := cmp.Diff(want[len(want)-2:], p.items); diff != "" || p.next != "" {
			t.Errorf("last page %q, next %q; want %q and no link", p.items, p.next, want[len(want)-2:])
		}
	})
	t.Run("n=0", func(t *testing.T) {
		r := c.with(t).do("GET", "/v2/_catalog?n=0", nil)
		wantStatus(t, r, http.StatusOK)
		if diff := cmp.Diff(`{"repositories":[]}`, string(r.body)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})
	t.Run("bad n", func(t *testing.T) {
		for _, n := range []string{"-5", "many"} {
			wantError(t, c.with(t).do("GET", "/v2/_catalog?n="+n, nil), http.StatusBadRequest, "PAGINATION_NUMBER_INVALID")
		}
	})
}
