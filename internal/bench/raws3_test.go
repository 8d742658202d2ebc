package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

func TestRawS3Validate(t *testing.T) {
	ok := RawS3{Endpoint: "http://127.0.0.1:7070", Bucket: "b", AccessKey: "k", SecretKey: "s", PartSize: 16 << 20}
	for _, tc := range []struct {
		name   string
		change func(*RawS3)
		want   string // in the error; "" for none
	}{
		{"valid", func(*RawS3) {}, ""},
		{"no scheme", func(r *RawS3) { r.Endpoint = "127.0.0.1:7070" }, "endpoint"},
		{"no bucket", func(r *RawS3) { r.Bucket = "" }, "bucket"},
		{"no secret", func(r *RawS3) { r.SecretKey = "" }, "secret key"},
		{"tiny parts", func(r *RawS3) { r.PartSize = 1 << 20 }, "5 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.change(&r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want class invalid mentioning %q", err, tc.want)
			}
		})
	}
}

// rawS3For returns the RawS3 of a fresh bucket on the test S3 server.
func rawS3For(t *testing.T) (RawS3, *s3test.Bucket) {
	t.Helper()
	b := s3test.NewBucket(t)
	return RawS3{Endpoint: b.Server.Endpoint, Bucket: b.Name, Region: b.Server.Region,
		AccessKey: b.Server.AccessKey, SecretKey: b.Server.SecretKey, PartSize: 5 << 20}, b
}

func rawEnv() *Env {
	cfg := QuickConfig()
	cfg.RunID = "rawtest"
	cfg.BlobSize = 11 << 20 // three parts of 5 MiB, the last one short
	cfg.SmallCount = 40
	cfg.SmallSize = 3000
	return &Env{Config: cfg, Digests: NewDigester(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestRunRawS3(t *testing.T) {
	r, b := rawS3For(t)
	e := rawEnv()
	results, err := RunRawS3(context.Background(), e, r)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Name   string
		Unit   Unit
		Ops    int64
		Errors int64
		Bytes  int64
	}
	var got []summary
	for _, res := range results {
		got = append(got, summary{res.Name, res.Unit, res.Ops, res.Errors, res.Bytes})
		if res.Value <= 0 {
			t.Errorf("%s: headline %v, want a positive rate", res.Name, res.Value)
		}
	}
	want := []summary{
		{RawPutBig, MiBPerSec, 1, 0, 11 << 20},
		{RawGetBig, MiBPerSec, 1, 0, 11 << 20},
		{RawPutSmall, OpsPerSec, 40, 0, 40 * 3000},
		{RawGetSmall, OpsPerSec, 40, 0, 40 * 3000},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	// The objects are really there, with the sizes sent.
	var objects int
	var total int64
	for oi := range b.Server.Client.Client.ListObjects(context.Background(), b.Name,
		minio.ListObjectsOptions{Prefix: "berthbench/rawtest/", Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		objects++
		total += oi.Size
	}
	if objects != 41 || total != 11<<20+40*3000 {
		t.Errorf("bucket holds %d objects of %d bytes, want 41 of %d", objects, total, 11<<20+40*3000)
	}
}

func TestRunRawS3Failures(t *testing.T) {
	r, _ := rawS3For(t)
	t.Run("wrong secret", func(t *testing.T) {
		bad := r
		bad.SecretKey = "not-the-secret"
		if _, err := RunRawS3(context.Background(), rawEnv(), bad); err == nil {
			t.Fatal("RunRawS3 with a wrong secret key succeeded")
		}
	})
	t.Run("missing bucket is created", func(t *testing.T) {
		other := r
		other.Bucket = r.Bucket + "-new"
		e := rawEnv()
		e.Config.SmallCount = 1
		results, err := RunRawS3(context.Background(), e, other)
		t.Cleanup(func() { removeBucket(t, other) })
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range results {
			if res.Errors > 0 {
				t.Errorf("%s: %d errors: %+v", res.Name, res.Errors, res.ErrorSamples)
			}
		}
		u, _ := url.Parse(r.Endpoint)
		c, err := rawS3Client(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.BucketExists(context.Background(), other.Bucket); err != nil || !ok {
			t.Errorf("bucket %s on %s: exists %v, err %v", other.Bucket, u.Host, ok, err)
		}
	})
}

// removeBucket deletes a bucket RunRawS3 created, with its objects.
func removeBucket(t *testing.T, r RawS3) {
	t.Helper()
	ctx := context.Background()
	c, err := rawS3Client(ctx, r)
	if err != nil {
		t.Error(err)
		return
	}
	for oi := range c.ListObjects(ctx, r.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err == nil {
			err = c.RemoveObject(ctx, r.Bucket, oi.Key, minio.RemoveObjectOptions{})
		}
		if err = errors.Join(err, oi.Err); err != nil {
			t.Errorf("emptying bucket %s: %v", r.Bucket, err)
			return
		}
	}
	if err := c.RemoveBucket(ctx, r.Bucket); err != nil {
		t.Errorf("removing bucket %s: %v", r.Bucket, err)
	}
}
