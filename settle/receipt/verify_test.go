package receipt

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/fomonet/fomo/settle/receipt/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// rcase builds one receipt from w's valid authorization and receipt with
// one edit, and verifies it under w's checker with one edit.
type rcase struct {
	name string
	// auth edits the authorization protobuf before the client signs it.
	auth func(w *world, a *pb.Authorization)
	// authKey signs the authorization; nil means the client.
	authKey func(w *world) crypto.PrivKey
	// authEnv edits the signed authorization envelope.
	authEnv func(env []byte) []byte
	// rcpt edits the receipt protobuf before the node signs it.
	rcpt func(w *world, r *pb.Receipt)
	// nodeKey signs the receipt; nil means the node.
	nodeKey func(w *world) crypto.PrivKey
	// env edits the signed receipt envelope.
	env func(env []byte) []byte
	// chk edits the checker.
	chk func(w *world, c *Checker)
	// want is the reason, "" for a valid receipt.
	want Reason
}

func (tc *rcase) build(t testing.TB, w *world) ([]byte, Checker) {
	a := w.auth()
	ap := a.toPB()
	if tc.auth != nil {
		tc.auth(w, ap)
	}
	ask := w.client
	if tc.authKey != nil {
		ask = tc.authKey(w)
	}
	authEnv := sealAuth(t, ap, ask)
	if tc.authEnv != nil {
		authEnv = tc.authEnv(authEnv)
	}
	r := w.receipt(authEnv)
	rp := r.toPB()
	if tc.rcpt != nil {
		tc.rcpt(w, rp)
	}
	nsk := w.node
	if tc.nodeKey != nil {
		nsk = tc.nodeKey(w)
	}
	env := sealReceipt(t, rp, nsk)
	if tc.env != nil {
		env = tc.env(env)
	}
	chk := w.checker()
	if tc.chk != nil {
		tc.chk(w, &chk)
	}
	return env, chk
}

func flipLast(b []byte) []byte {
	b = append([]byte(nil), b...)
	b[len(b)-1] ^= 0x80
	return b
}

// sessionSigned makes the authorization signed by the client's session
// key.
func sessionSigned(w *world, a *pb.Authorization) { a.Signer = []byte(w.sessionID) }
func sessionKey(w *world) crypto.PrivKey          { return w.session }

// setCharge sets the receipt's tokens and its deterministic charge.
func setTokens(in, out uint64) func(*world, *pb.Receipt) {
	return func(_ *world, r *pb.Receipt) {
		r.InputTokens, r.OutputTokens = in, out
		c, err := Charge(in, out, testInPrice, testOutPric)
		if err != nil {
			panic(err)
		}
		r.Charge = c
	}
}

var skewMs = uint64(ClockSkew.Milliseconds())

