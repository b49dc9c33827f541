// Package synth writes synthetic llama-family GGUF models: real files with
// complete metadata, a real byte-level BPE tokenizer and a ChatML chat
// template, whose weights are deterministic pseudo-random numbers. They let
// the built-in engine, its tests and benchmarks run end to end with nothing
// to download. The text they generate is not meaningful. They carry the
// metadata and the per-tensor quantization mix llama.cpp writes, so
// llama.cpp loads them too (TestLlamaCpp compares the two).
//
// The tokenizer's merges are learned, each time a model is generated, from
// the English corpus embedded in the package (corpus.txt), so the same
// Options always produce a byte-identical file.
package synth

import (
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

//go:embed corpus.txt
var corpus string

// Corpus returns the text the synthetic tokenizer is trained on.
func Corpus() string { return corpus }

// ChatTemplate is the ChatML Jinja template stored in every synthetic
// model's tokenizer.chat_template.
const ChatTemplate = "{% for message in messages %}" +
	"{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
	"{% endfor %}" +
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// PreGPT2 is the tokenizer.ggml.pre value synth writes for the llama
// architecture: llama.cpp's name for the GPT-2 pre-tokenizer. Files written
// before it was used carry "gpt2", which the tokenizer package reads as the
// same pre-tokenizer.
const PreGPT2 = "gpt-2"

// Special tokens, at the start of the vocabulary as in SmolLM2.
var specials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// Ids of the special tokens.
const (
	TokenEndOfText = 0 // <|endoftext|>: padding
	TokenIMStart   = 1 // <|im_start|>: beginning of sequence
	TokenIMEnd     = 2 // <|im_end|>: end of sequence (turn)
)

// Preset is a model shape.
type Preset struct {
	Dim, Layers, Heads, KVHeads, FFN, Vocab, Context int
	// Tied shares the token embedding with the output projection.
	Tied bool
}

// Presets are the named shapes Options.Preset accepts.
var Presets = map[string]Preset{
	// tiny is fast enough for unit tests.
	"tiny": {Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 172, Vocab: 512, Context: 512},
	// small is a quick benchmark model whose row lengths suit every block type.
	"small": {Dim: 256, Layers: 4, Heads: 8, KVHeads: 4, FFN: 768, Vocab: 2048, Context: 1024},
	// smollm-135m has the shapes of SmolLM2-135M.
	"smollm-135m": {Dim: 576, Layers: 30, Heads: 9, KVHeads: 3, FFN: 1536, Vocab: 49152, Context: 2048, Tied: true},
	// qwen2.5-0.5b has the shapes of Qwen2.5-0.5B (use with Arch "qwen2").
	"qwen2.5-0.5b": {Dim: 896, Layers: 24, Heads: 14, KVHeads: 2, FFN: 4864, Vocab: 151936, Context: 32768, Tied: true},
}

// PresetNames returns the preset names, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options select the model to generate. The zero value of a shape field
// keeps the preset's value.
type Options struct {
	// Arch is "llama" (default) or "qwen2" (adds attention q/k/v biases).
	Arch string
	// Preset names a shape in Presets; default "tiny".
	Preset string
	// Type is the block type of the weight matrices (default F32). For a
	// block type the matrices get the mix llama.cpp's quantizer gives that
	// file type (Q4_K stands for Q4_K_M), see TensorType; norms and biases
	// are F32.
	Type gguf.Type
	// Seed selects the weights.
	Seed int64
	// Name is general.name; default "synth-<arch>-<preset>".
	Name string

	// Shape overrides.
	Dim, Layers, Heads, KVHeads, FFN, Vocab, Context int
	// Untied forces a separate output.weight; Tied forces sharing.
	Untied, Tied bool
	// RopeBase is rope.freq_base (default 10000 for llama, 1000000 for qwen2).
	RopeBase float64
	// RopeDim is rope.dimension_count (default the head size).
	RopeDim int
	// RopeScale, when > 0, records linear RoPE scaling with this factor.
	RopeScale float64
}

// Resolved returns the options with the preset and defaults applied.
func (o Options) Resolved() (Options, Preset, error) {
	if o.Arch == "" {
		o.Arch = "llama"
	}
	if o.Arch != "llama" && o.Arch != "qwen2" {
		return o, Preset{}, fmt.Errorf("synth: unknown architecture %q (supported: llama, qwen2)", o.Arch)
	}
	if o.Preset == "" {
		o.Preset = "tiny"
	}
	p, ok := Presets[o.Preset]
	if !ok {
		return o, Preset{}, fmt.Errorf("synth: unknown preset %q (supported: %s)", o.Preset, strings.Join(PresetNames(), ", "))
	}
	for _, f := range []struct {
		v   int
		dst *int
	}{{o.Dim, &p.Dim}, {o.Layers, &p.Layers}, {o.Heads, &p.Heads}, {o.KVHeads, &p.KVHeads}, {o.FFN, &p.FFN}, {o.Vocab, &p.Vocab}, {o.Context, &p.Context}} {
		if f.v < 0 {
			return o, p, errors.New("synth: negative shape value")
		}
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	if o.Untied && o.Tied {
		return o, p, errors.New("synth: Tied and Untied are both set")
	}
	if o.Untied {
		p.Tied = false
	}
	if o.Tied {
		p.Tied = true
	}
	switch {
	case p.Heads == 0 || p.Dim%p.Heads != 0:
		return o, p, fmt.Errorf("synth: dim %d is not a multiple of heads %d", p.Dim, p.Heads)
	case p.KVHeads == 0 || p.Heads%p.KVHeads != 0:
		return o, p, fmt.Errorf("synth: heads %d is not a multiple of kv heads %d", p.Heads, p.KVHeads)
	case (p.Dim/p.Heads)%2 != 0:
		return o, p, fmt.Errorf("synth: head size %d is odd", p.Dim/p.Heads)
	case p.Vocab < 256+len(specials):
		return o, p, fmt.Errorf("synth: vocabulary %d is smaller than %d", p.Vocab, 256+len(specials))
	case p.Layers == 0 || p.FFN == 0 || p.Context == 0:
		return o, p, errors.New("synth: zero layers, ffn or context")
	case p.Dim*p.Vocab > 1<<28 || p.Dim*p.FFN > 1<<28 || p.Layers > 1024 || p.Context > 1<<20:
		return o, p, errors.New("synth: model too large")
	}
	if o.RopeBase == 0 {
		o.RopeBase = 10000
		if o.Arch == "qwen2" {
			o.RopeBase = 1000000
		}
	}
	hd := p.Dim / p.Heads
	if o.RopeDim == 0 {
		o.RopeDim = hd
	}
	if o.RopeDim < 2 || o.RopeDim > hd || o.RopeDim%2 != 0 {
		return o, p, fmt.Errorf("synth: rope dimension %d must be even and at most the head size %d", o.RopeDim, hd)
	}
	if o.RopeScale < 0 || math.IsNaN(o.RopeScale) {
		return o, p, errors.New("synth: negative rope scale")
	}
	if !gguf.CanQuantize(o.Type) {
		return o, p, fmt.Errorf("synth: cannot write weights of type %s", o.Type)
	}
	if o.Name == "" {
		o.Name = "synth-" + o.Arch + "-" + o.Preset
	}
	return o, p, nil
}

// Vocabulary builds the synthetic tokenizer's tokens, types and merges for
// a vocabulary of size tokens: the special tokens, then the byte-level BPE
// vocabulary learned from Corpus (pre-tokenizer pre), then, if training
// ran out of pairs, filler tokens made of two readable learned tokens
// (valid tokens that encoding never produces).
func Vocabulary(size int, pre string) (tokens []string, types []int32, merges []string, err error) {
	learned, merges, err := tokenizer.TrainBPE(corpus, size-len(specials), pre)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("synth: training tokenizer: %w", err)
	}
	ok, err := readable(learned, merges)
	if err != nil {
		return nil, nil, nil, err
	}
	var parts []string
	for i, t := range learned {
		if ok[i] {
			parts = append(parts, t)
		}
	}
	tokens = append(append(make([]string, 0, size), specials...), learned...)
	seen := make(map[string]bool, size)
	for _, t := range tokens {
		seen[t] = true
	}
	rng := rand.New(rand.NewPCG(0x5eed, uint64(size)))
	for len(tokens) < size {
		t := parts[rng.IntN(len(parts))] + parts[rng.IntN(len(parts))]
		if !seen[t] {
			seen[t] = true
			tokens = append(tokens, t)
		}
	}
	types = make([]int32, size)
	for i := range types {
		types[i] = tokenizer.TypeNormal
		if i < len(specials) {
			types[i] = tokenizer.TypeControl
		}
	}
	return tokens, types, merges, nil
}

// readable reports for each byte-level token whether it decodes to valid
// UTF-8 without control characters other than newline.
func readable(tokens, merges []string) ([]bool, error) {
	tok, err := tokenizer.New(tokenizer.Config{Model: tokenizer.ModelGPT2, Tokens: tokens, Merges: merges, BOS: -1, EOS: -1, EOT: -1, PAD: -1, UNK: -1})
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	out := make([]bool, len(tokens))
	for i := range tokens {
		b, err := tok.TokenBytes(int32(i))
		if err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		out[i] = utf8.Valid(b)
		for _, c := range b {
			if (c < 0x20 && c != '\n') || c == 0x7f {
				out[i] = false
			}
		}
	}
	return out, nil
}

// Generate writes the model selected by opts to w as GGUF version 3.
func Generate(opts Options, w io.Writer) error {
	o, p, err := opts.Resolved()
	if err != nil {
		return err
	}
	pre := PreGPT2
	if o.Arch == "qwen2" {
		pre = "qwen2"
	}
	tokens, types, merges, err := Vocabulary(p.Vocab, pre)
	if err != nil {
		return err
	}
	arch := o.Arch
	hd := p.Dim / p.Heads
	gw := gguf.NewWriter(3)
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", arch},
		{"general.name", o.Name},
		{"general.alignment", uint32(32)},
		{"general.file_type", fileType(o.Type)},
		{"general.quantization_version", uint32(2)},
		{arch + ".context_length", uint32(p.Context)},
		{arch + ".embedding_length", uint32(p.Dim)},
		{arch + ".block_count", uint32(p.Layers)},
		{arch + ".feed_forward_length", uint32(p.FFN)},
		{arch + ".attention.head_count", uint32(p.Heads)},
		{arch + ".attention.head_count_kv", uint32(p.KVHeads)},
		{arch + ".attention.layer_norm_rms_epsilon", float32(1e-5)},
		{arch + ".rope.freq_base", float32(o.RopeBase)},
		{arch + ".rope.dimension_count", uint32(o.RopeDim)},
		{arch + ".vocab_size", uint32(p.Vocab)},
	}
	if o.RopeScale > 0 {
		kvs = append(kvs, struct {
			k string
			v any
		}{arch + ".rope.scaling.type", "linear"}, struct {
			k string
			v any
		}{arch + ".rope.scaling.factor", float32(o.RopeScale)})
	}
	kvs = append(kvs, []struct {
		k string
		v any
	}{
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", pre},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.merges", merges},
		{"tokenizer.ggml.bos_token_id", uint32(TokenIMStart)},
		{"tokenizer.ggml.eos_token_id", uint32(TokenIMEnd)},
		{"tokenizer.ggml.padding_token_id", uint32(TokenEndOfText)},
		{"tokenizer.ggml.add_bos_token", false},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.chat_template", ChatTemplate},
	}...)
	for _, kv := range kvs {
		if err := gw.AddKV(kv.k, kv.v); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}

	g := &gen{seed: uint64(o.Seed), t: o.Type, layers: p.Layers, tied: p.Tied}
	qDim, kvDim := p.Heads*hd, p.KVHeads*hd
	embStd := 1.0
	if p.Tied {
		embStd = 4 / math.Sqrt(float64(p.Dim))
	}
	resid := 1 / math.Sqrt(2*float64(p.Layers))
	// Dimension 0 carries a fixed feature: +1 for tokens that decode to
	// readable text (and the end-of-turn token), -1 for the others. The
	// embedding writes it into the residual stream and the output
	// projection turns it into a logit bonus, so sampling favours readable
	// tokens and the random model writes word salad rather than byte noise.
	sign, err := readableSigns(tokens, merges)
	if err != nil {
		return err
	}
	g.matrixFeature("token_embd.weight", -1, p.Dim, p.Vocab, embStd, sign, float32(4*embStd))
	for i := range p.Layers {
		pf := fmt.Sprintf("blk.%d.", i)
		g.norm(pf+"attn_norm.weight", p.Dim)
		g.matrix(pf+"attn_q.weight", i, p.Dim, qDim, 1/math.Sqrt(float64(p.Dim)))
		g.matrix(pf+"attn_k.weight", i, p.Dim, kvDim, 1/math.Sqrt(float64(p.Dim)))
		g.matrix(pf+"attn_v.weight", i, p.Dim, kvDim, 1/math.Sqrt(float64(p.Dim)))
		if arch == "qwen2" {
			g.vector(pf+"attn_q.bias", qDim, 0.2)
			g.vector(pf+"attn_k.bias", kvDim, 0.2)
			g.vector(pf+"attn_v.bias", kvDim, 0.2)
		}
		g.matrix(pf+"attn_output.weight", i, qDim, p.Dim, resid/math.Sqrt(float64(qDim)))
		g.norm(pf+"ffn_norm.weight", p.Dim)
		g.matrix(pf+"ffn_gate.weight", i, p.Dim, p.FFN, 1/math.Sqrt(float64(p.Dim)))
		g.matrix(pf+"ffn_up.weight", i, p.Dim, p.FFN, 1/math.Sqrt(float64(p.Dim)))
		g.matrix(pf+"ffn_down.weight", i, p.FFN, p.Dim, resid/math.Sqrt(float64(p.FFN)))
	}
	g.norm("output_norm.weight", p.Dim)
	if !p.Tied {
		g.matrixFeature("output.weight", -1, p.Dim, p.Vocab, 4/math.Sqrt(float64(p.Dim)), sign, 1.5)
	}
	if err := g.run(gw); err != nil {
		return err
	}
	if _, err := gw.WriteTo(w); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// fileType maps a weight type to the general.file_type value (llama.cpp's
