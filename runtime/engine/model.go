// Package engine is fomo's built-in, pure-Go inference engine. It loads a
// llama-family GGUF model (architectures "llama" and "qwen2"), keeps the
// weights quantized in the memory map, runs the transformer forward pass on
// the CPU and serves OpenAI chat and completion requests as a
// runtime.Runtime, so every node can answer with real generated tokens and
// nothing to download.
//
// The forward pass is the standard pre-norm decoder: RMSNorm, rotary
// position embeddings (llama.cpp's "normal" pair-interleaved mode for llama,
// whose GGUF converter permutes the Q and K rows, and the half-split "NEOX"
// mode for qwen2), grouped-query attention over a per-sequence key/value
// cache, SwiGLU feed-forward and the output projection (tied to the token
// embedding when the file has no output.weight). Matrix-vector products use
// gguf.DotRow, the fused dequantize-and-dot kernel, one call per output
// element; rows are spread over worker goroutines, and since every output
// element is computed by exactly one call in the same way whatever the
// thread count and batch size, logits are bitwise identical for any number
// of threads.
//
// A Runtime serves one model and runs one sequence at a time: concurrent
// requests wait in a FIFO queue (bounded by Config.MaxQueue; QueueDepth
// reports its length), which keeps memory use to one key/value cache and
// gives each request the whole machine.
package engine

import (
	"errors"
	"fmt"
	"math"

	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

// Architectures the engine can run.
const (
	ArchLlama = "llama"
	ArchQwen2 = "qwen2"
)

// HParams are a model's shapes and hyper-parameters, read from GGUF
// metadata.
type HParams struct {
	Arch          string
	Dim           int     // embedding_length
	Layers        int     // block_count
	FFN           int     // feed_forward_length
	Heads         int     // attention.head_count
	KVHeads       int     // attention.head_count_kv
	HeadDim       int     // Dim / Heads
	Vocab         int     // rows of token_embd.weight
	ContextLength int     // context_length
	Eps           float32 // attention.layer_norm_rms_epsilon
	RopeBase      float64 // rope.freq_base
	RopeDim       int     // rope.dimension_count (rotated dimensions per head)
	RopeFreqScale float64 // 1 / rope.scaling.factor for linear scaling, else 1
	RopeNeox      bool    // half-split rotation (qwen2) instead of adjacent pairs (llama)
}

// matrix is a weight matrix in ggml layout: Rows rows of Cols elements, each
// row RowSize bytes of type T, kept as a slice of the file's memory map.
type matrix struct {
	name    string
	t       gguf.Type
	rows    int
	cols    int
	rowSize int
	data    []byte
}

func (m *matrix) row(r int) []byte { return m.data[r*m.rowSize : (r+1)*m.rowSize] }

type layer struct {
	attnNorm         []float32
	wq, wk, wv, wo   matrix
	bq, bk, bv       []float32 // nil when the model has no attention biases
	ffnNorm          []float32
	wGate, wUp, wDwn matrix
}

// Model is a loaded GGUF model: hyper-parameters, weights (views into the
// file's memory map), tokenizer and chat template. Its methods are safe for
// concurrent use; the mutable state of a sequence lives in a Sequence.
type Model struct {
	HP HParams
	// Name is general.name, or "" when the file has none.
	Name string
	// ChatTemplate is tokenizer.chat_template, or "" when absent.
	ChatTemplate string
	// Tokenizer is the model's vocabulary.
	Tokenizer *tokenizer.Tokenizer

	file      *gguf.File
	tokEmb    matrix
	layers    []layer
	outNorm   []float32
	output    matrix
	ropeFreqs []float32 // per rotated pair divisor (rope_freqs.weight), nil if absent
	invFreq   []float64 // per rotated pair angle per position
	pool      *pool
	weightLen int64 // bytes of the matrices read per decoded token
	floatActs bool  // products take float activations even where an integer kernel exists (tests)
}

// ErrUnsupported is wrapped by load errors for architectures, tensor types
// or vocabularies the engine does not implement.
var ErrUnsupported = errors.New("engine: unsupported model")

// LoadFile opens and memory-maps the GGUF file at path and loads it with
// the given number of worker threads (< 1 means 1). Close releases it.
func LoadFile(path string, threads int) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := Load(f, threads)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return m, nil
}

