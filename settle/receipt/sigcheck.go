package receipt

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"io"
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked with curve25519-voi under the ZIP-215 rules, one
// at a time and in batches alike, so that a receipt gets the same verdict
// whichever path checks it (the stricter or looser rules of other
// libraries would let a batch accept what a single check refuses).
//
// A batch is checked here, on voi's curve arithmetic, rather than with
// voi's BatchVerifier, for two savings that receipts allow:
//
//   - public keys repeat (every receipt of a node carries the node's key,
//     and a client signs many authorizations with one key): a bounded
//     cache keeps each key decompressed, so its square root is paid once;
//   - the batch equation has one term per distinct key, not per signature:
//     the coefficients of the signatures under one key are summed, as the
//     ZIP-215 batch verifier of ed25519-zebra does. The sum is the same
//     point, so the equation, and its verdict, are unchanged; only the
//     multiscalar multiplication is shorter.
//
// The equation is the cofactored one of ZIP-215:
//
//	[8]( [−Σ zᵢsᵢ]B + Σ [zᵢ]Rᵢ + Σ_A [Σ_{i: Aᵢ=A} zᵢkᵢ]A ) = 0
//
// with kᵢ = SHA-512(Rᵢ ‖ Aᵢ ‖ mᵢ) over the encodings as received and zᵢ
// independent random 128-bit scalars. A and R are decoded as ZIP-215 says
// (non-canonical encodings and small-order points accepted), s must be
// canonical (s < ℓ). A batch that fails is split in halves to find the
// receipts whose signatures do not hold, within a bounded amount of work;
// those are checked alone, by Verify, which gives them its verdict.

const ed25519PublicKeySize = ed25519.PublicKeySize

var zip215 = &ed25519.Options{Verify: ed25519.VerifyOptionsZIP_215}

// sigTuple is one signature to check: a raw Ed25519 public key, the signed
// bytes and the signature. The signed bytes are msg, or, when msg is nil,
// those of an envelope: signedBytes(domain, payloadType, payload).
type sigTuple struct {
	pub, msg, sig        []byte
	domain               string
	payloadType, payload []byte
}

// message returns the signed bytes.
func (t *sigTuple) message() []byte {
	if t.msg != nil {
		return t.msg
	}
	return signedBytes(t.domain, t.payloadType, t.payload)
}

// hashMessage writes the signed bytes to h without assembling them.
func (t *sigTuple) hashMessage(h hash.Hash) {
	if t.msg != nil {
		_, _ = h.Write(t.msg)
		return
	}
	var n [3 * binary.MaxVarintLen64]byte
	_, _ = h.Write(binary.AppendUvarint(n[:0], uint64(len(t.domain))))
	_, _ = io.WriteString(h, t.domain)
	_, _ = h.Write(binary.AppendUvarint(n[:0], uint64(len(t.payloadType))))
	_, _ = h.Write(t.payloadType)
	_, _ = h.Write(binary.AppendUvarint(n[:0], uint64(len(t.payload))))
	_, _ = h.Write(t.payload)
}

// sigCheck verifies a signature, or, in a batch's first pass, records it
// for later.
type sigCheck func(sigTuple) bool

func verifyOne(t sigTuple) bool {
	return len(t.pub) == ed25519.PublicKeySize && ed25519.VerifyWithOptions(t.pub, t.message(), t.sig, zip215)
}

