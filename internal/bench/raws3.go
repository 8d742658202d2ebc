package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// LabelRawS3 labels the reports of RunRawS3: the S3 server's own speed,
// which Berth scale-out is compared with.
const LabelRawS3 = "raw-s3"

// The results RunRawS3 produces. Their scenario is LabelRawS3, which is not
// among Scenarios(): they are reference figures, not a registry's.
const (
	RawPutBig   = LabelRawS3 + "/put-big"
	RawGetBig   = LabelRawS3 + "/get-big"
	RawPutSmall = LabelRawS3 + "/put-small"
	RawGetSmall = LabelRawS3 + "/get-small"
)

// RawS3 says where RunRawS3 sends its requests and how.
type RawS3 struct {
	// Endpoint is the S3 server's base URL, http(s)://host:port.
	Endpoint string
	// Bucket is created if it does not exist; objects go under the prefix
	// "berthbench/<RunID>/" in it.
	Bucket               string
	Region               string
	AccessKey, SecretKey string
	// PartSize is the multipart part size of the big object's upload; it
	// should be Berth's s3.part_size (16 MiB by default), as a client
	// uploading the same blob to the same server would use.
	PartSize int64
}

// Validate reports what is missing or wrong.
func (r RawS3) Validate() error {
	var problems []string
	u, err := url.Parse(r.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		problems = append(problems, fmt.Sprintf("endpoint %q: want http(s)://host:port", r.Endpoint))
	}
	if r.Bucket == "" {
		problems = append(problems, "bucket is empty")
	}
	if r.AccessKey == "" || r.SecretKey == "" {
		problems = append(problems, "access key or secret key is empty")
	}
	if r.PartSize < 5<<20 {
		problems = append(problems, fmt.Sprintf("part size %d is below S3's minimum of 5 MiB", r.PartSize))
	}
	if len(problems) > 0 {
		return errdefs.Invalid("raw S3: %s", strings.Join(problems, "; "))
	}
	return nil
}

// rawS3Client connects to the server with path-style addressing (what
// local S3 servers such as versitygw expect) and makes sure the bucket
// exists.
func rawS3Client(ctx context.Context, r RawS3) (*minio.Client, error) {
	u, _ := url.Parse(r.Endpoint) // checked by Validate
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(r.AccessKey, r.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       r.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, errdefs.Invalid("raw S3 client for %s: %v", r.Endpoint, err)
	}
	ok, err := c.BucketExists(ctx, r.Bucket)
	if err != nil {
		return nil, fmt.Errorf("raw S3: checking bucket %s: %w", r.Bucket, errdefs.Unavailable("%v", err))
	}
	if !ok {
		if err := c.MakeBucket(ctx, r.Bucket, minio.MakeBucketOptions{Region: r.Region}); err != nil {
			return nil, fmt.Errorf("raw S3: creating bucket %s: %w", r.Bucket, errdefs.Unavailable("%v", err))
		}
	}
	return c, nil
}

// RunRawS3 measures the S3 server itself with the payloads of the blob
// scenarios, so that Berth's figures on that server can be read against
// it: one BlobSize object uploaded as a multipart upload of r.PartSize
// parts and read back (like push-mono and pull), then SmallCount objects of
// SmallSize bytes PUT and then GET at the concurrency of small-blobs. Every
// GET is verified against the digest of what was sent. e.Client is not
// used; e.Meter, if set, meters the S3 server's process.
func RunRawS3(ctx context.Context, e *Env, r RawS3) ([]Result, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c, err := rawS3Client(ctx, r)
	if err != nil {
		return nil, err
	}
	prefix := "berthbench/" + e.Config.RunID + "/"
	big := bigBlob(e.Config)
	bigKey := prefix + "big"
	e.Log.Info("hashing blob", "bytes", big.Size)
	bigDg := e.Digests.Digest(big)
	params := map[string]int64{"blob_bytes": big.Size, "part_bytes": r.PartSize}
	putBig := e.measure(phase{scenario: LabelRawS3, name: "put-big", concurrency: 1, unit: MiBPerSec, params: params}, func() Tally {
		return RunCount(ctx, 1, 1, func(ctx context.Context, _, _ int) (int64, error) {
			return big.Size, rawPut(ctx, c, r, bigKey, big)
		})
	})
	out := []Result{putBig}
	if putBig.Errors == 0 {
		out = append(out, e.measure(phase{scenario: LabelRawS3, name: "get-big", concurrency: 1, unit: MiBPerSec, params: params}, func() Tally {
			return RunCount(ctx, 1, 1, func(ctx context.Context, _, _ int) (int64, error) {
				return rawGet(ctx, c, r.Bucket, bigKey, bigDg, nil)
			})
		}))
	}
	return append(out, rawSmall(ctx, e, c, r, prefix)...), nil
}

