package receipt

import (
	"context"
	"crypto/rand"
	"encoding/binary"

	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked with curve25519-voi under the ZIP-215 rules, one
// at a time and in batches alike, so that a receipt gets the same verdict
// whichever path checks it (the stricter or looser rules of other
// libraries would let a batch accept what a single check refuses).

const ed25519PublicKeySize = ed25519.PublicKeySize

var zip215 = &ed25519.Options{Verify: ed25519.VerifyOptionsZIP_215}

// sigTuple is one signature to check: a raw Ed25519 public key, the signed
// bytes and the signature.
type sigTuple struct{ pub, msg, sig []byte }

// sigCheck verifies a signature, or, in a batch's first pass, records it
// for later.
type sigCheck func(sigTuple) bool

func verifyOne(t sigTuple) bool {
	return len(t.pub) == ed25519.PublicKeySize && ed25519.VerifyWithOptions(t.pub, t.msg, t.sig, zip215)
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

// VerifyBatch verifies receipt envelopes as Verify does, one result per
// envelope in order, checking all their signatures (two per receipt) in one
// batch: about twice as fast as one by one. A receipt whose signatures the
// batch cannot confirm, or that breaks another rule, is checked alone, so
// every verdict and reason is the one Verify gives.
func VerifyBatch(ctx context.Context, envs [][]byte, chk Checker) ([]*SignedReceipt, []error) {
	out := make([]*SignedReceipt, len(envs))
	errs := make([]error, len(envs))
	type item struct {
		sr   *SignedReceipt
		sigs []int // indexes into the batch
	}
	items := make([]item, len(envs))
	bv := ed25519.NewBatchVerifierWithCapacity(2 * len(envs))
	n := 0
	for i, env := range envs {
		var mine []int
		collect := func(t sigTuple) bool {
			if len(t.pub) != ed25519.PublicKeySize {
				return false
			}
			bv.AddWithOptions(t.pub, t.msg, t.sig, zip215)
			mine = append(mine, n)
			n++
			return true
		}
		if sr, bad := openReceipt(env, collect); bad == nil {
			items[i] = item{sr: sr, sigs: mine}
		} // else it is checked alone below; its tuples stay in the batch

	}
	var ok []bool
	if n > 0 {
		_, ok = bv.Verify(rand.Reader)
	}
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		good := it.sr != nil && len(it.sigs) == 2
		for _, k := range it.sigs {
			good = good && k < len(ok) && ok[k]
		}
		if !good {
			out[i], errs[i] = verifyAlone(ctx, envs[i], chk)
			continue
		}
		out[i], errs[i] = checkAll(ctx, it.sr, chk)
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
