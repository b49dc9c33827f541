package testwait_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testwait"
)

// fatal records Fatalf and ends the goroutine, as testing.T does.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Helper() {}

func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestForReturnsOnceCondHolds(t *testing.T) {
	n := 0
	testwait.For(t, "three polls", time.Second, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestEveryFailsWhenTimeRunsOut(t *testing.T) {
	f := &fatal{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testwait.Every(f, time.Millisecond, "never", 20*time.Millisecond, func() bool { return false })
	}()
	<-done
	if !strings.Contains(f.msg, "timed out after 20ms waiting for never") {
		t.Fatalf("Fatalf message %q", f.msg)
	}
}