// llama_ftype) of the mix TensorType gives it.
func fileType(t gguf.Type) uint32 {
	switch t {
	case gguf.TypeF32:
		return 0 // ALL_F32
	case gguf.TypeF16:
		return 1 // MOSTLY_F16
	case gguf.TypeQ4_0:
		return 2 // MOSTLY_Q4_0
	case gguf.TypeQ8_0:
		return 7 // MOSTLY_Q8_0
	case gguf.TypeQ5_0:
		return 8 // MOSTLY_Q5_0
	case gguf.TypeQ4_K:
		return 15 // MOSTLY_Q4_K_M
	case gguf.TypeQ6_K:
		return 18 // MOSTLY_Q6_K
	case gguf.TypeBF16:
		return 32 // MOSTLY_BF16
	}
	return 0
}

// TypeFor returns the type a matrix with rows of n elements is stored in
// when t is wanted, falling back as llama.cpp's quantizer does when n is
// not a multiple of t's block size: Q4_K to Q5_0, Q5_K to Q5_1 and Q6_K to
// Q8_0, and to F16 when the fallback does not fit either (llama.cpp refuses
// to quantize such a matrix to a 32-element type; synth stores it as F16).
func TypeFor(t gguf.Type, n int) gguf.Type {
	if n%t.BlockSize() == 0 {
		return t
	}
	fb := gguf.TypeF16
	switch t {
	case gguf.TypeQ4_K:
		fb = gguf.TypeQ5_0
	case gguf.TypeQ5_K:
		fb = gguf.TypeQ5_1
	case gguf.TypeQ6_K:
		fb = gguf.TypeQ8_0
	}
	if n%fb.BlockSize() != 0 {
		return gguf.TypeF16
	}
	return fb
}

