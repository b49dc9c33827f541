package receipt

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/receipt/pb"
)

// seeds returns a valid authorization envelope, a valid receipt envelope
// and variants of both.
func seeds(tb testing.TB) (auths, receipts [][]byte) {
	w := newWorld(tb)
	for _, tc := range ruleCases {
		env, _ := tc.build(tb, w)
		receipts = append(receipts, env)
		if sr, err := OpenReceipt(env); err == nil {
			auths = append(auths, sr.Receipt.Authorization)
		}
	}
	auths = append(auths, nil, []byte{0x0a, 0x00}, []byte("garbage"))
	receipts = append(receipts, nil, []byte{0x0a, 0x00}, []byte("garbage"))
	return auths, receipts
}

// checkInvalid fails unless err is an *Invalid with a known reason.
func checkInvalid(t *testing.T, err error) {
	t.Helper()
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("error %v is not *Invalid", err)
	}
	for _, r := range Reasons() {
		if inv.Reason == r {
			return
		}
	}
	t.Fatalf("unknown reason %q", inv.Reason)
}

func FuzzOpenReceipt(f *testing.F) {
	_, receipts := seeds(f)
	for _, s := range receipts {
		f.Add(s)
	}
	w := newWorld(f)
	chk := w.checker()
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		sr, err := OpenReceipt(data)
		if !bytes.Equal(in, data) {
			t.Fatal("OpenReceipt changed its input")
		}
		if err != nil {
			checkInvalid(t, err)
			if _, verr := Verify(context.Background(), data, chk); verr == nil {
				t.Fatal("Verify accepted what OpenReceipt rejected")
			}
			return
		}
		if !bytes.Equal(sr.Envelope, data) || !bytes.Equal(sr.Receipt.Authorization, sr.Authorization.Envelope) {
			t.Fatal("opened receipt does not keep the received bytes")
		}
		if sr.ID() != ID(sr.Authorization.Envelope) {
			t.Fatal("id is not the hash of the authorization")
		}
		// What opens re-encodes to the same bytes: one receipt, one
		// encoding.
		var p pb.Receipt
		if err := decodePayload(sr.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(context.Background(), data, chk); err != nil {
			checkInvalid(t, err)
		}
	})
}

func FuzzOpenAuthorization(f *testing.F) {
	auths, _ := seeds(f)
	for _, s := range auths {
		f.Add(s)
	}
	w := newWorld(f)
	chk := w.checker()
	f.Fuzz(func(t *testing.T, data []byte) {
		sa, err := OpenAuthorization(data)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if !bytes.Equal(sa.Envelope, data) || sa.ID() != ID(data) {
			t.Fatal("opened authorization does not keep the received bytes")
		}
		a := sa.Authorization
		if a.Signer == "" || a.Account == "" || a.validate() != nil {
			t.Fatalf("opened an invalid authorization %+v", a)
		}
		if _, err := VerifyAuthorization(context.Background(), data, chk); err != nil {
			checkInvalid(t, err)
		}
	})
}

func FuzzDecodeSessionKey(f *testing.F) {
	for seed := range byte(3) {
		sk, _ := testkeys.Seeded(f, seed)
		s, err := EncodeSessionKey(sk)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(s + "A")
	}
	f.Add("")
	f.Add(SessionKeyPrefix)
	f.Add("fomo_sk_\n")
	f.Fuzz(func(t *testing.T, s string) {
		sk, err := DecodeSessionKey(s)
		if err != nil {
			return
		}
		again, err := EncodeSessionKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		if again != s {
			t.Fatalf("decoded %q, encodes as %q", s, again)
		}
	})
}