// Load builds a Model over a parsed file. The model refers to the file's
// tensor data; Close closes the file.
func Load(f *gguf.File, threads int) (*Model, error) {
	m := &Model{file: f}
	if err := m.loadHParams(); err != nil {
		return nil, err
	}
	if err := m.loadTensors(); err != nil {
		return nil, err
	}
	tok, err := loadTokenizer(f)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != m.HP.Vocab {
		return nil, fmt.Errorf("engine: tokenizer has %d tokens but token_embd.weight has %d rows", tok.VocabSize(), m.HP.Vocab)
	}
	m.Tokenizer = tok
	m.Name, _ = f.String("general.name")
	m.ChatTemplate, _ = f.String("tokenizer.chat_template")
	m.pool = newPool(threads)
	return m, nil
}

// Close stops the worker goroutines and unmaps the file. The model must not
// be used afterwards.
func (m *Model) Close() error {
	if m.pool != nil {
		m.pool.close()
		m.pool = nil
	}
	return m.file.Close()
}

// Threads returns the number of threads matrix products use.
func (m *Model) Threads() int { return m.pool.threads }

// WeightBytesPerToken returns how many bytes of weights one decode step
// reads: every matrix once (the output projection included, the embedding
// lookup excluded). It bounds decode speed by memory bandwidth.
func (m *Model) WeightBytesPerToken() int64 { return m.weightLen }

func (m *Model) loadHParams() error {
	f := m.file
	arch := f.Architecture()
	switch arch {
	case ArchLlama, ArchQwen2:
	case "":
		return fmt.Errorf("%w: general.architecture is missing", ErrUnsupported)
	default:
		return fmt.Errorf("%w: architecture %q (supported: %s, %s)", ErrUnsupported, arch, ArchLlama, ArchQwen2)
	}
	hp := HParams{Arch: arch, RopeNeox: arch == ArchQwen2, RopeFreqScale: 1}
	req := func(key string, dst *int) error {
		v, err := f.Uint(arch + "." + key)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if v == 0 || v > 1<<24 {
			return fmt.Errorf("engine: %s.%s = %d is out of range", arch, key, v)
		}
		*dst = int(v)
		return nil
	}
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"embedding_length", &hp.Dim},
		{"block_count", &hp.Layers},
		{"feed_forward_length", &hp.FFN},
		{"attention.head_count", &hp.Heads},
		{"context_length", &hp.ContextLength},
	} {
		if err := req(k.key, k.dst); err != nil {
			return err
		}
	}
	hp.KVHeads = hp.Heads
	if _, ok := f.Get(arch + ".attention.head_count_kv"); ok {
		if err := req("attention.head_count_kv", &hp.KVHeads); err != nil {
			return err
		}
	}
	if hp.Dim%hp.Heads != 0 {
		return fmt.Errorf("engine: embedding_length %d is not a multiple of head_count %d", hp.Dim, hp.Heads)
	}
	if hp.Heads%hp.KVHeads != 0 {
		return fmt.Errorf("engine: head_count %d is not a multiple of head_count_kv %d", hp.Heads, hp.KVHeads)
	}
	hp.HeadDim = hp.Dim / hp.Heads
	if kl, err := f.Uint(arch + ".attention.key_length"); err == nil && int(kl) != hp.HeadDim {
		return fmt.Errorf("%w: attention.key_length %d differs from embedding_length/head_count %d", ErrUnsupported, kl, hp.HeadDim)
	}
	hp.Eps = 1e-5
	if v, err := f.Float(arch + ".attention.layer_norm_rms_epsilon"); err == nil {
		if !(v > 0 && v < 1) {
			return fmt.Errorf("engine: layer_norm_rms_epsilon %g is out of range", v)
		}
		hp.Eps = float32(v)
	}
	hp.RopeBase = 10000
	if v, err := f.Float(arch + ".rope.freq_base"); err == nil {
		if !(v > 1) || math.IsInf(v, 0) {
			return fmt.Errorf("engine: rope.freq_base %g is out of range", v)
		}
		hp.RopeBase = v
	}
	hp.RopeDim = hp.HeadDim
	if v, err := f.Uint(arch + ".rope.dimension_count"); err == nil {
		if v == 0 || int(v) > hp.HeadDim || v%2 != 0 {
			return fmt.Errorf("engine: rope.dimension_count %d must be even and at most the head size %d", v, hp.HeadDim)
		}
		hp.RopeDim = int(v)
	}
	scaling, _ := f.String(arch + ".rope.scaling.type")
	factor, ferr := f.Float(arch + ".rope.scaling.factor")
	switch scaling {
	case "", "none":
		if scaling == "" && ferr == nil && factor > 0 && factor != 1 {
			// Older files carry only rope.scale_linear-style factors.
			hp.RopeFreqScale = 1 / factor
		}
	case "linear":
		if ferr != nil || !(factor > 0) {
			return fmt.Errorf("engine: rope.scaling.type linear needs a positive rope.scaling.factor")
		}
		hp.RopeFreqScale = 1 / factor
	case "llama3":
		// Llama 3.1's scaling is carried by the rope_freqs.weight tensor.
	default:
		return fmt.Errorf("%w: rope.scaling.type %q (supported: none, linear)", ErrUnsupported, scaling)
	}
	if v, err := f.Float(arch + ".rope.scale_linear"); err == nil && v > 0 && v != 1 {
		hp.RopeFreqScale = 1 / v
	}
	m.HP = hp
	return nil
}

