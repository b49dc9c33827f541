package receipt

import (
	"context"
	"fmt"
	"testing"
)

// TestVerifyBatchSameVerdicts: a batch mixing every rule case (valid ones
// and ones breaking each rule) gets, for each receipt, exactly the verdict
// and reason Verify gives it alone.
func TestVerifyBatchSameVerdicts(t *testing.T) {
	w := newWorld(t)
	chk := w.checker()
	var envs [][]byte
	var names []string
	for _, tc := range ruleCases {
		if tc.chk != nil {
			continue // the batch shares one checker
		}
		env, _ := tc.build(t, w)
		envs = append(envs, env)
		names = append(names, tc.name)
	}
	// Twice, in two orders: a receipt's verdict does not depend on its
	// neighbours.
	for i := len(envs) - 1; i >= 0; i-- {
		envs, names = append(envs, envs[i]), append(names, names[i])
	}
	ctx := context.Background()
	got, errs := VerifyBatch(ctx, envs, chk)
	if len(got) != len(envs) || len(errs) != len(envs) {
		t.Fatalf("%d results for %d envelopes", len(got), len(envs))
	}
	valid := 0
	for i, env := range envs {
		want, werr := Verify(ctx, env, chk)
		if ReasonOf(errs[i]) != ReasonOf(werr) || (errs[i] == nil) != (werr == nil) {
			t.Fatalf("%s: batch %v, alone %v", names[i], errs[i], werr)
		}
		if werr == nil {
			valid++
			if got[i] == nil || got[i].ID() != want.ID() {
				t.Fatalf("%s: batch result %v", names[i], got[i])
			}
		}
	}
	if valid == 0 || valid == len(envs) {
		t.Fatalf("%d of %d valid: the batch should mix both", valid, len(envs))
	}
}

// BenchmarkVerifyBatch is BenchmarkVerify with the signatures of n receipts
// checked in one batch.
func BenchmarkVerifyBatch(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			w := newWorld(b)
			var envs [][]byte
			var chk Checker
			for i := range n {
				tc := rcase{auth: sessionSigned, authKey: sessionKey}
				env, c := tc.build(b, w)
				_ = i
				envs, chk = append(envs, env), c
			}
			ctx := context.Background()
			for b.Loop() {
				_, errs := VerifyBatch(ctx, envs, chk)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "receipts/s")
		})
	}
}
