package receipt

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	recordpb "github.com/libp2p/go-libp2p/core/record/pb"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"google.golang.org/protobuf/proto"
)

// TestVerifyBatchSameVerdicts: a batch mixing every rule case (valid ones
// and ones breaking each rule) gets, for each receipt, exactly the verdict
// and reason Verify gives it alone.
func TestVerifyBatchSameVerdicts(t *testing.T) {
	w := newWorld(t)
	chk := w.checker()
	var envs [][]byte
	var names []string
	for _, tc := range ruleCases {
		if tc.chk != nil {
			continue // the batch shares one checker
		}
		env, _ := tc.build(t, w)
		envs = append(envs, env)
		names = append(names, tc.name)
	}
	// Twice, in two orders: a receipt's verdict does not depend on its
	// neighbours.
	for i := len(envs) - 1; i >= 0; i-- {
		envs, names = append(envs, envs[i]), append(names, names[i])
	}
	ctx := context.Background()
	got, errs := VerifyBatch(ctx, envs, chk)
	if len(got) != len(envs) || len(errs) != len(envs) {
		t.Fatalf("%d results for %d envelopes", len(got), len(envs))
	}
	valid := 0
	for i, env := range envs {
		want, werr := Verify(ctx, env, chk)
		if ReasonOf(errs[i]) != ReasonOf(werr) || (errs[i] == nil) != (werr == nil) {
			t.Fatalf("%s: batch %v, alone %v", names[i], errs[i], werr)
		}
		if werr == nil {
			valid++
			if got[i] == nil || got[i].ID() != want.ID() {
				t.Fatalf("%s: batch result %v", names[i], got[i])
			}
		}
	}
	if valid == 0 || valid == len(envs) {
		t.Fatalf("%d of %d valid: the batch should mix both", valid, len(envs))
	}
}

// BenchmarkVerifyBatch is BenchmarkVerify with the signatures of n receipts
// checked in one batch.
func BenchmarkVerifyBatch(b *testing.B) {
	for _, n := range []int{64, 90, 128, 256, 512, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			w := newWorld(b)
			var envs [][]byte
			var chk Checker
			for i := range n {
				tc := rcase{auth: sessionSigned, authKey: sessionKey}
				env, c := tc.build(b, w)
				_ = i
				envs, chk = append(envs, env), c
			}
			ctx := context.Background()
			for b.Loop() {
				_, errs := VerifyBatch(ctx, envs, chk)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "receipts/s")
		})
	}
}

// smallOrderEncodings are the 14 encodings of points of small order that
// ZIP-215 accepts (the 8 points, 6 of them also with a non-canonical
// encoding): every pair of them, as A and R with s = 0, is a valid
// signature of any message under ZIP-215.
var smallOrderEncodings = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// notAPoint is an encoding that does not decode to a curve point.
func notAPoint(tb testing.TB) []byte {
	tb.Helper()
	for i := range 256 {
		b := make([]byte, 32)
		b[0] = byte(i)
		b[1] = 1
		if !decodePubKey(b).ok {
			return b
		}
	}
	tb.Fatal("no encoding off the curve")
	return nil
}

// sigCases returns signatures of every kind: valid ones under a few
// repeated keys, forged ones (signature, message, key), the ZIP-215 small
// order cases, a non-canonical s, an R and a key off the curve, and
// signatures of the wrong length.
func sigCases(tb testing.TB) []sigTuple {
	tb.Helper()
	var out []sigTuple
	var keys []ed25519.PrivateKey
	for i := range 3 {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		keys = append(keys, ed25519.NewKeyFromSeed(seed))
	}
	for i := range 24 {
		sk := keys[i%len(keys)]
		msg := fmt.Appendf(nil, "message %d", i)
		sig := ed25519.Sign(sk, msg)
		pub := []byte(sk.Public().(ed25519.PublicKey))
		out = append(out, sigTuple{pub: pub, msg: msg, sig: sig})
		switch i % 6 {
		case 1:
			out = append(out, sigTuple{pub: pub, msg: msg, sig: flipLast(sig)})
		case 2:
			out = append(out, sigTuple{pub: pub, msg: append(msg, '!'), sig: sig})
		case 3:
			other := []byte(keys[(i+1)%len(keys)].Public().(ed25519.PublicKey))
			out = append(out, sigTuple{pub: other, msg: msg, sig: sig})
		case 4:
			// s + ℓ: the same signature with a non-canonical s.
			s := new(big.Int).SetBytes(reverse(sig[32:]))
			s.Add(s, ell)
			bad := append(append([]byte(nil), sig[:32]...), reverse(s.FillBytes(make([]byte, 32)))...)
			out = append(out, sigTuple{pub: pub, msg: msg, sig: bad})
		case 5:
			out = append(out, sigTuple{pub: pub, msg: msg, sig: append(notAPoint(tb), sig[32:]...)})
			out = append(out, sigTuple{pub: notAPoint(tb), msg: msg, sig: sig})
			out = append(out, sigTuple{pub: pub, msg: msg, sig: sig[:63]})
			out = append(out, sigTuple{pub: pub[:31], msg: msg, sig: sig})
		}
	}
	for i, a := range smallOrderEncodings {
		for j, r := range smallOrderEncodings {
			if (i+j)%3 != 0 {
				continue // a third of the 196 pairs keeps the test short
			}
			sig := append(unhex(tb, r), make([]byte, 32)...)
			out = append(out, sigTuple{pub: unhex(tb, a), msg: []byte("Zcash"), sig: sig})
		}
	}
	return out
}

