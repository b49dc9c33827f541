package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/merkle"
	"github.com/fomonet/fomo/settle/pool"
)

// proofChain is a Chain whose epoch 1 closed over the receipts closed and
// whose receipts open are charged in epoch 2, still open; it answers the
// /proof query as settle/chain does.
type proofChain struct {
	closed [][32]byte // ascending
	open   map[string]bool
}

// epochOpen is a query that waits for an epoch's close.
type epochOpen struct{ msg string }

func (e epochOpen) Error() string { return e.msg }

func (epochOpen) Is(target error) bool { return target == api.ErrEpochOpen }

func (proofChain) Status() api.ChainStatus { return api.ChainStatus{ChainID: "fomo-test"} }
func (proofChain) AppHashAfter(context.Context, int64) ([]byte, time.Time, error) {
	return nil, time.Time{}, errors.New("no blocks")
}
func (proofChain) SubmitTx(context.Context, []byte) (api.TxResult, error) {
	return api.TxResult{}, errors.New("read only")
}

func (c proofChain) Query(_ context.Context, path string) ([]byte, error) {
	idHex, ok := strings.CutPrefix(path, "/proof/")
	if !ok {
		return nil, notFound{fmt.Errorf("not found: %s", path)}
	}
	id, err := merkle.ParseHash(idHex)
	if err != nil {
		return nil, fmt.Errorf("receipt id %q: %v", idHex, err)
	}
	if c.open[idHex] {
		return nil, epochOpen{"epoch 2 has not closed yet"}
	}
	p, err := merkle.Prove(c.closed, id)
	if err != nil {
		return nil, notFound{fmt.Errorf("not found: receipt %s", idHex)}
	}
	root := merkle.RootSorted(c.closed)
	return json.Marshal(ledger.ReceiptProof{ID: idHex, Epoch: 1, ReceiptsRoot: hex.EncodeToString(root[:]), Proof: p})
}

// heldReceipts is a node's receipt pool holding ids (only their ids).
type heldReceipts []pool.ID

func (h heldReceipts) Get(_ context.Context, id pool.ID) (pool.Entry, bool, error) {
	for _, x := range h {
		if x == id {
			return pool.Entry{Receipt: pool.Receipt{ID: x}}, true, nil
		}
	}
	return pool.Entry{}, false, nil
}

