package sync_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	vulnsync "github.com/berth-registry/berth/internal/vuln/sync"
)

// feed is an HTTP server of OSV data whose content, validators and status
// the test changes. It honours If-None-Match and If-Modified-Since unless
// told to ignore them.
type feed struct {
	mu               sync.Mutex
	body             []byte
	contentType      string
	etag             string
	lastModified     time.Time
	status           int  // answer with this status instead, when non-zero
	ignoreConditions bool // answer 200 whatever the request says
	requests         []*http.Request
}

func (f *feed) set(edit func(*feed)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f)
}

// last returns the latest request and how many were made.
func (f *feed) last() (*http.Request, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil, 0
	}
	return f.requests[len(f.requests)-1], len(f.requests)
}

func (f *feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	if f.status != 0 {
		http.Error(w, "feed broken", f.status)
		return
	}
	if f.etag != "" {
		w.Header().Set("ETag", f.etag)
	}
	if !f.lastModified.IsZero() {
		w.Header().Set("Last-Modified", f.lastModified.UTC().Format(http.TimeFormat))
	}
	if !f.ignoreConditions {
		inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
		if inm != "" && inm == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if t, err := http.ParseTime(ims); inm == "" && err == nil && !f.lastModified.Truncate(time.Second).After(t) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if f.contentType != "" {
		w.Header().Set("Content-Type", f.contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
	_, _ = w.Write(f.body)
}

// newFeed starts f on 127.0.0.1 and returns the server's URL.
func newFeed(t *testing.T, f *feed) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSyncURL walks one URL source through a first download, a 304, new
// content, a server that ignores conditional requests and a failure.
func TestSyncURL(t *testing.T) {
	ctx := context.Background()
	vs := vulnStore(t, openStore(t))
	recs := testdataRecords(t)
	f := &feed{body: zipOf(t, recs), contentType: "application/zip", etag: `"v1"`}
	base := newFeed(t, f)
	u, _ := url.Parse(base + "/osv/all.zip?token=s3cret")
	u.User = url.UserPassword("robot", "hunter2")
	tmp := t.TempDir()
	var logs bytes.Buffer
	s, err := vulnsync.New(vulnsync.Config{
		Store: vs, URL: u.String(), TempDir: tmp,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	source := base + "/osv/all.zip"
	n := int64(len(recs))

	steps := []struct {
		name        string
		edit        func(*feed)
		wantFetched bool
		wantChanged bool
		wantAdded   int
		wantErr     string
		wantRecords int64
		// wantHeader is a request header the step's request must carry.
		wantHeader, wantValue string
	}{
		{name: "first download", wantFetched: true, wantChanged: true, wantAdded: int(n), wantRecords: n},
		{name: "not modified", wantRecords: n, wantHeader: "If-None-Match", wantValue: `"v1"`},
		{
			name: "new content",
			edit: func(f *feed) {
				f.body = zipOf(t, with(recs, "BERTH-SYNC-1.json", record("BERTH-SYNC-1", time.Now())))
				f.etag = `"v2"`
			},
			wantFetched: true, wantChanged: true, wantAdded: 1, wantRecords: n + 1, wantHeader: "If-None-Match", wantValue: `"v1"`,
		},
		{
			name:        "same ETag though conditions are ignored",
			edit:        func(f *feed) { f.ignoreConditions = true },
			wantRecords: n + 1,
		},
		{
			name:        "same data under a new ETag imports and changes nothing",
			edit:        func(f *feed) { f.etag = `"v3"` },
			wantFetched: true, wantRecords: n + 1,
		},
		{
			name:    "server error",
			edit:    func(f *feed) { f.status = http.StatusInternalServerError },
			wantErr: "500 Internal Server Error", wantRecords: n + 1,
		},
	}
	for _, st := range steps {
		if st.edit != nil {
			f.set(st.edit)
		}
		res, err := s.Sync(ctx)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("%s: Sync: %v", st.name, err)
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr) || !errors.Is(res.URL.Err, errdefs.ErrUnavailable)):
			t.Fatalf("%s: Sync error = %v (source error %v); want one saying %q", st.name, err, res.URL.Err, st.wantErr)
		}
		got := res.URL
		if got.Source != source || got.Fetched != st.wantFetched || got.Changed != st.wantChanged || res.Changed() != st.wantChanged {
			t.Errorf("%s: result %+v; want source %s, fetched %v, changed %v", st.name, got, source, st.wantFetched, st.wantChanged)
		}
		if res.Artifact.Source != "" {
			t.Errorf("%s: artifact result %+v for no artifact", st.name, res.Artifact)
		}
		if st.wantFetched && (len(got.Reports) != 1 || got.Reports[0].Added != st.wantAdded || got.Reports[0].Source != source) {
			t.Errorf("%s: reports %+v; want one adding %d to %s", st.name, got.Reports, st.wantAdded, source)
		}
		if c, ok := sourceRecords(t, vs, source); !ok || c != st.wantRecords {
			t.Errorf("%s: source %s holds %d records (known %v); want %d", st.name, source, c, ok, st.wantRecords)
		}
		req, _ := f.last()
		if st.wantHeader != "" && req.Header.Get(st.wantHeader) != st.wantValue {
			t.Errorf("%s: request %s = %q; want %q", st.name, st.wantHeader, req.Header.Get(st.wantHeader), st.wantValue)
		}
		if user, pass, ok := req.BasicAuth(); !ok || user != "robot" || pass != "hunter2" || req.URL.Query().Get("token") != "s3cret" {
			t.Errorf("%s: request lost the URL's credentials: %v %q %q %v", st.name, ok, user, pass, req.URL)
		}
		tempDirEmpty(t, tmp)
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the logs show the URL's credentials:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "fetched vulnerability data") || !strings.Contains(logs.String(), "imported vulnerability records") {
		t.Errorf("the logs miss the progress lines:\n%s", logs.String())
	}
}

// TestSyncURLLastModified checks that a server without ETags is asked
// with If-Modified-Since.
func TestSyncURLLastModified(t *testing.T) {
	ctx := context.Background()
	vs := vulnStore(t, openStore(t))
	modified := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := record("BERTH-LM-1", modified)
	f := &feed{body: rec, contentType: "application/json", lastModified: modified}
	base := newFeed(t, f)
	s, err := vulnsync.New(vulnsync.Config{Store: vs, URL: base + "/one.json", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Sync(ctx); err != nil || !res.URL.Fetched || !res.URL.Changed {
		t.Fatalf("first Sync = %+v, %v; want the record imported", res.URL, err)
	}
	res, err := s.Sync(ctx)
	req, count := f.last()
	if err != nil || res.URL.Fetched || count != 2 || req.Header.Get("If-Modified-Since") != modified.Format(http.TimeFormat) {
		t.Errorf("second Sync = %+v, %v after %d requests, If-Modified-Since %q; want not modified",
			res.URL, err, count, req.Header.Get("If-Modified-Since"))
	}
	if c, _ := sourceRecords(t, vs, base+"/one.json"); c != 1 {
		t.Errorf("source holds %d records, want 1", c)
	}
}

// TestSyncURLErrors covers downloads refused before import.
func TestSyncURLErrors(t *testing.T) {
	ctx := context.Background()
	big := zipOf(t, testdataRecords(t))
	tests := []struct {
		name     string
		feed     *feed
		path     string
		maxBytes int64
		class    error
		want     string
	}{
		{"not found", &feed{status: http.StatusNotFound}, "/all.zip", 0, errdefs.ErrUnavailable, "404 Not Found"},
		{"announced too large", &feed{body: big}, "/all.zip", 100, errdefs.ErrTooLarge, "over the 100 B limit"},
		{"zip path but not a zip", &feed{body: []byte("<html>maintenance</html>")}, "/all.zip", 0, errdefs.ErrInvalid, "should be a zip archive"},
		{"zip type but not a zip", &feed{body: []byte(`{"id":"X"}`), contentType: "application/zip"}, "/feed", 0, errdefs.ErrInvalid, "should be a zip archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := vulnStore(t, openStore(t))
			tmp := t.TempDir()
			s, err := vulnsync.New(vulnsync.Config{Store: vs, URL: newFeed(t, tt.feed) + tt.path, TempDir: tmp, MaxBytes: tt.maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Sync(ctx)
			if !errors.Is(err, tt.class) || !strings.Contains(err.Error(), tt.want) || res.URL.Fetched || res.URL.Changed {
				t.Errorf("Sync = %+v, %v; want %v saying %q", res.URL, err, tt.class, tt.want)
			}
			if gen, err := vs.VulnGeneration(ctx); err != nil || gen != 0 {
				t.Errorf("generation %d, %v; want nothing stored", gen, err)
			}
			tempDirEmpty(t, tmp)
		})
	}
}

// TestSyncURLTooLargeStreamed checks the limit on a body of unannounced
// length.
func TestSyncURLTooLargeStreamed(t *testing.T) {
	vs := vulnStore(t, openStore(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for range 10 {
			_, _ = w.Write(bytes.Repeat([]byte(" "), 1000))
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
	}))
	t.Cleanup(srv.Close)
	tmp := t.TempDir()
	s, err := vulnsync.New(vulnsync.Config{Store: vs, URL: srv.URL + "/all.json", TempDir: tmp, MaxBytes: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(context.Background()); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Errorf("Sync = %v; want ErrTooLarge", err)
	}
	tempDirEmpty(t, tmp)
}

// TestSyncCanceled checks that a canceled context stops Sync.
func TestSyncCanceled(t *testing.T) {
	vs := vulnStore(t, openStore(t))
	f := &feed{body: record("BERTH-C-1", time.Now())}
	s, err := vulnsync.New(vulnsync.Config{Store: vs, URL: newFeed(t, f) + "/one.json", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sync = %v; want context.Canceled", err)
	}
}