// ell is the order of the curve's prime subgroup.
var ell, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

// batchVerdicts checks ts as a batch, one signature per receipt, and
// returns whether each holds.
func batchVerdicts(ts []sigTuple) []bool {
	b := newSigBatch(len(ts))
	var spans []span
	var idx []int
	for i, t := range ts {
		first := len(b.sigs)
		if b.add(t) {
			spans = append(spans, span{first, 1})
			idx = append(idx, i)
		}
	}
	out := make([]bool, len(ts))
	for j, ok := range b.confirm(spans) {
		out[idx[j]] = ok
	}
	return out
}

// TestBatchSignatureVerdicts: the batch equation, with the search for
// failing signatures, never confirms a signature that the single ZIP-215
// check refuses, whatever its neighbours, and confirms every valid one
// when at most one is bad: all the ZIP-215 small-order cases, forged
// signatures, wrong keys and encodings that are not points. (What the
// batch leaves unconfirmed is checked alone.)
func TestBatchSignatureVerdicts(t *testing.T) {
	ts := sigCases(t)
	want := make([]bool, len(ts))
	valid := 0
	for i, tc := range ts {
		want[i] = verifyOne(tc)
		if want[i] {
			valid++
		}
	}
	if valid == 0 || valid == len(ts) {
		t.Fatalf("%d of %d valid: the cases should mix both", valid, len(ts))
	}
	// exact: every valid signature is confirmed by the batch (not left
	// to be checked alone).
	check := func(name string, idx []int, exact bool) {
		t.Helper()
		sub := make([]sigTuple, len(idx))
		for j, i := range idx {
			sub[j] = ts[i]
		}
		got := batchVerdicts(sub)
		for j, i := range idx {
			if got[j] && !want[i] {
				t.Fatalf("%s: signature %d: the batch confirms a signature the single check refuses", name, i)
			}
			if exact && got[j] != want[i] {
				t.Fatalf("%s: signature %d: batch %v, alone %v", name, i, got[j], want[i])
			}
		}
	}
	all := make([]int, len(ts))
	var good []int
	for i := range ts {
		all[i] = i
		if want[i] {
			good = append(good, i)
		}
	}
	check("all", all, false)
	check("valid only", good, true)
	for i := range ts {
		check(fmt.Sprintf("alone %d", i), []int{i}, true)
		// One bad signature among valid ones: the search finds it and
		// confirms all the others.
		check(fmt.Sprintf("%d among valid", i), append([]int{i}, good...), true)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for k := range 50 {
		check(fmt.Sprintf("shuffle %d", k), rng.Perm(len(ts)), false)
	}
}

// TestKeyCacheBounded: the cache of decoded keys keeps at most two
// generations of keys, and a key decodes to the same point whether it
// was cached or not.
func TestKeyCacheBounded(t *testing.T) {
	c := &keyCache{}
	pub := make([]byte, 32)
	for i := range 3*keyCacheGeneration + 5 {
		binary.LittleEndian.PutUint32(pub, uint32(i))
		c.get(pub)
		if n := len(c.cur) + len(c.old); n > 2*keyCacheGeneration {
			t.Fatalf("%d keys cached", n)
		}
	}
	for _, s := range smallOrderEncodings {
		b := unhex(t, s)
		got, want := c.get(b), decodePubKey(b)
		if got.ok != want.ok || got.point.Equal(&want.point) != 1 || c.get(b) != got {
			t.Fatalf("key %s: cached %v, decoded %v", s, got.ok, want.ok)
		}
	}
}

// sealWithKey seals the deterministic encoding of m in an envelope of
// rec's type under the raw Ed25519 key pub with the raw signature sig,
// which need not be one a private key made.
func sealWithKey(tb testing.TB, m proto.Message, rec *payloadRecord, pub, sig []byte) []byte {
	tb.Helper()
	payload, err := deterministic.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	env := &recordpb.Envelope{
		PublicKey:   &cryptopb.PublicKey{Type: cryptopb.KeyType_Ed25519.Enum(), Data: pub},
		PayloadType: rec.codec,
		Payload:     payload,
		Signature:   sig,
	}
	b, err := deterministic.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rawKeyID is the peer ID of a raw Ed25519 key.
func rawKeyID(tb testing.TB, pub []byte) peer.ID {
	tb.Helper()
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestVerifyBatchSmallOrderKeys: receipts whose node or client key has
// small order (canonical or not), signed with R of small order and s = 0
// (valid under ZIP-215) or s = 1 (invalid), get the verdict of Verify in
// a batch among valid receipts.
func TestVerifyBatchSmallOrderKeys(t *testing.T) {
	w := newWorld(t)
	chk := w.checker()
	chk.Signers = nil
	zero, one := make([]byte, 32), make([]byte, 32)
	one[0] = 1
	var envs [][]byte
	var names []string
	add := func(name string, env []byte) { envs, names = append(envs, env), append(names, name) }
	for i, k := range []string{smallOrderEncodings[2], smallOrderEncodings[3], smallOrderEncodings[6], smallOrderEncodings[9]} {
		pub := unhex(t, k)
		r := unhex(t, smallOrderEncodings[(i*5+4)%len(smallOrderEncodings)])
		id := rawKeyID(t, pub)
		for _, s := range [][]byte{zero, one} {
			valid := s[0] == 0
			// The node's key has small order.
			auth := w.auth()
			a := auth.toPB()
			a.Node = []byte(id)
			rc := w.receipt(sealAuth(t, a, w.client))
			rp := rc.toPB()
			rp.Node = []byte(id)
			add(fmt.Sprintf("node key %s, valid %v", k, valid), sealWithKey(t, rp, receiptRecord(nil), pub, append(append([]byte(nil), r...), s...)))
			// The client's key has small order.
			a = auth.toPB()
			a.Node = []byte(w.nodeID)
			a.Account, a.Signer = []byte(id), []byte(id)
			authEnv := sealWithKey(t, a, authRecord(nil), pub, append(append([]byte(nil), r...), s...))
			rc = w.receipt(authEnv)
			add(fmt.Sprintf("client key %s, valid %v", k, valid), sealReceipt(t, rc.toPB(), w.node))
		}
		add("valid", signReceipt(t, w.receipt(signAuth(t, w.auth(), w.client)), w.node))
	}
	ctx := context.Background()
	got, errs := VerifyBatch(ctx, envs, chk)
	valid := 0
	for i, env := range envs {
		want, werr := Verify(ctx, env, chk)
		if ReasonOf(errs[i]) != ReasonOf(werr) || (errs[i] == nil) != (werr == nil) {
			t.Fatalf("%s: batch %v, alone %v", names[i], errs[i], werr)
		}
		if werr == nil {
			valid++
			if got[i] == nil || got[i].ID() != want.ID() {
				t.Fatalf("%s: batch result %v", names[i], got[i])
			}
		}
	}
	// Half the small-order cases (s = 0) and the plain receipts are valid.
	if want := len(envs) - 8; valid != want {
		t.Fatalf("%d of %d valid, want %d", valid, len(envs), want)
	}
}

// FuzzVerifyBatch: an envelope between two valid receipts gets, in a
// batch, the verdict and reason Verify gives it alone, and its
// neighbours stay valid.
func FuzzVerifyBatch(f *testing.F) {
	_, receipts := seeds(f)
	for _, s := range receipts {
		f.Add(s)
	}
	w := newWorld(f)
	chk := w.checker()
	good, _ := (&rcase{}).build(f, w)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		want, werr := Verify(ctx, data, chk)
		got, errs := VerifyBatch(ctx, [][]byte{good, data, good}, chk)
		if ReasonOf(errs[1]) != ReasonOf(werr) || (errs[1] == nil) != (werr == nil) {
			t.Fatalf("batch %v, alone %v", errs[1], werr)
		}
		if werr == nil && (got[1] == nil || got[1].ID() != want.ID()) {
			t.Fatalf("batch result %v", got[1])
		}
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("a valid neighbour was refused: %v, %v", errs[0], errs[2])
		}
	})
}