func (m *Model) loadTensors() error {
	hp := &m.HP
	emb, err := m.matrix("token_embd.weight", hp.Dim, 0)
	if err != nil {
		return err
	}
	m.tokEmb = emb
	hp.Vocab = emb.rows
	if v, err := m.file.Uint(hp.Arch + ".vocab_size"); err == nil && int(v) != hp.Vocab {
		return fmt.Errorf("engine: vocab_size %d differs from the %d rows of token_embd.weight", v, hp.Vocab)
	}
	qDim, kvDim := hp.Heads*hp.HeadDim, hp.KVHeads*hp.HeadDim
	m.layers = make([]layer, hp.Layers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		if l.attnNorm, err = m.vector(p+"attn_norm.weight", hp.Dim, true); err != nil {
			return err
		}
		if l.ffnNorm, err = m.vector(p+"ffn_norm.weight", hp.Dim, true); err != nil {
			return err
		}
		for _, w := range []struct {
			name       string
			dst        *matrix
			cols, rows int
		}{
			{"attn_q.weight", &l.wq, hp.Dim, qDim},
			{"attn_k.weight", &l.wk, hp.Dim, kvDim},
			{"attn_v.weight", &l.wv, hp.Dim, kvDim},
			{"attn_output.weight", &l.wo, qDim, hp.Dim},
			{"ffn_gate.weight", &l.wGate, hp.Dim, hp.FFN},
			{"ffn_up.weight", &l.wUp, hp.Dim, hp.FFN},
			{"ffn_down.weight", &l.wDwn, hp.FFN, hp.Dim},
		} {
			if *w.dst, err = m.matrix(p+w.name, w.cols, w.rows); err != nil {
				return err
			}
		}
		for _, b := range []struct {
			name string
			dst  *[]float32
			n    int
		}{
			{"attn_q.bias", &l.bq, qDim},
			{"attn_k.bias", &l.bk, kvDim},
			{"attn_v.bias", &l.bv, kvDim},
		} {
			if *b.dst, err = m.vector(p+b.name, b.n, hp.Arch == ArchQwen2); err != nil {
				return err
			}
		}
	}
	if m.outNorm, err = m.vector("output_norm.weight", hp.Dim, true); err != nil {
		return err
	}
	if _, ok := m.file.Tensor("output.weight"); ok {
		if m.output, err = m.matrix("output.weight", hp.Dim, hp.Vocab); err != nil {
			return err
		}
	} else {
		m.output = m.tokEmb
	}
	if m.ropeFreqs, err = m.vector("rope_freqs.weight", hp.RopeDim/2, false); err != nil {
		return err
	}
	m.invFreq = make([]float64, hp.RopeDim/2)
	for i := range m.invFreq {
		f := math.Pow(hp.RopeBase, -float64(2*i)/float64(hp.RopeDim)) * hp.RopeFreqScale
		if m.ropeFreqs != nil {
			if !(m.ropeFreqs[i] > 0) {
				return fmt.Errorf("engine: rope_freqs.weight[%d] = %g is not positive", i, m.ropeFreqs[i])
			}
			f /= float64(m.ropeFreqs[i])
		}
		m.invFreq[i] = f
	}
	var n int64
	for _, l := range m.layers {
		for _, w := range []*matrix{&l.wq, &l.wk, &l.wv, &l.wo, &l.wGate, &l.wUp, &l.wDwn} {
			n += int64(len(w.data))
		}
	}
	m.weightLen = n + int64(len(m.output.data))
	return nil
}