// ruleCases breaks each validity rule of DESIGN §6 once, and keeps the
// receipt valid at each rule's edge.
var ruleCases = []rcase{
	{name: "valid"},
	{name: "valid: session key", auth: sessionSigned, authKey: sessionKey},
	{name: "valid: any payee", auth: func(_ *world, a *pb.Authorization) { a.Node = nil }},
	{name: "valid: output at cap", rcpt: setTokens(1000, 1000), auth: func(_ *world, a *pb.Authorization) { a.MaxOutputTokens = 1000 }},
	{name: "valid: charge at max", auth: func(_ *world, a *pb.Authorization) { a.MaxCharge = 450 }},
	{name: "valid: completed within skew of expiry", rcpt: func(_ *world, r *pb.Receipt) { r.CompletedAtMs = testIssued + 5*60_000 + skewMs }},
	{name: "valid: started within skew before issue", rcpt: func(_ *world, r *pb.Receipt) { r.StartedAtMs = testIssued - skewMs }},
	{name: "valid: cancelled with no output", rcpt: func(_ *world, r *pb.Receipt) {
		r.Finish, r.OutputTokens, r.Charge = pb.Finish_FINISH_CANCELLED, 0, 150
	}},
	{name: "valid: no checker", chk: func(_ *world, c *Checker) { *c = Checker{} }},
	{name: "valid: signers not asked about the account's own key", chk: func(_ *world, c *Checker) {
		c.Signers = signersFunc(func(peer.ID, peer.ID, uint64) error { return ErrUnknownSigner })
	}},

	{name: "malformed receipt envelope", env: func([]byte) []byte { return []byte("garbage") }, want: ReasonMalformed},
	{name: "malformed receipt payload", rcpt: func(_ *world, r *pb.Receipt) { r.ResponseSha256 = r.ResponseSha256[:31] }, want: ReasonMalformed},
	{name: "malformed receipt node", rcpt: func(_ *world, r *pb.Receipt) { r.Node = []byte("junk") }, want: ReasonMalformed},
	{name: "malformed receipt times", rcpt: func(_ *world, r *pb.Receipt) { r.CompletedAtMs = r.StartedAtMs - 1 }, want: ReasonMalformed},
	{name: "malformed authorization envelope", authEnv: func([]byte) []byte { return []byte{0x0a, 0x01} }, want: ReasonMalformed},
	{name: "malformed authorization nonce", auth: func(_ *world, a *pb.Authorization) { a.Nonce = a.Nonce[:15] }, want: ReasonMalformed},
	{name: "malformed authorization request hash", auth: func(_ *world, a *pb.Authorization) { a.RequestSha256 = nil }, want: ReasonMalformed},
	{name: "malformed authorization model", auth: func(_ *world, a *pb.Authorization) { a.Model = "" }, want: ReasonMalformed},
	{name: "malformed authorization account", auth: func(_ *world, a *pb.Authorization) { a.Account = nil }, want: ReasonMalformed},

	{name: "forged client signature", authEnv: flipLast, want: ReasonBadClientSignature},
	{name: "client signature by another key", authKey: func(w *world) crypto.PrivKey { return w.other }, want: ReasonBadClientSignature},
	{name: "forged node signature", env: flipLast, want: ReasonBadNodeSignature},
	{name: "node signature by another key", nodeKey: func(w *world) crypto.PrivKey { return w.other }, want: ReasonBadNodeSignature},

	{name: "wrong network", chk: func(_ *world, c *Checker) { c.NetworkID = "mainnet-0a0b0c0d" }, want: ReasonWrongNetwork},
	{name: "window longer than 10 minutes", auth: func(_ *world, a *pb.Authorization) {
		a.ExpiresAtMs = a.IssuedAtMs + uint64(MaxTTL.Milliseconds()) + 1
	}, want: ReasonBadExpiry},
	{name: "expires before issued", auth: func(_ *world, a *pb.Authorization) { a.ExpiresAtMs = a.IssuedAtMs - 1 }, want: ReasonBadExpiry},
	{name: "unknown finish", rcpt: func(_ *world, r *pb.Receipt) { r.Finish = pb.Finish(9) }, want: ReasonUnknownFinish},
	{name: "unspecified finish", rcpt: func(_ *world, r *pb.Receipt) { r.Finish = pb.Finish_FINISH_UNSPECIFIED }, want: ReasonUnknownFinish},
	{name: "payee mismatch", auth: func(w *world, a *pb.Authorization) { a.Node = []byte(w.otherID) }, want: ReasonPayeeMismatch},
	{name: "started before issued", rcpt: func(_ *world, r *pb.Receipt) { r.StartedAtMs = testIssued - skewMs - 1 }, want: ReasonNotYetValid},
	{name: "completed after expiry", rcpt: func(_ *world, r *pb.Receipt) { r.CompletedAtMs = testIssued + 5*60_000 + skewMs + 1 }, want: ReasonExpired},
	{name: "valid: times at the end of uint64", auth: func(_ *world, a *pb.Authorization) {
		a.IssuedAtMs, a.ExpiresAtMs = math.MaxUint64-1000, math.MaxUint64
	}, rcpt: func(_ *world, r *pb.Receipt) { r.StartedAtMs, r.CompletedAtMs = math.MaxUint64-999, math.MaxUint64 }},
	{name: "output tokens over cap", rcpt: setTokens(1000, 1001), auth: func(_ *world, a *pb.Authorization) { a.MaxOutputTokens = 1000 }, want: ReasonOutputOverCap},
	{name: "charge above the deterministic charge", rcpt: func(_ *world, r *pb.Receipt) { r.Charge = 451 }, want: ReasonChargeMismatch},
	{name: "charge below the deterministic charge", rcpt: func(_ *world, r *pb.Receipt) { r.Charge = 449 }, want: ReasonChargeMismatch},
	{name: "charge over max_charge", auth: func(_ *world, a *pb.Authorization) { a.MaxCharge = 449 }, want: ReasonChargeOverMax},
	{name: "charge overflows", auth: func(_ *world, a *pb.Authorization) {
		a.InputPrice, a.OutputPrice, a.MaxCharge = math.MaxUint64, math.MaxUint64, math.MaxUint64
	}, rcpt: func(_ *world, r *pb.Receipt) { r.InputTokens = math.MaxUint64 },
		chk: func(_ *world, c *Checker) { c.Prices = nil }, want: ReasonChargeOverMax},
	{name: "unknown model", chk: func(_ *world, c *Checker) { c.Prices = pricesMap{} }, want: ReasonUnknownModel},
	{name: "input price mismatch", chk: func(_ *world, c *Checker) { c.Prices = pricesMap{testModel: {testInPrice + 1, testOutPric}} }, want: ReasonPriceMismatch},
	{name: "output price mismatch", chk: func(_ *world, c *Checker) { c.Prices = pricesMap{testModel: {testInPrice, testOutPric - 1}} }, want: ReasonPriceMismatch},
	{name: "unknown session key", auth: func(w *world, a *pb.Authorization) { a.Signer = []byte(w.otherID) },
		authKey: func(w *world) crypto.PrivKey { return w.other }, want: ReasonUnknownSigner},
	{name: "session key expired", auth: func(w *world, a *pb.Authorization) {
		sessionSigned(w, a)
		a.IssuedAtMs, a.ExpiresAtMs = testIssued+3_600_001, testIssued+3_600_001+60_000
	}, authKey: sessionKey, rcpt: func(_ *world, r *pb.Receipt) {
		r.StartedAtMs, r.CompletedAtMs = testIssued+3_600_002, testIssued+3_600_003
	}, want: ReasonSignerNotAuthorized},
	{name: "epoch closed", chk: func(_ *world, c *Checker) { c.Epochs = epochsFunc(func(uint64) bool { return false }) }, want: ReasonEpochClosed},
	{name: "replay", chk: func(w *world, c *Checker) { c.Seen = seenAll{} }, want: ReasonReplay},
}

