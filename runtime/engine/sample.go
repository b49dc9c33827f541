package engine

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// SamplingParams choose how the next token is picked from the logits.
// Temperature is applied first, then top-k, top-p and min-p filter the
// candidates, and one is drawn from what is left.
type SamplingParams struct {
	// Temperature divides the logits; 0 is greedy decoding.
	Temperature float64
	// TopK keeps the k most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probabilities
	// add up to at least TopP; 1 (or 0) keeps all.
	TopP float64
	// MinP drops tokens less likely than MinP times the most likely one.
	MinP float64
	// Seed seeds the random generator (PCG), so that equal requests give
	// equal outputs.
	Seed uint64
}

// sampler draws tokens; it keeps its scratch space between calls.
type sampler struct {
	p    SamplingParams
	rng  *rand.Rand
	cand []candidate
}

type candidate struct {
	id int32
	p  float64 // logit, then probability
}

func newSampler(p SamplingParams) *sampler {
	return &sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x73616d706c65))}
}

// argmax returns the index of the largest logit, the lowest on ties.
func argmax(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// sample picks the next token.
func (s *sampler) sample(logits []float32) int32 {
	p := s.p
	if p.Temperature <= 0 || p.TopK == 1 {
		return argmax(logits)
	}
	c := s.cand[:0]
	for i, v := range logits {
		c = append(c, candidate{int32(i), float64(v) / p.Temperature})
	}
	s.cand = c
	filter := p.TopK > 0 || (p.TopP > 0 && p.TopP < 1) || p.MinP > 0
	if filter {
		// Most likely first; equal logits in id order so the draw is
		// reproducible.
		slices.SortFunc(c, func(a, b candidate) int {
			if r := cmp.Compare(b.p, a.p); r != 0 {
				return r
			}
			return cmp.Compare(a.id, b.id)
		})
		if p.TopK > 0 && p.TopK < len(c) {
			c = c[:p.TopK]
		}
	}
	mx := math.Inf(-1)
	for _, x := range c {
		mx = max(mx, x.p)
	}
	var sum float64
	for i := range c {
		c[i].p = math.Exp(c[i].p - mx)
		sum += c[i].p
	}
	for i := range c {
		c[i].p /= sum
	}
	if filter {
		if p.TopP > 0 && p.TopP < 1 {
			var acc float64
			for i := range c {
				acc += c[i].p
				if acc >= p.TopP {
					c = c[:i+1]
					break
				}
			}
		}
		if p.MinP > 0 {
			limit := p.MinP * c[0].p
			n := 1
			for n < len(c) && c[n].p >= limit {
				n++
			}
			c = c[:n]
		}
		sum = 0
		for _, x := range c {
			sum += x.p
		}
	} else {
		sum = 1
	}
	r := s.rng.Float64() * sum
	for _, x := range c {
		r -= x.p
		if r < 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}
