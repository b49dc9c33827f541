package pool

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
)

func TestFindByPrefix(t *testing.T) {
	ctx := context.Background()
	p := newLocalPool(t, Config{})
	acct, _ := testkeys.New(t)
	node, _ := testkeys.New(t)
	var held []Entry
	for i := range 3 {
		e, err := p.Add(ctx, signReceipt(t, signAuth(t, acct, "m", 1000, 10), node, 1, i))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, e)
	}
	for _, e := range held {
		full := e.ID.String()
		for _, arg := range []string{full, full[:8], full[:16], strings.ToUpper(full[:12])} {
			got, ok, err := p.Find(ctx, arg)
			if err != nil || !ok || got.ID != e.ID {
				t.Fatalf("Find(%s) = %s %v %v, want %s", arg, got.ID, ok, err, e.ID)
			}
		}
	}
	if _, ok, err := p.Find(ctx, "00000000"); err != nil || ok {
		t.Fatalf("Find of an unknown prefix: %v %v", ok, err)
	}
	for _, bad := range []string{"", "abc", "1234567", "zzzzzzzz", strings.Repeat("a", 65)} {
		if _, _, err := p.Find(ctx, bad); err == nil {
			t.Errorf("Find(%q) accepted", bad)
		}
	}
	// Two receipts whose ids share 10 digits: the prefix is ambiguous.
	var a, b ID
	copy(a[:], []byte{0xab, 0xcd, 0xef, 0x01, 0x23, 0x45})
	copy(b[:], []byte{0xab, 0xcd, 0xef, 0x01, 0x23, 0x46})
	p.flightMu.Lock()
	p.flight[a], p.flight[b] = Entry{Receipt: Receipt{ID: a}}, Entry{Receipt: Receipt{ID: b}}
	p.knownIDs[a], p.knownIDs[b] = 0, 0
	p.flightMu.Unlock()
	_, _, err := p.Find(ctx, "abcdef0123")
	var amb *AmbiguousIDError
	if !errors.As(err, &amb) || amb.Count != 2 || !errors.Is(err, ErrAmbiguousID) || !strings.Contains(err.Error(), "matches 2 receipts") {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if got, ok, err := p.Find(ctx, "abcdef012345"); err != nil || !ok || got.ID != a {
		t.Fatalf("a longer prefix: %v %v %v", got.ID, ok, err)
	}
	p.flightMu.Lock()
	delete(p.flight, a)
	delete(p.flight, b)
	p.flightMu.Unlock()
}
