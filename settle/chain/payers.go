package chain

import (
	"context"
	"fmt"

	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Payers reads who may pay for requests, and how much, from the chain's
// state: it is the settle/meter Payers of a node with a settlement chain.
type Payers struct{ App *App }

// AccountOf returns the account a session key signs for; an account
// signs for itself.
func (c Payers) AccountOf(ctx context.Context, signer peer.ID) (peer.ID, bool) {
	if a, ok := c.App.AccountOfKey(ctx, signer.String()); ok {
		id, err := peer.Decode(a)
		return id, err == nil
	}
	return signer, true // an account signs for itself
}

// Balance returns the account's usd balance; an overdrawn account has
// none until it is topped up.
func (c Payers) Balance(ctx context.Context, account peer.ID) uint64 {
	a, err := c.App.Account(ctx, account.String())
	if err != nil || a.Overdrawn {
		return 0 // an overdrawn account is refused until topped up
	}
	return a.Balances[ledger.DenomUSD]
}

// Authorized implements receipt.Signers: the key is a session key of the
// account on chain, not expired, with spend limit left.
func (c Payers) Authorized(account, signer peer.ID, atMs uint64) error {
	k, ok, err := c.App.SessionKey(context.Background(), account.String(), signer.String())
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("key %s is not a session key of %s on chain: %w", signer, account, receipt.ErrUnknownSigner)
	}
	if k.ExpiresAtMs != 0 && int64(atMs) > k.ExpiresAtMs {
		return fmt.Errorf("session key %s of %s expired", signer, account)
	}
	if k.Spent >= k.SpendLimit {
		return fmt.Errorf("session key %s of %s has spent its limit", signer, account)
	}
	return nil
}

// SpendLeft implements settle/meter's Payers: the key's spend limit less what the chain
// has charged it (a key the chain does not know may spend nothing).
func (c Payers) SpendLeft(ctx context.Context, account, signer peer.ID) (uint64, bool) {
	k, ok, err := c.App.SessionKey(ctx, account.String(), signer.String())
	if err != nil || !ok || k.Spent >= k.SpendLimit {
		return 0, true
	}
	return k.SpendLimit - k.Spent, true
}
