package runtime

import (
	"testing"
	"time"
)

func TestConfigProblems(t *testing.T) {
	var p ConfigProblems
	if err := p.Err(); err != nil {
		t.Fatalf("no problems: %v", err)
	}
	p.NotNegative("a", 0)
	p.NotNegative("b", -time.Second)
	p.Add("c", "want %d", 1)
	if got, want := p.Err().Error(), "b: must not be negative, got -1s\nc: want 1"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
