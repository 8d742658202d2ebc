package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

// Tag resolution is the hottest read of a registry (every pull starts with
// a manifest HEAD or GET by tag) and, with several replicas, no replica may
// answer it from memory. One statement per lookup makes a busy replica
// spend most of its time on round trips to the server, so concurrent
// lookups made outside transactions are resolved together, one statement
// for up to maxBatch of them.
//
// A lookup only ever joins a batch that has not been sent yet, so the
// statement that answers it starts after the lookup was asked for, and
// sees every write that committed before: exactly what a statement of its
// own would see. While fewer than maxInFlight batches run, a lookup is
// sent at once, alone if nobody else is waiting, so an idle replica adds
// no delay; the rest wait for the next batch.

// maxBatch bounds the lookups one statement resolves.
const maxBatch = 64

// batchTimeout bounds a batch's statement: it runs for every lookup in it,
// so no single caller's context may cancel it, but a server that stopped
// answering must not hold its place forever.
const batchTimeout = time.Minute

// batchedTaggedSQL resolves many (repository, tag) pairs: for each pair
// in order k.i, the manifest without content. The lateral subquery with
// LIMIT is not merged into the outer query, so each pair costs two
// primary-key probes whatever plan the server caches (see taggedFrom).
const batchedTaggedSQL = `SELECT k.i, m.* FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(repo, tag, i)
	CROSS JOIN LATERAL (SELECT ` + manifestCols + ` FROM manifests m
		WHERE m.repository_id = k.repo AND m.digest =
			(SELECT t.digest FROM tags t WHERE t.repository_id = k.repo AND t.name = k.tag)
		LIMIT 1) m`

// tagLookup is one waiting GetTaggedManifest.
type tagLookup struct {
	repoID int64
	tag    string
	m      *meta.Manifest // nil when the tag does not exist
	err    error
	done   chan struct{} // closed once m and err are set
}

// tagBatcher coalesces concurrent tag lookups. The zero value is not
// usable; see newTagBatcher.
type tagBatcher struct {
	db          dbtx
	maxInFlight int

	mu       sync.Mutex
	queued   []*tagLookup
	inFlight int
	// batches counts statements sent, for tests.
	batches int
}

// newTagBatcher batches lookups on db, with at most maxInFlight statements
// running at once (at least 1).
func newTagBatcher(db dbtx, maxInFlight int) *tagBatcher {
	return &tagBatcher{db: db, maxInFlight: max(1, maxInFlight)}
}

// get resolves tag in repoID like querier.GetTaggedManifest without
// content. If ctx ends first it returns ctx's error; the batch it joined
// still runs for the others.
func (b *tagBatcher) get(ctx context.Context, repoID int64, tag string) (_ *meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "postgres: get manifest tagged %q", tag)
	l := &tagLookup{repoID: repoID, tag: tag, done: make(chan struct{})}
	b.mu.Lock()
	b.queued = append(b.queued, l)
	batch := b.next()
	b.mu.Unlock()
	if batch != nil {
		go b.run(context.WithoutCancel(ctx), batch)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, l.err
	}
	if l.m == nil {
		return nil, errdefs.NotFound("tag %q not found in repository %d", tag, repoID)
	}
	return l.m, nil
}

// next takes the queued lookups (up to maxBatch) as a batch to send, if a
// statement may start; b.mu must be held.
func (b *tagBatcher) next() []*tagLookup {
	if len(b.queued) == 0 || b.inFlight >= b.maxInFlight {
		return nil
	}
	n := min(len(b.queued), maxBatch)
	batch := make([]*tagLookup, n)
	copy(batch, b.queued)
	b.queued = append(b.queued[:0], b.queued[n:]...)
	b.inFlight++
	b.batches++
	return batch
}

// run sends batch, hands out the answers, and then sends the lookups
// queued meanwhile, if any. ctx carries no cancellation (the statement
// answers every lookup in it, not only those of the caller who started
// it); run bounds it by batchTimeout.
func (b *tagBatcher) run(ctx context.Context, batch []*tagLookup) {
	for batch != nil {
		qctx, cancel := context.WithTimeout(ctx, batchTimeout)
		found, err := b.query(qctx, batch)
		cancel()
		for i, l := range batch {
			if err == nil {
				l.m = found[i]
			}
			l.err = err
			close(l.done)
		}
		b.mu.Lock()
		b.inFlight--
		batch = b.next()
		b.mu.Unlock()
	}
}

// query resolves batch: the manifest of each lookup, in order, or nil.
func (b *tagBatcher) query(ctx context.Context, batch []*tagLookup) ([]*meta.Manifest, error) {
	found := make([]*meta.Manifest, len(batch))
	if len(batch) == 1 {
		// Alone: the plain statement, cheaper to plan and send.
		m, err := scanManifest(b.db.QueryRow(ctx, getTaggedMetaSQL, batch[0].repoID, batch[0].tag), false)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, classify(err)
		}
		found[0] = m
		return found, nil
	}
	repos := make([]int64, len(batch))
	tags := make([]string, len(batch))
	for i, l := range batch {
		repos[i], tags[i] = l.repoID, l.tag
	}
	rows, err := b.db.Query(ctx, batchedTaggedSQL, repos, tags)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		m, err := scanManifest(indexedRow{rows, &i}, false)
		if err != nil {
			return nil, classify(err)
		}
		if i < 1 || i > int64(len(batch)) {
			return nil, fmt.Errorf("batched tag lookup: row for position %d of %d", i, len(batch))
		}
		found[i-1] = m
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return found, nil
}

// indexedRow is a row whose first column (the lookup's position) goes to
// i before the manifest columns scanManifest asks for.
type indexedRow struct {
	rows pgx.Rows
	i    *int64
}

// Scan reads the position into i and the rest into dest.
func (r indexedRow) Scan(dest ...any) error {
	if err := r.rows.Scan(append([]any{r.i}, dest...)...); err != nil {
		return fmt.Errorf("scan batched tag lookup: %w", err)
	}
	return nil
}

// tagBatchesInFlight is how many tag-lookup statements may run at once on
// a pool of maxConns connections: one per two CPUs of this process, and
// at most half the pool (the rest is for writes and transactions). What a
// batch saves is this process's work per round trip (a write and a read
// on the connection for each statement), so more statements at once than
// its CPUs can drive only make batches smaller; measured with the server
// on the same 2 CPUs, one statement at a time resolved twice as many tags
// per second as one per lookup.
func tagBatchesInFlight(maxConns int32) int {
	return max(1, min(int(maxConns)/2, runtime.GOMAXPROCS(0)/2))
}

// GetTaggedManifest resolves tag in repoID and returns its manifest, or
// ErrNotFound if the tag does not exist. Lookups without content that
// arrive while others run are resolved together, in one statement that
// starts after each of them was asked (see tagBatcher).
func (s *Store) GetTaggedManifest(ctx context.Context, repoID int64, tag string, withContent bool) (*meta.Manifest, error) {
	if withContent {
		return s.querier.GetTaggedManifest(ctx, repoID, tag, true)
	}
	return s.tags.get(ctx, repoID, tag)
}