// TensorType returns the type of weight matrix name (a GGUF tensor name
// such as "blk.3.attn_v.weight" or "output.weight") with rows of cols
// elements in a model of layers blocks whose file type is t, as llama.cpp's
// quantizer (llama_tensor_get_type) chooses it for the llama and qwen2
// architectures without an importance matrix:
//
//   - F32, F16 and BF16 store every matrix in t.
//   - The output projection (the token embedding when tied) is Q8_0 when
//     cols is not a multiple of t's block size and Q6_K otherwise, unless t
//     is Q8_0.
//   - For Q4_K (Q4_K_M), attn_v and ffn_down are Q6_K in the layers that
//     get more bits: the first and last eighth and every third in between.
//   - Every other matrix is t.
//
// The result then falls back as TypeFor does when cols does not fit it.
func TensorType(t gguf.Type, name string, layer, layers, cols int, tied bool) gguf.Type {
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		return t
	}
	nt := t
	switch {
	case name == "output.weight" || (tied && name == "token_embd.weight"):
		if cols%t.BlockSize() != 0 {
			nt = gguf.TypeQ8_0
		} else if t != gguf.TypeQ8_0 {
			nt = gguf.TypeQ6_K
		}
	case t == gguf.TypeQ4_K && (strings.HasSuffix(name, ".attn_v.weight") || strings.HasSuffix(name, ".ffn_down.weight")):
		if moreBits(layer, layers) {
			nt = gguf.TypeQ6_K
		}
	}
	return TypeFor(nt, cols)
}

