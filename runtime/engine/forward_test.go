package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// synthBytes generates a synthetic model file.
func synthBytes(t testing.TB, o synth.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := synth.Generate(o, &buf); err != nil {
		t.Fatalf("synth.Generate(%+v): %v", o, err)
	}
	return buf.Bytes()
}

// synthFile writes a synthetic model into a temporary directory.
func synthFile(t testing.TB, o synth.Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(path, synthBytes(t, o), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadBytes(t testing.TB, data []byte, threads int) *Model {
	t.Helper()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(f, threads)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// refModel is a plain float64 implementation of the llama/qwen2 forward
// pass over dequantized weights, written for clarity, not speed.
type refModel struct {
	arch                                  string
	dim, layers, heads, kvHeads, ffn, voc int
	eps, base, freqScale                  float64
	ropeDim                               int
	w                                     map[string][]float64
}

func newRef(t *testing.T, data []byte) *refModel {
	t.Helper()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	arch := f.Architecture()
	u := func(k string) int {
		v, err := f.Uint(arch + "." + k)
		if err != nil {
			t.Fatal(err)
		}
		return int(v)
	}
	fl := func(k string, def float64) float64 {
		v, err := f.Float(arch + "." + k)
		if err != nil {
			return def
		}
		return v
	}
	r := &refModel{
		arch: arch, dim: u("embedding_length"), layers: u("block_count"), heads: u("attention.head_count"),
		kvHeads: u("attention.head_count_kv"), ffn: u("feed_forward_length"), ropeDim: u("rope.dimension_count"),
		eps: fl("attention.layer_norm_rms_epsilon", 1e-5), base: fl("rope.freq_base", 10000), freqScale: 1,
		w: map[string][]float64{},
	}
	if st, _ := f.String(arch + ".rope.scaling.type"); st == "linear" {
		r.freqScale = 1 / fl("rope.scaling.factor", 1)
	}
	for _, ti := range f.Tensors {
		v, _, err := f.TensorF32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		d := make([]float64, len(v))
		for i, x := range v {
			d[i] = float64(x)
		}
		r.w[ti.Name] = d
	}
	r.voc = len(r.w["token_embd.weight"]) / r.dim
	if _, ok := r.w["output.weight"]; !ok {
		r.w["output.weight"] = r.w["token_embd.weight"]
	}
	return r
}

// mul returns W·x for W stored row-major with len(x) columns.
func mul(w, x []float64) []float64 {
	out := make([]float64, len(w)/len(x))
	for r := range out {
		for c := range x {
			out[r] += w[r*len(x)+c] * x[c]
		}
	}
	return out
}

func norm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i := range x {
		out[i] = x[i] * s * w[i]
	}
	return out
}

// rotate applies RoPE at position pos to one head vector.
func (r *refModel) rotate(v []float64, pos int) {
	for i := 0; i < r.ropeDim/2; i++ {
		theta := float64(pos) * r.freqScale * math.Pow(r.base, -float64(2*i)/float64(r.ropeDim))
		var a, b int
		if r.arch == "qwen2" { // NEOX: first half with second half
			a, b = i, i+r.ropeDim/2
		} else { // normal: adjacent pairs
			a, b = 2*i, 2*i+1
		}
		x0, x1 := v[a], v[b]
		v[a] = x0*math.Cos(theta) - x1*math.Sin(theta)
		v[b] = x0*math.Sin(theta) + x1*math.Cos(theta)
	}
}

// logits returns the logits after each token of toks.
func (r *refModel) logits(toks []int32) [][]float64 {
	hd := r.dim / r.heads
	n := len(toks)
	x := make([][]float64, n)
	for p, tk := range toks {
		x[p] = append([]float64(nil), r.w["token_embd.weight"][int(tk)*r.dim:(int(tk)+1)*r.dim]...)
	}
	for l := 0; l < r.layers; l++ {
		pf := fmt.Sprintf("blk.%d.", l)
		q, k, v := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for p := range n {
			h := norm(x[p], r.w[pf+"attn_norm.weight"], r.eps)
			q[p], k[p], v[p] = mul(r.w[pf+"attn_q.weight"], h), mul(r.w[pf+"attn_k.weight"], h), mul(r.w[pf+"attn_v.weight"], h)
			for name, vec := range map[string][]float64{"attn_q.bias": q[p], "attn_k.bias": k[p], "attn_v.bias": v[p]} {
				if b, ok := r.w[pf+name]; ok {
					for i := range vec {
						vec[i] += b[i]
					}
				}
			}
			for h := 0; h < r.heads; h++ {
				r.rotate(q[p][h*hd:(h+1)*hd], p)
			}
			for h := 0; h < r.kvHeads; h++ {
				r.rotate(k[p][h*hd:(h+1)*hd], p)
			}
			// The cache holds halves.
			for _, vec := range [][]float64{k[p], v[p]} {
				for i, e := range vec {
					vec[i] = float64(gguf.F16ToF32(gguf.F32ToF16(float32(e))))
				}
			}
		}
		for p := range n {
			att := make([]float64, r.heads*hd)
			for h := 0; h < r.heads; h++ {
				kh := h / (r.heads / r.kvHeads)
				scores := make([]float64, p+1)
				mx := math.Inf(-1)
				for s := 0; s <= p; s++ {
					for i := 0; i < hd; i++ {
						scores[s] += q[p][h*hd+i] * k[s][kh*hd+i]
					}
					scores[s] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, scores[s])
				}
				var sum float64
				for s := range scores {
					scores[s] = math.Exp(scores[s] - mx)
					sum += scores[s]
				}
				for s := range scores {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += scores[s] / sum * v[s][kh*hd+i]
					}
				}
			}
			o := mul(r.w[pf+"attn_output.weight"], att)
			for i := range o {
				x[p][i] += o[i]
			}
			h := norm(x[p], r.w[pf+"ffn_norm.weight"], r.eps)
			g, u := mul(r.w[pf+"ffn_gate.weight"], h), mul(r.w[pf+"ffn_up.weight"], h)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := mul(r.w[pf+"ffn_down.weight"], g)
			for i := range d {
				x[p][i] += d[i]
			}
		}
	}
	out := make([][]float64, n)
	for p := range n {
		out[p] = mul(r.w["output.weight"], norm(x[p], r.w["output_norm.weight"], r.eps))
	}
	return out
}

