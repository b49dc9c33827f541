package receipt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/settle/receipt/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestAuthorizationRoundTrip(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		auth func() Authorization
		sk   crypto.PrivKey
	}{
		{"account signs", w.auth, w.client},
		{"session key signs", func() Authorization {
			a := w.auth()
			a.Signer = w.sessionID
			return a
		}, w.session},
		{"signer and account filled from the key", func() Authorization {
			a := w.auth()
			a.Account, a.Signer = "", ""
			return a
		}, w.client},
		{"any payee, entry node, zero caps", func() Authorization {
			a := w.auth()
			a.Node, a.EntryNode, a.MaxCharge, a.MaxOutputTokens = "", w.otherID, 0, 0
			return a
		}, w.client},
		{"longest window", func() Authorization {
			a := w.auth()
			a.ExpiresAtMs = a.IssuedAtMs + uint64(MaxTTL.Milliseconds())
			return a
		}, w.client},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.auth()
			env := signAuth(t, a, tc.sk)
			sa, err := OpenAuthorization(env)
			if err != nil {
				t.Fatal(err)
			}
			if a.Signer == "" {
				a.Signer = w.clientID
				a.Account = w.clientID
			}
			if sa.Authorization != a {
				t.Fatalf("opened\n%+v\nwant\n%+v", sa.Authorization, a)
			}
			if !bytes.Equal(sa.Envelope, env) {
				t.Fatal("Envelope is not the signed bytes")
			}
			if sa.ID() != sha256.Sum256(env) || sa.ID() != ID(env) {
				t.Fatal("ID is not sha256 of the envelope")
			}
			again, err := SignAuthorization(a, tc.sk)
			if err != nil || !bytes.Equal(again, env) {
				t.Fatal("signing the same authorization twice gave different bytes")
			}
		})
	}
}