type seenAll struct{}

func (seenAll) Seen([32]byte) bool { return true }

// TestVerifyRules breaks exactly one rule per case and checks Verify
// rejects it with that rule's reason.
func TestVerifyRules(t *testing.T) {
	w := newWorld(t)
	covered := map[Reason]bool{}
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			env, chk := tc.build(t, w)
			sr, err := Verify(context.Background(), env, chk)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid receipt rejected: %v", err)
				}
				if sr.ID() != ID(sr.Receipt.Authorization) {
					t.Fatal("bad id")
				}
				return
			}
			var inv *Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("got %v, want *Invalid with reason %s", err, tc.want)
			}
			if inv.Reason != tc.want {
				t.Fatalf("reason %s (%v), want %s", inv.Reason, err, tc.want)
			}
			if sr != nil {
				t.Fatal("a receipt came back with the error")
			}
			if !strings.Contains(err.Error(), string(tc.want)) || inv.Detail == "" {
				t.Fatalf("error %q does not explain itself", err)
			}
			covered[tc.want] = true
		})
	}
	for _, r := range Reasons() {
		if !covered[r] {
			t.Errorf("no case breaks the rule of reason %s", r)
		}
	}
}

// TestVerifyReplayByID checks that replay is keyed on the authorization:
// the same authorization served again, even by another node, is a replay.
func TestVerifyReplayByID(t *testing.T) {
	w := newWorld(t)
	a := w.auth()
	a.Node = ""
	authEnv := signAuth(t, a, w.client)
	seen := seenSet{}
	chk := w.checker()
	chk.Seen = seen
	first := signReceipt(t, w.receipt(authEnv), w.node)
	sr, err := Verify(context.Background(), first, chk)
	if err != nil {
		t.Fatal(err)
	}
	seen[sr.ID()] = true
	r := w.receipt(authEnv)
	r.Node = w.otherID
	second := signReceipt(t, r, w.other)
	if _, err := Verify(context.Background(), second, chk); ReasonOf(err) != ReasonReplay {
		t.Fatalf("second node's receipt: %v, want replay", err)
	}
}

