// Package transfer moves a registry's content from one pair of stores to
// another — typically from the embedded SQLite database and filesystem onto
// PostgreSQL and S3 — without changing any digest.
//
// Blobs are streamed from the source blob store into the destination one,
// verified against their digest on the way in, and recorded only once their
// bytes are durable. Metadata follows in dependency order (repositories,
// blobs, links, leases, manifests children first, tags), then access
// control: users, projects with their members, robots and the audit log.
// Projects are matched by name, and a user or robot the destination already
// has under the same name is overwritten with the source's record. Signing
// keys are not copied: the destination makes its own. Every step is
// idempotent, so an interrupted transfer is finished by running it again.
// Writers must be stopped while it runs: the source is read without a
// global snapshot.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/uuid"
)

// Source is where content comes from.
type Source struct {
	Meta  meta.Dumper
	Blobs blob.Store
	// Stats, if set, gives totals for progress reports.
	Stats func(ctx context.Context) (meta.Stats, error)
}

// Dest is where content goes.
type Dest struct {
	Meta  meta.Store
	Blobs blob.Store
}

// Options tune a transfer.
type Options struct {
	// Workers copy blobs in parallel; zero means 4.
	Workers int
	// Progress, if set, is called at most every Interval and once at the
	// end with the counts so far.
	Progress func(Report)
	// Interval between progress reports; zero means one second.
	Interval time.Duration
	// BatchSize is how many metadata records share one transaction; zero
	// means 500.
	BatchSize int
}

// Report counts what a transfer did. Totals are zero when unknown.
type Report struct {
	Repositories int64 `json:"repositories"`
	Blobs        int64 `json:"blobs"`
	BlobsTotal   int64 `json:"blobs_total"`
	// BlobsCopied were copied; the others were already in the destination.
	BlobsCopied int64 `json:"blobs_copied"`
	BytesCopied int64 `json:"bytes_copied"`
	BytesTotal  int64 `json:"bytes_total"`
	Links       int64 `json:"links"`
	Leases      int64 `json:"leases"`
	Manifests   int64 `json:"manifests"`
	Tags        int64 `json:"tags"`
	// Users, Projects, Members, Robots and AuditEvents count the access
	// records loaded, whether they were new to the destination or not.
	Users       int64 `json:"users"`
	Projects    int64 `json:"projects"`
	Members     int64 `json:"members"`
	Robots      int64 `json:"robots"`
	AuditEvents int64 `json:"audit_events"`
	// Phase is what the transfer is doing: "blobs", "metadata", "done".
	Phase string `json:"phase"`
}

// Run transfers everything from src to dst.
func Run(ctx context.Context, src Source, dst Dest, opts Options) (Report, error) {
	t := &transfer{src: src, dst: dst, opts: opts, repos: map[string]int64{}, projects: map[string]int64{}}
	if t.opts.Workers <= 0 {
		t.opts.Workers = 4
	}
	if t.opts.BatchSize <= 0 {
		t.opts.BatchSize = 500
	}
	if t.opts.Interval <= 0 {
		t.opts.Interval = time.Second
	}
	if src.Stats != nil {
		if st, err := src.Stats(ctx); err == nil {
			t.blobsTotal, t.bytesTotal = st.Blobs, st.BlobBytes
		}
	}
	seen, err := lastAuditID(ctx, dst.Meta)
	if err != nil {
		return t.report(), err
	}
	t.auditSeen = seen
	stop := t.reportEvery(ctx)
	err = t.run(ctx)
	stop()
	rep := t.report()
	if err == nil {
		rep.Phase = "done"
	}
	if t.opts.Progress != nil {
		t.opts.Progress(rep)
	}
	return rep, err
}

