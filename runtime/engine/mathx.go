package engine

import "math"

// Constants of exp32.
const (
	expLog2e = 1.44269504088896341
	expLn2Hi = 0.693359375 // 9 bits: k*expLn2Hi is exact for |k| < 2**15
	expLn2Lo = -2.12194440e-4
	// expOverflow is the smallest float32 whose exponential rounds to
	// +Inf, expUnderflow the largest whose exponential rounds to 0.
	expOverflow  = 88.72283935546875
	expUnderflow = -103.97208404541016
	// expMin and expMax bound the arguments whose exponential is a
	// normal float32 with 2**k representable: expCore's domain.
	expMin = -87.33
	expMax = 88.37
	// expRound added to |v| < 2**22 rounds it to an integer.
	expRound = 1 << 23 * 1.5
)

// exp32 returns e**x in float32 arithmetic, for the activation functions
// (SiLU) and softmax, where it replaces float64 math.Exp per element. It
// reduces x to r = x - k*ln2 with |r| <= ln2/2 (ln2 split in two so that
// k*ln2Hi is exact), approximates e**r with a degree-7 polynomial and
// scales by 2**k through the exponent bits; its relative error is below
// 2e-7 wherever the result is a normal float32. Large x gives +Inf, very
// negative x 0 (through the subnormals), NaN NaN.
func exp32(x float32) float32 {
	if x >= expMin && x <= expMax {
		t := x*expLog2e + expRound
		return expPoly(x, t-expRound) * expScale(t)
	}
	switch {
	case x >= expOverflow:
		return float32(math.Inf(1))
	case x <= expUnderflow:
		return 0
	case x != x:
		return x
	}
	t := x*expLog2e + expRound
	k := int32(math.Float32bits(t)) - int32(math.Float32bits(expRound))
	y := expPoly(x, t-expRound)
	switch {
	case k > 127: // 2**k is not a float32
		return y * 2 * math.Float32frombits(uint32(k-1+127)<<23)
	case k < -126: // subnormal result: scale in two steps, rounding once
		return y * math.Float32frombits(uint32(k+126+127)<<23) * math.Float32frombits(1<<23)
	}
	return y * expScale(t)
}

// expScale returns 2**k for t = k + expRound, -126 <= k <= 127.
func expScale(t float32) float32 {
	return math.Float32frombits((math.Float32bits(t) - math.Float32bits(expRound) + 127) << 23)
}

// expPoly returns e**(x - kf*ln2) for the integer kf nearest x/ln2.
func expPoly(x, kf float32) float32 {
	r := x - kf*expLn2Hi - kf*expLn2Lo
	// Cephes expf coefficients: e**r = 1 + r + r²·p(r).
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	return p*r*r + r + 1
}

// siluMul sets g[i] = silu(g[i]) * u[i] = g[i]/(1+e**-g[i]) * u[i].
func siluMul(g, u []float32) {
	u = u[:len(g)]
	for i, v := range g {
		var e float32
		if x := -v; x >= expMin && x <= expMax { // exp32, inlined
			t := x*expLog2e + expRound
			e = expPoly(x, t-expRound) * expScale(t)
		} else {
			e = exp32(x)
		}
		g[i] = v / (1 + e) * u[i]
	}
}

// expShift sets s[i] = e**(s[i]-mx) and returns their sum in float64: the
// numerators of a softmax whose largest input is mx.
func expShift(s []float32, mx float32) float64 {
	var sum float64
	for i, v := range s {
		var e float32
		if x := v - mx; x >= expMin && x <= expMax { // exp32, inlined
			t := x*expLog2e + expRound
			e = expPoly(x, t-expRound) * expScale(t)
		} else {
			e = exp32(x)
		}
		s[i] = e
		sum += float64(e)
	}
	return sum
}
