package engine

import "math"

// exp32 returns e**x in float32 arithmetic, for the activation functions
// (SiLU) and softmax, where it replaces float64 math.Exp per element. It
// reduces x to r = x - k*ln2 with |r| <= ln2/2 (ln2 split in two so that
// k*ln2Hi is exact), approximates e**r with a degree-7 polynomial and
// scales by 2**k through the exponent bits; its relative error is below
// 2e-7 wherever the result is a normal float32. Large x gives +Inf, very
// negative x 0 (through the subnormals), NaN NaN.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375 // 9 bits: k*ln2Hi is exact for |k| < 2**15
		ln2Lo = -2.12194440e-4
		// overflow is the smallest float32 whose exponential rounds to
		// +Inf; underflow the largest whose exponential rounds to 0.
		overflow  = 88.72283935546875
		underflow = -103.97208404541016
		round     = 1 << 23 * 1.5 // adding it rounds |v| < 2**22 to an integer
	)
	switch {
	case x >= overflow:
		return float32(math.Inf(1))
	case x <= underflow:
		return 0
	case x != x:
		return x
	}
	t := x*log2e + round
	k := int32(math.Float32bits(t)) - int32(math.Float32bits(round))
	kf := t - round
	r := x - kf*ln2Hi - kf*ln2Lo
	// Cephes expf coefficients: e**r = 1 + r + r²·p(r).
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	switch {
	case k > 127: // x near overflow: 2**k is not a float32
		return y * 2 * math.Float32frombits(uint32(k-1+127)<<23)
	case k < -126: // subnormal result: scale in two steps, rounding once
		return y * math.Float32frombits(uint32(k+126+127)<<23) * math.Float32frombits(1<<23)
	}
	return y * math.Float32frombits(uint32(k+127)<<23)
}