type transfer struct {
	src   Source
	dst   Dest
	opts  Options
	repos map[string]int64
	// projects maps names to the destination's IDs, for projects loaded by
	// committed transactions.
	projects map[string]int64
	// auditSeen is the destination's newest audit event ID before the
	// transfer started: events up to it may be copies of the source's.
	auditSeen int64

	phase                                  atomic.Value
	blobsTotal, bytesTotal                 int64
	nRepos, nBlobs, nCopied, nBytes        atomic.Int64
	nLinks, nLeases, nManifests, nTagsDone atomic.Int64
	nUsers, nProjects, nMembers, nRobots   atomic.Int64
	nAudit                                 atomic.Int64
}

func (t *transfer) report() Report {
	phase, _ := t.phase.Load().(string)
	return Report{
		Repositories: t.nRepos.Load(), Blobs: t.nBlobs.Load(), BlobsTotal: t.blobsTotal,
		BlobsCopied: t.nCopied.Load(), BytesCopied: t.nBytes.Load(), BytesTotal: t.bytesTotal,
		Links: t.nLinks.Load(), Leases: t.nLeases.Load(), Manifests: t.nManifests.Load(), Tags: t.nTagsDone.Load(),
		Users: t.nUsers.Load(), Projects: t.nProjects.Load(), Members: t.nMembers.Load(), Robots: t.nRobots.Load(),
		AuditEvents: t.nAudit.Load(), Phase: phase,
	}
}

func (t *transfer) reportEvery(ctx context.Context) (stop func()) {
	if t.opts.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(t.opts.Interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t.opts.Progress(t.report())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// run reads the dump once. Blob records are copied by a pool of workers;
// the first record after the blobs waits for every copy, because a link
// must never name a blob whose bytes are not there.
func (t *transfer) run(ctx context.Context) error {
	t.phase.Store("metadata")
	copies := newPool(ctx, t.opts.Workers)
	var batch []meta.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var st *txState
		err := t.dst.Meta.WithTx(ctx, func(tx meta.Querier) error {
			st = &txState{tx: tx, projects: map[string]int64{}}
			for _, rec := range batch {
				if err := t.load(ctx, st, rec); err != nil {
					return err
				}
			}
			return t.appendAudit(ctx, st)
		})
		if err == nil {
			maps.Copy(t.projects, st.projects)
			t.count(batch)
		}
		batch = batch[:0]
		return err
	}
	blobsDone := false
	err := t.src.Meta.Dump(ctx, func(rec meta.Record) error {
		switch {
		case rec.Repository != nil:
			r, err := t.dst.Meta.EnsureRepository(ctx, rec.Repository.Name)
			if err != nil {
				return fmt.Errorf("repository %s: %w", rec.Repository.Name, err)
			}
			t.repos[r.Name] = r.ID
			t.nRepos.Add(1)
			return nil
		case rec.Blob != nil:
			t.phase.Store("blobs")
			b := *rec.Blob
			return copies.do(func(ctx context.Context) error { return t.copyBlob(ctx, b) })
		}
		if !blobsDone {
			if err := copies.wait(); err != nil {
				return err
			}
			blobsDone = true
			t.phase.Store("metadata")
		}
		batch = append(batch, rec)
		if len(batch) >= t.opts.BatchSize {
			return flush()
		}
		return nil
	})
	if err := errors.Join(err, copies.wait()); err != nil {
		return err
	}
	return flush()
}

// copyBlob streams one blob into the destination unless it is there, then
// records it.
func (t *transfer) copyBlob(ctx context.Context, b meta.Blob) error {
	info, err := t.dst.Blobs.Stat(ctx, b.Digest)
	switch {
	case err == nil && info.Size == b.Size:
	case err == nil || errdefs.IsNotFound(err):
		if err := t.copyBytes(ctx, b); err != nil {
			return fmt.Errorf("copy blob %s: %w", b.Digest, err)
		}
	default:
		return fmt.Errorf("stat blob %s in destination: %w", b.Digest, err)
	}
	if err := t.dst.Meta.PutBlob(ctx, b); err != nil {
		return fmt.Errorf("record blob %s: %w", b.Digest, err)
	}
	t.nBlobs.Add(1)
	return nil
}

func (t *transfer) copyBytes(ctx context.Context, b meta.Blob) (err error) {
	rc, err := t.src.Blobs.Open(ctx, b.Digest)
	if err != nil {
		return fmt.Errorf("open in source: %w", err)
	}
	defer rc.Close()
	w, err := t.dst.Blobs.NewWriter(ctx, "transfer-"+uuid.NewString())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = w.Cancel(context.WithoutCancel(ctx))
		}
		_ = w.Close()
	}()
	n, err := io.Copy(w, rc)
	if err != nil {
		return err
	}
	if _, err := w.Commit(ctx, b.Digest, b.Size); err != nil {
		return err
	}
	t.nCopied.Add(1)
	t.nBytes.Add(n)
	return nil
}

