package jobs

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// The queue runs on a real SQLite file, opened the way the server opens it.
// Waits for background work are bounded; no assertion is about time.

const waitLimit = 30 * time.Second

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlite.OpenJobsDB(filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// wait fails the test unless ch receives within waitLimit.
func wait(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s did not happen within %v", what, waitLimit)
		return ""
	}
}

// TestQueue runs one queue (River takes a moment to elect its leader, so
// the behaviours share it): periodic tasks run at start with their own
// timeout, a failing task is retried, and a queued job for a task this
// build does not know (as an older or newer version could leave behind) is
// cancelled instead of retried forever.
func TestQueue(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ctx := context.Background()
	ran := make(chan string, 10)
	deadlines := make(chan time.Duration, 10)
	var flakyRuns atomic.Int32
	tasks := []Periodic{
		{Name: "first", Interval: time.Hour, Run: func(context.Context) error {
			ran <- "first"
			return nil
		}},
		{Name: "second", Interval: time.Hour, Timeout: 5 * time.Minute, Run: func(ctx context.Context) error {
			dl, ok := ctx.Deadline()
			if !ok {
				dl = time.Now()
			}
			deadlines <- time.Until(dl)
			ran <- "second"
			return nil
		}},
		{Name: "flaky", Interval: time.Hour, Run: func(context.Context) error {
			flakyRuns.Add(1)
			return errors.New("storage not mounted yet")
		}},
	}
	// Build the queue first: it creates River's tables.
	q, err := NewSQLite(ctx, db, tasks, Options{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	inserter, err := river.NewClient(riversqlite.New(db), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inserter.Insert(ctx, periodicArgs{Name: "retired-task"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := q.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})

	t.Run("periodic tasks run at start", func(t *testing.T) {
		got := map[string]bool{}
		for len(got) < 2 {
			got[wait(t, ran, "a run of each task")] = true
		}
		if !got["first"] || !got["second"] {
			t.Errorf("tasks run: %v", got)
		}
		waitForJob(t, db, "first", "completed")
		waitForJob(t, db, "second", "completed")
	})
	t.Run("a task runs under its own timeout", func(t *testing.T) {
		if d := <-deadlines; d > 5*time.Minute || d < time.Minute {
			t.Errorf("task context deadline %v away, want about 5m", d)
		}
	})
	t.Run("a failing task is retried", func(t *testing.T) {
		_, attempt, errs := waitForJob(t, db, "flaky", "retryable")
		if attempt < 1 || !strings.Contains(errs, "storage not mounted yet") {
			t.Errorf("after a failure: attempt %d, errors %s", attempt, errs)
		}
		if n := flakyRuns.Load(); n < int32(attempt) {
			t.Errorf("the task ran %d times for %d attempts", n, attempt)
		}
	})
	t.Run("a job for an unknown task is cancelled", func(t *testing.T) {
		_, attempt, errs := waitForJob(t, db, "retired-task", "cancelled")
		if attempt != 1 || !strings.Contains(errs, `unknown periodic task \"retired-task\"`) {
			t.Errorf("unknown task job: attempt %d, errors %s", attempt, errs)
		}
	})
}

func TestInvalidTasks(t *testing.T) {
	t.Parallel()
	run := func(context.Context) error { return nil }
	tests := []struct {
		label string
		tasks []Periodic
		msg   string
	}{
		{"same name twice", []Periodic{{Name: "gc", Interval: time.Hour, Run: run}, {Name: "gc", Interval: time.Minute, Run: run}},
			`periodic task "gc" registered twice`},
		{"no name", []Periodic{{Interval: time.Hour, Run: run}}, "name, run function and positive interval are required"},
		{"no function", []Periodic{{Name: "x", Interval: time.Hour}}, "name, run function and positive interval are required"},
		{"no interval", []Periodic{{Name: "x", Run: run}}, "name, run function and positive interval are required"},
		{"negative interval", []Periodic{{Name: "x", Interval: -time.Second, Run: run}}, "positive interval"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			_, err := NewSQLite(context.Background(), openDB(t), tt.tasks, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("NewSQLite = %v, want an error containing %q", err, tt.msg)
			}
		})
	}
}

// waitForJob waits until the job of task name reaches state and returns
// its state, attempt count and recorded errors.
func waitForJob(t *testing.T, db *sql.DB, name, state string) (string, int, string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var (
			got     string
			attempt int
			errs    sql.NullString
		)
		err := db.QueryRow(`SELECT state, attempt, json(errors) FROM river_job
			WHERE kind = 'berth_periodic' AND json_extract(args, '$.name') = ? ORDER BY id LIMIT 1`, name).
			Scan(&got, &attempt, &errs)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		if got == state {
			return got, attempt, errs.String
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q (attempt %d, errors %s), never %q within %v", name, got, attempt, errs.String, state, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOrphanedJobRunsAgain is a process killed in the middle of a periodic
// task (a GC sweep): its job row is left "running". The next process on the
// same embedded store must run the task at start, not wait for River's
// stuck-job rescue (an hour or more) or the next period.
func TestOrphanedJobRunsAgain(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ctx := context.Background()
	// The first process: it creates River's tables and leaves a job
	// running, as SIGKILL would.
	if _, err := NewSQLite(ctx, db, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	inserter, err := river.NewClient(riversqlite.New(db), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inserter.Insert(ctx, periodicArgs{Name: "gc"}, periodicInsertOpts(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = CURRENT_TIMESTAMP
		WHERE kind = 'berth_periodic'`); err != nil {
		t.Fatal(err)
	}

	ran := make(chan string, 4)
	tasks := []Periodic{{Name: "gc", Interval: time.Hour, Run: func(context.Context) error {
		ran <- "gc"
		return nil
	}}}
	q, err := NewSQLite(ctx, db, tasks, Options{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := q.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	wait(t, ran, "the orphaned task's run after restart")
	waitForJob(t, db, "gc", "completed")
}

func TestPeriodicInsertOpts(t *testing.T) {
	for _, iv := range []time.Duration{time.Millisecond, time.Second, time.Minute, 24 * time.Hour} {
		o := periodicInsertOpts(iv)
		if o.UniqueOpts.ByPeriod < time.Second || (iv >= time.Second && o.UniqueOpts.ByPeriod != iv) {
			t.Errorf("interval %v: ByPeriod %v", iv, o.UniqueOpts.ByPeriod)
		}
	}
}
