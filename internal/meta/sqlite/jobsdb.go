package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"time"
)

// OpenJobsDB opens a separate single-connection handle on the database file
// at path for the job queue (River). It uses the writer's settings (WAL,
// synchronous=FULL, immediate transactions, a busy timeout), so the queue's
// short writes wait for the store's writer instead of failing. Open the
// Store first: it creates and migrates the file.
func OpenJobsDB(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open jobs database %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs, 10*time.Second, true))
	if err != nil {
		return nil, fmt.Errorf("open jobs database %s: %w", path, classify(err))
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open jobs database %s: %w", path, classify(err))
	}
	return db, nil
}
