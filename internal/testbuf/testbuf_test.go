package testbuf_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/fomonet/fomo/internal/testbuf"
)

func TestConcurrentWritesAndLines(t *testing.T) {
	var b testbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "level=WARN n=%d\nlevel=INFO n=%d\n", i, i) })
	}
	wg.Wait()
	if n := len(b.Lines("level=WARN")); n != 8 {
		t.Fatalf("%d WARN lines, want 8:\n%s", n, b.String())
	}
	if got := b.Lines("level=INFO", "n=3"); !slices.Equal(got, []string{"level=INFO n=3"}) {
		t.Fatalf("INFO n=3 lines %q", got)
	}
	if n := len(b.Lines()); n != 16 {
		t.Fatalf("%d lines, want 16", n)
	}
}
