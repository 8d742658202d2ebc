package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool opens a pool on a fresh PostgreSQL database with a runs table,
// in which tasks record each run.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE runs (task text NOT NULL, replica text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

// recorder is a task function that records a run of task by replica.
func recorder(pool *pgxpool.Pool, task, replica string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := pool.Exec(ctx, `INSERT INTO runs (task, replica) VALUES ($1, $2)`, task, replica)
		return err
	}
}

// startPostgres builds and starts a queue, stopped when the test ends
// (or earlier by calling the returned function).
func startPostgres(t *testing.T, pool *pgxpool.Pool, tasks []Periodic) (stop func()) {
	t.Helper()
	q, err := NewPostgres(t.Context(), pool, tasks, Options{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := q.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// count runs a query returning one number.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitUntil polls cond until it holds, failing the test after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two replicas' queues on one database: the periodic task runs once per
// period between them. River stamps each periodic job with the time of its
// period (scheduled_at), so a period enqueued twice shows as two jobs with
// one stamp, and a job run twice as more runs than completed jobs.
func TestPostgresPeriodicRunsOncePerPeriod(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	const interval = 200 * time.Millisecond
	var stops []func()
	for _, replica := range []string{"a", "b"} {
		stops = append(stops, startPostgres(t, pool, []Periodic{
			{Name: "tick", Interval: interval, Run: recorder(pool, "tick", replica)},
		}))
	}
	waitUntil(t, "five runs of the task", func() bool {
		return count(t, pool, `SELECT count(*) FROM runs WHERE task = 'tick'`) >= 5
	})
	for _, stop := range stops {
		stop() // waits for running jobs and records their completion
	}
	runs := count(t, pool, `SELECT count(*) FROM runs WHERE task = 'tick'`)
	completed := count(t, pool, `SELECT count(*) FROM river_job
		WHERE kind = 'berth_periodic' AND args->>'name' = 'tick' AND state = 'completed'`)
	if runs != completed {
		t.Errorf("%d runs recorded for %d completed jobs; want one run per job", runs, completed)
	}
	doubled := count(t, pool, `SELECT count(*) FROM (SELECT scheduled_at FROM river_job
		WHERE kind = 'berth_periodic' AND args->>'name' = 'tick'
		GROUP BY scheduled_at HAVING count(*) > 1) d`)
	if doubled != 0 {
		t.Errorf("%d periods were enqueued more than once", doubled)
	}
}

// A job enqueued while no queue works (as one a replica left behind when
// it stopped) is run by the next queue to start.
func TestPostgresJobSurvivesRestart(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := t.Context()
	stop := startPostgres(t, pool, []Periodic{
		{Name: "durable", Interval: time.Hour, Run: recorder(pool, "durable", "first")},
	})
	waitUntil(t, "the first queue's run at start", func() bool {
		return count(t, pool, `SELECT count(*) FROM runs WHERE replica = 'first'`) == 1
	})
	stop()

	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := inserter.Insert(ctx, periodicArgs{Name: "durable"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Job.ID
	state := func() string {
		var s string
		if err := pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		return s
	}
	if s := state(); s != "available" {
		t.Fatalf("job %d is %s with no queue running, want available", id, s)
	}

	startPostgres(t, pool, []Periodic{
		{Name: "durable", Interval: time.Hour, Run: recorder(pool, "durable", "second")},
	})
	waitUntil(t, "the job enqueued before the restart completing", func() bool { return state() == "completed" })
	if n := count(t, pool, `SELECT count(*) FROM runs WHERE replica = 'second'`); n < 1 {
		t.Errorf("the second queue recorded %d runs, want the job's", n)
	}
}

// Replicas starting together all migrate River's tables: they take turns,
// and none fails on the tables another one is creating.
func TestPostgresConcurrentMigrations(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = NewPostgres(t.Context(), pool, nil, Options{})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("NewPostgres #%d: %v", i, err)
		}
	}
	tables := count(t, pool, `SELECT count(*) FROM pg_tables WHERE tablename = ANY($1)`,
		[]string{"river_job", "river_leader", "river_migration", "river_queue"})
	if tables != 4 {
		t.Errorf("%d of River's main tables exist, want 4", tables)
	}
}
