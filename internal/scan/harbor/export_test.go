package harbor

import (
	"context"
	"time"
)

// SetSleep replaces how c waits between polls, so that tests can count
// the waits Wait asks for instead of timing them.
func SetSleep(c *Client, sleep func(context.Context, time.Duration) error) { c.sleep = sleep }