func (h heldReceipts) Find(_ context.Context, prefix string) (pool.Entry, bool, error) {
	prefix = strings.ToLower(prefix)
	var found []pool.ID
	for _, x := range h {
		if strings.HasPrefix(x.String(), prefix) {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 0:
		return pool.Entry{}, false, nil
	case 1:
		return pool.Entry{Receipt: pool.Receipt{ID: found[0]}}, true, nil
	}
	return pool.Entry{}, false, &pool.AmbiguousIDError{Prefix: prefix, Count: len(found)}
}

func (heldReceipts) List(context.Context, pool.Filter) ([]pool.Entry, string, error) {
	return nil, "", nil
}

// proofID is an id whose first byte is a and last byte b.
func proofID(a, b byte) [32]byte {
	var id [32]byte
	id[0], id[31] = a, b
	return id
}

// TestReceiptProofRoute: GET /api/v1/receipts/{id}/proof answers a proof
// that verifies against the epoch's root for a whole id or a unique
// prefix, 404 for a receipt not on the chain, 409 for an ambiguous prefix
// and for a receipt whose epoch is open, 400 for a malformed id, and 503
// on a node without a chain.
func TestReceiptProofRoute(t *testing.T) {
	// Two ids share their first 8 hex digits: their prefix is ambiguous.
	closed := [][32]byte{proofID(0x11, 1), proofID(0x22, 2), proofID(0x33, 3), proofID(0x33, 4), proofID(0x44, 5)}
	merkle.SortIDs(closed)
	open := proofID(0x55, 6)
	openHex := hex.EncodeToString(open[:])
	held := heldReceipts{}
	for _, id := range append(closed, open) {
		held = append(held, pool.ID(id))
	}
	ch := proofChain{closed: closed, open: map[string]bool{openHex: true}}
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(ch), api.WithReceipts(held)))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	root := merkle.RootSorted(closed)

	for _, tc := range []struct {
		name, arg string
		id        [32]byte
	}{
		{"whole id", hex.EncodeToString(closed[1][:]), closed[1]},
		{"prefix", hex.EncodeToString(closed[0][:])[:12], closed[0]},
		{"upper-case prefix", strings.ToUpper(hex.EncodeToString(closed[4][:])[:8]), closed[4]},
	} {
		p, err := c.ReceiptProof(t.Context(), tc.arg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.ID != hex.EncodeToString(tc.id[:]) || p.Epoch != 1 || p.ReceiptsRoot != hex.EncodeToString(root[:]) || p.Proof.Count != uint64(len(closed)) {
			t.Fatalf("%s: %+v", tc.name, p)
		}
		if err := p.Proof.Verify(root, tc.id); err != nil {
			t.Fatalf("%s: the proof does not verify: %v", tc.name, err)
		}
	}

	unknown := proofID(0x66, 7)
	for _, tc := range []struct {
		name, arg    string
		status       int
		code, substr string
	}{
		{"not on the chain", hex.EncodeToString(unknown[:]), http.StatusNotFound, "receipt_not_included", "is not on the chain"},
		{"prefix not held", "66000000", http.StatusNotFound, "receipt_not_found", "receipt 66000000 not found on this node"},
		{"ambiguous prefix", "33000000", http.StatusConflict, "receipt_id_ambiguous", "matches 2 receipts"},
		{"open epoch", openHex, http.StatusConflict, "epoch_open", "epoch 2 has not closed yet: receipt " + openHex},
		{"open epoch by prefix", openHex[:10], http.StatusConflict, "epoch_open", "epoch 2 has not closed yet"},
		{"too short", "abc", http.StatusBadRequest, "", `receipt id "abc": give 8 to 64 hex digits`},
		{"not hex", "nothexxx", http.StatusBadRequest, "", `receipt id "nothexxx" is not hex`},
	} {
		_, err := c.ReceiptProof(t.Context(), tc.arg)
		ce, ok := errors.AsType[*client.Error](err)
		if !ok || ce.StatusCode != tc.status || ce.Code != tc.code || !strings.Contains(ce.Message, tc.substr) {
			t.Errorf("%s: %v (%+v), want %d %q containing %q", tc.name, err, ce, tc.status, tc.code, tc.substr)
		}
	}
	if _, err := c.ReceiptProof(t.Context(), hex.EncodeToString(unknown[:])); !client.IsNotFound(err) {
		t.Errorf("a receipt not on the chain: %v, want IsNotFound", err)
	}

	// A node without a chain has no proofs; one without receipts cannot
	// look a prefix up.
	noChain := httptest.NewServer(api.New(noModels{}, api.WithReceipts(held)))
	t.Cleanup(noChain.Close)
	noPool := httptest.NewServer(api.New(noModels{}, api.WithChain(ch)))
	t.Cleanup(noPool.Close)
	for _, tc := range []struct {
		name, url, arg string
		status         int
		substr         string
	}{
		{"no chain", noChain.URL, hex.EncodeToString(closed[0][:]), http.StatusServiceUnavailable, "this node runs no settlement chain"},
		{"no pool, prefix", noPool.URL, hex.EncodeToString(closed[0][:])[:8], http.StatusBadRequest, "give the whole id (64 hex digits)"},
	} {
		c, err := client.New(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReceiptProof(t.Context(), tc.arg)
		if ce, ok := errors.AsType[*client.Error](err); !ok || ce.StatusCode != tc.status || !strings.Contains(ce.Message, tc.substr) {
			t.Errorf("%s: %v, want %d containing %q", tc.name, err, tc.status, tc.substr)
		}
	}
	c, err = client.New(noPool.URL)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.ReceiptProof(t.Context(), hex.EncodeToString(closed[2][:])); err != nil || p.Proof.Verify(root, closed[2]) != nil {
		t.Errorf("a whole id without a pool: %+v %v", p, err)
	}
}