// maxDiff returns max |got-want| and max |want|.
func maxDiff(got []float32, want []float64) (diff, scale float64) {
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-want[i]))
		scale = math.Max(scale, math.Abs(want[i]))
	}
	return diff, scale
}

var testPrompt = []int32{1, 72, 101, 300, 5, 17, 450, 33, 2, 99, 256, 7}

// TestForwardMatchesReference compares the engine's logits at every
// position with the float64 reference run on the dequantized weights, on
// both paths of the products. With float activations throughout (DotRow)
// the tolerance is 1e-3 times the largest reference logit magnitude (at
// least 1): float32 accumulation over rows of at most a few hundred
// elements. Where the weight type has an integer kernel (the default), the
// activations are rounded to 8 bits per block of 32 or 256 with a step of
// the block's largest magnitude/127: each product is then off by about
// 0.5% rms of its typical output (half a step of a block maximum near 2-3
// standard deviations), compounded over the products of two layers and
// maximized over the vocabulary, which stays within 3e-2.
func TestForwardMatchesReference(t *testing.T) {
	k := synth.Options{Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, Vocab: 512, Context: 64}
	tests := []struct {
		name string
		opts synth.Options
	}{
		{"llama_f32", synth.Options{Arch: "llama", Seed: 1}},
		{"qwen2_f32", synth.Options{Arch: "qwen2", Seed: 2}},
		{"llama_q8_0", synth.Options{Arch: "llama", Type: gguf.Q8_0, Seed: 3}},
		{"qwen2_q4_0", synth.Options{Arch: "qwen2", Type: gguf.Q4_0, Seed: 4}},
		{"llama_f16_tied", synth.Options{Arch: "llama", Type: gguf.F16, Tied: true, Seed: 5}},
		{"qwen2_bf16", synth.Options{Arch: "qwen2", Type: gguf.BF16, Seed: 6}},
		{"llama_rope_partial_linear", synth.Options{Arch: "llama", Seed: 7, RopeDim: 8, RopeScale: 4, RopeBase: 500}},
		{"qwen2_rope_partial", synth.Options{Arch: "qwen2", Seed: 8, RopeDim: 12}},
		{"llama_q4_k", withType(k, "llama", gguf.Q4_K, 9)},
		{"qwen2_q6_k", withType(k, "qwen2", gguf.Q6_K, 10)},
		{"llama_mha", synth.Options{Arch: "llama", Seed: 11, KVHeads: 4}},
	}
	for _, tc := range tests {
		data := synthBytes(t, tc.opts)
		ref := newRef(t, data).logits(testPrompt)
		for _, float := range []bool{true, false} {
			name, rel := tc.name+"/int", 3e-2
			if float {
				name, rel = tc.name+"/float", 1e-3
			}
			t.Run(name, func(t *testing.T) {
				m := loadBytes(t, data, 2)
				m.floatActs = float
				seq := m.NewSequence(0)
				for p, tok := range testPrompt {
					got, err := seq.Forward([]int32{tok})
					if err != nil {
						t.Fatal(err)
					}
					diff, scale := maxDiff(got, ref[p])
					if tol := rel * math.Max(1, scale); diff > tol {
						t.Fatalf("position %d: max |logit diff| %.3g > %.3g (max |logit| %.3g)", p, diff, tol, scale)
					}
				}
			})
		}
	}
}

