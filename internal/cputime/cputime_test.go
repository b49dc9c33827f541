package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestProcessGrowsWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" {
		t.Skip("CPU time is read on Unix only")
	}
	start := Process()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	if got := Process() - start; got <= 0 {
		t.Fatalf("CPU time grew by %v over 50 ms of work (%d iterations)", got, x)
	}
}
