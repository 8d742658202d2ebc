package auth

import (
	"sync"
	"time"
)

// failureLimiter counts failed logins per key (an account name, or a client
// address) in a sliding window: once a key has max failures younger than
// window, it is blocked until the oldest of them leaves the window.
type failureLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	// fails holds, per key, the times of its recent failures, oldest
	// first, at most max of them.
	fails map[string][]time.Time
	// sweepAt is the size of fails at which stale keys are swept out, so
	// that failures spread over many keys cannot grow the map without end.
	sweepAt int
}

func newFailureLimiter(limit int, window time.Duration) *failureLimiter {
	return &failureLimiter{max: limit, window: window, fails: make(map[string][]time.Time), sweepAt: 1024}
}

// blocked reports whether key has reached the limit at now.
func (l *failureLimiter) blocked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(key, now)) >= l.max
}

// fail records a failure of key at now.
func (l *failureLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if len(ts) >= l.max {
		ts = ts[1:]
	}
	l.fails[key] = append(ts, now)
	if len(l.fails) >= l.sweepAt {
		for k := range l.fails {
			if len(l.recent(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
		l.sweepAt = max(1024, 2*len(l.fails))
	}
}

// reset forgets the failures of key.
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// recent drops the failures of key older than the window and returns the
// rest. l.mu must be held.
func (l *failureLimiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	if i == len(ts) {
		delete(l.fails, key)
		return nil
	}
	if i > 0 {
		ts = ts[i:]
		l.fails[key] = ts
	}
	return ts
}
