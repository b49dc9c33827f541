package cli

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
)

// TestStakeCommands stakes MT of a graduated model against a real
// ledger: the stake counts from the next epoch, an unstake stops counting
// at once and unbonds, a claim before the release epoch is refused, and
// GET /api/v1/stakes/{account} answers the positions in base units.
func TestStakeCommands(t *testing.T) {
	n := newEconNet(t)
	sk, _, err := identity.LoadOrCreate(filepath.Join(n.home, "keys", "bob.key"))
	if err != nil {
		t.Fatal(err)
	}
	bob := identity.PeerID(sk).String()
	if out := n.fomo(t, "stake", "show", "--key-name", "bob"); !strings.Contains(out, bob+" has no stake") {
		t.Fatalf("stake show before any stake:\n%s", out)
	}
	// bob's commit sells m1's raise out: it graduates and bob holds mt:m1.
	n.fomo(t, "rmo", "launch", "m1", "--raise-min", "1000", "--raise-max", "10000", "--key-name", "issuer")
	n.fomo(t, "rmo", "commit", "m1", "--amount", "20000", "--key-name", "bob")
	if _, err := runHome(t, n.home, "stake", "m2", "--amount", "1", "--key-name", "bob", "--api", n.url); err == nil ||
		!strings.Contains(err.Error(), "insufficient") {
		t.Fatalf("stake of MT bob does not hold: %v", err)
	}

	out := n.fomo(t, "stake", "m1", "--amount", "100", "--key-name", "bob")
	wantLines(t, "stake", out, `included at height 4 \(tx [0-9A-F]{64}\)`, `paid +100\.000000 mt:m1`,
		`stake +m1 \(mt:m1\) in epoch 0`, `staked +100\.000000 mt:m1, all of it counting from epoch 1`,
		`counting +0\.000000 mt:m1 in epoch 0`)

	// From the next epoch on, the stake counts.
	n.c.advance(time.Hour)
	out = n.fomo(t, "stake", "show", "--key-name", "bob")
	wantLines(t, "stake show", out, `stake +m1 \(mt:m1\) in epoch 1`, `staked +100\.000000 mt:m1`, `counting +100\.000000 mt:m1 in epoch 1`)
	out = n.fomo(t, "stake", "show", bob)
	wantLines(t, "stake show ACCOUNT", out, `counting +100\.000000 mt:m1 in epoch 1`)

	// An unstake stops counting at once and unbonds for 24 epochs.
	out = n.fomo(t, "unstake", "m1", "--amount", "40", "--key-name", "bob")
	wantLines(t, "unstake", out, `staked +60\.000000 mt:m1`, `counting +60\.000000 mt:m1 in epoch 1`,
		`unbonding +40\.000000 mt:m1 from epoch 25 \(unbonding\)`)
	if strings.Contains(out, "paid") || strings.Contains(out, "received") {
		t.Fatalf("unstake moved bob's balance:\n%s", out)
	}
	if _, err := runHome(t, n.home, "unstake", "m1", "--amount", "61", "--key-name", "bob", "--api", n.url); err == nil ||
		!strings.Contains(err.Error(), "insufficient_stake") {
		t.Fatalf("unstake beyond the stake: %v", err)
	}
	if _, err := runHome(t, n.home, "stake", "claim", "m1", "--key-name", "bob", "--api", n.url); err == nil ||
		!strings.Contains(err.Error(), "still_unbonding") || !strings.Contains(err.Error(), "releases in epoch 25 (now 1)") {
		t.Fatalf("claim before the release: %v", err)
	}

	// The JSON: amounts in base units, each unbonding with its release.
	out = n.fomo(t, "stake", "show", bob, "--json")
	var got api.Stakes
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stake show --json: %v\n%s", err, out)
	}
	want := api.Stakes{Account: bob, Positions: []api.StakePosition{{Model: "m1", MTDenom: "mt:m1", Epoch: 1, StakedBase: 60_000_000,
		CountingBase: 60_000_000, UnbondingBase: 40_000_000, Unbonding: []api.StakeUnbonding{{AmountBase: 40_000_000, ReleaseEpoch: 25}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stake show --json =\n%+v\nwant\n%+v", got, want)
	}
	wantLines(t, "stake show --json", out, `"staked_base": 60000000`, `"counting_base": 60000000`, `"release_epoch": 25`,
		`"claimable": false`)

	// Once released, the claim pays the MT back.
	n.c.advance(24 * time.Hour)
	out = n.fomo(t, "stake", "show", "--key-name", "bob")
	wantLines(t, "stake show after the release", out, `unbonding +40\.000000 mt:m1 from epoch 25 \(claimable\)`)
	out = n.fomo(t, "stake", "claim", "m1", "--key-name", "bob")
	wantLines(t, "stake claim", out, `received +40\.000000 mt:m1`)
	out = n.fomo(t, "stake", "show", "--key-name", "bob")
	if strings.Contains(out, "unbonding") {
		t.Fatalf("stake show after the claim:\n%s", out)
	}

	// An account that never staked has an empty list.
	c, err := client.New(n.url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Stakes(t.Context(), "nobody")
	if err != nil || s.Account != "nobody" || s.Positions == nil || len(s.Positions) != 0 {
		t.Fatalf("Stakes of an account without stake = %+v, %v", s, err)
	}
}