func TestNewAuthorization(t *testing.T) {
	w := newWorld(t)
	issued := time.UnixMilli(int64(testIssued))
	a := NewAuthorization(testNet, w.clientID, testModel, issued, 2*time.Minute)
	b := NewAuthorization(testNet, w.clientID, testModel, issued, 2*time.Minute)
	if a.Nonce == b.Nonce || a.Nonce == ([NonceSize]byte{}) {
		t.Fatalf("nonces %x and %x are not fresh", a.Nonce, b.Nonce)
	}
	if a.IssuedAtMs != testIssued || a.ExpiresAtMs != testIssued+120_000 {
		t.Fatalf("window %d..%d", a.IssuedAtMs, a.ExpiresAtMs)
	}
	a.MaxOutputTokens, a.MaxCharge = 100, 1000
	env := signAuth(t, a, w.client)
	if _, err := OpenAuthorization(env); err != nil {
		t.Fatal(err)
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	w := newWorld(t)
	authEnv := signAuth(t, w.auth(), w.client)
	for _, f := range []Finish{FinishStop, FinishLength, FinishCancelled, FinishError} {
		t.Run(string(f), func(t *testing.T) {
			r := w.receipt(authEnv)
			r.Finish = f
			r.Node = ""
			env := signReceipt(t, r, w.node)
			sr, err := OpenReceipt(env)
			if err != nil {
				t.Fatal(err)
			}
			r.Node = w.nodeID
			if sr.Receipt.Node != r.Node || sr.Receipt.Finish != f || sr.Receipt.Charge != r.Charge ||
				sr.Receipt.InputTokens != r.InputTokens || sr.Receipt.OutputTokens != r.OutputTokens ||
				sr.Receipt.ResponseSHA256 != r.ResponseSHA256 || sr.Receipt.StartedAtMs != r.StartedAtMs ||
				sr.Receipt.CompletedAtMs != r.CompletedAtMs {
				t.Fatalf("opened\n%+v\nwant\n%+v", sr.Receipt, r)
			}
			if sr.Authorization.Authorization != w.auth() {
				t.Fatalf("authorization\n%+v\nwant\n%+v", sr.Authorization.Authorization, w.auth())
			}
			if _, err := Verify(context.Background(), env, w.checker()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestKeepsSignedBytes checks that nothing signed is re-encoded: the
// receipt carries the client's authorization envelope byte for byte and
// its id is the hash of those bytes.
func TestKeepsSignedBytes(t *testing.T) {
	w := newWorld(t)
	authEnv := signAuth(t, w.auth(), w.client)
	env := signReceipt(t, w.receipt(authEnv), w.node)
	if !bytes.Contains(env, authEnv) {
		t.Fatal("the receipt envelope does not contain the authorization envelope verbatim")
	}
	sr, err := Verify(context.Background(), env, w.checker())
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !bytes.Equal(sr.Envelope, env):
		t.Fatal("Envelope differs from the received bytes")
	case !bytes.Equal(sr.Receipt.Authorization, authEnv):
		t.Fatal("Receipt.Authorization differs from the signed authorization")
	case !bytes.Equal(sr.Authorization.Envelope, authEnv):
		t.Fatal("Authorization.Envelope differs from the signed authorization")
	case sr.ID() != sha256.Sum256(authEnv):
		t.Fatal("ID is not sha256 of the authorization envelope")
	case !bytes.Contains(env, sr.Payload) || !bytes.Contains(authEnv, sr.Authorization.Payload):
		t.Fatal("Payload is not the signed payload")
	}
	// The opened object owns its bytes.
	env[len(env)-1] ^= 1
	authEnv[len(authEnv)-1] ^= 1
	if sr.ID() != ID(sr.Authorization.Envelope) || bytes.Equal(sr.Envelope, env) || bytes.Equal(sr.Authorization.Envelope, authEnv) {
		t.Fatal("the opened receipt aliases the caller's buffer")
	}
}

// TestNonCanonicalRejected checks that a signer's bytes have one encoding:
// a validly signed envelope or payload in another encoding is malformed.
func TestNonCanonicalRejected(t *testing.T) {
	w := newWorld(t)
	a := w.auth()
	canon, err := deterministic.Marshal(a.toPB())
	if err != nil {
		t.Fatal(err)
	}
	authEnv := sealRaw(t, canon, authRecord(nil), w.client)
	if _, err := OpenAuthorization(authEnv); err != nil {
		t.Fatalf("control: %v", err)
	}
	// Field 1 (network_id) moved to the end.
	_, _, n := protowire.ConsumeField(canon)
	reordered := append(bytes.Clone(canon[n:]), canon[:n]...)
	// An unknown field 99.
	unknown := protowire.AppendVarint(protowire.AppendTag(bytes.Clone(canon), 99, protowire.VarintType), 7)
	// A zero field written out (proto3 omits it).
	zero := protowire.AppendVarint(protowire.AppendTag(bytes.Clone(canon), 15, protowire.VarintType), 0)
	for name, env := range map[string][]byte{
		"reordered payload":       sealRaw(t, reordered, authRecord(nil), w.client),
		"unknown payload field":   sealRaw(t, unknown, authRecord(nil), w.client),
		"explicit zero field":     sealRaw(t, zero, authRecord(nil), w.client),
		"unknown envelope field":  protowire.AppendBytes(protowire.AppendTag(bytes.Clone(authEnv), 9, protowire.BytesType), []byte("x")),
		"repeated envelope field": append(bytes.Clone(authEnv), authEnv[:firstField(t, authEnv)]...),
		"wrong payload type":      sealRaw(t, canon, &payloadRecord{domain: AuthDomain, codec: []byte("/fomo/other/1"), payload: nil}, w.client),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := OpenAuthorization(env)
			if got := ReasonOf(err); got != ReasonMalformed {
				t.Fatalf("reason %q (%v), want malformed", got, err)
			}
		})
	}
}

// TestTamperedAuthorization flips every bit position's low bit of an
// authorization envelope, once on its own and once inside a receipt the
// node signed: each is rejected.
func TestTamperedAuthorization(t *testing.T) {
	w := newWorld(t)
	authEnv := signAuth(t, w.auth(), w.client)
	chk := w.checker()
	for i := range authEnv {
		bad := bytes.Clone(authEnv)
		bad[i] ^= 0x01
		if _, err := OpenAuthorization(bad); err == nil {
			t.Fatalf("byte %d: tampered authorization opened", i)
		}
		rp := w.receipt(bad)
		env := sealReceipt(t, rp.toPB(), w.node)
		_, err := Verify(context.Background(), env, chk)
		if r := ReasonOf(err); r != ReasonMalformed && r != ReasonBadClientSignature {
			t.Fatalf("byte %d: reason %q (%v), want malformed or bad_client_signature", i, r, err)
		}
	}
}

// TestTamperedReceipt flips the low bit of every byte of a receipt
// envelope, and truncates it at every length: each is rejected.
func TestTamperedReceipt(t *testing.T) {
	w := newWorld(t)
	authEnv := signAuth(t, w.auth(), w.client)
	env := signReceipt(t, w.receipt(authEnv), w.node)
	chk := w.checker()
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0x01
		_, err := Verify(context.Background(), bad, chk)
		var inv *Invalid
		if !errors.As(err, &inv) {
			t.Fatalf("byte %d: got %v, want *Invalid", i, err)
		}
		if _, err := OpenReceipt(bad); err == nil {
			t.Fatalf("byte %d: tampered receipt opened", i)
		}
	}
	for n := range len(env) {
		if _, err := Verify(context.Background(), env[:n], chk); ReasonOf(err) == "" {
			t.Fatalf("truncated to %d: got %v, want *Invalid", n, err)
		}
	}
}

func TestSignAuthorizationErrors(t *testing.T) {
	w := newWorld(t)
	secp, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Authorization)
		sk   crypto.PrivKey
		want string
	}{
		{"no key", nil, nil, "no signing key"},
		{"secp256k1 key", nil, secp, "want Ed25519"},
		{"signer is not the key", nil, w.node, "signing key is"},
		{"bad network", func(a *Authorization) { a.NetworkID = "dev net" }, w.client, "network_id"},
		{"empty network", func(a *Authorization) { a.NetworkID = "" }, w.client, "network_id"},
		{"bad model", func(a *Authorization) { a.Model = "Llama/3" }, w.client, "model"},
		{"long model", func(a *Authorization) { a.Model = strings.Repeat("m", 65) }, w.client, "model"},
		{"bad node", func(a *Authorization) { a.Node = "not-a-peer" }, w.client, "node"},
		{"bad entry node", func(a *Authorization) { a.EntryNode = "x" }, w.client, "entry_node"},
		{"bad account", func(a *Authorization) { a.Account = "x" }, w.client, "account"},
		{"expires before issued", func(a *Authorization) { a.ExpiresAtMs = a.IssuedAtMs - 1 }, w.client, "not after"},
		{"expires at issue", func(a *Authorization) { a.ExpiresAtMs = a.IssuedAtMs }, w.client, "not after"},
		{"window too long", func(a *Authorization) { a.ExpiresAtMs = a.IssuedAtMs + uint64(MaxTTL.Milliseconds()) + 1 }, w.client, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := w.auth()
			if tc.edit != nil {
				tc.edit(&a)
			}
			_, err := SignAuthorization(a, tc.sk)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSignReceiptErrors(t *testing.T) {
	w := newWorld(t)
	authEnv := signAuth(t, w.auth(), w.client)
	for _, tc := range []struct {
		name string
		edit func(*Receipt)
		sk   crypto.PrivKey
		want string
	}{
		{"no key", nil, nil, "no signing key"},
		{"node is not the key", nil, w.other, "signing key is"},
		{"unknown finish", func(r *Receipt) { r.Finish = "done" }, w.node, "unknown finish"},
		{"empty finish", func(r *Receipt) { r.Finish = "" }, w.node, "unknown finish"},
		{"completed before started", func(r *Receipt) { r.CompletedAtMs = r.StartedAtMs - 1 }, w.node, "before started"},
		{"no authorization", func(r *Receipt) { r.Authorization = nil }, w.node, "malformed"},
		{"forged authorization", func(r *Receipt) {
			r.Authorization = bytes.Clone(authEnv)
			r.Authorization[len(authEnv)-1] ^= 1
		}, w.node, "bad_client_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.receipt(authEnv)
			if tc.edit != nil {
				tc.edit(&r)
			}
			_, err := SignReceipt(r, tc.sk)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenSizeLimits(t *testing.T) {
	if _, err := OpenAuthorization(make([]byte, MaxAuthorizationSize+1)); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("oversized authorization: %v", err)
	}
	if _, err := OpenReceipt(make([]byte, MaxReceiptSize+1)); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("oversized receipt: %v", err)
	}
	for _, b := range [][]byte{nil, {}, {0xff}, []byte("not an envelope")} {
		if _, err := OpenReceipt(b); ReasonOf(err) != ReasonMalformed {
			t.Fatalf("OpenReceipt(%q): %v", b, err)
		}
		if _, err := OpenAuthorization(b); ReasonOf(err) != ReasonMalformed {
			t.Fatalf("OpenAuthorization(%q): %v", b, err)
		}
	}
}

// TestDomainSeparation checks that an authorization envelope does not
// open as a receipt and a receipt does not open as an authorization.
func TestDomainSeparation(t *testing.T) {
	w := newWorld(t)
	authEnv := signAuth(t, w.auth(), w.client)
	env := signReceipt(t, w.receipt(authEnv), w.node)
	if _, err := OpenReceipt(authEnv); ReasonOf(err) != ReasonBadNodeSignature {
		t.Fatalf("authorization opened as a receipt: %v", err)
	}
	if _, err := OpenAuthorization(env); ReasonOf(err) != ReasonBadClientSignature {
		t.Fatalf("receipt opened as an authorization: %v", err)
	}
	// The same payload signed under the other domain.
	sa, _ := OpenAuthorization(authEnv)
	swapped := sealRaw(t, sa.Payload, &payloadRecord{domain: ReceiptDomain, codec: authPayloadType}, w.client)
	if _, err := OpenAuthorization(swapped); ReasonOf(err) != ReasonBadClientSignature {
		t.Fatalf("authorization signed under the receipt domain: %v", err)
	}
}

func TestFinishFromPB(t *testing.T) {
	for f, p := range finishToPB {
		if got := finishFromPB(p); got != f {
			t.Fatalf("finishFromPB(%v) = %q, want %q", p, got, f)
		}
	}
	if got := finishFromPB(pb.Finish(42)); got.Valid() || got != "finish(42)" {
		t.Fatalf("finishFromPB(42) = %q", got)
	}
	if finishFromPB(pb.Finish_FINISH_UNSPECIFIED).Valid() {
		t.Fatal("unspecified finish is valid")
	}
}

// firstField returns the length of the first field of a protobuf encoding.
func firstField(t *testing.T, b []byte) int {
	_, _, n := protowire.ConsumeField(b)
	if n <= 0 {
		t.Fatalf("no first field: %v", protowire.ParseError(n))
	}
	return n
}
