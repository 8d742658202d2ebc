package registry

import (
	"context"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Last-pull tracking. A manifest GET (by tag or digest; a HEAD is not a
// pull) notes (repository, digest, time) in memory, coalescing repeated
// pulls of one manifest to the latest time; a flusher (RunPullFlusher)
// writes the noted pulls in one transaction (meta.PullRecorder) every
// interval, early when the set is full, and once more when it stops. A pull
// costs no database write on the request path.

// maxPendingPulls caps the manifests noted between two flushes. Pulls of
// further manifests are dropped (and the flusher woken) until a flush
// makes room: the last-pull time is advisory, memory is not.
var maxPendingPulls = 100_000

// defaultPullFlush is the flush interval when none is given.
const defaultPullFlush = 30 * time.Second

// finalFlushTimeout bounds the flush when the flusher stops.
const finalFlushTimeout = 10 * time.Second

// pullKey names a manifest of a repository.
type pullKey struct {
	repo int64
	dgst digest.Digest
}

// pullTracker holds the pulls noted since the last flush. The zero value
// is ready: it finds the store's meta.PullRecorder on first use (a store
// without one records nothing).
type pullTracker struct {
	once sync.Once
	rec  meta.PullRecorder
	// full wakes the flusher when pending reaches maxPendingPulls.
	full chan struct{}

	mu      sync.Mutex
	pending map[pullKey]time.Time
	// flushing serializes flushes.
	flushing sync.Mutex
}

// pullRecorder returns the tracker with its recorder looked up, or nil if
// the store cannot record pulls.
func (s *Service) pullRecorder() *pullTracker {
	t := &s.pulls
	t.once.Do(func() {
		t.rec, _ = meta.PullRecorderOf(s.meta)
		t.full = make(chan struct{}, 1)
	})
	if t.rec == nil {
		return nil
	}
	return t
}

// notePullOf notes a pull of *m in repository repoID if the manifest was
// read with its content (a GET, not a HEAD) and without error. It is
// deferred by GetManifest.
func (s *Service) notePullOf(repoID int64, withContent bool, m **meta.Manifest, err *error) {
	if *err != nil || !withContent || *m == nil {
		return
	}
	s.notePull(repoID, (*m).Digest, s.now())
}

// notePull notes that manifest dgst of repository repoID was pulled at at.
func (s *Service) notePull(repoID int64, dgst digest.Digest, at time.Time) {
	t := s.pullRecorder()
	if t == nil {
		return
	}
	k := pullKey{repo: repoID, dgst: dgst}
	t.mu.Lock()
	if t.pending == nil {
		t.pending = make(map[pullKey]time.Time)
	}
	old, ok := t.pending[k]
	switch {
	case ok && at.After(old):
		t.pending[k] = at
	case !ok && len(t.pending) < maxPendingPulls:
		t.pending[k] = at
	}
	full := len(t.pending) >= maxPendingPulls
	t.mu.Unlock()
	if full {
		select {
		case t.full <- struct{}{}:
		default:
		}
	}
}

// PendingPulls returns how many manifests have pulls noted and not yet
// written.
func (s *Service) PendingPulls() int {
	t := &s.pulls
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// FlushPulls writes the pulls noted since the last flush in one
// transaction and returns how many manifests it updated the last-pull time
// of (one per manifest, however often it was pulled). If the write fails,
// the pulls are kept for the next flush.
func (s *Service) FlushPulls(ctx context.Context) (int, error) {
	t := s.pullRecorder()
	if t == nil {
		return 0, nil
	}
	t.flushing.Lock()
	defer t.flushing.Unlock()
	t.mu.Lock()
	batch := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	pulls := make([]meta.Pull, 0, len(batch))
	for k, at := range batch {
		pulls = append(pulls, meta.Pull{RepositoryID: k.repo, Digest: k.dgst, At: at})
	}
	if err := t.rec.RecordPulls(ctx, pulls); err != nil {
		for _, p := range pulls {
			s.notePull(p.RepositoryID, p.Digest, p.At)
		}
		return 0, err
	}
	return len(pulls), nil
}

// RunPullFlusher flushes the noted pulls every interval, and early when
// the pending set is full (interval <= 0 means 30s), until ctx ends; it then flushes once more (with
// its own short deadline) and returns. Failures are logged and retried at
// the next flush.
func (s *Service) RunPullFlusher(ctx context.Context, interval time.Duration) {
	t := s.pullRecorder()
	if t == nil {
		return
	}
	if interval <= 0 {
		interval = defaultPullFlush
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			s.flushLogged(fctx)
			return
		case <-tick.C:
		case <-t.full:
		}
		s.flushLogged(ctx)
	}
}

func (s *Service) flushLogged(ctx context.Context) {
	n, err := s.FlushPulls(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "recording manifest pulls failed; retrying at the next flush", "err", err, "pending", s.PendingPulls())
		return
	}
	if n > 0 {
		s.log.DebugContext(ctx, "recorded manifest pulls", "manifests", n)
	}
}
