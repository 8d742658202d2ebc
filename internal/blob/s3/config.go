package s3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Limits and defaults of Options.
const (
	// DefaultPartSize is the part size when Options.PartSize is zero.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's minimum size of every part but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's maximum part size.
	MaxPartSize = 5 << 30
	// maxParts is S3's maximum number of parts of one multipart upload.
	maxParts = 10_000
	// DefaultRedirectExpiry is how long a presigned URL stays valid when
	// Options.RedirectExpiry is zero.
	DefaultRedirectExpiry = 10 * time.Minute
	// MaxRedirectExpiry is the longest validity S3 accepts for a presigned
	// URL (signature version 4).
	MaxRedirectExpiry = 7 * 24 * time.Hour
	// DefaultIndexCacheEntries is the size of the digest→data cache when
	// Options.IndexCacheEntries is zero.
	DefaultIndexCacheEntries = 10_000
	// defaultRegion is used when neither the URL nor AWS_REGION names one.
	defaultRegion = "us-east-1"
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// PartSize is the size of a multipart upload's parts, from MinPartSize
	// to MaxPartSize; 0 means DefaultPartSize. Every open writer holds up
	// to one part in memory, and a blob can have at most 10,000 parts.
	PartSize int64
	// Redirect makes RedirectURL return presigned URLs, so clients fetch
	// blobs from the bucket directly. Off by default: the bucket's endpoint
	// must then be reachable by every client.
	Redirect bool
	// RedirectExpiry is how long a presigned URL is valid, up to
	// MaxRedirectExpiry; 0 means DefaultRedirectExpiry.
	RedirectExpiry time.Duration
	// IndexCacheEntries bounds the in-memory cache of digest→data object
	// mappings that saves a HEAD per Open; 0 means
	// DefaultIndexCacheEntries, negative disables the cache.
	IndexCacheEntries int
	// AccessKeyID, SecretAccessKey and SessionToken are explicit
	// credentials. When AccessKeyID is empty the URL's credentials are
	// used, and without those the AWS environment variables, the shared
	// credentials file or an instance role.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Transport carries the store's HTTP requests (custom TLS roots, a
	// proxy, instrumentation); nil means minio-go's default transport.
	Transport http.RoundTripper
	// Logger receives the events the store handles itself (cleanup that
	// failed after a commit). Nil means slog.Default(). Credentials are
	// never logged.
	Logger *slog.Logger
}

// withDefaults returns o with zero fields set to their defaults, or an
// ErrInvalid error for a value out of range.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	switch {
	case o.PartSize == 0:
		o.PartSize = DefaultPartSize
	case o.PartSize < MinPartSize || o.PartSize > MaxPartSize:
		errs = append(errs, errdefs.Invalid("part size %d is outside S3's limits (%d to %d bytes)", o.PartSize, MinPartSize, MaxPartSize))
	}
	switch {
	case o.RedirectExpiry == 0:
		o.RedirectExpiry = DefaultRedirectExpiry
	case o.RedirectExpiry < time.Second || o.RedirectExpiry > MaxRedirectExpiry:
		errs = append(errs, errdefs.Invalid("redirect expiry %v is outside 1s to %v", o.RedirectExpiry, MaxRedirectExpiry))
	}
	if o.IndexCacheEntries == 0 {
		o.IndexCacheEntries = DefaultIndexCacheEntries
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		errs = append(errs, errdefs.Invalid("explicit S3 credentials need both an access key id and a secret access key"))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, errors.Join(errs...)
}

// Config is a parsed store URL:
//
//	s3://bucket[/prefix]?endpoint=http://127.0.0.1:7070&region=us-east-1&path-style=true
//
// Query parameters: endpoint (scheme and host of the S3 API; default
// https://s3.amazonaws.com), region (default AWS_REGION, else us-east-1),
// path-style (true for http://host/bucket/key addressing, false for
// virtual hosts; default: automatic), and access-key and secret-key, which
// must come together. Prefer the AWS environment variables to access-key
// and secret-key: a URL ends up in process listings and configuration
// dumps.
type Config struct {
	// Bucket is the bucket name.
	Bucket string
	// Prefix is the key prefix inside the bucket, without leading or
	// trailing slash; empty for the bucket root.
	Prefix string
	// Endpoint is host[:port] of the S3 API.
	Endpoint string
	// Secure is true for an https endpoint.
	Secure bool
	// Region is the bucket's region; empty means AWS_REGION, else
	// us-east-1.
	Region string
	// PathStyle is "true", "false" or "" (automatic).
	PathStyle string
	// AccessKey and SecretKey are the URL's credentials, if any.
	AccessKey, SecretKey string
}

