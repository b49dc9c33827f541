package devnet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// Once the offering has graduated, the demo user buys MT of the model in
// its pool with FLOCK the genesis gave it, and stakes it (DESIGN §9.6),
// past the first discount tier (1,000 MT), so that its traffic from the
// next epoch on earns stake-weighted emissions and the stake-gated
// releases. Its usd pays only for its requests.
const (
	stakeMT    = 1_500e6 // MT base units the user stakes
	stakeFlock = 100e6   // FLOCK it sells for them: about 1,970 MT at the graduation price
	userFlock  = 200e6   // FLOCK the genesis gives it
)

// userKey is the demo user's key file in DIR/keys.
func userKey(dir string) string { return filepath.Join(dir, "keys", "user.key") }

// stake has the demo user stake stakeMT of model through node api, buying
// the MT first; each step is skipped when the chain shows it done (the
// stake, the MT), so a run over an existing network goes on where the last
// one stopped. It prints what it does.
func stake(ctx context.Context, out io.Writer, dir, api, model string, g *networks.Genesis) error {
	c, err := client.New(api)
	if err != nil {
		return err
	}
	sk, _, err := identity.LoadOrCreate(userKey(dir))
	if err != nil {
		return err
	}
	id := identity.PeerID(sk).String()
	if p, err := stakeOf(ctx, c, id, model); err != nil {
		return err
	} else if p >= stakeMT {
		fmt.Fprintf(out, "devnet: user staked %s MT of %s before\n", econ.FormatAmount(p), model)
		return nil
	}
	a, err := account(ctx, c, id)
	if err != nil {
		return err
	}
	nonce, mt := a.Nonce, ledger.MTDenom(model)
	if a.Balances[mt] < stakeMT {
		nonce++
		res, err := send(ctx, c, sk, nonce, ledger.Swap{Pool: ledger.ModelPoolID(model), DenomIn: ledger.DenomFlock,
			AmountIn: stakeFlock, MinOut: stakeMT - a.Balances[mt]})
		if err != nil {
			return fmt.Errorf("the user buying MT of %s: %w", model, err)
		}
		b, err := account(ctx, c, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "devnet: user %s swapped %s FLOCK for %s MT of %s at height %d\n", id, econ.FormatAmount(stakeFlock),
			econ.FormatAmount(b.Balances[mt]-a.Balances[mt]), model, res.Height)
	}
	nonce++
	res, err := send(ctx, c, sk, nonce, ledger.Stake{Model: model, Amount: stakeMT})
	if err != nil {
		return fmt.Errorf("the user staking on %s: %w", model, err)
	}
	from := ""
	if st, err := c.Stakes(ctx, id); err == nil {
		for _, p := range st.Positions {
			if p.Model == model {
				from = fmt.Sprintf(", counting from epoch %d", p.Epoch+1)
			}
		}
	}
	if t := g.Economics.DiscountTiers; t != nil && len(*t) > 0 {
		from += fmt.Sprintf("; the first discount tier is %s MT", econ.FormatAmount((*t)[0].MinStake))
	}
	fmt.Fprintf(out, "devnet: user staked %s MT of %s at height %d%s\n", econ.FormatAmount(stakeMT), model, res.Height, from)
	return nil
}

// stakeOf returns the MT account id has staked on model.
func stakeOf(ctx context.Context, c *client.Client, id, model string) (uint64, error) {
	st, err := c.Stakes(ctx, id)
	if client.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for _, p := range st.Positions {
		if p.Model == model {
			return p.StakedBase, nil
		}
	}
	return 0, nil
}
