package chain

import (
	"context"
	"crypto/sha256"
	"sync"

	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Receipt verification. A SubmitReceipts carries up to a thousand
// receipts, each with two Ed25519 signatures: verifying them is most of
// what a validator spends on a transaction. CheckTx verifies a
// transaction's receipts once, split into one batch per core, and keeps
// the verdicts; FinalizeBlock uses the kept verdicts and verifies only the
// receipts it has none for (a transaction that never passed through this
// validator's mempool), in batches across cores too. A verdict is a pure
// function of the envelope's bytes and the network id, so whether it was
// kept or computed changes no result.

// minVerifyChunk is the fewest receipts given a goroutine of their own:
// a batch of fewer verifies hardly faster than one signature at a time,
// and a goroutine per handful of receipts costs more than it saves.
const minVerifyChunk = 64

// maxVerified bounds the verdict cache.
const maxVerified = 200_000

// verdict is what verifying one receipt envelope found.
type verdict struct {
	// id is the receipt's id as results report it: the SHA-256 of its
	// authorization envelope, or of the receipt envelope itself when that
	// does not open (authOf).
	id [32]byte
	// code is ledger.OK for a receipt that verifies, otherwise the
	// ReceiptCode of the rule it breaks.
	code ledger.Code
	// r is the receipt for the ledger when code is ledger.OK.
	r ledger.Receipt
}

// verifyEnvelopes returns the verdict on each envelope, in order, and the
// envelopes' digests (the verdict cache's keys). Envelopes with a cached
// verdict are not verified again; the others are verified in batches
// across a.workers goroutines, all finished before it returns, and with
// remember (CheckTx) their verdicts are cached. An envelope listed twice
// is verified once. It fails only when ctx ends before every verdict is
// known; then nothing is cached.
func (a *App) verifyEnvelopes(ctx context.Context, envs [][]byte, remember bool) ([]verdict, [][32]byte, error) {
	out := make([]verdict, len(envs))
	digests := make([][32]byte, len(envs))
	for i, env := range envs {
		digests[i] = sha256.Sum256(env)
	}
	var miss []int                  // first listing of each envelope without a verdict
	var again map[int]int           // later listing → first listing, for envelopes listed twice
	first := make(map[[32]byte]int) // digest → first listing
	a.vmu.Lock()
	for i, d := range digests {
		if j, ok := first[d]; ok {
			if again == nil {
				again = map[int]int{}
			}
			again[i] = j
			continue
		}
		first[d] = i
		if v, ok := a.verified[d]; ok {
			out[i] = v
		} else {
			miss = append(miss, i)
		}
	}
	a.vmu.Unlock()
	if len(miss) > 0 {
		if err := a.verifyParallel(ctx, envs, miss, out); err != nil {
			return nil, nil, err
		}
		if remember {
			a.vmu.Lock()
			if len(a.verified)+len(miss) > maxVerified {
				clear(a.verified)
			}
			for _, i := range miss {
				a.verified[digests[i]] = out[i]
			}
			a.vmu.Unlock()
		}
	}
	for i, j := range again {
		out[i] = out[j]
	}
	return out, digests, nil
}

// forgetVerdicts drops cached verdicts once their receipts are judged in a
// block.
func (a *App) forgetVerdicts(digests [][32]byte) {
	a.vmu.Lock()
	defer a.vmu.Unlock()
	for _, d := range digests {
		delete(a.verified, d)
	}
}

// verifyParallel sets out[i] for each i of idx, splitting idx into up to
// a.workers chunks of at least minVerifyChunk receipts, each verified as
// one batch (receipt.VerifyBatch) in its own goroutine; the last chunk
// runs on the caller's. Every goroutine has finished when it returns.
func (a *App) verifyParallel(ctx context.Context, envs [][]byte, idx []int, out []verdict) error {
	n := len(idx)
	k := max(1, min(a.workers, (n+minVerifyChunk-1)/minVerifyChunk))
	var wg sync.WaitGroup
	for c := range k - 1 {
		part := idx[c*n/k : (c+1)*n/k]
		wg.Go(func() { a.verifyChunk(ctx, envs, part, out) })
	}
	a.verifyChunk(ctx, envs, idx[(k-1)*n/k:], out)
	wg.Wait()
	return ctx.Err()
}

// verifyChunk verifies the envelopes envs[i] for i in part as one batch
// and sets out[i]: the same verdict and reason as receipt.Verify alone.
func (a *App) verifyChunk(ctx context.Context, envs [][]byte, part []int, out []verdict) {
	batch := make([][]byte, len(part))
	for j, i := range part {
		batch[j] = envs[i]
	}
	srs, errs := receipt.VerifyBatch(ctx, batch, receipt.Checker{NetworkID: a.netID})
	ids := peerIDs{}
	for j, i := range part {
		if errs[j] != nil {
			r := receipt.ReasonOf(errs[j])
			if r == "" {
				r = receipt.ReasonMalformed
			}
			out[i] = verdict{id: receipt.ID(authOf(envs[i])), code: ReceiptCode(r)}
			continue
		}
		out[i] = verdict{id: srs[j].ID(), code: ledger.OK, r: ids.receipt(srs[j])}
	}
}

// peerIDs memoizes the text of peer IDs: a batch names the same accounts
// and nodes again and again, and each text is a base58 encoding.
type peerIDs map[peer.ID]string

func (m peerIDs) text(id peer.ID) string {
	s, ok := m[id]
	if !ok {
		s = id.String()
		m[id] = s
	}
	return s
}

// receipt is what the ledger needs of a verified receipt.
func (m peerIDs) receipt(sr *receipt.SignedReceipt) ledger.Receipt {
	au := &sr.Authorization.Authorization
	lr := ledger.Receipt{
		ID: sr.ID(), Account: m.text(au.Account), Signer: m.text(au.Signer), Model: au.Model,
		Node: m.text(sr.Receipt.Node), IssuedAtMs: int64(au.IssuedAtMs), InputTokens: sr.Receipt.InputTokens,
		OutputTokens: sr.Receipt.OutputTokens, InputPrice: au.InputPrice, OutputPrice: au.OutputPrice, Charge: sr.Receipt.Charge,
	}
	if au.EntryNode != "" {
		lr.EntryNode = m.text(au.EntryNode)
	}
	return lr
}

// authOf returns the authorization bytes of a receipt envelope that did
// not verify, when it can be read, for the receipt's id; otherwise the
// envelope itself stands in.
func authOf(env []byte) []byte {
	if sr, err := receipt.OpenReceipt(env); err == nil {
		return sr.Receipt.Authorization
	}
	return env
}