// FuzzEd25519IDFastPath: an ID that the fast path of checkPeerID accepts
// passes its full decoding too.
func FuzzEd25519IDFastPath(f *testing.F) {
	_, id := testkeys.Seeded(f, 1)
	f.Add([]byte(id))
	f.Add([]byte(ed25519IDPrefix + "0123456789abcdef0123456789abcdef"))
	f.Add([]byte(ed25519IDPrefix + "short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id := peer.ID(b)
		if !isEd25519ID(id) {
			return
		}
		if _, err := peer.IDFromBytes(b); err != nil {
			t.Fatalf("fast path accepts %x, not a peer ID: %v", b, err)
		}
		pk, err := id.ExtractPublicKey()
		if err != nil || pk.Type() != cryptopb.KeyType_Ed25519 {
			t.Fatalf("fast path accepts %x: %v", b, err)
		}
	})
}

// FuzzEd25519ID: the signer ID built from a raw key is the one libp2p
// builds, and passes the fast path of checkPeerID.
func FuzzEd25519ID(f *testing.F) {
	for _, s := range smallOrderEncodings {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, pub []byte) {
		if len(pub) != ed25519PublicKeySize {
			return
		}
		if got, want := ed25519ID(pub), rawKeyID(t, pub); got != want || !isEd25519ID(got) {
			t.Fatalf("key %x: ID %x, libp2p's %x", pub, got, want)
		}
	})
}
