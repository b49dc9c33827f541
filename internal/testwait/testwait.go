// Package testwait polls a condition in tests until it holds or its time
// runs out.
//
// It imports only the standard library, so any package's tests may use it.
package testwait

import (
	"testing"
	"time"
)

// For polls cond every 5 ms until it holds; it fails tb, naming what, when
// d passes first.
func For(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	Every(tb, 5*time.Millisecond, what, d, cond)
}

// Every is For polling every interval, for a condition that is costly to
// check, such as a request to another process.
func Every(tb testing.TB, interval time.Duration, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
}
