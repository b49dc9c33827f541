package tokenizer

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestByteLevelMapping(t *testing.T) {
	seen := map[rune]bool{}
	for b := 0; b < 256; b++ {
		r := byteToRune[b]
		if seen[r] {
			t.Fatalf("rune %U used twice", r)
		}
		seen[r] = true
	}
	for _, tc := range []struct {
		b byte
		r rune
	}{{' ', 'Ġ'}, {'\n', 'Ċ'}, {'\t', 'ĉ'}, {'!', '!'}, {0, 'Ā'}, {0x7f, 'ġ'}, {0xad, 'Ń'}, {0xff, 'ÿ'}} {
		if got := byteToRune[tc.b]; got != tc.r {
			t.Errorf("byte 0x%02X maps to %q, want %q", tc.b, got, tc.r)
		}
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if got := byteLevelDecode(nil, byteLevelEncode(string(all))); !slices.Equal(got, all) {
		t.Error("byte-level mapping does not round-trip")
	}
	bt := ByteTokens()
	if len(bt) != 256 || bt[0] != "!" || bt[93] != "~" || bt[188] != "Ā" || bt[220] != "Ġ" {
		t.Errorf("ByteTokens order: len %d, [0]=%q [93]=%q [188]=%q [220]=%q", len(bt), bt[0], bt[93], bt[188], bt[220])
	}
}

// tinyGPT2 builds a byte-level vocabulary with the given merges.
func tinyGPT2(t *testing.T, pre string, merges ...string) *Tokenizer {
	t.Helper()
	tokens := ByteTokens()
	seen := map[string]bool{}
	for _, tok := range tokens {
		seen[tok] = true
	}
	for _, m := range merges {
		if tok := strings.Replace(m, " ", "", 1); !seen[tok] {
			seen[tok] = true
			tokens = append(tokens, tok)
		}
	}
	return mustNew(t, Config{Model: ModelGPT2, Pre: pre, Tokens: tokens, Merges: merges, BOS: -1, EOS: -1, EOT: -1, PAD: -1, UNK: -1})
}

func TestGPT2MergeRanks(t *testing.T) {
	tests := []struct {
		name   string
		merges []string
		in     string
		want   []string
	}{
		{"words", []string{"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"}, "hello world", []string{"hello", "Ġworld"}},
		{"rank e-l first", []string{"e l", "l l", "h el"}, "hell", []string{"hel", "l"}},
		{"rank l-l first", []string{"l l", "e l", "h el"}, "hell", []string{"h", "e", "ll"}},
		{"leftmost on ties", []string{"a a"}, "aaa", []string{"aa", "a"}},
		{"repeated pair", []string{"a a", "aa aa"}, "aaaaa", []string{"aaaa", "a"}},
		{"no merges apply", []string{"x y"}, "Ωé", []string{"Î", "©", "Ã", "©"}},
		{"newline", []string{"Ċ Ċ"}, "a\n\n", []string{"a", "ĊĊ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := tinyGPT2(t, "gpt2", tt.merges...)
			ids, err := tk.Encode(tt.in, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := textsOf(t, tk, ids); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Encode(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got, _ := tk.Decode(ids); got != tt.in {
				t.Errorf("Decode = %q, want %q", got, tt.in)
			}
		})
	}
}

// TestLlama3IgnoresMergesForWholeWords checks that with the llama3
// pre-tokenizer a pre-token that is itself a vocabulary token is used as is,
// even when the merges would not build it.
func TestLlama3IgnoresMergesForWholeWords(t *testing.T) {
	cfg := Config{Model: ModelGPT2, Tokens: append(ByteTokens(), "ab", "abc"), Merges: []string{"a b"}, BOS: -1, EOS: -1, EOT: -1, PAD: -1, UNK: -1}
	for _, tc := range []struct {
		pre  string
		want []string
	}{{"gpt2", []string{"ab", "c"}}, {"llama3", []string{"abc"}}} {
		cfg.Pre = tc.pre
		tk := mustNew(t, cfg)
		ids, err := tk.Encode("abc", false, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := textsOf(t, tk, ids); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Encode(abc) = %q, want %q", tc.pre, got, tc.want)
		}
	}
}

func TestRoundTripGPT2(t *testing.T) {
	for _, pre := range []string{"gpt2", "llama3", "qwen2"} {
		tk := trained(t, pre)
		for _, s := range unicodeSamples {
			for _, parse := range []bool{false, true} {
				ids, err := tk.Encode(s, false, parse)
				if err != nil {
					t.Fatalf("%s: Encode(%q): %v", pre, s, err)
				}
				got, err := tk.Decode(ids)
				if err != nil {
					t.Fatal(err)
				}
				if got != s {
					t.Errorf("%s parse=%v: Decode(Encode(%q)) = %q", pre, parse, s, got)
				}
			}
		}
	}
}

func TestRoundTripSPM(t *testing.T) {
	tk := mustNew(t, spmConfig(t))
	for _, s := range unicodeSamples {
		ids, err := tk.Encode(s, true, false)
		if err != nil {
			t.Fatalf("Encode(%q): %v", s, err)
		}
		if s != "" && ids[0] != tk.BOS() {
			t.Errorf("Encode(%q) does not start with BOS: %v", s, ids)
		}
		got, err := tk.Decode(ids[1:])
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
		if withBOS, _ := tk.Decode(ids); withBOS != "<s>"+s {
			t.Errorf("Decode with BOS = %q, want %q", withBOS, "<s>"+s)
		}
	}
}

func TestEncodeCompresses(t *testing.T) {
	corpus := readCorpus(t)
	for _, pre := range []string{"gpt2", "llama3", "qwen2"} {
		ids, err := trained(t, pre).Encode(corpus, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids)*2 > len(corpus) {
			t.Errorf("%s: %d tokens for %d bytes: merges not applied", pre, len(ids), len(corpus))
		}
	}
}

func TestSpecialTokens(t *testing.T) {
	tk := trained(t, "qwen2")
	start, end, think, endText := idsOf(t, tk, "<|im_start|>")[0], idsOf(t, tk, "<|im_end|>")[0], idsOf(t, tk, "<think>")[0], idsOf(t, tk, "<|endoftext|>")[0]
	text := "<|im_start|>user\nhi<think><|im_end|><|endoftext|>"

	parsed, err := tk.Encode(text, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if parsed[0] != start || !slices.Contains(parsed, end) || !slices.Contains(parsed, think) || parsed[len(parsed)-1] != endText {
		t.Errorf("parsed = %q", textsOf(t, tk, parsed))
	}
	// "<|im" is also a control token; the longest match wins.
	if slices.Contains(parsed, idsOf(t, tk, "<|im")[0]) {
		t.Errorf("shorter special token matched: %q", textsOf(t, tk, parsed))
	}

	plain, err := tk.Encode(text, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range plain {
		if tk.IsControl(id) {
			t.Errorf("control token %q produced without parseSpecial", textsOf(t, tk, []int32{id}))
		}
	}
	if !slices.Contains(plain, think) {
		t.Errorf("user-defined token not matched without parseSpecial: %q", textsOf(t, tk, plain))
	}
	for _, ids := range [][]int32{parsed, plain} {
		if got, _ := tk.Decode(ids); got != text {
			t.Errorf("Decode = %q, want %q", got, text)
		}
	}
}

func TestAddSpecial(t *testing.T) {
	cfg := spmConfig(t)
	cfg.AddEOS = true
	tk := mustNew(t, cfg)
	ids, err := tk.Encode("hi", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != 1 || ids[len(ids)-1] != 2 {
		t.Errorf("Encode(hi, addSpecial) = %v: want BOS first and EOS last", ids)
	}
	ids, _ = tk.Encode("hi", false, false)
	if ids[0] == 1 || ids[len(ids)-1] == 2 {
		t.Errorf("Encode(hi) without addSpecial = %v", ids)
	}
	// A BOS written at the start of a templated prompt is not doubled.
	ids, _ = tk.Encode("<s>hi", true, true)
	if ids[0] != 1 || ids[1] == 1 {
		t.Errorf("Encode(<s>hi, addSpecial, parseSpecial) = %v: want exactly one BOS", ids)
	}
	// Without parseSpecial "<s>" is text.
	ids, _ = tk.Encode("<s>hi", true, false)
	if n := strings.Count(textsOf2(tk, ids), "|<s>|"); n != 1 {
		t.Errorf("Encode(<s>hi, addSpecial) = %q: want one BOS token", textsOf(t, tk, ids))
	}
}

func textsOf2(tk *Tokenizer, ids []int32) string {
	var sb strings.Builder
	sb.WriteByte('|')
	for _, id := range ids {
		s, _ := tk.TokenText(id)
		sb.WriteString(s + "|")
	}
	return sb.String()
}

func TestIsEOG(t *testing.T) {
	tk := trained(t, "llama3")
	for _, tc := range []struct {
		tok  string
		want bool
	}{{"<|endoftext|>", true}, {"<|im_end|>", true}, {"<|im_start|>", false}, {"<think>", false}, {"e", false}, {"Ġthe", false}} {
		id := idsOf(t, tk, tc.tok)[0]
		if got := tk.IsEOG(id); got != tc.want {
			t.Errorf("IsEOG(%q) = %v, want %v", tc.tok, got, tc.want)
		}
	}
	if tk.IsEOG(-1) || tk.IsEOG(int32(tk.VocabSize())) {
		t.Error("out-of-range ids are EOG")
	}
	if got := len(tk.EOGs()); got != 2 {
		t.Errorf("EOGs() has %d ids, want 2", got)
	}

	// Llama 3 style: EOS <|end_of_text|>, EOT <|eot_id|>, and <|eom_id|>
	// recognized by name.
	toks := append(ByteTokens(), "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|start_header_id|>")
	types := make([]int32, len(toks))
	for i := range types {
		types[i] = TypeNormal
		if i >= 256 {
			types[i] = TypeControl
		}
	}
	tk = mustNew(t, Config{Model: ModelGPT2, Pre: "llama-bpe", Tokens: toks, Types: types, Merges: []string{"a b"}, BOS: 256, EOS: 257, EOT: -1, PAD: -1, UNK: -1, AddBOS: true})
	for id, want := range map[int32]bool{256: false, 257: true, 258: true, 259: true, 260: false, 0: false} {
		if got := tk.IsEOG(id); got != want {
			t.Errorf("IsEOG(%q) = %v, want %v", toks[id], got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	good := func() Config {
		return Config{Model: ModelGPT2, Pre: "gpt2", Tokens: append(ByteTokens(), "ab"), Merges: []string{"a b"}, BOS: -1, EOS: -1, EOT: -1, PAD: -1, UNK: -1}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown model", func(c *Config) { c.Model = "bert" }, `unsupported model "bert"`},
		{"unknown pre", func(c *Config) { c.Pre = "martian" }, `unsupported pre-tokenizer "martian"`},
		{"no merges", func(c *Config) { c.Merges = nil }, "no merges"},
		{"bad merge", func(c *Config) { c.Merges = []string{"ab"} }, `merge 0 "ab"`},
		{"empty vocab", func(c *Config) { c.Tokens = nil }, "empty vocabulary"},
		{"bos out of range", func(c *Config) { c.BOS = 300 }, "bos token id 300"},
		{"eos negative", func(c *Config) { c.EOS = -2 }, "eos token id -2"},
		{"unk out of range", func(c *Config) { c.UNK = 257 }, "unknown token id 257"},
		{"scores length", func(c *Config) { c.Scores = []float32{1} }, "1 scores for 257 tokens"},
		{"types length", func(c *Config) { c.Types = []int32{1, 2} }, "2 token types"},
		{"add bos without bos", func(c *Config) { c.AddBOS = true }, "no bos token"},
		{"add eos without eos", func(c *Config) { c.AddEOS = true }, "no eos token"},
		{"spm without scores", func(c *Config) { c.Model = ModelLlama }, "no scores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.mutate(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestBadIDs(t *testing.T) {
	tk := trained(t, "gpt2")
	for _, id := range []int32{-1, int32(tk.VocabSize()), 1 << 30} {
		if _, err := tk.Decode([]int32{0, id}); err == nil {
			t.Errorf("Decode(%d) succeeded", id)
		}
		if _, err := tk.TokenBytes(id); err == nil {
			t.Errorf("TokenBytes(%d) succeeded", id)
		}
		if _, err := tk.TokenText(id); err == nil {
			t.Errorf("TokenText(%d) succeeded", id)
		}
		if _, err := tk.NewStreamDecoder().Write(id); err == nil {
			t.Errorf("StreamDecoder.Write(%d) succeeded", id)
		}
	}
}

func TestMissingByteToken(t *testing.T) {
	// A byte-level vocabulary without the token for byte 0xFF.
	toks := slices.DeleteFunc(ByteTokens(), func(s string) bool { return s == byteToStr[0xff] })
	toks = append(toks, "ab", "<unk>")
	cfg := Config{Model: ModelGPT2, Tokens: toks, Merges: []string{"a b"}, BOS: -1, EOS: -1, EOT: -1, PAD: -1, UNK: -1}
	tk := mustNew(t, cfg)
	if _, err := tk.Encode("ab\xff", false, false); err == nil || !strings.Contains(err.Error(), "0xFF") {
		t.Errorf("Encode with a missing byte token: error %v", err)
	}
	cfg.UNK = int32(len(toks) - 1)
	tk = mustNew(t, cfg)
	ids, err := tk.Encode("ab\xff", false, false)
	if err != nil || !reflect.DeepEqual(textsOf(t, tk, ids), []string{"ab", "<unk>"}) {
		t.Errorf("Encode with unk = %v, %v", ids, err)
	}
}

func TestTokenBytes(t *testing.T) {
	tk := trained(t, "gpt2")
	var all []byte
	text := "naïve café 😀"
	ids, _ := tk.Encode(text, false, false)
	for _, id := range ids {
		b, err := tk.TokenBytes(id)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if string(all) != text {
		t.Errorf("concatenated TokenBytes = %q, want %q", all, text)
	}
	id := idsOf(t, tk, "<|im_end|>")[0]
	if b, _ := tk.TokenBytes(id); string(b) != "<|im_end|>" {
		t.Errorf("TokenBytes(control) = %q", b)
	}
	// Returned bytes are a copy.
	b, _ := tk.TokenBytes(id)
	b[0] = 'X'
	if b2, _ := tk.TokenBytes(id); b2[0] != '<' {
		t.Error("TokenBytes exposes internal storage")
	}
}

func TestConcurrentEncode(t *testing.T) {
	tk, err := New(trainedConfig(t, "llama3", 400))
	if err != nil {
		t.Fatal(err)
	}
	corpus := readCorpus(t)
	want, _ := tk.Encode(corpus, false, false)
	done := make(chan []int32)
	for range 4 {
		go func() {
			ids, _ := tk.Encode(corpus, false, false)
			done <- ids
		}()
	}
	for range 4 {
		if got := <-done; !slices.Equal(got, want) {
			t.Error("concurrent Encode differs")
		}
	}
}

func TestDefaultAddBOS(t *testing.T) {
	for _, tc := range []struct {
		model, pre string
		want       bool
	}{{ModelLlama, "", true}, {ModelGPT2, "llama-bpe", true}, {ModelGPT2, "qwen2", false}, {ModelGPT2, "gpt2", false}, {ModelGPT2, "nope", false}} {
		if got := DefaultAddBOS(tc.model, tc.pre); got != tc.want {
			t.Errorf("DefaultAddBOS(%q, %q) = %v", tc.model, tc.pre, got)
		}
	}
}

// TestInferredTypes checks a byte-level vocabulary without token types:
// chat markers and end-of-turn tokens are taken as control tokens.
func TestInferredTypes(t *testing.T) {
	cfg := trainedConfig(t, "qwen2", 300)
	cfg.Types = nil
	tk := mustNew(t, cfg)
	for _, tok := range []string{"<|im_start|>", "<|im_end|>", "<|endoftext|>"} {
		id := idsOf(t, tk, tok)[0]
		if !tk.IsControl(id) {
			t.Errorf("%q is not a control token", tok)
		}
	}
	if !tk.IsEOG(idsOf(t, tk, "<|im_end|>")[0]) || tk.IsEOG(idsOf(t, tk, "<|im_start|>")[0]) || tk.IsControl(idsOf(t, tk, "<think>")[0]) {
		t.Error("wrong EOG or control flags")
	}
	ids, _ := tk.Encode("<|im_start|>hi<|im_end|>", false, true)
	if !tk.IsControl(ids[0]) || !tk.IsEOG(ids[len(ids)-1]) {
		t.Errorf("Encode with parseSpecial = %q", textsOf(t, tk, ids))
	}
}
