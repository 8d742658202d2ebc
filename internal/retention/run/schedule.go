package run

import (
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// minInterval is the shortest interval a schedule may have: the scheduler
// looks for due policies once a minute.
const minInterval = time.Minute

// Schedule is when a policy runs by itself: every Interval, or once a day
// at a UTC time of day (Daily, as an offset from midnight).
type Schedule struct {
	Interval time.Duration
	Daily    time.Duration
	daily    bool
}

// ParseSchedule reads a schedule: "" (manual runs only, the zero
// Schedule), a Go duration of at least a minute ("24h", "90m"), or
// "daily@HH:MM" (UTC). Errors are of class errdefs.ErrInvalid.
func ParseSchedule(s string) (Schedule, error) {
	switch {
	case s == "":
		return Schedule{}, nil
	case strings.HasPrefix(s, "daily@"):
		at, err := time.Parse("15:04", strings.TrimPrefix(s, "daily@"))
		if err != nil {
			return Schedule{}, errdefs.Invalid("schedule %q: daily@HH:MM (UTC) expected", s)
		}
		return Schedule{Daily: time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute, daily: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minInterval {
		return Schedule{}, errdefs.Invalid("schedule %q: a duration of at least %v (\"24h\") or daily@HH:MM expected", s, minInterval)
	}
	return Schedule{Interval: d}, nil
}

// IsZero reports whether the schedule never runs by itself.
func (s Schedule) IsZero() bool { return !s.daily && s.Interval == 0 }

// Next returns the first time after now that the schedule names (zero for
// the zero Schedule).
func (s Schedule) Next(now time.Time) time.Time {
	switch {
	case s.daily:
		now = now.UTC()
		next := now.Truncate(24 * time.Hour).Add(s.Daily)
		if !next.After(now) {
			next = next.Add(24 * time.Hour)
		}
		return next
	case s.Interval > 0:
		return now.Add(s.Interval)
	}
	return time.Time{}
}

// String is the schedule as ParseSchedule reads it.
func (s Schedule) String() string {
	switch {
	case s.daily:
		return fmt.Sprintf("daily@%02d:%02d", int(s.Daily.Hours()), int(s.Daily.Minutes())%60)
	case s.Interval > 0:
		return s.Interval.String()
	}
	return ""
}
