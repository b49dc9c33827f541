package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

func generate(t *testing.T, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Generate(o, &buf); err != nil {
		t.Fatalf("Generate(%+v): %v", o, err)
	}
	return buf.Bytes()
}

func TestGenerateDeterministic(t *testing.T) {
	for _, o := range []Options{
		{Arch: "llama", Seed: 1},
		{Arch: "qwen2", Seed: 1, Type: gguf.Q8_0},
	} {
		a := generate(t, o)
		prev := runtime.GOMAXPROCS(1)
		b := generate(t, o)
		runtime.GOMAXPROCS(prev)
		if !bytes.Equal(a, b) {
			t.Errorf("%+v: two runs (with %d and 1 threads) differ", o, prev)
		}
		o.Seed++
		if c := generate(t, o); bytes.Equal(a, c) {
			t.Errorf("%+v: different seeds gave the same file", o)
		}
	}
}

func TestGenerateMetadata(t *testing.T) {
	tests := []struct {
		opts      Options
		arch      string
		typ       gguf.Type
		wantBias  bool
		wantOut   bool
		wantShape [6]int // dim layers heads kv ffn vocab
	}{
		{Options{Seed: 3}, "llama", gguf.F32, false, true, [6]int{64, 2, 4, 2, 172, 512}},
		{Options{Arch: "qwen2", Type: gguf.Q4_0}, "qwen2", gguf.Q4_0, true, true, [6]int{64, 2, 4, 2, 172, 512}},
		{Options{Preset: "small", Type: gguf.Q4_K, Layers: 1, Tied: true}, "llama", gguf.Q4_K, false, false, [6]int{256, 1, 8, 4, 768, 2048}},
	}
	for _, tc := range tests {
		f, err := gguf.Parse(generate(t, tc.opts))
		if err != nil {
			t.Fatal(err)
		}
		if f.Architecture() != tc.arch {
			t.Errorf("arch %q, want %q", f.Architecture(), tc.arch)
		}
		for i, key := range []string{"embedding_length", "block_count", "attention.head_count", "attention.head_count_kv", "feed_forward_length", "vocab_size"} {
			v, err := f.Uint(tc.arch + "." + key)
			if err != nil || int(v) != tc.wantShape[i] {
				t.Errorf("%s = %d, %v; want %d", key, v, err, tc.wantShape[i])
			}
		}
		if tmpl, _ := f.String("tokenizer.chat_template"); tmpl != ChatTemplate {
			t.Errorf("chat template %q", tmpl)
		} else if k, err := tokenizer.DetectTemplate(tmpl); err != nil || k != tokenizer.TemplateChatML {
			t.Errorf("DetectTemplate = %v, %v", k, err)
		}
		q, _ := f.Tensor("blk.0.attn_q.weight")
		if q.Type != tc.typ {
			t.Errorf("attn_q type %s, want %s", q.Type, tc.typ)
		}
		if _, ok := f.Tensor("blk.0.attn_q.bias"); ok != tc.wantBias {
			t.Errorf("attn_q.bias present = %v", ok)
		}
		if _, ok := f.Tensor("output.weight"); ok != tc.wantOut {
			t.Errorf("output.weight present = %v", ok)
		}
		toks, _ := f.Strings("tokenizer.ggml.tokens")
		if len(toks) != tc.wantShape[5] {
			t.Errorf("%d tokens, want %d", len(toks), tc.wantShape[5])
		}
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	tokens, types, merges, err := Vocabulary(512, "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(tokenizer.Config{Model: "gpt2", Pre: "gpt2", Tokens: tokens, Types: types, Merges: merges,
		BOS: TokenIMStart, EOS: TokenIMEnd, EOT: -1, PAD: TokenEndOfText, UNK: -1})
	if err != nil {
		t.Fatal(err)
	}
	text := "The GPU reads every weight once per token. Ünïcode → ok!"
	ids, err := tok.Encode(text, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) >= len(text) {
		t.Errorf("%d tokens for %d bytes: merges not applied", len(ids), len(text))
	}
	back, err := tok.Decode(ids)
	if err != nil || back != text {
		t.Errorf("round trip %q, %v", back, err)
	}
	ids, _ = tok.Encode("<|im_start|>user\nhi<|im_end|>", true, true)
	if ids[0] != TokenIMStart || !tok.IsEOG(TokenIMEnd) {
		t.Errorf("special tokens not recognized: %v", ids)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{
		{Arch: "gpt2"},
		{Preset: "huge"},
		{Heads: 3},
		{KVHeads: 3},
		{Vocab: 100},
		{Type: gguf.TypeQ5_K},
		{RopeDim: 3},
	} {
		if err := Generate(o, &bytes.Buffer{}); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		} else if !strings.HasPrefix(err.Error(), "synth: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestParseType(t *testing.T) {
	if ty, err := ParseType("Q8_0"); err != nil || ty != gguf.TypeQ8_0 {
		t.Fatalf("q8_0: %v %v", ty, err)
	}
	if _, err := ParseType("q3"); err == nil || !strings.HasPrefix(err.Error(), `"q3": want one of f32, `) {
		t.Fatalf("q3: %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "models", "tiny.gguf")
	o := Options{Preset: "tiny", Seed: 1}
	if err := WriteFile(o, path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := generate(t, o); !bytes.Equal(got, want) {
		t.Fatalf("the file has %d bytes, Generate writes %d", len(got), len(want))
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("the directory holds %d entries, want the model alone", len(ents))
	}
}
