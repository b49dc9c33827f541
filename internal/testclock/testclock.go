// Package testclock is a clock that a test sets and moves, safe for
// concurrent use, for code that takes a func() time.Time.
//
// It imports only the standard library, so any package's tests may use it.
package testclock

import (
	"sync"
	"time"
)

// Clock stands at one time until Advance moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that stands at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
