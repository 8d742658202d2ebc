package run_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/retention/run"
	"github.com/opencontainers/go-digest"
)

// benchPolicy keeps the 1,000 newest release builds and expires the rest,
// and expires untagged manifests older than a week: every tag is ranked.
const benchPolicy = `{"rules": [
	{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"],
	 "countType": "imageCountMoreThan", "countNumber": 1000}},
	{"rulePriority": 2, "selection": {"tagStatus": "untagged",
	 "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}}]}`

// seedTags stores manifests and tags (tagsPerManifest each) in one
// repository of project "bench", in one transaction.
func seedTags(b *testing.B, m meta.Store, manifests, tagsPerManifest int) {
	b.Helper()
	ctx := context.Background()
	if err := m.CreateProject(ctx, &meta.Project{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	base := time.Now().Add(-90 * 24 * time.Hour)
	err := m.WithTx(ctx, func(tx meta.Querier) error {
		repo, err := tx.EnsureRepository(ctx, "bench/app")
		if err != nil {
			return err
		}
		for i := range manifests {
			content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":%d}`, i)
			mf := &meta.Manifest{RepositoryID: repo.ID, Digest: digest.FromBytes(content), Content: content,
				MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(content)),
				PushedAt: base.Add(time.Duration(i) * time.Minute)}
			if err := tx.PutManifest(ctx, mf, nil); err != nil {
				return err
			}
			for j := range tagsPerManifest {
				if _, err := tx.PutTag(ctx, repo.ID, fmt.Sprintf("v%d.%d", i, j), mf.Digest); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDryRun100kTags is a dry run (snapshot, evaluation, report) over
// one repository of 100,000 tags on 20,000 manifests in a real SQLite
// store.
func BenchmarkDryRun100kTags(b *testing.B) {
	const manifests, perManifest = 20_000, 5
	ctx := context.Background()
	m, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	seedTags(b, m, manifests, perManifest)
	svc, err := run.New(run.Config{Store: m, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.PutPolicy(ctx, "bench", run.PolicyInput{Policy: []byte(benchPolicy)}); err != nil {
		b.Fatal(err)
	}
	rs, _ := meta.RetentionOf(m)
	p, err := m.GetProject(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var examined int64
	b.ResetTimer()
	for b.Loop() {
		r := &meta.RetentionRun{ProjectID: p.ID, DryRun: true, Trigger: run.TriggerManual}
		if err := rs.CreateRetentionRun(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := svc.Execute(ctx, r.ID); err != nil {
			b.Fatal(err)
		}
		got, err := rs.GetRetentionRun(ctx, r.ID)
		if err != nil || got.Status != meta.RunSucceeded {
			b.Fatalf("run = %+v, %v", got, err)
		}
		examined += got.Progress.TagsExamined
	}
	b.ReportMetric(float64(examined)/b.Elapsed().Seconds(), "tags/s")
}
