package ledger

import (
	"context"
	"reflect"
	"testing"
)

// stakeGenesis gives alice and bob MT of m1 and alice a session key ak.
func stakeGenesis(unbonding uint32) Genesis {
	g := econGenesis()
	g.Economics.UnbondingEpochs = unbonding
	g.Accounts[0].Balances[MTDenom("m1")] = 1_000
	g.Accounts[1].Balances[MTDenom("m1")] = 1_000
	g.SessionKeys = []GenesisSessionKey{{Account: "alice", Key: "ak", SpendLimit: 1, ExpiresAtMs: t0 + 100*epochMs}}
	return g
}

// TestStakeRefusals: each refusal of Stake, Unstake and ClaimUnbonded has
// its own code and changes nothing: not the sender's account, its stakes
// or the supply.
func TestStakeRefusals(t *testing.T) {
	type step struct {
		from string
		body Body
	}
	staked := []step{{"alice", Stake{Model: "m1", Amount: 100}}}
	unstaked := append(staked, step{"alice", Unstake{Model: "m1", Amount: 40}})
	for _, tc := range []struct {
		name string
		pre  []step
		dt   int64
		tx   step
		want Code
	}{
		{"stake: zero", nil, 1, step{"alice", Stake{Model: "m1"}}, CodeBadAmount},
		{"stake: bad model name", nil, 1, step{"alice", Stake{Model: "..", Amount: 1}}, CodeBadName},
		{"stake: unknown model", nil, 1, step{"alice", Stake{Model: "m9", Amount: 1}}, CodeModelUnknown},
		{"stake: more MT than held", nil, 1, step{"alice", Stake{Model: "m1", Amount: 1_001}}, CodeInsufficient},
		{"stake: no MT", nil, 1, step{"carol", Stake{Model: "m1", Amount: 1}}, CodeInsufficient},
		{"stake: by a session key", nil, 1, step{"ak", Stake{Model: "m1", Amount: 1}}, CodeSessionKeyStake},
		{"unstake: zero", staked, 1, step{"alice", Unstake{Model: "m1"}}, CodeBadAmount},
		{"unstake: nothing staked", nil, 1, step{"alice", Unstake{Model: "m1", Amount: 1}}, CodeInsufficientStake},
		{"unstake: more than staked", staked, 1, step{"alice", Unstake{Model: "m1", Amount: 101}}, CodeInsufficientStake},
		{"unstake: what unbonds is not staked", unstaked, 1, step{"alice", Unstake{Model: "m1", Amount: 61}}, CodeInsufficientStake},
		{"unstake: unknown model", nil, 1, step{"alice", Unstake{Model: "m9", Amount: 1}}, CodeModelUnknown},
		{"unstake: by a session key", staked, 1, step{"ak", Unstake{Model: "m1", Amount: 1}}, CodeSessionKeyStake},
		{"claim: nothing unbonding", staked, 1, step{"alice", ClaimUnbonded{Model: "m1"}}, CodeNothingToClaim},
		{"claim: still unbonding", unstaked, 3*epochMs - 100, step{"alice", ClaimUnbonded{Model: "m1"}}, CodeStillUnbonding},
		{"claim: unknown model", nil, 1, step{"alice", ClaimUnbonded{Model: "m9"}}, CodeModelUnknown},
		{"claim: bad model name", nil, 1, step{"alice", ClaimUnbonded{Model: ".."}}, CodeBadName},
		{"claim: by a session key", unstaked, 1, step{"ak", ClaimUnbonded{Model: "m1"}}, CodeSessionKeyStake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, stakeGenesis(3))
			c.setup()
			for _, p := range tc.pre {
				c.must(p.from, p.body)
			}
			ctx := context.Background()
			snap := func() []any {
				a, _ := c.l.Account(ctx, tc.tx.from)
				ss, _ := c.l.Stakes(ctx, tc.tx.from)
				sup, _ := c.l.Supply(ctx)
				return []any{a, ss, sup}
			}
			before := snap()
			r := c.block(tc.dt, c.tx(tc.tx.from, tc.tx.body)).Txs[0]
			if r.Code != tc.want {
				t.Fatalf("code %s (%s), want %s", r.Code, r.Log, tc.want)
			}
			after := snap()
			// The block's time may have moved the current epoch.
			for _, s := range [][]StakeInfo{before[1].([]StakeInfo), after[1].([]StakeInfo)} {
				for i := range s {
					s[i].Epoch, s[i].Counting = 0, 0
				}
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("a refused %s changed the state:\n%+v\n%+v", tc.tx.body.Type(), before, after)
			}
		})
	}
}