// moreBits reports whether layer i of n is one the Q4_K_M mix gives more
// bits to.
func moreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// gen collects the tensors of a model and then computes them in parallel.
// Each tensor draws from its own generator, seeded from the model seed and
// the tensor name, so the values do not depend on the order of work.
type gen struct {
	seed    uint64
	t       gguf.Type
	layers  int
	tied    bool
	tensors []tensorSpec
}

type tensorSpec struct {
	name string
	t    gguf.Type
	dims []uint64
	fill func(rng *rand.Rand) []float32
}

func normals(rng *rand.Rand, n int, mean, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(mean + std*rng.NormFloat64())
	}
	return out
}

// run generates and quantizes every tensor and adds them to w in order.
func (g *gen) run(w *gguf.Writer) error {
	data := make([][]byte, len(g.tensors))
	errs := make([]error, len(g.tensors))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, ts := range g.tensors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h := fnv.New64a()
			h.Write([]byte(ts.name))
			rng := rand.New(rand.NewPCG(g.seed, h.Sum64()))
			data[i], errs[i] = gguf.Quantize(ts.t, ts.fill(rng))
		}()
	}
	wg.Wait()
	for i, ts := range g.tensors {
		err := errs[i]
		if err == nil {
			err = w.AddTensor(ts.name, ts.t, ts.dims, data[i])
		}
		if err != nil {
			return fmt.Errorf("synth: tensor %s: %w", ts.name, err)
		}
	}
	return nil
}

