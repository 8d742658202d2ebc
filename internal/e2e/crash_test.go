package e2e

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to check the database file
)

// TestCrashRecovery kills berth serve with SIGKILL in the middle of large
// uploads and in the middle of a storm of manifest pushes and tag moves,
// restarts it on the same data directory each time, checks that nothing
// acknowledged was lost and nothing half-stored is visible, then runs the
// OCI conformance program on that same data and checks the SQLite file.
func TestCrashRecovery(t *testing.T) {
	bin := berthBinary(t)
	t.Parallel()
	dataDir := t.TempDir()

	p := berthtest.StartProcess(t, bin, berthtest.ProcessOptions{DataDir: dataDir})
	uploads := interruptUploads(t, p)
	p = berthtest.StartProcess(t, bin, berthtest.ProcessOptions{DataDir: dataDir})
	if !t.Run("resume uploads", func(t *testing.T) { uploads.resume(t, p.Registry()) }) {
		t.FailNow()
	}

	ops := manifestStorm(t, p)
	checkDatabase(t, dataDir, "after SIGKILL")
	p = berthtest.StartProcess(t, bin, berthtest.ProcessOptions{DataDir: dataDir})
	if !t.Run("storm survivors", func(t *testing.T) { checkStorm(t, p.Registry(), ops) }) {
		t.FailNow()
	}

	t.Run("conformance on recovered data", func(t *testing.T) {
		runConformance(t, berthtest.Tool(t, "conformance"), p, nil, "recovered")
	})
	if code := p.Stop(); code != 0 {
		t.Errorf("berth serve exited with %d after SIGTERM, want 0", code)
	}
	checkDatabase(t, dataDir, "after a clean stop")
}

// checkDatabase opens the SQLite file of dataDir read-only and runs
// PRAGMA integrity_check and foreign_key_check. The server must not be
// running.
func checkDatabase(t *testing.T, dataDir, when string) {
	t.Helper()
	path := filepath.Join(dataDir, "berth.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	ctx := context.Background()
	var verdicts []string
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("%s: integrity_check: %v", when, err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		verdicts = append(verdicts, v)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(verdicts) != 1 || verdicts[0] != "ok" {
		t.Errorf("%s: PRAGMA integrity_check = %q, want [ok]", when, verdicts)
	}
	rows, err = db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		t.Fatalf("%s: foreign_key_check: %v", when, err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s: foreign key violation: %s row %v references a missing %s row", when, table, rowid, parent)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// interruptedUpload is an upload session cut by a crash.
type interruptedUpload struct {
	repo string
	// loc is the session's location path (without scheme and host, which
	// change with the restart).
	loc     string
	content stream
	// acked is how many bytes the registry acknowledged before the crash;
	// sent is how many the client had handed to the connection.
	acked, sent int64
}

type interruptedUploads []*interruptedUpload

const (
	crashUploadSize = 256 << 20
	crashChunk      = 8 << 20
)

// interruptUploads starts two uploads and kills p while both stream: A
// after two acknowledged 8 MiB chunks and then some MiB of a streamed PATCH
// of the remaining 240 MiB, B after a few MiB of its first (streamed)
// PATCH, before it saved any progress.
func interruptUploads(t *testing.T, p *berthtest.Process) interruptedUploads {
	t.Helper()
	ctx := context.Background()
	reg := p.Registry()
	a := &interruptedUpload{repo: "crash/upload-a", content: stream{seed: 1, size: crashUploadSize}}
	b := &interruptedUpload{repo: "crash/upload-b", content: stream{seed: 2, size: 64 << 20}}
	for _, u := range []*interruptedUpload{a, b} {
		loc, err := reg.StartUpload(ctx, u.repo)
		if err != nil {
			t.Fatalf("start upload: %v", err)
		}
		u.loc = pathOf(t, loc)
	}
	for range 2 {
		loc, off, err := reg.PatchChunk(ctx, a.loc, a.acked, a.content.section(a.acked, crashChunk), crashChunk)
		if err != nil {
			t.Fatalf("upload chunk: %v", err)
		}
		if off != a.acked+crashChunk {
			t.Fatalf("after the chunk at %d the upload holds %d bytes, want %d", a.acked, off, a.acked+crashChunk)
		}
		a.loc, a.acked = pathOf(t, loc), off
	}

	var sentA, sentB atomic.Int64
	errc := make(chan error, 2)
	go func() {
		_, _, err := reg.PatchStream(ctx, a.loc, countingReader{a.content.from(a.acked), &sentA})
		errc <- err
	}()
	go func() {
		_, _, err := reg.PatchStream(ctx, b.loc, countingReader{b.content.from(0), &sentB})
		errc <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for sentA.Load() < 32<<20 || sentB.Load() < 4<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("streams stalled: %d and %d bytes sent in a minute", sentA.Load(), sentB.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Kill()
	for range 2 {
		if err := <-errc; err == nil {
			t.Fatal("a streamed PATCH completed although the server was killed during it; the stream is too short")
		}
	}
	a.sent, b.sent = sentA.Load(), sentB.Load()
	t.Logf("killed after A: %d MiB acknowledged + %d MiB streamed; B: %d MiB streamed", a.acked>>20, a.sent>>20, b.sent>>20)
	return interruptedUploads{a, b}
}

// resume asks each upload where it stands after the restart, continues
// from exactly there in chunks with Content-Range, completes it and checks
// the blob byte for byte.
func (us interruptedUploads) resume(t *testing.T, reg *berthtest.Registry) {
	ctx := context.Background()
	for _, u := range us {
		off, err := reg.UploadStatus(ctx, u.loc)
		switch {
		case berthtest.IsStatus(err, 404) && u.acked == 0:
			// Allowed: nothing was saved, so the session may be gone.
			t.Logf("%s: upload unknown after the restart; starting again", u.repo)
			loc, err := reg.StartUpload(ctx, u.repo)
			if err != nil {
				t.Fatal(err)
			}
			u.loc, off = pathOf(t, loc), 0
		case err != nil:
			t.Fatalf("%s: upload status after restart (%d bytes acknowledged before the crash): %v", u.repo, u.acked, err)
		case off < u.acked || off > u.acked+u.sent:
			t.Fatalf("%s: upload holds %d bytes after the restart; want between %d (acknowledged) and %d (sent)", u.repo, off, u.acked, u.acked+u.sent)
		default:
			t.Logf("%s: resuming at byte %d (%d acknowledged, %d more sent before the crash)", u.repo, off, u.acked, u.sent)
		}
		for off < u.content.size {
			n := min(64<<20, u.content.size-off)
			loc, got, err := reg.PatchChunk(ctx, u.loc, off, u.content.section(off, n), n)
			if err != nil {
				t.Fatalf("%s: resume at %d: %v", u.repo, off, err)
			}
			if got != off+n {
				t.Fatalf("%s: after a chunk at %d of %d bytes the upload holds %d", u.repo, off, n, got)
			}
			u.loc, off = pathOf(t, loc), got
		}
		dgst := u.content.digest()
		if err := reg.CompleteUpload(ctx, u.loc, dgst); err != nil {
			t.Fatalf("%s: complete: %v", u.repo, err)
		}
		body, size, err := reg.OpenBlob(ctx, u.repo, dgst)
		if err != nil {
			t.Fatal(err)
		}
		err = sameContent(body, u.content.from(0))
		body.Close()
		if err != nil || size != u.content.size {
			t.Errorf("%s: blob read back (Content-Length %d): %v", u.repo, size, err)
		}
	}
}

// pathOf strips scheme and host from an absolute URL.
func pathOf(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return (&url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}).String()
}
