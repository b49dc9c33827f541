package testkeys_test

import (
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

func TestSeededIsDeterministic(t *testing.T) {
	a, aid := testkeys.Seeded(t, 7)
	b, bid := testkeys.Seeded(t, 7)
	if !a.Equals(b) || aid != bid {
		t.Fatal("the same seed gave two keys")
	}
	if _, cid := testkeys.Seeded(t, 8); cid == aid {
		t.Fatal("two seeds gave one key")
	}
	// The key of seed 1 (32 bytes of 0x01) is fixed; receipts' golden
	// vectors depend on it.
	const want = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"
	if _, id := testkeys.Seeded(t, 1); id.String() != want {
		t.Fatalf("seed 1 gives %s, want %s", id, want)
	}
}

func TestNewIsRandom(t *testing.T) {
	for name, gen := range map[string]func() (crypto.PrivKey, peer.ID){
		"New":     func() (crypto.PrivKey, peer.ID) { return testkeys.New(t) },
		"MustNew": testkeys.MustNew,
	} {
		sk, id := gen()
		if want, _ := peer.IDFromPrivateKey(sk); want != id {
			t.Fatalf("%s: id %s does not belong to the key (%s)", name, id, want)
		}
		if _, other := gen(); other == id {
			t.Fatalf("%s: two random keys are equal", name)
		}
	}
}

// note is a record of fixed bytes.
type note []byte

func (note) Domain() string                    { return "testkeys-test" }
func (note) Codec() []byte                     { return []byte("/testkeys/note") }
func (n note) MarshalRecord() ([]byte, error)  { return n, nil }
func (n *note) UnmarshalRecord(b []byte) error { *n = b; return nil }

func TestSealOpens(t *testing.T) {
	sk, id := testkeys.Seeded(t, 3)
	sent, got := note("hello"), note(nil)
	env, err := record.ConsumeTypedEnvelope(testkeys.Seal(t, &sent, sk), &got)
	if err != nil {
		t.Fatal(err)
	}
	if signer, _ := peer.IDFromPublicKey(env.PublicKey); signer != id {
		t.Fatalf("signed by %s, want %s", signer, id)
	}
	if string(got) != "hello" {
		t.Fatalf("record %q", got)
	}
}