// TestStakeSnapshots: an unstake leaves the counting part first, then the
// part staked in the current epoch; StakeAt keeps past epochs; a session
// key reads its account's stake; released unbondings merge and are paid
// together; unbonding_epochs 0 means the default.
func TestStakeSnapshots(t *testing.T) {
	ctx := context.Background()
	c := newChain(t, stakeGenesis(2))
	c.setup()
	at := func(e uint64) uint64 {
		t.Helper()
		v, err := c.l.StakeAt(ctx, "alice", "m1", e)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c.must("alice", Stake{Model: "m1", Amount: 100}) // epoch 0
	c.block(epochMs)                                 // epoch 1
	c.must("alice", Stake{Model: "m1", Amount: 50})
	c.must("alice", Unstake{Model: "m1", Amount: 120}) // 100 counting, 50 new: 0 counting, 30 new left
	if got := []uint64{at(0), at(1), at(2), at(9)}; !reflect.DeepEqual(got, []uint64{0, 0, 30, 30}) {
		t.Fatalf("counting in epochs 0, 1, 2, 9: %v", got)
	}
	si, _ := c.l.Stake(ctx, "ak", "m1")
	if si.Account != "alice" || si.Staked != 30 || si.Counting != 0 || si.Epoch != 1 ||
		!reflect.DeepEqual(si.Unbonding, []Unbonding{{Amount: 120, ReleaseEpoch: 3}}) {
		t.Fatalf("stake read through the session key: %+v", si)
	}
	c.block(epochMs) // epoch 2
	c.must("alice", Unstake{Model: "m1", Amount: 10})
	c.block(2 * epochMs) // epoch 4: both released
	c.must("alice", Unstake{Model: "m1", Amount: 5})
	si, _ = c.l.Stake(ctx, "alice", "m1")
	if want := []Unbonding{{Amount: 130, ReleaseEpoch: 4}, {Amount: 5, ReleaseEpoch: 6}}; !reflect.DeepEqual(si.Unbonding, want) {
		t.Fatalf("unbonding %+v, want %+v", si.Unbonding, want)
	}
	if got := []uint64{at(1), at(2), at(3), at(4), at(5)}; !reflect.DeepEqual(got, []uint64{0, 20, 20, 15, 15}) {
		t.Fatalf("counting in epochs 1..5: %v", got)
	}
	c.must("alice", ClaimUnbonded{Model: "m1"})
	a, _ := c.l.Account(ctx, "alice")
	if a.Balances[MTDenom("m1")] != 1_000-15-5 {
		t.Fatalf("alice holds %d MT", a.Balances[MTDenom("m1")])
	}
	c.must("bob", Stake{Model: "m1", Amount: 7})
	sn, _ := c.l.StakeSnapshot(ctx, 5, "m1")
	if want := (StakeSnapshot{Epoch: 5, Model: "m1", Total: 22, Accounts: []AccountStake{{"alice", 15}, {"bob", 7}}}); !reflect.DeepEqual(sn, want) {
		t.Fatalf("snapshot %+v, want %+v", sn, want)
	}
	if ss, _ := c.l.Stakes(ctx, "bob"); len(ss) != 1 || ss[0].Model != "m1" || ss[0].Staked != 7 {
		t.Fatalf("bob's stakes %+v", ss)
	}

	d := newChain(t, stakeGenesis(0))
	d.setup()
	d.must("alice", Stake{Model: "m1", Amount: 1})
	d.must("alice", Unstake{Model: "m1", Amount: 1})
	if si, _ := d.l.Stake(ctx, "alice", "m1"); len(si.Unbonding) != 1 || si.Unbonding[0].ReleaseEpoch != DefaultUnbondingEpochs {
		t.Fatalf("with unbonding_epochs 0 an unstake in epoch 0 unbonds as %+v", si.Unbonding)
	}
}
