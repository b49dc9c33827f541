package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/chain/tx"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The devnet's offering (DESIGN §9.5) of its model: the issuer launches it
// and two supporters commit on the curve; the second commit crosses the end
// of the sale bucket, is partly filled and refunded, and graduates the
// offering at its maximum in the same block.
const (
	raiseMin      = 10_000e6 // flock base units
	raiseMax      = 20_000e6
	raiseWindow   = 10 * time.Minute
	supportCommit = 12_000e6 // each supporter's commit, fee included
	issuerFlock   = 40_000e6 // the launch fee (32,768 FLOCK) and change
	supportFlock  = 20_000e6
	supporters    = 2
)

// supporterKey is the key file of supporter i (1-based) in DIR/keys.
func supporterKey(dir string, i int) string {
	return filepath.Join(dir, "keys", fmt.Sprintf("supporter%d.key", i))
}

// runOffering runs offering until it is done, then, once the offering has
// graduated, the user's stake; each is tried again (every step is
// idempotent) while the chain cannot take transactions yet, for up to two
// minutes; a failure is printed, and the devnet goes on without.
func runOffering(ctx context.Context, out io.Writer, dir, api, model string, g *networks.Genesis) {
	graduated := false
	if !retry(ctx, out, "the offering of "+model, func() (err error) {
		graduated, err = offering(ctx, out, dir, api, model, g)
		return err
	}) || !graduated {
		return
	}
	retry(ctx, out, "the user's stake on "+model, func() error { return stake(ctx, out, dir, api, model, g) })
}

// retry runs step until it succeeds (true), ctx ends or, after a failure
// that is not transient or two minutes, it gives up and prints why.
func retry(ctx context.Context, out io.Writer, what string, step func() error) bool {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := step()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !transient(err) || time.Now().After(deadline) {
			fmt.Fprintf(out, "devnet: %s stopped: %v\n", what, err)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// transient reports whether err may pass: the node answered 503 (its chain
// is catching up) or could not be reached.
func transient(err error) bool {
	if _, ok := errors.AsType[*codeError](err); ok {
		return false
	}
	if ce, ok := errors.AsType[*client.Error](err); ok {
		return ce.StatusCode == http.StatusServiceUnavailable
	}
	return true
}

// offering runs the devnet model's offering through node api: launch,
// then each supporter's commit, each step skipped when the chain shows it
// done (a run over an existing network goes on where the last one
// stopped). It prints what it does and, once graduated, the model's pool;
// it reports whether the offering has graduated.
func offering(ctx context.Context, out io.Writer, dir, api, model string, g *networks.Genesis) (bool, error) {
	c, err := client.New(api)
	if err != nil {
		return false, err
	}
	issuer, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "issuer.key"))
	if err != nil {
		return false, err
	}
	params := node.LedgerGenesis(g).Economics.RMOParams()
	curve, err := econ.NewCurve(params, raiseMin, raiseMax)
	if err != nil {
		return false, err
	}
	var st econ.CurveState // the curve as the devnet's commits leave it

	iss, err := account(ctx, c, identity.PeerID(issuer).String())
	if err != nil {
		return false, err
	}
	if iss.Nonce == 0 {
		res, err := send(ctx, c, issuer, iss.Nonce+1, ledger.LaunchRMO{Model: model, RaiseMin: raiseMin, RaiseMax: raiseMax,
			DurationMs: raiseWindow.Milliseconds()})
		switch {
		case err == nil:
			fmt.Fprintf(out, "devnet: rmo of %s launched at height %d: raise %s..%s FLOCK on the curve within %s; launch fee %s FLOCK to the treasury\n",
				model, res.Height, econ.FormatAmount(raiseMin), econ.FormatAmount(raiseMax), raiseWindow, econ.FormatAmount(params.LaunchFee))
		case errors.Is(err, errCode(ledger.CodeRMOExists)):
		default:
			return false, fmt.Errorf("launching the offering of %s: %w", model, err)
		}
	} else {
		fmt.Fprintf(out, "devnet: rmo of %s launched before\n", model)
	}

	for i := 1; i <= supporters; i++ {
		sk, _, err := identity.LoadOrCreate(supporterKey(dir, i))
		if err != nil {
			return false, err
		}
		id := identity.PeerID(sk).String()
		f, next, err := curve.Commit(st, supportCommit)
		if err != nil {
			return false, err
		}
		st = next
		a, err := account(ctx, c, id)
		if err != nil {
			return false, err
		}
		if a.Nonce > 0 {
			fmt.Fprintf(out, "devnet: supporter%d committed before\n", i)
			continue
		}
		res, err := send(ctx, c, sk, a.Nonce+1, ledger.Commit{Model: model, Amount: supportCommit})
		if err != nil {
			return false, fmt.Errorf("supporter%d committing to %s: %w", i, model, err)
		}
		refund := ""
		if f.Refund > 0 {
			refund = fmt.Sprintf(", %s refunded past the end of the sale bucket", econ.FormatAmount(f.Refund))
		}
		fmt.Fprintf(out, "devnet: supporter%d %s committed %s FLOCK at height %d: %s MT for %s FLOCK + %s fee%s\n",
			i, id, econ.FormatAmount(supportCommit), res.Height, econ.FormatAmount(f.Tokens), econ.FormatAmount(f.Principal),
			econ.FormatAmount(f.FeeTreasury+f.FeeIssuer), refund)
	}

	// Graduated: the chain's record of it, with the pool it seeded.
	o, err := c.RMO(ctx, model)
	if err != nil {
		return false, err
	}
	gr := o.Graduation
	if gr == nil {
		fmt.Fprintf(out, "devnet: rmo of %s not graduated: %s of %s FLOCK raised\n", model,
			econ.FormatAmount(o.RaisedFlockBase), econ.FormatAmount(o.RaiseMaxFlockBase))
		return false, nil
	}
	seed := econ.Pool{ReserveA: gr.LiquidityMTBase, ReserveB: gr.RaisePoolFlockBase}
	price, _ := seed.PriceE18()
	fmt.Fprintf(out, "devnet: rmo of %s graduated: %s MT minted; pool %s MT / %s FLOCK (%s FLOCK per MT), liquidity locked\n",
		model, econ.FormatAmount(gr.MintedMTBase), econ.FormatAmount(seed.ReserveA), econ.FormatAmount(seed.ReserveB), formatE18(price))
	return true, nil
}

