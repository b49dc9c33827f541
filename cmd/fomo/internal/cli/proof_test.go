package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/merkle"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/fomonet/fomo/store"
)

// proofChain is a chain whose epoch 1 closed over ids and whose receipts
// open are charged in epoch 2, still open. tamper flips a byte of every
// proof's path; claim, when set, is the root the proofs name instead of
// the settlement's.
type proofChain struct {
	chain
	ids    [][32]byte // ascending
	open   map[string]bool
	tamper bool
	claim  string
}

// epochOpen is a query that waits for an epoch's close.
type epochOpen struct{ msg string }

func (e epochOpen) Error() string { return e.msg }

func (epochOpen) Is(target error) bool { return target == api.ErrEpochOpen }

func (c proofChain) Query(ctx context.Context, path string) ([]byte, error) {
	root := merkle.RootSorted(c.ids)
	rootHex := hex.EncodeToString(root[:])
	kind, arg, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch {
	case kind == "epoch" && arg == "1":
		return json.Marshal(ledger.EpochSettlement{Epoch: 1, ClosedHeight: 9, ReceiptsRoot: rootHex, Receipts: uint64(len(c.ids))})
	case kind == "receipt" && c.open[arg]:
		return json.Marshal(ledger.ReceiptState{Epoch: 2, Model: "m"})
	case kind == "proof" && c.open[arg]:
		return nil, epochOpen{"epoch 2 has not closed yet"}
	case kind == "proof":
		id, err := merkle.ParseHash(arg)
		if err != nil {
			return nil, err
		}
		p, err := merkle.Prove(c.ids, id)
		if err != nil {
			return nil, notFound{fmt.Errorf("not found: receipt %s", arg)}
		}
		if c.tamper {
			p.Path[len(p.Path)-1][5] ^= 0x40
		}
		if c.claim != "" {
			rootHex = c.claim
		}
		return json.Marshal(ledger.ReceiptProof{ID: arg, Epoch: 1, ReceiptsRoot: rootHex, Proof: p})
	}
	return c.chain.Query(ctx, path)
}

// TestReceiptsVerifyInclusion: receipts verify, after its checks of the
// receipt, verifies the proof of inclusion against the root of the
// epoch's settlement; a tampered proof, or one that names another root,
// fails naming what did not match; a receipt of an open epoch, one not on
// the chain, and a node that cannot answer are said and do not fail.
func TestReceiptsVerifyInclusion(t *testing.T) {
	p, err := pool.New(pool.Config{Datastore: store.NewMemory(), Verify: pool.ReceiptVerifier(receipt.Checker{NetworkID: "testnet"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	acct, _ := testkeys.New(t)
	node, _ := testkeys.New(t)
	var envs [][]byte
	var ids []string
	for range 4 {
		env := signedReceipt(t, acct, node)
		if _, err := p.Add(t.Context(), env); err != nil {
			t.Fatal(err)
		}
		sr, err := receipt.OpenReceipt(env)
		if err != nil {
			t.Fatal(err)
		}
		id := sr.ID()
		envs, ids = append(envs, env), append(ids, hex.EncodeToString(id[:]))
	}
	// Epoch 1 holds the first two receipts among others, so that their
	// proofs have several hashes; the third is in open epoch 2, and the
	// chain has not included the fourth.
	closed := [][32]byte{}
	for i := range 20 {
		closed = append(closed, [32]byte{byte(i), 0xee})
	}
	for _, id := range ids[:2] {
		h, _ := merkle.ParseHash(id)
		closed = append(closed, h)
	}
	merkle.SortIDs(closed)
	root := merkle.RootSorted(closed)
	rootHex := hex.EncodeToString(root[:])
	serve := func(c proofChain) string {
		c.ids, c.open = closed, map[string]bool{ids[2]: true}
		srv := httptest.NewServer(api.New(noModels{}, api.WithReceipts(p), api.WithChain(c)))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	good := serve(proofChain{})
	hashes := func(idHex string) int {
		id, _ := merkle.ParseHash(idHex)
		pr, err := merkle.Prove(closed, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(pr.Path)
	}

	out, err := run(t, "receipts", "verify", ids[0][:16], "--api", good)
	if err != nil || !strings.Contains(out, "valid: both signatures verify") ||
		!strings.Contains(out, fmt.Sprintf("included in epoch 1: proof of %d hashes verifies against receipts root %s…\n", hashes(ids[0]), rootHex[:16])) {
		t.Fatalf("receipts verify of a receipt of a closed epoch: %v\n%s", err, out)
	}
	out, err = run(t, "receipts", "verify", ids[2], "--api", good)
	if err != nil || !strings.Contains(out, "valid: both signatures verify") ||
		!strings.Contains(out, "on the chain in epoch 2, which has not closed yet: inclusion is provable once it has") {
		t.Fatalf("receipts verify of a receipt of an open epoch: %v\n%s", err, out)
	}

	// A tampered path, or a proof that names a root other than the
	// settlement's, fails the command.
	for _, tc := range []struct {
		name string
		c    proofChain
		want []string
	}{
		{"tampered path", proofChain{tamper: true}, []string{
			"the proof of inclusion in epoch 1 (index ", fmt.Sprintf(" of 22, %d hashes) does not verify against receipts root %s", hashes(ids[1]), rootHex),
			"merkle: proof does not lead to the root"}},
		{"another root", proofChain{claim: strings.Repeat("0", 64)}, []string{
			`the proof of inclusion names receipts root "` + strings.Repeat("0", 64) + `", but epoch 1's settlement has ` + rootHex}},
	} {
		out, err := run(t, "receipts", "verify", ids[1], "--api", serve(tc.c))
		if err == nil {
			t.Errorf("%s: no error\n%s", tc.name, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(ErrorMessage(err), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, ErrorMessage(err), w)
			}
		}
		if !strings.Contains(out, "valid: both signatures verify") || strings.Contains(out, "included in epoch") {
			t.Errorf("%s: output\n%s", tc.name, out)
		}
	}

	// Not on the chain, a node without a chain, no node: the receipt's own
	// checks pass and the command says why inclusion was not checked.
	noChain := httptest.NewServer(api.New(noModels{}, api.WithReceipts(p)))
	t.Cleanup(noChain.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	file := filepath.Join(t.TempDir(), "r.receipt")
	if err := os.WriteFile(file, envs[0], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, arg, api, want string
	}{
		{"not on the chain", ids[3], good, "not on the chain: not included yet, or its record was pruned"},
		{"no chain", ids[0], noChain.URL, "inclusion not checked: this node runs no settlement chain"},
		{"no node", file, gone, "inclusion not checked: cannot reach the node at " + gone},
	} {
		out, err := run(t, "receipts", "verify", tc.arg, "--api", tc.api)
		if err != nil || !strings.Contains(out, "valid: both signatures verify") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %v\n%s", tc.name, err, out)
		}
	}
}
