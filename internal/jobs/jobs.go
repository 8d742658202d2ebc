// Package jobs runs Berth's durable background work in the metadata
// database with River (github.com/riverqueue/river): jobs are rows, so they
// survive restarts, are retried with backoff, and with several replicas on
// one PostgreSQL each job is claimed by exactly one of them.
//
// River is confined to this package. Callers describe work as Periodic tasks
// (a name, an interval and a function); the queue turns them into River
// periodic jobs, which the elected leader enqueues and any worker runs.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Periodic is a task run every Interval (and once at start).
type Periodic struct {
	// Name identifies the task; unique within a queue, stable across
	// versions (it is stored in job rows).
	Name string
	// Interval is the time between runs.
	Interval time.Duration
	// Timeout bounds one run; zero means one hour.
	Timeout time.Duration
	// Run does the work. An error makes River retry it with backoff.
	Run func(ctx context.Context) error
}

// Options tune a Queue.
type Options struct {
	// Logger receives River's logs; nil discards them.
	Logger *slog.Logger
	// Workers is how many jobs run at once; zero means 4.
	Workers int
	// PollInterval is how often idle workers look for new jobs; zero means
	// one second. River refuses less than 100ms.
	PollInterval time.Duration
}

// Queue runs jobs. Start it once and Stop it on shutdown.
type Queue struct {
	start func(ctx context.Context) error
	stop  func(ctx context.Context) error
}

// NewSQLite returns a Queue on the SQLite database db, migrating River's
// tables into it. db should allow one connection (SQLite has one writer).
//
// The embedded store belongs to one process, so a periodic job the SQLite
// file shows as running was left by a process that died (killed mid-GC,
// say): it is made available again before the queue starts, so the task
// runs again now instead of after River's stuck-job rescue.
func NewSQLite(ctx context.Context, db *sql.DB, tasks []Periodic, opts Options) (*Queue, error) {
	q, err := newQueue(ctx, riversqlite.New(db), tasks, opts, nil)
	if err != nil {
		return nil, err
	}
	if err := releaseOrphans(ctx, db); err != nil {
		return nil, err
	}
	return q, nil
}

// releaseOrphans makes the periodic jobs db shows as running available
// again (see NewSQLite). Every Berth task is safe to run again after being
// cut off: GC resumes from its tombstones, retention marks and finishes
// its runs, upload expiry is idempotent.
func releaseOrphans(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx,
		`UPDATE river_job SET state = 'available', scheduled_at = CURRENT_TIMESTAMP
		 WHERE kind = ? AND state = 'running'`, periodicArgs{}.Kind())
	if err != nil {
		return fmt.Errorf("release periodic jobs of a process that died: %w", err)
	}
	return nil
}

// migrateFunc applies River's pending migrations with m; nil means
// m.Migrate up.
type migrateFunc[TTx any] func(ctx context.Context, m *rivermigrate.Migrator[TTx]) error

func newQueue[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], tasks []Periodic, opts Options, migrate migrateFunc[TTx]) (*Queue, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = slog.New(quietStop{log.Handler()})
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	if migrate == nil {
		migrate = func(ctx context.Context, m *rivermigrate.Migrator[TTx]) error {
			_, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
			return err
		}
	}
	if err := migrate(ctx, migrator); err != nil {
		return nil, fmt.Errorf("migrate job queue tables: %w", err)
	}
	w := &periodicWorker{tasks: make(map[string]Periodic, len(tasks))}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return nil, fmt.Errorf("register job worker: %w", err)
	}
	var periodic []*river.PeriodicJob
	longest := time.Hour // a task's Timeout defaults to one hour
	for _, t := range tasks {
		if t.Name == "" || t.Run == nil || t.Interval <= 0 {
			return nil, fmt.Errorf("periodic task %q: name, run function and positive interval are required", t.Name)
		}
		if _, dup := w.tasks[t.Name]; dup {
			return nil, fmt.Errorf("periodic task %q registered twice", t.Name)
		}
		w.tasks[t.Name] = t
		name, interval := t.Name, t.Interval
		if t.Timeout > longest {
			longest = t.Timeout
		}
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(t.Interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return periodicArgs{Name: name}, periodicInsertOpts(interval)
			},
			&river.PeriodicJobOpts{ID: name, RunOnStart: true},
		))
	}
	client, err := river.NewClient(driver, &river.Config{
		Logger:            log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmpOr(opts.Workers, 4)}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		FetchPollInterval: cmpOr(opts.PollInterval, time.Second),
		JobTimeout:        -1, // each task bounds itself (periodicWorker.Timeout)
		// A job still running a minute past the longest task's timeout
		// belongs to a process that died (its own context would have
		// ended it): River's rescuer makes it retryable then. On
		// PostgreSQL, where replicas share the queue and none can tell
		// a dead peer's job from a live one, that is what ends it.
		RescueStuckJobsAfter: longest + time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("create job queue: %w", err)
	}
	return &Queue{
		start: client.Start,
		stop: func(ctx context.Context) error {
			if err := client.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}, nil
}

// Start begins working jobs in the background.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.start(ctx); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	return nil
}

// Stop waits for running jobs to finish (until ctx ends) and stops.
func (q *Queue) Stop(ctx context.Context) error {
	if err := q.stop(ctx); err != nil {
		return fmt.Errorf("stop job queue: %w", err)
	}
	return nil
}

// pendingStates are the states in which a periodic job counts as already
// queued, so a restart or a second replica does not queue it twice.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// periodicInsertOpts makes a periodic job unique per task and per
// interval-long period: a restart or a second replica does not queue it
// twice in one period, and a job a dead process left running blocks no
// later period (uniqueness by state alone would block the task until the
// job is rescued).
func periodicInsertOpts(interval time.Duration) *river.InsertOpts {
	interval = max(interval, time.Second) // River's smallest period
	return &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: interval, ByState: pendingStates},
	}
}

type periodicArgs struct {
	Name string `json:"name"`
}

// Kind is the job kind stored in River's rows.
func (periodicArgs) Kind() string { return "berth_periodic" }

type periodicWorker struct {
	river.WorkerDefaults[periodicArgs]
	tasks map[string]Periodic
}

func (w *periodicWorker) Timeout(j *river.Job[periodicArgs]) time.Duration {
	if t, ok := w.tasks[j.Args.Name]; ok && t.Timeout > 0 {
		return t.Timeout
	}
	return time.Hour
}

func (w *periodicWorker) Work(ctx context.Context, j *river.Job[periodicArgs]) error {
	t, ok := w.tasks[j.Args.Name]
	if !ok {
		// A job queued by another version that this one does not know.
		return river.JobCancel(fmt.Errorf("unknown periodic task %q", j.Args.Name))
	}
	return t.Run(ctx)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
