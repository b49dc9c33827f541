package engine

import (
	"math"
	"testing"
)

func TestSampler(t *testing.T) {
	logits := []float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.2)), -100}
	tests := []struct {
		name string
		p    SamplingParams
		want []float64 // expected frequency per id
	}{
		{"greedy", SamplingParams{Temperature: 0}, []float64{1, 0, 0, 0}},
		{"top_k 1", SamplingParams{Temperature: 1.5, TopK: 1}, []float64{1, 0, 0, 0}},
		{"plain", SamplingParams{Temperature: 1, TopP: 1}, []float64{0.5, 0.3, 0.2, 0}},
		{"top_k 2", SamplingParams{Temperature: 1, TopK: 2}, []float64{0.625, 0.375, 0, 0}},
		{"top_p 0.6", SamplingParams{Temperature: 1, TopP: 0.6}, []float64{0.625, 0.375, 0, 0}},
		{"min_p 0.5", SamplingParams{Temperature: 1, MinP: 0.5}, []float64{0.625, 0.375, 0, 0}},
		{"min_p 1", SamplingParams{Temperature: 1, MinP: 1}, []float64{1, 0, 0, 0}},
		// Temperature 0.5 squares the probabilities: .25, .09, .04.
		{"temperature 0.5", SamplingParams{Temperature: 0.5}, []float64{0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38, 0}},
	}
	const n = 20000
	for _, tc := range tests {
		tc.p.Seed = 1
		s := newSampler(tc.p)
		counts := make([]float64, len(logits))
		for range n {
			counts[s.sample(logits)]++
		}
		for i, want := range tc.want {
			if got := counts[i] / n; math.Abs(got-want) > 0.015 {
				t.Errorf("%s: id %d drawn %.3f of the time, want %.3f", tc.name, i, got, want)
			}
		}
	}
}

func TestSamplerSeed(t *testing.T) {
	logits := make([]float32, 100)
	for i := range logits {
		logits[i] = float32(i%7) * 0.3
	}
	draw := func(seed uint64) []int32 {
		s := newSampler(SamplingParams{Temperature: 1, TopP: 0.9, TopK: 50, Seed: seed})
		out := make([]int32, 50)
		for i := range out {
			out[i] = s.sample(logits)
		}
		return out
	}
	a, b, c := draw(3), draw(3), draw(4)
	same := func(x, y []int32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed, different draws")
	}
	if same(a, c) {
		t.Error("different seeds, same draws")
	}
	if got := argmax([]float32{1, 3, 3, 2}); got != 1 {
		t.Errorf("argmax tie went to %d, want the lowest id 1", got)
	}
}
