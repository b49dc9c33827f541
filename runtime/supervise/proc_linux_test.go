//go:build linux

package supervise

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in    string
		state byte
		pgrp  int
		ok    bool
	}{
		{"1234 (vllm) S 1 1234 1234 0 -1 4194560 100", 'S', 1234, true},
		{"77 (a) b) c) Z 5 70 70 0", 'Z', 70, true},
		{"77 (llama-server) R 5", 0, 0, false},
		{"77 (x) R 5 notanumber 1", 0, 0, false},
		{"77 (x) RR 5 6 1", 0, 0, false},
		{"no paren", 0, 0, false},
		{"", 0, 0, false},
	} {
		state, pg, ok := parseStat([]byte(tc.in))
		if state != tc.state || pg != tc.pgrp || ok != tc.ok {
			t.Errorf("parseStat(%q) = %q %d %v, want %q %d %v", tc.in, state, pg, ok, tc.state, tc.pgrp, tc.ok)
		}
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	state, pg, ok := parseStat(b)
	if !ok || state == 'Z' || pg <= 0 {
		t.Fatalf("own stat %q: state %q pgrp %d ok %v", b, state, pg, ok)
	}
	if !groupAlive(pg) {
		t.Fatal("own process group not found alive")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (vllm) S 1 1234 1234 0 -1 4194560 100"))
	f.Add([]byte("77 (a) b) Z 5 70"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStat(b) // must not panic
	})
}