// TestIntegerMatchesFloat checks the integer kernels' path against the
// float one of the same engine on models whose matrices have integer
// kernels: the logits after a prompt evaluated in batches agree within the
// error of rounding the activations to 8 bits (see
// TestForwardMatchesReference), in the largest difference and, tighter, in
// the root mean square over the vocabulary.
func TestIntegerMatchesFloat(t *testing.T) {
	prompt := make([]int32, 40) // more than one batch
	for i := range prompt {
		prompt[i] = int32((i*131 + 7) % 2048)
	}
	used := false
	for typ := gguf.Type(0); typ < 64; typ++ {
		if gguf.ActLayoutOf(typ) == gguf.LayoutNone {
			continue
		}
		used = true
		t.Run(typ.String(), func(t *testing.T) {
			var buf bytes.Buffer
			if err := synth.Generate(synth.Options{Preset: "small", Type: typ, Seed: 5}, &buf); err != nil {
				t.Skipf("no synthetic model of this type: %v", err)
			}
			f, err := gguf.Parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			m, err := Load(f, 1)
			if errors.Is(err, ErrUnsupported) {
				t.Skipf("the engine does not load this type: %v", err)
			} else if err != nil {
				t.Fatal(err)
			}
			_ = m.Close()
			var logits [2][]float32
			for i, float := range []bool{true, false} {
				m := loadBytes(t, buf.Bytes(), 2)
				m.floatActs = float
				got, err := m.NewSequence(0).Forward(prompt)
				if err != nil {
					t.Fatal(err)
				}
				logits[i] = got
			}
			var diff, scale, ss, sd float64
			for i, f := range logits[0] {
				d := float64(logits[1][i] - f)
				diff, scale = math.Max(diff, math.Abs(d)), math.Max(scale, math.Abs(float64(f)))
				ss += float64(f) * float64(f)
				sd += d * d
			}
			rms := math.Sqrt(sd / ss)
			t.Logf("max |diff| %.3g (max |logit| %.3g), relative rms %.3g", diff, scale, rms)
			if diff > 3e-2*math.Max(1, scale) || rms > 1e-2 {
				t.Errorf("integer path off the float one by %.3g at most (max |logit| %.3g), relative rms %.3g", diff, scale, rms)
			}
			if diff == 0 {
				t.Error("integer and float paths gave identical logits: the integer kernels did not run")
			}
		})
	}
	if !used {
		t.Skip("no weight type has an integer kernel")
	}
}

func withType(o synth.Options, arch string, typ gguf.Type, seed int64) synth.Options {
	o.Arch, o.Type, o.Seed = arch, typ, seed
	return o
}