// matrix looks up a 2-D weight of cols elements per row; rows 0 accepts any
// row count.
func (m *Model) matrix(name string, cols, rows int) (matrix, error) {
	ti, ok := m.file.Tensor(name)
	if !ok {
		return matrix{}, fmt.Errorf("engine: tensor %q is missing", name)
	}
	if !gguf.CanDequantize(ti.Type) {
		return matrix{}, fmt.Errorf("%w: tensor %q has type %s (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)", ErrUnsupported, name, ti.Type)
	}
	if len(ti.Dims) != 2 || ti.Dims[0] != uint64(cols) || (rows > 0 && ti.Dims[1] != uint64(rows)) || ti.Dims[1] > 1<<31 {
		want := fmt.Sprintf("[%d %d]", cols, rows)
		if rows == 0 {
			want = fmt.Sprintf("[%d N]", cols)
		}
		return matrix{}, fmt.Errorf("engine: tensor %q has shape %v, want %s", name, ti.Dims, want)
	}
	data, err := m.file.TensorData(ti)
	if err != nil {
		return matrix{}, err
	}
	rs, err := gguf.RowSize(ti.Type, cols)
	if err != nil {
		return matrix{}, fmt.Errorf("engine: tensor %q: %w", name, err)
	}
	return matrix{name: name, t: ti.Type, rows: int(ti.Dims[1]), cols: cols, rowSize: rs, data: data}, nil
}

// vector loads a 1-D tensor of n elements as float32; a missing optional
// tensor is nil.
func (m *Model) vector(name string, n int, required bool) ([]float32, error) {
	ti, ok := m.file.Tensor(name)
	if !ok {
		if required {
			return nil, fmt.Errorf("engine: tensor %q is missing", name)
		}
		return nil, nil
	}
	if ti.NumElements() != uint64(n) || (len(ti.Dims) != 1 && !(len(ti.Dims) == 2 && ti.Dims[1] == 1)) {
		return nil, fmt.Errorf("engine: tensor %q has shape %v, want [%d]", name, ti.Dims, n)
	}
	if !gguf.CanDequantize(ti.Type) {
		return nil, fmt.Errorf("%w: tensor %q has type %s", ErrUnsupported, name, ti.Type)
	}
	data, err := m.file.TensorData(ti)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if err := gguf.Dequantize(ti.Type, data, out); err != nil {
		return nil, fmt.Errorf("engine: tensor %q: %w", name, err)
	}
	return out, nil
}

// loadTokenizer builds the tokenizer from tokenizer.ggml.* metadata.
func loadTokenizer(f *gguf.File) (*tokenizer.Tokenizer, error) {
	model, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if model != tokenizer.ModelGPT2 && model != tokenizer.ModelLlama {
		return nil, fmt.Errorf("%w: tokenizer model %q (supported: gpt2, llama)", ErrUnsupported, model)
	}
	cfg := tokenizer.Config{Model: model}
	cfg.Pre, _ = f.String("tokenizer.ggml.pre")
	if cfg.Tokens, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if _, ok := f.Get("tokenizer.ggml.scores"); ok {
		if cfg.Scores, err = f.Float32s("tokenizer.ggml.scores"); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	if _, ok := f.Get("tokenizer.ggml.token_type"); ok {
		if cfg.Types, err = f.Int32s("tokenizer.ggml.token_type"); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	if _, ok := f.Get("tokenizer.ggml.merges"); ok {
		if cfg.Merges, err = f.Strings("tokenizer.ggml.merges"); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	id := func(key string) (int32, error) {
		if _, ok := f.Get(key); !ok {
			return -1, nil
		}
		v, err := f.Uint(key)
		if err != nil {
			return 0, fmt.Errorf("engine: %w", err)
		}
		if v >= uint64(len(cfg.Tokens)) {
			return 0, fmt.Errorf("engine: %s = %d is outside the vocabulary of %d tokens", key, v, len(cfg.Tokens))
		}
		return int32(v), nil
	}
	for _, s := range []struct {
		key string
		dst *int32
	}{
		{"tokenizer.ggml.bos_token_id", &cfg.BOS},
		{"tokenizer.ggml.eos_token_id", &cfg.EOS},
		{"tokenizer.ggml.eot_token_id", &cfg.EOT},
		{"tokenizer.ggml.padding_token_id", &cfg.PAD},
		{"tokenizer.ggml.unknown_token_id", &cfg.UNK},
	} {
		if *s.dst, err = id(s.key); err != nil {
			return nil, err
		}
	}
	boolKey := func(key string, def bool) bool {
		if v, err := f.Bool(key); err == nil {
			return v
		}
		return def
	}
	cfg.AddBOS = boolKey("tokenizer.ggml.add_bos_token", model == tokenizer.ModelLlama) && cfg.BOS >= 0
	cfg.AddEOS = boolKey("tokenizer.ggml.add_eos_token", false) && cfg.EOS >= 0
	cfg.NoSpacePrefix = !boolKey("tokenizer.ggml.add_space_prefix", true)
	tok, err := tokenizer.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return tok, nil
}
