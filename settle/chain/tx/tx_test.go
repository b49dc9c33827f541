package tx

import (
	"errors"
	"reflect"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/ledger"
)

func bodies(other string) []any {
	return []any{
		ledger.Deposit{To: other, Denom: "usd", Amount: 5},
		ledger.Withdraw{Denom: "flock", Amount: 7},
		ledger.Transfer{To: other, Denom: "usd", Amount: 1},
		ledger.TreasurySpend{To: other, Denom: "usd", Amount: 3},
		ledger.AuthorizeKey{Key: other, SpendLimit: 100, ExpiresAtMs: 1_800_000_000_000},
		ledger.RevokeKey{Key: other},
		ledger.RegisterNode{Bond: 1e6},
		ledger.UnbondNode{},
		ledger.RegisterModel{Name: "m", ManifestSHA256: "ab", Tier: "small", InputPrice: 1, OutputPrice: 2},
		ledger.ServeModel{Model: "m"},
		SubmitReceipts{Envelopes: [][]byte{[]byte("r1"), []byte("r2")}},
		ledger.Swap{Pool: "flock", DenomIn: "usd", AmountIn: 10, MinOut: 9},
		ledger.LaunchRMO{Model: "m", RaiseMin: 1, RaiseMax: 2, DurationMs: 3, FirstBuy: 4},
		ledger.Commit{Model: "m", Amount: 5},
		ledger.Graduate{Model: "m"},
		ledger.Redeem{Model: "m"},
		ledger.ClaimVested{Model: "m"},
		ledger.Stake{Model: "m", Amount: 6},
		ledger.Unstake{Model: "m", Amount: 7},
		ledger.ClaimUnbonded{Model: "m"},
	}
}

func TestSignOpenEveryBody(t *testing.T) {
	sk, pid := testkeys.New(t)
	_, otherPID := testkeys.New(t)
	id, other := pid.String(), otherPID.String()
	for _, b := range bodies(other) {
		env, err := Sign(Tx{Nonce: 3, Body: b}, sk)
		if err != nil {
			t.Fatalf("%T: %v", b, err)
		}
		s, err := Open(env)
		if err != nil {
			t.Fatalf("%T: %v", b, err)
		}
		if s.Account != id || s.Nonce != 3 || !reflect.DeepEqual(s.Body, b) {
			t.Fatalf("%T: opened %+v", b, s.Tx)
		}
		if lt := s.Ledger(); lt.Account != id || lt.Body == nil {
			t.Fatalf("%T: ledger tx %+v", b, lt)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	sk, pid := testkeys.New(t)
	other, otherPID := testkeys.New(t)
	id, otherID := pid.String(), otherPID.String()
	good, err := Sign(Tx{Nonce: 1, Body: ledger.Withdraw{Denom: "usd", Amount: 1}}, sk)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-70] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("not a tx"), ErrMalformed},
		{"tampered", tampered, ErrSignature},
		{"oversized", make([]byte, MaxTxSize+1), ErrMalformed},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Signing refuses what Open would refuse.
	for _, tc := range []struct {
		name string
		t    Tx
	}{
		{"other account", Tx{Account: otherID, Nonce: 1, Body: ledger.UnbondNode{}}},
		{"nonce 0", Tx{Nonce: 0, Body: ledger.UnbondNode{}}},
		{"no body", Tx{Nonce: 1}},
		{"empty batch", Tx{Nonce: 1, Body: SubmitReceipts{}}},
		{"bad session key", Tx{Nonce: 1, Body: ledger.AuthorizeKey{Key: "nope"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign(tc.t, sk); err == nil {
				t.Fatal("signed")
			}
		})
	}
	// A tx naming another account than its signer's does not open.
	forged, err := Sign(Tx{Nonce: 1, Body: ledger.UnbondNode{}}, other)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(forged); err != nil || s.Account == id {
		t.Fatalf("%v %+v", err, s)
	}
}

func FuzzOpen(f *testing.F) {
	sk, _ := testkeys.New(f)
	_, other := testkeys.New(f)
	for i, b := range bodies(other.String()) {
		env, err := Sign(Tx{Nonce: uint64(i + 1), Body: b}, sk)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Open(b)
		if err != nil {
			return
		}
		// Whatever opens re-signs to a tx that opens to the same thing.
		if s.Account == "" || s.Nonce == 0 || s.Body == nil {
			t.Fatalf("opened an incomplete tx %+v", s.Tx)
		}
	})
}
