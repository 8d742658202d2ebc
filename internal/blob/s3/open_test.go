package s3

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/google/go-cmp/cmp"
)

// secret is a secret key the tests put in URLs and expect in no message.
const secret = "s3cr3t-Do-Not-Print"

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want Config
	}{
		{"s3://bucket", Config{Bucket: "bucket", Endpoint: "s3.amazonaws.com", Secure: true}},
		{"s3://bucket/", Config{Bucket: "bucket", Endpoint: "s3.amazonaws.com", Secure: true}},
		{
			"s3://my-bucket/team/berth/?endpoint=http://127.0.0.1:7070&region=eu-west-3&path-style=true&access-key=AK&secret-key=" + secret,
			Config{Bucket: "my-bucket", Prefix: "team/berth", Endpoint: "127.0.0.1:7070", Region: "eu-west-3", PathStyle: "true", AccessKey: "AK", SecretKey: secret},
		},
		{"s3://b.example?endpoint=https://minio.example:9000/&path-style=0", Config{Bucket: "b.example", Endpoint: "minio.example:9000", Secure: true, PathStyle: "false"}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ParseURL(tc.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseURL (-want +got):\n%s", diff)
			}
			if s := got.String(); strings.Contains(s, secret) {
				t.Errorf("String() = %q shows the secret key", s)
			}
			again, err := ParseURL(strings.Replace(got.String(), "REDACTED", secret, 1))
			if err != nil || !cmp.Equal(again, got) {
				t.Errorf("String() does not round-trip: %+v, %v", again, err)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	bad := []string{
		"",
		"http://bucket",
		"s3://",
		"s3://Bad_Bucket",
		"s3://bucket/a/../b",
		"s3://bucket//a",
		"s3://user:" + secret + "@bucket",
		"s3://bucket#frag",
		"s3://bucket?endpoint=ftp://host",
		"s3://bucket?endpoint=http://host/path",
		"s3://bucket?endpoint=127.0.0.1:7070",
		"s3://bucket?unknown=1&secret-key=" + secret,
		"s3://bucket?region=a&region=b",
		"s3://bucket?path-style=maybe",
		"s3://bucket?secret-key=" + secret,
		"s3://bucket?access-key=AK",
		"s3://bucket?access-key=AK&secret-key=" + secret + "%zz",
	}
	for _, raw := range bad {
		t.Run(raw, func(t *testing.T) {
			_, err := ParseURL(raw)
			if !errdefs.IsInvalid(err) {
				t.Fatalf("ParseURL = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the secret key", err)
			}
		})
	}
}

// TestOpenErrors: a store that cannot serve fails at Open with an
// ErrUnavailable error that names endpoint and bucket, and neither the
// error nor the log shows a secret.
func TestOpenErrors(t *testing.T) {
	b := s3test.NewBucket(t)
	endpoint := b.Server.Endpoint
	withQuery := func(bucket, access, secretKey string) string {
		q := url.Values{"endpoint": {endpoint}, "region": {b.Server.Region}, "path-style": {"true"}}
		q.Set("access-key", access)
		q.Set("secret-key", secretKey)
		return "s3://" + bucket + "?" + q.Encode()
	}
	tests := []struct {
		name  string
		url   string
		class error
		// mention must all appear in the message.
		mention []string
	}{
		{"wrong secret key", withQuery(b.Name, b.Server.AccessKey, secret), errdefs.ErrUnavailable,
			[]string{endpoint, b.Name, "credentials"}},
		{"unknown access key", withQuery(b.Name, "nobody", secret), errdefs.ErrUnavailable,
			[]string{endpoint, b.Name, "credentials"}},
		{"missing bucket", withQuery("berth-no-such-bucket", b.Server.AccessKey, b.Server.SecretKey), errdefs.ErrUnavailable,
			[]string{endpoint, "berth-no-such-bucket", "does not exist"}},
		{"unknown parameter", b.URL + "&unused=", errdefs.ErrInvalid, []string{"unknown parameter \"unused\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			_, err := Open(context.Background(), tc.url, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			t.Logf("Open: %v", err)
			if !errors.Is(err, tc.class) {
				t.Fatalf("Open = %v, want class %v", err, tc.class)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			for _, s := range []string{secret, b.Server.SecretKey} {
				if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
					t.Errorf("a secret shows in the error %q or the log %q", err, logs.String())
				}
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"part size below S3's minimum", Options{PartSize: MinPartSize - 1}},
		{"part size above S3's maximum", Options{PartSize: MaxPartSize + 1}},
		{"redirect expiry too long", Options{RedirectExpiry: MaxRedirectExpiry + time.Second}},
		{"access key without secret", Options{AccessKeyID: "AK"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Config{Bucket: "bucket", Endpoint: "127.0.0.1:1"}, tc.opts)
			if !errdefs.IsInvalid(err) {
				t.Fatalf("New = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestCredentialsFromEnvironment: without credentials in the URL or the
// options, the AWS environment variables are used; wrong ones fail
// without showing the secret.
func TestCredentialsFromEnvironment(t *testing.T) {
	b := s3test.NewBucket(t)
	q := url.Values{"endpoint": {b.Server.Endpoint}, "path-style": {"true"}}
	bare := "s3://" + b.Name + "?" + q.Encode()
	t.Setenv("AWS_REGION", b.Server.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", b.Server.AccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Run("right", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", b.Server.SecretKey)
		s := openTestStore(t, bare, Options{})
		data := []byte("from the environment")
		dgst, _ := storeBlob(t, s, data, 7)
		checkContent(t, s, dgst, data)
	})
	t.Run("wrong", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
		_, err := Open(context.Background(), bare, Options{})
		if !errdefs.IsUnavailable(err) || strings.Contains(err.Error(), secret) {
			t.Fatalf("Open with a wrong secret in the environment = %v; want ErrUnavailable without the secret", err)
		}
	})
	t.Run("explicit options win", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
		openTestStore(t, bare, Options{AccessKeyID: b.Server.AccessKey, SecretAccessKey: b.Server.SecretKey})
	})
}