// load writes one metadata record in the transaction of st (audit events
// are only collected: appendAudit writes them at the end).
func (t *transfer) load(ctx context.Context, st *txState, rec meta.Record) error {
	tx := st.tx
	repo := func(name string) (int64, error) {
		if id, ok := t.repos[name]; ok {
			return id, nil
		}
		return 0, fmt.Errorf("repository %s was not in the dump before its content", name)
	}
	switch {
	case rec.Link != nil:
		id, err := repo(rec.Link.Repository)
		if err != nil {
			return err
		}
		return tx.LinkBlob(ctx, id, rec.Link.Digest)
	case rec.Lease != nil:
		return tx.LeaseBlob(ctx, rec.Lease.Digest, rec.Lease.ExpiresAt)
	case rec.Manifest != nil:
		id, err := repo(rec.Manifest.Repository)
		if err != nil {
			return err
		}
		m := rec.Manifest.Manifest
		m.RepositoryID = id
		return tx.PutManifest(ctx, &m, rec.Manifest.Refs)
	case rec.Tag != nil:
		id, err := repo(rec.Tag.Repository)
		if err != nil {
			return err
		}
		_, err = tx.PutTag(ctx, id, rec.Tag.Tag.Name, rec.Tag.Tag.Digest)
		return err
	case rec.User != nil:
		return loadUser(ctx, tx, *rec.User)
	case rec.Project != nil:
		return t.loadProject(ctx, st, rec.Project)
	case rec.Robot != nil:
		return t.loadRobot(ctx, st, rec.Robot)
	case rec.Audit != nil:
		st.audit = append(st.audit, *rec.Audit)
		return nil
	}
	return fmt.Errorf("empty dump record")
}

func (t *transfer) count(batch []meta.Record) {
	for _, rec := range batch {
		switch {
		case rec.Link != nil:
			t.nLinks.Add(1)
		case rec.Lease != nil:
			t.nLeases.Add(1)
		case rec.Manifest != nil:
			t.nManifests.Add(1)
		case rec.Tag != nil:
			t.nTagsDone.Add(1)
		case rec.User != nil:
			t.nUsers.Add(1)
		case rec.Project != nil:
			t.nProjects.Add(1)
			t.nMembers.Add(int64(len(rec.Project.Members)))
		case rec.Robot != nil:
			t.nRobots.Add(1)
		case rec.Audit != nil:
			t.nAudit.Add(1)
		}
	}
}

// pool runs functions on a bounded number of goroutines and keeps the first
// error; after an error, further work is refused.
type pool struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func newPool(ctx context.Context, n int) *pool {
	ctx, cancel := context.WithCancel(ctx)
	return &pool{ctx: ctx, cancel: cancel, sem: make(chan struct{}, n)}
}

func (p *pool) do(fn func(ctx context.Context) error) error {
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		return p.firstErr(p.ctx.Err())
	}
	p.wg.Add(1)
	go func() {
		defer func() { <-p.sem; p.wg.Done() }()
		if err := fn(p.ctx); err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = err
				p.cancel()
			}
			p.mu.Unlock()
		}
	}()
	return nil
}

func (p *pool) firstErr(fallback error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	return fallback
}

// wait waits for running work and returns the first error.
func (p *pool) wait() error {
	p.wg.Wait()
	return p.firstErr(nil)
}
