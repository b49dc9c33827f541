package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSynthPipedPrintsNothing: piped (stderr not a terminal), model synth
// writes its file and prints nothing.
func TestSynthPipedPrintsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	out, err := run(t, "model", "synth", "--preset", "tiny", "-o", path)
	if err != nil {
		t.Fatal(err)
	}
	if out != "" {
		t.Fatalf("model synth printed %q when piped", out)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("no model written: %v", err)
	}
}

func TestProgress(t *testing.T) {
	// Off: nothing at all, even after several intervals.
	var off syncBuffer
	stop := startProgress(&off, false, time.Millisecond, func(time.Duration) string { return "working" },
		func(time.Duration) string { return "done" })
	time.Sleep(20 * time.Millisecond)
	stop()
	if off.String() != "" {
		t.Fatalf("progress off wrote %q", off.String())
	}
	// On: the line is redrawn, then replaced by the final one.
	var on syncBuffer
	stop = startProgress(&on, true, time.Millisecond, func(time.Duration) string { return "working" },
		func(time.Duration) string { return "done" })
	time.Sleep(20 * time.Millisecond)
	stop()
	stop() // a second stop is harmless
	got := on.String()
	if !strings.Contains(got, "\r\033[Kworking") || !strings.HasSuffix(got, "\r\033[Kdone\n") || strings.Count(got, "done") != 1 {
		t.Fatalf("progress on wrote %q", got)
	}
	// Neither a buffer nor a regular file is a terminal.
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(&on) || isTerminal(f) || isTerminal(null) {
		t.Fatal("a buffer, a file or the null device taken for a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Fatal("/dev/tty is not taken for a terminal")
		}
	}
}
