package synth

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

// TestLlamaCppMetadata names every metadata key llama.cpp's loader reads
// from a synthetic llama model, with the GGUF value type it requires (it
// rejects a key stored with another type) and the value synth writes.
func TestLlamaCppMetadata(t *testing.T) {
	f, err := gguf.Parse(generate(t, Options{Preset: "tiny", Type: gguf.TypeQ4_K, Seed: 1}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"general.architecture":                   "llama",
		"general.name":                           "synth-llama-tiny",
		"general.alignment":                      uint32(32),
		"general.file_type":                      uint32(15), // LLAMA_FTYPE_MOSTLY_Q4_K_M
		"general.quantization_version":           uint32(2),  // GGML_QNT_VERSION
		"llama.context_length":                   uint32(512),
		"llama.embedding_length":                 uint32(64),
		"llama.block_count":                      uint32(2),
		"llama.feed_forward_length":              uint32(172),
		"llama.attention.head_count":             uint32(4),
		"llama.attention.head_count_kv":          uint32(2),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.freq_base":                   float32(10000),
		"llama.rope.dimension_count":             uint32(16),
		"llama.vocab_size":                       uint32(512),
		"tokenizer.ggml.model":                   "gpt2",  // byte-level BPE
		"tokenizer.ggml.pre":                     "gpt-2", // LLAMA_VOCAB_PRE_TYPE_GPT2
		"tokenizer.ggml.bos_token_id":            uint32(TokenIMStart),
		"tokenizer.ggml.eos_token_id":            uint32(TokenIMEnd),
		"tokenizer.ggml.padding_token_id":        uint32(TokenEndOfText),
		"tokenizer.ggml.add_bos_token":           false,
		"tokenizer.ggml.add_eos_token":           false,
		"tokenizer.chat_template":                ChatTemplate,
	}
	for key, w := range want {
		got, ok := f.Get(key)
		if !ok {
			t.Errorf("%s is missing", key)
			continue
		}
		if reflect.TypeOf(got) != reflect.TypeOf(w) || got != w {
			t.Errorf("%s = %v (%T), want %v (%T)", key, got, got, w, w)
		}
	}
	// The vocabulary arrays: tokens (strings), token_type (int32, 1 normal,
	// 3 control) and merges ("left right" strings), all non-empty.
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(tokens) != 512 {
		t.Errorf("tokenizer.ggml.tokens: %d, %v; want 512 strings", len(tokens), err)
	}
	types, _ := f.Get("tokenizer.ggml.token_type")
	if ty, ok := types.([]int32); !ok || len(ty) != 512 || ty[TokenIMStart] != tokenizer.TypeControl || ty[len(ty)-1] != tokenizer.TypeNormal {
		t.Errorf("tokenizer.ggml.token_type is %T of %v, want 512 int32 with control specials", types, reflect.ValueOf(types).Len())
	}
	merges, err := f.Strings("tokenizer.ggml.merges")
	if err != nil || len(merges) == 0 || len(strings.Fields(merges[0])) != 2 {
		t.Errorf("tokenizer.ggml.merges: %d, %v", len(merges), err)
	}
	// Special tokens as llama.cpp recognizes them (by text, for <|im_end|>
	// as end of generation).
	for id, text := range map[int]string{TokenEndOfText: "<|endoftext|>", TokenIMStart: "<|im_start|>", TokenIMEnd: "<|im_end|>"} {
		if tokens[id] != text {
			t.Errorf("token %d is %q, want %q", id, tokens[id], text)
		}
	}
	if fmt.Sprint(f.Architecture()) != "llama" {
		t.Errorf("architecture %q", f.Architecture())
	}
}

// TestPreTokenizerSpellings checks that files written before synth used
// llama.cpp's "gpt-2" (they carry "gpt2") tokenize the same.
func TestPreTokenizerSpellings(t *testing.T) {
	tokens, types, merges, err := Vocabulary(512, PreGPT2)
	if err != nil {
		t.Fatal(err)
	}
	text := "Hello world's 12345  !! don't\n\n  x=1+2 héllo"
	var prev []int32
	for _, pre := range []string{"gpt2", "gpt-2"} {
		tok, err := tokenizer.New(tokenizer.Config{Model: "gpt2", Pre: pre, Tokens: tokens, Types: types, Merges: merges,
			BOS: TokenIMStart, EOS: TokenIMEnd, EOT: -1, PAD: TokenEndOfText, UNK: -1})
		if err != nil {
			t.Fatalf("pre %q: %v", pre, err)
		}
		ids, err := tok.Encode(text, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && !reflect.DeepEqual(ids, prev) {
			t.Errorf("pre %q: %v, gpt2: %v", pre, ids, prev)
		}
		prev = ids
	}
}

// TestTensorTypesMirrorLlamaCpp checks the quantization mix against what
// llama.cpp's quantizer writes for the same file type and shape.
func TestTensorTypesMirrorLlamaCpp(t *testing.T) {
	// SmolLM2-135M: hidden 576 (not a multiple of 256), FFN 1536, 30
	// layers, tied embeddings.
	const layers = 30
	moreBits := map[int]bool{}
	for _, i := range []int{0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29} {
		moreBits[i] = true
	}
	for i := range layers {
		wantV, wantDown := gguf.TypeQ5_0, gguf.TypeQ4_K
		if moreBits[i] {
			wantV, wantDown = gguf.TypeQ8_0, gguf.TypeQ6_K
		}
		for name, w := range map[string]gguf.Type{"attn_q": gguf.TypeQ5_0, "attn_k": gguf.TypeQ5_0, "attn_v": wantV,
			"attn_output": gguf.TypeQ5_0, "ffn_gate": gguf.TypeQ5_0, "ffn_up": gguf.TypeQ5_0} {
			if got := TensorType(gguf.TypeQ4_K, fmt.Sprintf("blk.%d.%s.weight", i, name), i, layers, 576, true); got != w {
				t.Errorf("Q4_K_M blk.%d.%s: %s, want %s", i, name, got, w)
			}
		}
		if got := TensorType(gguf.TypeQ4_K, fmt.Sprintf("blk.%d.ffn_down.weight", i), i, layers, 1536, true); got != wantDown {
			t.Errorf("Q4_K_M blk.%d.ffn_down: %s, want %s", i, got, wantDown)
		}
	}
	for _, tc := range []struct {
		t          gguf.Type
		name       string
		cols       int
		tied       bool
		want       gguf.Type
		layer, lay int
	}{
		{gguf.TypeQ4_K, "token_embd.weight", 576, true, gguf.TypeQ8_0, -1, 30},
		{gguf.TypeQ4_K, "token_embd.weight", 256, true, gguf.TypeQ6_K, -1, 4},
		{gguf.TypeQ4_K, "token_embd.weight", 256, false, gguf.TypeQ4_K, -1, 4},
		{gguf.TypeQ4_K, "output.weight", 256, false, gguf.TypeQ6_K, -1, 4},
		{gguf.TypeQ4_K, "output.weight", 576, false, gguf.TypeQ8_0, -1, 30},
		{gguf.TypeQ4_K, "blk.1.attn_v.weight", 64, false, gguf.TypeQ8_0, 1, 2},
		{gguf.TypeQ4_K, "blk.0.attn_v.weight", 48, false, gguf.TypeF16, 0, 2},
		{gguf.TypeQ4_K, "blk.0.attn_q.weight", 64, false, gguf.TypeQ5_0, 0, 2},
		{gguf.TypeQ4_0, "output.weight", 256, false, gguf.TypeQ6_K, -1, 4},
		{gguf.TypeQ4_0, "token_embd.weight", 576, true, gguf.TypeQ8_0, -1, 30},
		{gguf.TypeQ4_0, "blk.0.ffn_down.weight", 1536, true, gguf.TypeQ4_0, 0, 30},
		{gguf.TypeQ8_0, "token_embd.weight", 576, true, gguf.TypeQ8_0, -1, 30},
		{gguf.TypeQ8_0, "blk.0.ffn_down.weight", 172, true, gguf.TypeF16, 0, 2},
		{gguf.TypeQ6_K, "blk.0.attn_q.weight", 576, true, gguf.TypeQ8_0, 0, 30},
		{gguf.TypeQ6_K, "output.weight", 256, false, gguf.TypeQ6_K, -1, 4},
		{gguf.TypeF16, "output.weight", 576, false, gguf.TypeF16, -1, 30},
		{gguf.TypeF32, "blk.0.attn_v.weight", 576, false, gguf.TypeF32, 0, 30},
	} {
		if got := TensorType(tc.t, tc.name, tc.layer, tc.lay, tc.cols, tc.tied); got != tc.want {
			t.Errorf("%s %s (%d columns, tied %v): %s, want %s", tc.t, tc.name, tc.cols, tc.tied, got, tc.want)
		}
	}
	// A generated file carries the mix.
	f, err := gguf.Parse(generate(t, Options{Preset: "smollm-135m", Type: gguf.TypeQ4_K, Layers: 8, Vocab: 1024}))
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]gguf.Type{"token_embd.weight": gguf.TypeQ8_0, "blk.0.attn_v.weight": gguf.TypeQ8_0,
		"blk.1.attn_v.weight": gguf.TypeQ5_0, "blk.0.ffn_down.weight": gguf.TypeQ6_K, "blk.1.ffn_down.weight": gguf.TypeQ4_K,
		"blk.0.ffn_up.weight": gguf.TypeQ5_0, "blk.0.attn_norm.weight": gguf.TypeF32} {
		if ti, ok := f.Tensor(name); !ok || ti.Type != w {
			t.Errorf("%s: %s (present %v), want %s", name, ti.Type, ok, w)
		}
	}
}