// TestVerifySignersArguments checks what Signers is asked.
func TestVerifySignersArguments(t *testing.T) {
	w := newWorld(t)
	tc := rcase{auth: sessionSigned, authKey: sessionKey}
	env, chk := tc.build(t, w)
	var got []string
	chk.Signers = signersFunc(func(account, signer peer.ID, atMs uint64) error {
		got = append(got, fmt.Sprint(account, signer, atMs))
		return fmt.Errorf("lookup: %w", ErrUnknownSigner)
	})
	if _, err := Verify(context.Background(), env, chk); ReasonOf(err) != ReasonUnknownSigner {
		t.Fatalf("got %v, want unknown_signer through a wrapped error", err)
	}
	if want := fmt.Sprint(w.clientID, w.sessionID, testIssued); len(got) != 1 || got[0] != want {
		t.Fatalf("Signers asked %q, want [%q]", got, want)
	}
}

func TestVerifyContext(t *testing.T) {
	w := newWorld(t)
	env, chk := (&rcase{}).build(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, env, chk); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := VerifyAuthorization(ctx, env, chk); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestVerifyAuthorization checks the authorization-only rules a node runs
// before serving.
func TestVerifyAuthorization(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		auth func(a *pb.Authorization)
		sk   crypto.PrivKey
		chk  func(c *Checker)
		want Reason
	}{
		{name: "valid"},
		{name: "valid session key", auth: func(a *pb.Authorization) { a.Signer = []byte(w.sessionID) }, sk: w.session},
		{name: "forged", sk: w.other, want: ReasonBadClientSignature},
		{name: "wrong network", chk: func(c *Checker) { c.NetworkID = "x" }, want: ReasonWrongNetwork},
		{name: "bad expiry", auth: func(a *pb.Authorization) { a.ExpiresAtMs = a.IssuedAtMs }, want: ReasonBadExpiry},
		{name: "price mismatch", auth: func(a *pb.Authorization) { a.InputPrice = 1 }, want: ReasonPriceMismatch},
		{name: "unknown signer", auth: func(a *pb.Authorization) { a.Signer = []byte(w.otherID) }, sk: w.other, want: ReasonUnknownSigner},
		{name: "epoch closed", chk: func(c *Checker) { c.Epochs = epochsFunc(func(uint64) bool { return false }) }, want: ReasonEpochClosed},
		{name: "replay", chk: func(c *Checker) { c.Seen = seenAll{} }, want: ReasonReplay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := w.auth()
			p := a.toPB()
			if tc.auth != nil {
				tc.auth(p)
			}
			sk := tc.sk
			if sk == nil {
				sk = w.client
			}
			chk := w.checker()
			if tc.chk != nil {
				tc.chk(&chk)
			}
			sa, err := VerifyAuthorization(context.Background(), sealAuth(t, p, sk), chk)
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.want)
			}
			if tc.want == "" && sa.ID() != ID(sa.Envelope) {
				t.Fatal("bad id")
			}
		})
	}
}

func TestReasonsDistinct(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if seen[r] || r == "" || strings.ToLower(string(r)) != string(r) || strings.ContainsAny(string(r), " -") {
			t.Fatalf("reason %q is empty, repeated or not snake_case", r)
		}
		seen[r] = true
	}
	if ReasonOf(errors.New("x")) != "" || ReasonOf(nil) != "" {
		t.Fatal("ReasonOf of a plain error")
	}
	if got := ReasonOf(fmt.Errorf("wrapped: %w", &Invalid{Reason: ReasonReplay})); got != ReasonReplay {
		t.Fatalf("ReasonOf(wrapped) = %q", got)
	}
}

// BenchmarkVerify measures full receipt verification on one core: decode
// both envelopes, two Ed25519 signature checks, every rule, and in-memory
// chain state lookups.
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b)
	env, chk := (&rcase{auth: sessionSigned, authKey: sessionKey}).build(b, w)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := Verify(ctx, env, chk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
}

// BenchmarkEd25519Verify measures one raw Ed25519 verification of a
// receipt-sized message, the bound Verify is compared with (two per
// receipt).
func BenchmarkEd25519Verify(b *testing.B) {
	sk := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	msg := make([]byte, 400)
	sig := ed25519.Sign(sk, msg)
	pk := sk.Public().(ed25519.PublicKey)
	for b.Loop() {
		if !ed25519.Verify(pk, msg, sig) {
			b.Fatal("bad signature")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}