// String returns the URL of c without its secret key.
func (c Config) String() string {
	q := url.Values{}
	scheme := "https"
	if !c.Secure {
		scheme = "http"
	}
	q.Set("endpoint", scheme+"://"+c.Endpoint)
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	if c.PathStyle != "" {
		q.Set("path-style", c.PathStyle)
	}
	if c.AccessKey != "" {
		q.Set("access-key", c.AccessKey)
		q.Set("secret-key", "REDACTED")
	}
	u := url.URL{Scheme: "s3", Host: c.Bucket, Path: "/" + c.Prefix, RawQuery: q.Encode()}
	if c.Prefix == "" {
		u.Path = ""
	}
	return u.String()
}

// urlParams are the query parameters ParseURL knows.
var urlParams = []string{"endpoint", "region", "path-style", "access-key", "secret-key"}

// ParseURL parses a store URL (see Config). It returns an ErrInvalid error
// that names what is wrong but never repeats the secret key.
func ParseURL(rawURL string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.URL would repeat a secret key
		}
		return Config{}, errdefs.Invalid("blob store URL is not a valid URL: %v", err)
	}
	if u.Scheme != "s3" {
		return Config{}, errdefs.Invalid("blob store URL must start with s3://, not %q", u.Scheme+"://")
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return Config{}, errdefs.Invalid("blob store URL must be s3://bucket[/prefix]?params, without user info or fragment")
	}
	c := Config{Bucket: u.Host}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return Config{}, errdefs.Invalid("bucket name %q: %v", c.Bucket, err)
	}
	if c.Prefix, err = parsePrefix(u.Path); err != nil {
		return Config{}, err
	}
	q := u.Query()
	for name, vals := range q {
		if !slices.Contains(urlParams, name) {
			return Config{}, errdefs.Invalid("blob store URL: unknown parameter %q (known: %s)", name, strings.Join(urlParams, ", "))
		}
		if len(vals) != 1 {
			return Config{}, errdefs.Invalid("blob store URL: parameter %q is given %d times", name, len(vals))
		}
	}
	if err := c.parseEndpoint(q.Get("endpoint")); err != nil {
		return Config{}, err
	}
	c.Region = q.Get("region")
	if ps := q.Get("path-style"); ps != "" {
		b, err := strconv.ParseBool(ps)
		if err != nil {
			return Config{}, errdefs.Invalid("blob store URL: path-style must be true or false, not %q", ps)
		}
		c.PathStyle = strconv.FormatBool(b)
	}
	c.AccessKey, c.SecretKey = q.Get("access-key"), q.Get("secret-key")
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return Config{}, errdefs.Invalid("blob store URL: access-key and secret-key must be given together")
	}
	return c, nil
}

// parsePrefix cleans the path part of a store URL into a key prefix.
func parsePrefix(p string) (string, error) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if p == "" {
		return "", nil
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errdefs.Invalid("blob store URL: prefix %q has an empty, '.' or '..' segment", p)
		}
	}
	if path.Clean(p) != p {
		return "", errdefs.Invalid("blob store URL: prefix %q is not clean", p)
	}
	return p, nil
}

// parseEndpoint sets Endpoint and Secure from the endpoint parameter.
func (c *Config) parseEndpoint(raw string) error {
	if raw == "" {
		c.Endpoint, c.Secure = "s3.amazonaws.com", true
		return nil
	}
	e, err := url.Parse(raw)
	if err != nil || e.Host == "" || (e.Scheme != "http" && e.Scheme != "https") {
		return errdefs.Invalid("blob store URL: endpoint %q must be http://host[:port] or https://host[:port]", raw)
	}
	if e.User != nil || strings.Trim(e.Path, "/") != "" || e.RawQuery != "" || e.Fragment != "" {
		return errdefs.Invalid("blob store URL: endpoint %q must be only a scheme and a host", raw)
	}
	c.Endpoint, c.Secure = e.Host, e.Scheme == "https"
	return nil
}

// endpointURL returns the endpoint as a URL, for messages.
func (c Config) endpointURL() string {
	if c.Secure {
		return "https://" + c.Endpoint
	}
	return "http://" + c.Endpoint
}

// describe names bucket and prefix for messages.
func (c Config) describe() string {
	if c.Prefix == "" {
		return fmt.Sprintf("bucket %q at %s", c.Bucket, c.endpointURL())
	}
	return fmt.Sprintf("bucket %q (prefix %q) at %s", c.Bucket, c.Prefix, c.endpointURL())
}
