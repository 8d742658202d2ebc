package transfer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/transfer"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

type stores struct {
	meta  *sqlite.Store
	blobs *filesystem.Store
	svc   *registry.Service
}

func open(t *testing.T, dir string) *stores {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	m, err := sqlite.Open(context.Background(), filepath.Join(dir, "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	b, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &stores{meta: m, blobs: b, svc: registry.New(m, b, registry.Options{})}
}

func (s *stores) pushBlob(t *testing.T, repo string, p []byte) v1.Descriptor {
	t.Helper()
	d := digest.FromBytes(p)
	if _, err := s.svc.PutBlob(context.Background(), repo, d, bytes.NewReader(p)); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: d, Size: int64(len(p))}
}

func (s *stores) pushManifest(t *testing.T, repo, ref string, v any) digest.Digest {
	t.Helper()
	body, _ := json.Marshal(v)
	res, err := s.svc.PutManifest(context.Background(), registry.ManifestPut{Repository: repo, Reference: ref,
		ContentType: "", Body: body})
	if err != nil {
		t.Fatalf("push %s:%s: %v", repo, ref, err)
	}
	return res.Digest
}

// seed pushes images sharing a layer, an index over two of them, a
// referrer, and a blob that only a lease holds, across two repositories.
func seed(t *testing.T, s *stores) {
	shared := []byte("shared base layer")
	for _, repo := range []string{"team/app", "team/tools"} {
		base := s.pushBlob(t, repo, shared)
		var children []v1.Descriptor
		for i := range 2 {
			cfg := s.pushBlob(t, repo, fmt.Appendf(nil, `{"arch":%d}`, i))
			cfg.MediaType = v1.MediaTypeImageConfig
			layer := s.pushBlob(t, repo, fmt.Appendf(nil, "layer %s %d", repo, i))
			m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: cfg, Layers: []v1.Descriptor{base, layer}}
			m.SchemaVersion = 2
			d := s.pushManifest(t, repo, fmt.Sprintf("v%d", i), m)
			children = append(children, v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: d, Size: 1})
		}
		for i := range children {
			body, _ := s.svc.GetManifest(context.Background(), repo, children[i].Digest.String(), true)
			children[i].Size = body.Size
		}
		idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: children}
		idx.SchemaVersion = 2
		idxDigest := s.pushManifest(t, repo, "multi", idx)
		empty := s.pushBlob(t, repo, []byte("{}"))
		empty.MediaType = v1.MediaTypeEmptyJSON
		sbom := v1.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/spdx+json", Config: empty,
			Layers:  []v1.Descriptor{s.pushBlob(t, repo, []byte("sbom"))},
			Subject: &v1.Descriptor{MediaType: v1.MediaTypeImageIndex, Digest: idxDigest, Size: 1}}
		sbom.SchemaVersion = 2
		s.pushManifest(t, repo, digest.FromBytes(mustJSON(sbom)).String(), sbom)
		s.pushBlob(t, repo, []byte("pushed but not yet referenced"))
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// snapshot is everything a client can observe, by repository.
func snapshot(t *testing.T, s *stores) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	err := s.meta.Dump(ctx, func(r meta.Record) error {
		switch {
		case r.Tag != nil:
			m, err := s.svc.GetManifest(ctx, r.Tag.Repository, r.Tag.Tag.Name, true)
			if err != nil {
				return err
			}
			out["tag "+r.Tag.Repository+":"+r.Tag.Tag.Name] = string(m.Content)
		case r.Link != nil:
			bc, err := s.svc.OpenBlob(ctx, r.Link.Repository, r.Link.Digest, false)
			if err != nil {
				return err
			}
			p, err := io.ReadAll(bc.Content)
			bc.Content.Close()
			if err != nil {
				return err
			}
			out["blob "+r.Link.Repository+"@"+r.Link.Digest.String()] = digest.FromBytes(p).String()
		case r.Manifest != nil:
			refs, err := s.svc.Referrers(ctx, r.Manifest.Repository, r.Manifest.Manifest.Digest, "")
			if err != nil {
				return err
			}
			out["referrers "+r.Manifest.Repository+"@"+r.Manifest.Manifest.Digest.String()] = refs
		case r.Lease != nil:
			out["lease "+r.Lease.Digest.String()] = r.Lease.ExpiresAt.Unix()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTransferKeepsEverythingAndCanBeRepeated(t *testing.T) {
	src := open(t, t.TempDir())
	seed(t, src)
	dst := open(t, t.TempDir())
	ctx := context.Background()
	var reports []transfer.Report
	run := func() transfer.Report {
		t.Helper()
		rep, err := transfer.Run(ctx,
			transfer.Source{Meta: src.meta, Blobs: src.blobs, Stats: src.meta.Stats},
			transfer.Dest{Meta: dst.meta, Blobs: dst.blobs},
			transfer.Options{Workers: 3, BatchSize: 4, Progress: func(r transfer.Report) { reports = append(reports, r) }})
		if err != nil {
			t.Fatalf("transfer: %v", err)
		}
		return rep
	}
	first := run()
	want := snapshot(t, src)
	if diff := cmp.Diff(want, snapshot(t, dst)); diff != "" {
		t.Fatalf("destination differs from source (-src +dst):\n%s", diff)
	}
	st, _ := src.meta.Stats(ctx)
	if first.Blobs != st.Blobs || first.BlobsCopied != st.Blobs || first.BytesCopied != st.BlobBytes || first.Phase != "done" {
		t.Errorf("first report %+v, source stats %+v", first, st)
	}
	if len(reports) == 0 || reports[len(reports)-1].Phase != "done" {
		t.Errorf("no final progress report: %+v", reports)
	}
	second := run()
	if second.BlobsCopied != 0 || second.Blobs != st.Blobs {
		t.Errorf("a repeated transfer copied %d blobs again (report %+v)", second.BlobsCopied, second)
	}
	if diff := cmp.Diff(want, snapshot(t, dst)); diff != "" {
		t.Fatalf("after a repeat, destination differs (-src +dst):\n%s", diff)
	}
	dstStats, _ := dst.meta.Stats(ctx)
	st.Uploads = 0
	if diff := cmp.Diff(st, dstStats); diff != "" {
		t.Errorf("store counts differ (-src +dst):\n%s", diff)
	}
}

func TestInterruptedTransferFinishesOnRerun(t *testing.T) {
	src := open(t, t.TempDir())
	seed(t, src)
	dst := open(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := transfer.Run(ctx, transfer.Source{Meta: stopAfter{src.meta, &n, 9, cancel}, Blobs: src.blobs},
		transfer.Dest{Meta: dst.meta, Blobs: dst.blobs}, transfer.Options{Workers: 1})
	if err == nil {
		t.Fatal("interrupted transfer reported success")
	}
	if _, err := transfer.Run(context.Background(), transfer.Source{Meta: src.meta, Blobs: src.blobs},
		transfer.Dest{Meta: dst.meta, Blobs: dst.blobs}, transfer.Options{}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if diff := cmp.Diff(snapshot(t, src), snapshot(t, dst)); diff != "" {
		t.Fatalf("after rerun, destination differs (-src +dst):\n%s", diff)
	}
}

// stopAfter cancels the transfer after limit records, as a crash would.
type stopAfter struct {
	meta.Dumper
	n      *int
	limit  int
	cancel context.CancelFunc
}

func (s stopAfter) Dump(ctx context.Context, fn func(meta.Record) error) error {
	return s.Dumper.Dump(ctx, func(r meta.Record) error {
		*s.n++
		if *s.n == s.limit {
			s.cancel()
		}
		return fn(r)
	})
}
