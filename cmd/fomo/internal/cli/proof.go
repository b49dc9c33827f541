package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/settle/merkle"
)

// rootDigits is how many hex digits of a receipts root the commands print.
const rootDigits = 16

// checkInclusion checks that the chain included receipt id in the epoch
// it charged it in: it fetches the receipt's proof of inclusion and that
// epoch's settlement from the node at apiURL, and verifies the proof
// against the settlement's receipts root (not the root the proof's answer
// carries, which must equal it). What it cannot check — no node, a node
// without a chain, a receipt not on the chain, an epoch not closed yet —
// it says and does not fail; a proof that does not verify fails, saying
// what did not match.
func checkInclusion(ctx context.Context, w io.Writer, apiURL string, id [32]byte) error {
	idHex := hex.EncodeToString(id[:])
	c, err := connect(apiURL)
	if err != nil {
		fmt.Fprintf(w, "inclusion not checked: %v\n", err)
		return nil
	}
	p, err := c.ReceiptProof(ctx, idHex)
	if err != nil {
		return proofUnavailable(ctx, w, c, idHex, err)
	}
	if p.ID != idHex {
		return fmt.Errorf("the node's proof of inclusion is for receipt %s, not %s", p.ID, idHex)
	}
	s, err := c.Epoch(ctx, p.Epoch)
	if err != nil {
		return fmt.Errorf("the settlement of epoch %d, which the proof of inclusion names: %s", p.Epoch, ErrorMessage(err))
	}
	if s.Epoch != p.Epoch {
		return fmt.Errorf("the node answered the settlement of epoch %d for epoch %d", s.Epoch, p.Epoch)
	}
	root, err := merkle.ParseHash(s.ReceiptsRoot)
	if err != nil {
		return fmt.Errorf("epoch %d's settlement has receipts root %q: %v", p.Epoch, s.ReceiptsRoot, err)
	}
	if claimed, err := merkle.ParseHash(p.ReceiptsRoot); err != nil || claimed != root {
		return fmt.Errorf("the proof of inclusion names receipts root %q, but epoch %d's settlement has %s", p.ReceiptsRoot, p.Epoch, s.ReceiptsRoot)
	}
	if err := p.Proof.Verify(root, id); err != nil {
		return fmt.Errorf("the proof of inclusion in epoch %d (index %d of %d, %s) does not verify against receipts root %s: %v",
			p.Epoch, p.Proof.Index, p.Proof.Count, plural(len(p.Proof.Path), "hash", "hashes"), s.ReceiptsRoot, err)
	}
	fmt.Fprintf(w, "included in epoch %d: proof of %s verifies against receipts root %s…\n",
		p.Epoch, plural(len(p.Proof.Path), "hash", "hashes"), s.ReceiptsRoot[:rootDigits])
	return nil
}

// proofUnavailable reports why the node gave no proof of inclusion:
// answers that say the proof does not exist (yet) or cannot be had from
// this node are printed, and anything else — a malformed proof among
// them — is the command's error.
func proofUnavailable(ctx context.Context, w io.Writer, c *client.Client, idHex string, err error) error {
	if _, ok := errors.AsType[*client.UnreachableError](err); ok {
		fmt.Fprintf(w, "inclusion not checked: %v\n", err)
		return nil
	}
	ce, ok := errors.AsType[*client.Error](err)
	if !ok {
		return fmt.Errorf("the proof of inclusion: %w", err)
	}
	switch {
	case ce.StatusCode == http.StatusConflict && ce.Code == "epoch_open":
		if st, err := c.ChainReceipt(ctx, idHex); err == nil {
			fmt.Fprintf(w, "on the chain in epoch %d, which has not closed yet: inclusion is provable once it has\n", st.Epoch)
		} else {
			fmt.Fprintf(w, "not closed yet: %s\n", ce.Message)
		}
		return nil
	case ce.StatusCode == http.StatusNotFound && ce.Code == "receipt_not_included":
		fmt.Fprintln(w, "not on the chain: not included yet, or its record was pruned")
		return nil
	case ce.StatusCode == http.StatusNotFound, ce.StatusCode == http.StatusServiceUnavailable:
		// No such route (a node without receipts or chain), or no chain.
		fmt.Fprintf(w, "inclusion not checked: %s\n", ce.Message)
		return nil
	}
	return fmt.Errorf("the proof of inclusion: %s", ErrorMessage(err))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