// rawSmall PUTs, then GETs, the small blobs of small-blobs as objects.
func rawSmall(ctx context.Context, e *Env, c *minio.Client, r RawS3, prefix string) []Result {
	cfg := e.Config
	conc := cfg.concurrency("small-blobs", defaultConcurrency("small-blobs"))
	blobs := make([]Blob, cfg.SmallCount)
	digests := make([]string, cfg.SmallCount)
	for i := range blobs {
		blobs[i] = Blob{Seed: Seed("small-"+cfg.RunID, i), Size: cfg.SmallSize}
		digests[i] = e.Digests.Digest(blobs[i])
	}
	key := func(i int) string { return fmt.Sprintf("%ssmall/%06d", prefix, i) }
	params := map[string]int64{"blobs": int64(len(blobs)), "blob_bytes": cfg.SmallSize}
	put := e.measure(phase{scenario: LabelRawS3, name: "put-small", concurrency: conc, unit: OpsPerSec, params: params}, func() Tally {
		return RunCount(ctx, len(blobs), conc, func(ctx context.Context, _, i int) (int64, error) {
			return blobs[i].Size, rawPut(ctx, c, r, key(i), blobs[i])
		})
	})
	bufs := make([][]byte, conc)
	get := e.measure(phase{scenario: LabelRawS3, name: "get-small", concurrency: conc, unit: OpsPerSec, params: params}, func() Tally {
		return RunCount(ctx, len(blobs), conc, func(ctx context.Context, w, i int) (int64, error) {
			if bufs[w] == nil {
				bufs[w] = make([]byte, copyBufSize)
			}
			return rawGet(ctx, c, r.Bucket, key(i), digests[i], bufs[w])
		})
	})
	return []Result{put, get}
}

// rawPut uploads b under key the way an S3 client does: one PUT when it
// fits a part, else a multipart upload of r.PartSize parts sent one after
// another (the reader is a stream, not a file, as in a registry).
func rawPut(ctx context.Context, c *minio.Client, r RawS3, key string, b Blob) error {
	_, err := c.PutObject(ctx, r.Bucket, key, b.Reader(), b.Size, minio.PutObjectOptions{
		PartSize: uint64(r.PartSize), ContentType: "application/octet-stream",
	})
	if err != nil {
		return fmt.Errorf("PUT object %s: %w", key, errdefs.Unavailable("%v", err))
	}
	return nil
}

// rawGet reads key to the end, hashing it, and checks the digest; buf is
// the copy buffer of small objects (big ones are read and hashed in two
// goroutines, as PullBlob does).
func rawGet(ctx context.Context, c *minio.Client, bucket, key, digest string, buf []byte) (int64, error) {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("GET object %s: %w", key, errdefs.Unavailable("%v", err))
	}
	defer obj.Close()
	h := sha256.New()
	var n int64
	if buf == nil {
		n, err = hashPipelined(obj, h)
	} else {
		n, err = io.CopyBuffer(h, obj, buf)
	}
	if err != nil {
		return n, fmt.Errorf("GET object %s: reading after %d bytes: %w", key, n, errdefs.Unavailable("%v", err))
	}
	if got := formatDigest(h.Sum(nil)); got != digest {
		return n, errdefs.Invalid("GET object %s: %d bytes with digest %s, want %s", key, n, got, digest)
	}
	return n, nil
}

// defaultConcurrency returns the default concurrency of the scenario name,
// or 1 for an unknown name.
func defaultConcurrency(name string) int {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s.Concurrency
		}
	}
	return 1
}
