package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// isTerminal reports whether w is a terminal (a character device other
// than the null device), where a long command shows its progress; a pipe,
// a file or /dev/null gets none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

// progressEvery is how often a progress line is redrawn.
const progressEvery = 500 * time.Millisecond

// startProgress redraws line(elapsed) on w every interval until the
// returned stop is called, which ends the line with done(elapsed) (no
// final line when done is nil). When on is false (w is not a terminal) it
// writes nothing at all.
func startProgress(w io.Writer, on bool, every time.Duration, line, done func(time.Duration) string) (stop func()) {
	if !on {
		return func() {}
	}
	start := time.Now()
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", line(time.Since(start)))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-finished
			fmt.Fprint(w, "\r\033[K")
			if done != nil {
				fmt.Fprintln(w, done(time.Since(start)))
			}
		})
	}
}

// mib writes a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
