package testclock_test

import (
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testclock"
)

func TestClockStandsUntilAdvanced(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := testclock.New(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now %v, want %v", got, t0)
	}
	c.Advance(16 * time.Second)
	if got := c.Now(); !got.Equal(t0.Add(16 * time.Second)) {
		t.Fatalf("after Advance(16s): %v", got)
	}
}