// formatE18 formats a 1e18 fixed-point price with 6 decimals.
func formatE18(v uint64) string { return econ.FormatAmount(v / (econ.PriceScale / econ.Unit)) }

// account returns the chain's account id; one the chain never saw is empty.
func account(ctx context.Context, c *client.Client, id string) (ledger.Account, error) {
	a, err := c.Account(ctx, id)
	if client.IsNotFound(err) {
		return ledger.Account{}, nil // an account the chain has not seen is empty
	}
	if err != nil {
		return ledger.Account{}, err
	}
	return a.Account, nil
}

// codeError is a tx the chain included with a failing result.
type codeError struct {
	code ledger.Code
	log  string
}

func (e *codeError) Error() string { return e.log }

// Is matches another codeError of the same code.
func (e *codeError) Is(target error) bool {
	t, ok := target.(*codeError)
	return ok && t.code == e.code
}

func errCode(c ledger.Code) error { return &codeError{code: c} }

// send signs body as the account of sk with nonce and submits it, waiting
// until it is in a block; a failing result is a *codeError.
func send(ctx context.Context, c *client.Client, sk crypto.PrivKey, nonce uint64, body ledger.Body) (*struct{ Height int64 }, error) {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	b, err := tx.Sign(tx.Tx{Account: id.String(), Nonce: nonce, Body: body}, sk)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := c.SubmitTx(ctx, b)
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		var r ledger.TxResult
		_ = json.Unmarshal(res.Result, &r)
		return nil, &codeError{code: r.Code, log: res.Log}
	}
	return &struct{ Height int64 }{res.Height}, nil
}
