package engine

import "math"

// Constants of exp32.
const (
	expLog2e = 1.44269504088896341
	expLn2Hi = 0.693359375 // 9 bits: k*expLn2Hi is exact for |k| < 2**15
	expLn2Lo = -2.12194440e-4
	// expOverflow is the smallest float32 whose exponential rounds to
	// +Inf. Below expMin the result, under 2**-125, is flushed to 0.
	expOverflow = 88.72283935546875
	expMin      = -86.98
	// expRound added to |v| < 2**22 rounds it to an integer.
	expRound = 1 << 23 * 1.5
)

// exp32 returns e**x in float32 arithmetic, for the activation functions
// (SiLU) and softmax, where it replaces float64 math.Exp per element. It
// reduces x to r = x - k*ln2 with |r| <= ln2/2 (ln2 split in two so that
// k*ln2Hi is exact), approximates e**r with a degree-7 polynomial and
// scales by 2**k through the exponent bits; its relative error is below
// 2e-7. Results under 2**-125 (x < -86.98) are flushed to 0, results over
// math.MaxFloat32 are +Inf, and NaN gives NaN.
//
// The vector kernels of siluMul and expShift (amd64) compute the same
// operations in the same order, so they give exp32's results bit for bit;
// the explicit conversions keep the compiler from fusing a multiply and an
// add, which would round differently.
func exp32(x float32) float32 {
	switch {
	case x < expMin:
		return 0
	case x >= expOverflow:
		return float32(math.Inf(1))
	}
	t := float32(x*expLog2e) + expRound
	kf := t - expRound
	r := float32(x-float32(kf*expLn2Hi)) - float32(kf*expLn2Lo)
	// Cephes expf coefficients: e**r = 1 + r + r²·p(r).
	p := float32(1.9875691500e-4)
	p = float32(p*r) + 1.3981999507e-3
	p = float32(p*r) + 8.3334519073e-3
	p = float32(p*r) + 4.1665795894e-2
	p = float32(p*r) + 1.6666665459e-1
	p = float32(p*r) + 5.0000001201e-1
	y := float32(float32(float32(p*r)*r)+r) + 1
	// 2**k as 2 * 2**(k-1): k reaches 128 just under the overflow.
	scale := math.Float32frombits((math.Float32bits(t) - math.Float32bits(expRound) + 126) << 23)
	return (y + y) * scale
}

// siluMul sets g[i] = silu(g[i]) * u[i] = g[i]/(1+e**-g[i]) * u[i], with
// exp32.
func siluMul(g, u []float32) {
	u = u[:len(g)]
	n := 0
	if haveExpAVX2 {
		n = len(g) &^ 7
		if n > 0 {
			siluMulAVX2(&g[0], &u[0], n)
		}
	}
	for i := n; i < len(g); i++ {
		v := g[i]
		g[i] = v / (1 + exp32(-v)) * u[i]
	}
}

// expShift sets s[i] = e**(s[i]-mx) (exp32) and returns their sum, added
// in order in float64: the numerators of a softmax whose largest input is
// mx, and their sum.
func expShift(s []float32, mx float32) float64 {
	n := 0
	if haveExpAVX2 {
		n = len(s) &^ 7
		if n > 0 {
			expShiftAVX2(&s[0], n, mx)
		}
	}
	for i := n; i < len(s); i++ {
		s[i] = exp32(s[i] - mx)
	}
	var sum float64
	for _, e := range s {
		sum += float64(e)
	}
	return sum
}
