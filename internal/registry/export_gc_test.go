package registry

import "time"

// SetSweepWait sets how long a commit waits for a garbage collection sweep
// of its digest before taking it over, so a test of a stalled sweeper need
// not wait 30 seconds. It returns a function restoring the old value.
func SetSweepWait(d time.Duration) (restore func()) {
	old := sweepWait
	sweepWait = d
	return func() { sweepWait = old }
}