// signedBytes are the bytes a libp2p envelope's signature covers: the
// domain, the payload type and the payload, each after its length as an
// unsigned varint.
func signedBytes(domain string, payloadType, payload []byte) []byte {
	b := make([]byte, 0, len(domain)+len(payloadType)+len(payload)+3*binary.MaxVarintLen64)
	b = binary.AppendUvarint(b, uint64(len(domain)))
	b = append(b, domain...)
	b = binary.AppendUvarint(b, uint64(len(payloadType)))
	b = append(b, payloadType...)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// pubKey is a decoded Ed25519 public key. A cached pubKey is never
// modified.
type pubKey struct {
	// point is A, valid when ok.
	point curve.EdwardsPoint
	// ok is false when the encoding is not a point (ZIP-215 accepts every
	// other encoding, small order and non-canonical included).
	ok bool
}

// decodePubKey decodes a 32-byte public key as ZIP-215 does.
func decodePubKey(pub []byte) *pubKey {
	k := new(pubKey)
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(pub); err != nil {
		return k
	}
	if _, err := k.point.SetCompressedY(&c); err != nil {
		return k
	}
	k.ok = true
	return k
}

// keyCacheGeneration is how many keys each of the cache's two generations
// holds: the cache keeps between this many and twice this many recently
// used keys, about 200 bytes each.
const keyCacheGeneration = 8192

// keyCache is a bounded cache of decoded public keys: a map of recent
// keys and a map of older ones; when the recent one is full, it becomes
// the older one and the older one is dropped. A key found among the older
// ones moves to the recent ones. Its verdicts cannot depend on what it
// holds: a key decodes to the same point whether cached or not.
type keyCache struct {
	mu       sync.Mutex
	cur, old map[[ed25519PublicKeySize]byte]*pubKey
}

var pubKeys = &keyCache{}

// get returns the decoded pub, which is 32 bytes long.
func (c *keyCache) get(pub []byte) *pubKey {
	id := [ed25519PublicKeySize]byte(pub)
	c.mu.Lock()
	k, ok := c.cur[id]
	if !ok {
		if k, ok = c.old[id]; ok {
			c.putLocked(id, k)
		}
	}
	c.mu.Unlock()
	if ok {
		return k
	}
	k = decodePubKey(pub)
	c.mu.Lock()
	c.putLocked(id, k)
	c.mu.Unlock()
	return k
}

func (c *keyCache) putLocked(id [ed25519PublicKeySize]byte, k *pubKey) {
	if len(c.cur) >= keyCacheGeneration || c.cur == nil {
		c.old, c.cur = c.cur, make(map[[ed25519PublicKeySize]byte]*pubKey, keyCacheGeneration)
	}
	c.cur[id] = k
}

// batchSig is a signature prepared for the batch equation.
type batchSig struct {
	key  int // index in sigBatch.keys
	r    curve.EdwardsPoint
	s, k scalar.Scalar
}

// sigBatch collects the signatures of a batch of receipts.
type sigBatch struct {
	sigs []batchSig
	keys []*pubKey
	// keyIndex maps a key to its index in keys.
	keyIndex map[*pubKey]int
	// h is the SHA-512 of kᵢ, reused.
	h hash.Hash
}

func newSigBatch(n int) *sigBatch {
	return &sigBatch{sigs: make([]batchSig, 0, n), keyIndex: map[*pubKey]int{}, h: sha512.New()}
}

// add decodes t for the batch equation. It returns false, adding nothing,
// when t cannot be valid under ZIP-215: a key of the wrong length or not
// a point, a signature of the wrong length, a non-canonical s or an R
// that is not a point.
func (b *sigBatch) add(t sigTuple) bool {
	if len(t.pub) != ed25519PublicKeySize || len(t.sig) != ed25519.SignatureSize {
		return false
	}
	key := pubKeys.get(t.pub)
	if !key.ok || !scalar.ScMinimalVartime(t.sig[32:]) {
		return false
	}
	b.sigs = append(b.sigs, batchSig{})
	s := &b.sigs[len(b.sigs)-1]
	var rc curve.CompressedEdwardsY
	if _, err := rc.SetBytes(t.sig[:32]); err != nil {
		b.sigs = b.sigs[:len(b.sigs)-1]
		return false
	}
	if _, err := s.r.SetCompressedY(&rc); err != nil {
		b.sigs = b.sigs[:len(b.sigs)-1]
		return false
	}
	if _, err := s.s.SetBytesModOrder(t.sig[32:]); err != nil {
		b.sigs = b.sigs[:len(b.sigs)-1]
		return false
	}
	h := b.h
	h.Reset()
	_, _ = h.Write(t.sig[:32])
	_, _ = h.Write(t.pub)
	t.hashMessage(h)
	var sum [sha512.Size]byte
	if _, err := s.k.SetBytesModOrderWide(h.Sum(sum[:0])); err != nil {
		b.sigs = b.sigs[:len(b.sigs)-1]
		return false
	}
	i, ok := b.keyIndex[key]
	if !ok {
		i = len(b.keys)
		b.keys = append(b.keys, key)
		b.keyIndex[key] = i
	}
	s.key = i
	return true
}

// holds reports whether every signature of the spans of b.sigs holds
// (with probability of a wrong true at most 2⁻¹²⁸ per call).
func (b *sigBatch) holds(spans []span) bool {
	n := 0
	for _, sp := range spans {
		n += sp.n
	}
	if n == 0 {
		return true
	}
	zs := make([]byte, 16*n)
	if _, err := rand.Read(zs); err != nil {
		return false // checked one by one instead
	}
	svals := make([]scalar.Scalar, 1+n+len(b.keys))
	keyCoef := svals[1+n:]
	used := make([]bool, len(b.keys))
	scalars := make([]*scalar.Scalar, 0, len(svals))
	points := make([]*curve.EdwardsPoint, 0, len(svals))
	scalars = append(scalars, &svals[0])
	points = append(points, curve.ED25519_BASEPOINT_POINT)
	var zb [scalar.ScalarSize]byte
	var t scalar.Scalar
	j := 0
	for _, sp := range spans {
		for i := sp.first; i < sp.first+sp.n; i++ {
			s := &b.sigs[i]
			z := &svals[1+j]
			copy(zb[:16], zs[16*j:16*j+16])
			if _, err := z.SetBytesModOrder(zb[:]); err != nil {
				return false
			}
			j++
			svals[0].Add(&svals[0], t.Mul(z, &s.s))
			keyCoef[s.key].Add(&keyCoef[s.key], t.Mul(z, &s.k))
			used[s.key] = true
			scalars = append(scalars, z)
			points = append(points, &s.r)
		}
	}
	svals[0].Neg(&svals[0])
	for i, u := range used {
		if u {
			scalars = append(scalars, &keyCoef[i])
			points = append(points, &b.keys[i].point)
		}
	}
	var sum curve.EdwardsPoint
	return sum.MultiscalarMulVartime(scalars, points).IsSmallOrder()
}

// span is a run of n signatures of a batch from first.
type span struct{ first, n int }

// bisectBudget bounds the signatures the search for failing receipts may
// put through the batch equation, in multiples of the batch's size: one
// bad receipt among many costs about three times one check of the whole
// batch; once the budget is spent (many bad receipts) the receipts not yet
// cleared are checked alone.
const bisectBudget = 4

// confirm reports, for each span (the signatures of one receipt),
// whether all its signatures hold: the whole batch is checked at once,
// and a failing batch is split in halves, within bisectBudget.
func (b *sigBatch) confirm(spans []span) []bool {
	ok := make([]bool, len(spans))
	budget := bisectBudget * len(b.sigs)
	var search func(lo, hi int)
	search = func(lo, hi int) {
		n := 0
		for _, sp := range spans[lo:hi] {
			n += sp.n
		}
		if n == 0 || n > budget {
			return
		}
		budget -= n
		if b.holds(spans[lo:hi]) {
			for i := lo; i < hi; i++ {
				ok[i] = true
			}
			return
		}
		if hi-lo == 1 {
			return
		}
		mid := lo + (hi-lo)/2
		search(lo, mid)
		search(mid, hi)
	}
	search(0, len(spans))
	return ok
}

// VerifyBatch verifies receipt envelopes as Verify does, one result per
// envelope in order, checking all their signatures (two per receipt) in one
// batch equation: much faster than one by one, the more so the more the
// receipts share keys. A receipt whose signatures the batch cannot
// confirm, or that breaks another rule, is checked alone, so every
// verdict and reason is the one Verify gives.
func VerifyBatch(ctx context.Context, envs [][]byte, chk Checker) ([]*SignedReceipt, []error) {
	out := make([]*SignedReceipt, len(envs))
	errs := make([]error, len(envs))
	if len(envs) == 1 {
		out[0], errs[0] = verifyAlone(ctx, envs[0], chk)
		return out, errs
	}
	srs := make([]*SignedReceipt, len(envs))
	bt := newSigBatch(2 * len(envs))
	var live []int // the receipts that opened, with their two signatures
	var spans []span
	for i, env := range envs {
		first := len(bt.sigs)
		sr, bad := openReceipt(env, bt.add)
		if n := len(bt.sigs) - first; bad != nil || n != 2 {
			bt.sigs = bt.sigs[:first] // checked alone below
			continue
		}
		srs[i] = sr
		live = append(live, i)
		spans = append(spans, span{first, 2})
	}
	good := make([]bool, len(envs))
	for j, ok := range bt.confirm(spans) {
		good[live[j]] = ok
	}
	for i := range envs {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if !good[i] {
			out[i], errs[i] = verifyAlone(ctx, envs[i], chk)
			continue
		}
		out[i], errs[i] = checkAll(ctx, srs[i], chk)
	}
	return out, errs
}

// verifyAlone is Verify with a typed nil for an invalid receipt.
func verifyAlone(ctx context.Context, env []byte, chk Checker) (*SignedReceipt, error) {
	sr, err := Verify(ctx, env, chk)
	if err != nil {
		return nil, err
	}
	return sr, nil
}
