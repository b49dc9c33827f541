package cli

import (
	"testing"
	"time"
)

// TestAccountShowDiscounts: account show prints, per staked model, the
// stake counting now and the discount this epoch and next, in decimals
// with their denoms: a stake past the first tier gives its discount from
// the next epoch.
func TestAccountShowDiscounts(t *testing.T) {
	n := newEconNet(t)
	n.fomo(t, "rmo", "launch", "m1", "--raise-min", "1000", "--raise-max", "10000", "--key-name", "issuer")
	n.fomo(t, "rmo", "commit", "m1", "--amount", "20000", "--key-name", "bob")
	n.fomo(t, "stake", "m1", "--amount", "1000", "--key-name", "bob")
	out := n.fomo(t, "account", "show", "--key-name", "bob")
	wantLines(t, "account show", out, `(?m)^nonce +2$`, `(?m)^balance +39850\.000000 flock$`, `stake +m1 \(mt:m1\)`, `counting +0\.000000 mt:m1 in epoch 0`,
		`discount now +0% in epoch 0 \(0\.000000 mt:m1 staked at its start\): 0\.200000 usd/0\.600000 usd per 1M tokens, list 0\.200000 usd/0\.600000 usd`,
		`discount next +10% in epoch 1 \(1000\.000000 mt:m1 staked at its start\): 0\.180000 usd/0\.540000 usd per 1M tokens`)
	n.c.advance(time.Hour)
	out = n.fomo(t, "account", "show", "--key-name", "bob")
	wantLines(t, "account show an epoch later", out, `counting +1000\.000000 mt:m1 in epoch 1`,
		`discount now +10% in epoch 1 \(1000\.000000 mt:m1 staked at its start\): 0\.180000 usd/0\.540000 usd`)
}

func TestBpsPercent(t *testing.T) {
	for bps, want := range map[uint32]string{0: "0%", 1000: "10%", 1250: "12.5%", 1: "0.01%", 10_000: "100%"} {
		if got := bpsPercent(bps); got != want {
			t.Errorf("bpsPercent(%d) = %q, want %q", bps, got, want)
		}
	}
}
