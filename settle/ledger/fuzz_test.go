package ledger

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/fomonet/fomo/store"
)

func FuzzParseGenesis(f *testing.F) {
	b, _ := json.Marshal(testGenesis())
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"epoch_ms":1,"protocol_key":"p","params":{"mt_buyback_bps":10000}} x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGenesis(b)
		if err != nil {
			return
		}
		// A genesis that parses must initialise a ledger.
		if _, err := New(context.Background(), store.NewMemory(), g); err != nil {
			// Only supply overflow may still fail.
			t.Logf("New: %v", err)
		}
	})
}

func TestParseGenesis(t *testing.T) {
	b, _ := json.Marshal(testGenesis())
	if _, err := ParseGenesis(b); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"nope":1}`, `[]`, string(b) + `{}`, `{"epoch_ms":0}`} {
		if _, err := ParseGenesis([]byte(bad)); err == nil {
			t.Errorf("ParseGenesis(%.40q) accepted", bad)
		}
	}
}