// matrix adds a rows x cols weight (cols elements per row) of block layer
// (-1 outside the blocks).
func (g *gen) matrix(name string, layer, cols, rows int, std float64) {
	g.matrixFeature(name, layer, cols, rows, std, nil, 0)
}

// matrixFeature is matrix with element 0 of row r set to sign[r]*v when
// sign is not nil.
func (g *gen) matrixFeature(name string, layer, cols, rows int, std float64, sign []float32, v float32) {
	typ := TensorType(g.t, name, layer, g.layers, cols, g.tied)
	g.tensors = append(g.tensors, tensorSpec{name, typ, []uint64{uint64(cols), uint64(rows)}, func(rng *rand.Rand) []float32 {
		vals := normals(rng, cols*rows, 0, std)
		if sign != nil {
			for r := range rows {
				vals[r*cols] = sign[r] * v
			}
		}
		return vals
	}})
}

// readableSigns is +1 for tokens that decode to readable text and for the
// end-of-turn token, -1 for the others.
func readableSigns(tokens, merges []string) ([]float32, error) {
	ok, err := readable(tokens[len(specials):], merges)
	if err != nil {
		return nil, err
	}
	sign := make([]float32, len(tokens))
	for i := range sign {
		switch {
		case i == TokenIMEnd:
			sign[i] = 1
		case i < len(specials):
			sign[i] = -1
		case ok[i-len(specials)]:
			sign[i] = 1
		default:
			sign[i] = -1
		}
	}
	return sign, nil
}

func (g *gen) norm(name string, n int) {
	g.tensors = append(g.tensors, tensorSpec{name, gguf.F32, []uint64{uint64(n)}, func(rng *rand.Rand) []float32 {
		return normals(rng, n, 1, 0.1)
	}})
}

func (g *gen) vector(name string, n int, std float64) {
	g.tensors = append(g.tensors, tensorSpec{name, gguf.F32, []uint64{uint64(n)}, func(rng *rand.Rand) []float32 {
		return normals(rng, n, 0, std)
	}})
}
