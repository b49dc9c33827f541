package pool

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/fomonet/fomo/settle/receipt"
)

// ignorable lists the receipt reasons that depend on state peers may not
// share yet (the chain's model registry, session keys, epochs, settled
// ids): the topic validator ignores such receipts rather than rejecting
// them, so an honest forwarder that is a block ahead or behind is not
// penalised. Every other reason is a property of the bytes themselves.
var ignorable = map[receipt.Reason]bool{
	receipt.ReasonUnknownModel:        true,
	receipt.ReasonPriceMismatch:       true,
	receipt.ReasonUnknownSigner:       true,
	receipt.ReasonSignerNotAuthorized: true,
	receipt.ReasonEpochClosed:         true,
	receipt.ReasonReplay:              true,
}

// ReceiptVerifier returns the Verifier of the node: receipt.Verify with
// chk, its *receipt.Invalid errors turned into *VerifyError with the same
// reason. chk.Seen should answer for ids settled on chain only, not for
// the pool's own receipts: the pool detects duplicates and conflicts
// itself, and a replay reported by the Verifier would keep a conflicting
// receipt from being stored as evidence. chk.Epochs may be nil, the pool
// checks epochs itself.
func ReceiptVerifier(chk receipt.Checker) Verifier {
	return func(ctx context.Context, env []byte) (Receipt, error) {
		sr, err := receipt.Verify(ctx, env, chk)
		return fromVerified(sr, err)
	}
}

// BatchVerifier checks many receipt envelopes at once, one result per
// envelope.
type BatchVerifier func(ctx context.Context, envs [][]byte) ([]Receipt, []error)

// minSplit is the fewest receipts a part of a batch split across cores
// holds: below it, batch verification loses more per receipt than a core
// gains.
const minSplit = 128

// ReceiptBatchVerifier is ReceiptVerifier over receipt.VerifyBatch: the
// signatures of the whole batch are checked together, with the verdicts
// of one-by-one checks. A batch of at least twice minSplit receipts is
// split into parts verified at once on up to GOMAXPROCS cores.
func ReceiptBatchVerifier(chk receipt.Checker) BatchVerifier {
	return func(ctx context.Context, envs [][]byte) ([]Receipt, []error) {
		out := make([]Receipt, len(envs))
		errs := make([]error, len(envs))
		parts := min(runtime.GOMAXPROCS(0), len(envs)/minSplit)
		if parts < 2 {
			verifyPart(ctx, chk, envs, out, errs)
			return out, errs
		}
		var wg sync.WaitGroup
		for k := range parts {
			lo, hi := k*len(envs)/parts, (k+1)*len(envs)/parts
			wg.Go(func() { verifyPart(ctx, chk, envs[lo:hi], out[lo:hi], errs[lo:hi]) })
		}
		wg.Wait()
		return out, errs
	}
}

// verifyPart verifies envs with receipt.VerifyBatch into out and errs.
func verifyPart(ctx context.Context, chk receipt.Checker, envs [][]byte, out []Receipt, errs []error) {
	srs, verrs := receipt.VerifyBatch(ctx, envs, chk)
	for i := range envs {
		out[i], errs[i] = fromVerified(srs[i], verrs[i])
	}
}

func fromVerified(sr *receipt.SignedReceipt, err error) (Receipt, error) {
	if err != nil {
		var inv *receipt.Invalid
		if errors.As(err, &inv) {
			return Receipt{}, &VerifyError{Reason: string(inv.Reason), Ignore: ignorable[inv.Reason], Err: err}
		}
		return Receipt{}, err
	}
	a := &sr.Authorization.Authorization
	r := Receipt{
		ID:         sr.ID(),
		Account:    a.Account,
		Node:       sr.Receipt.Node,
		Model:      a.Model,
		IssuedAtMs: a.IssuedAtMs,
		Charge:     sr.Receipt.Charge,
	}
	if a.Signer != a.Account {
		r.Signer = a.Signer
	}
	return r, nil
}
