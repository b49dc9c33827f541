package receipt

import (
	"errors"
	"math/bits"
)

// ErrChargeOverflow is returned by [Charge] when the charge does not fit
// in 64 bits.
var ErrChargeOverflow = errors.New("charge overflows 64 bits")

// tokensPerPrice is the unit of prices: usd base units per 1M tokens.
const tokensPerPrice = 1_000_000

// Charge is the deterministic charge of DESIGN §9.2 in usd base units:
// floor((inputTokens×inPrice + outputTokens×outPrice) / 1e6), prices being
// usd base units per 1M tokens. It computes in 128 bits, so the result is
// exact whenever it fits in 64 bits, and returns [ErrChargeOverflow]
// otherwise.
func Charge(inputTokens, outputTokens, inPrice, outPrice uint64) (uint64, error) {
	hi1, lo1 := bits.Mul64(inputTokens, inPrice)
	hi2, lo2 := bits.Mul64(outputTokens, outPrice)
	lo, carry := bits.Add64(lo1, lo2, 0)
	hi, carry := bits.Add64(hi1, hi2, carry)
	if carry != 0 || hi >= tokensPerPrice {
		// The sum needs 129 bits, or the quotient 65.
		return 0, ErrChargeOverflow
	}
	q, _ := bits.Div64(hi, lo, tokensPerPrice)
	return q, nil
}

// MaxCharge is the most a request with this body can cost for up to
// maxOutput output tokens: its input is bounded by the body's length (every
// tokenizer makes at most one token per byte, and a chat template's tokens
// are fewer than the JSON around each message). An authorization whose
// max_charge is below it may not pay for the request's input.
func MaxCharge(body []byte, maxOutput, inPrice, outPrice uint64) (uint64, error) {
	return Charge(uint64(len(body)), maxOutput, inPrice, outPrice)
}

// OutputBudget returns the most output tokens a valid receipt for a
// request of inputTokens may carry under a: at most a.MaxOutputTokens, and
// few enough that the charge stays within a.MaxCharge. ok is false when
// the input alone costs more than a.MaxCharge. A node caps generation at
// the budget so that the receipt it signs is valid.
func (a *Authorization) OutputBudget(inputTokens uint64) (budget uint64, ok bool) {
	within := func(out uint64) bool {
		c, err := Charge(inputTokens, out, a.InputPrice, a.OutputPrice)
		return err == nil && c <= a.MaxCharge
	}
	if !within(0) {
		return 0, false
	}
	// The charge grows with the output: find the largest out in
	// [0, MaxOutputTokens] within the cap.
	lo, hi := uint64(0), a.MaxOutputTokens
	for lo < hi {
		mid := hi - (hi-lo)/2
		if within(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, true
}