// TestForwardDeterministic checks that logits are bitwise identical for 1,
// 2 and 3 threads and for batched and token-by-token prompt evaluation, on
// the integer kernels' path (the default, where the type has one) and on
// the float one.
func TestForwardDeterministic(t *testing.T) {
	for _, o := range []synth.Options{
		{Arch: "llama", Preset: "small", Layers: 2, Type: gguf.Q8_0, Seed: 1},
		{Arch: "qwen2", Preset: "small", Layers: 1, Type: gguf.Q4_K, Seed: 2},
		// F32 batches go through MatMulF32's tiles; qwen2 adds biases.
		{Arch: "qwen2", Preset: "small", Layers: 1, Type: gguf.F32, Seed: 3},
	} {
		data := synthBytes(t, o)
		prompt := make([]int32, 45) // more than one batch
		for i := range prompt {
			prompt[i] = int32((i*131 + 7) % 2048)
		}
		for _, float := range []bool{false, true} {
			var want []float32
			for _, threads := range []int{1, 2, 3} {
				m := loadBytes(t, data, threads)
				m.floatActs = float
				got, err := m.NewSequence(0).Forward(prompt)
				if err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = append([]float32(nil), got...)
				} else if !equalBits(got, want) {
					t.Errorf("%s %s float=%v: logits with %d threads differ from 1 thread", o.Arch, o.Type, float, threads)
				}
				seq := m.NewSequence(0)
				for _, tok := range prompt {
					got, err = seq.Forward([]int32{tok})
					if err != nil {
						t.Fatal(err)
					}
				}
				if !equalBits(got, want) {
					t.Errorf("%s %s float=%v: token-by-token logits with %d threads differ from the batched ones", o.Arch, o.Type, float, threads)
				}
			}
		}
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestForwardErrors(t *testing.T) {
	m := loadBytes(t, synthBytes(t, synth.Options{Context: 8}), 1)
	seq := m.NewSequence(0)
	if _, err := seq.Forward(nil); err == nil {
		t.Error("empty forward succeeded")
	}
	if _, err := seq.Forward([]int32{512}); err == nil {
		t.Error("out-of-vocabulary token accepted")
	}
	if _, err := seq.Forward(make([]int32, 9)); err == nil || !strings.Contains(err.Error(), "context length of 8") {
		t.Errorf("overflow error = %v", err)
	}
	if _, err := seq.Forward(make([]int32, 8)); err != nil {
		t.Errorf("full context: %v", err)
	}
}

// TestLoadErrors checks that unsupported or broken files fail to load with
// a clear error.
func TestLoadErrors(t *testing.T) {
	base := synthBytes(t, synth.Options{})
	f, err := gguf.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(editKV func(k string, v any) (any, bool), editTensor func(ti gguf.TensorInfo) (gguf.TensorInfo, []byte, bool)) []byte {
		return rewriteGGUF(t, f, editKV, editTensor)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"arch", rewrite(func(k string, v any) (any, bool) {
			if k == "general.architecture" {
				return "gemma2", true
			}
			return v, true
		}, nil), `architecture "gemma2"`},
		{"missing tensor", rewrite(nil, func(ti gguf.TensorInfo) (gguf.TensorInfo, []byte, bool) {
			return ti, nil, ti.Name != "blk.1.ffn_up.weight"
		}), `"blk.1.ffn_up.weight" is missing`},
		{"tensor type", rewrite(nil, func(ti gguf.TensorInfo) (gguf.TensorInfo, []byte, bool) {
			if ti.Name == "blk.0.attn_k.weight" {
				ti.Type = gguf.TypeI32
			}
			return ti, nil, true
		}), "has type I32"},
		{"shape", rewrite(func(k string, v any) (any, bool) {
			if k == "llama.feed_forward_length" {
				return uint32(128), true
			}
			return v, true
		}, nil), "has shape"},
		{"heads", rewrite(func(k string, v any) (any, bool) {
			if k == "llama.attention.head_count_kv" {
				return uint32(3), true
			}
			return v, true
		}, nil), "not a multiple of head_count_kv"},
		{"tokenizer", rewrite(func(k string, v any) (any, bool) {
			if k == "tokenizer.ggml.model" {
				return "t5", true
			}
			return v, true
		}, nil), `tokenizer model "t5"`},
		{"unchanged", rewrite(nil, nil), ""},
	}
	for _, tc := range tests {
		pf, err := gguf.Parse(tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = Load(pf, 1)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzLoad mutates a valid model file: whatever gguf.Parse accepts must
// load with an error or run without panicking.
func FuzzLoad(f *testing.F) {
	f.Add(synthBytes(f, synth.Options{Dim: 32, Layers: 1, Heads: 2, KVHeads: 1, FFN: 64, Vocab: 300, Context: 16, Type: gguf.Q4_0, Tied: true}), uint16(0), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, at uint16, val byte) {
		if len(data) > 0 {
			data = append([]byte(nil), data...)
			data[int(at)%len(data)] ^= val
		}
		gf, err := gguf.Parse(data)
		if err != nil {
			return
		}
		m, err := Load(gf, 2)
		if err != nil {
			return
		}
		defer m.Close()
		if m.HP.Dim*m.HP.Vocab > 1<<22 || m.HP.FFN > 1<<16 {
			return
		}
		seq := m.NewSequence(8)
		_, _ = seq.Forward([]int32{0, 1})
	})
}

// rewriteGGUF copies f through a Writer, letting editKV and editTensor
// change, or drop (false), each key and tensor, and adding extra keys.
func rewriteGGUF(t *testing.T, f *gguf.File, editKV func(k string, v any) (any, bool), editTensor func(ti gguf.TensorInfo) (gguf.TensorInfo, []byte, bool), extra ...gguf.KV) []byte {
	t.Helper()
	w := gguf.NewWriter(3)
	for _, kv := range append(slices.Clone(f.KVs), extra...) {
		v, keep := kv.Value, true
		if editKV != nil {
			v, keep = editKV(kv.Key, v)
		}
		if keep {
			if err := w.AddKV(kv.Key, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ti := range f.Tensors {
		data, _ := f.TensorData(ti)
		keep := true
		if editTensor != nil {
			var d []byte
			ti, d, keep = editTensor(ti)
			if d != nil {
				data = d
			}
		}
		if keep {
			if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
