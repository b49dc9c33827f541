package tokenizer

import (
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// unicodeSamples exercise scripts, emoji, combining marks, RTL text,
// whitespace mixtures and digits.
var unicodeSamples = []string{
	"",
	"Hello world's 12345  !!",
	"The quick brown fox jumps over the lazy dog.",
	"日本語のテキストと中文文本，还有한국어 텍스트。",
	"emoji 😀 and a family 👨‍👩‍👧‍👦 and a flag 🇫🇷 and skin tone 👍🏽",
	"combining: e\u0301 a\u0308 n\u0303 Z\u0335\u0321\u0347",
	"RTL: שלום עולם and مرحبا بالعالم ١٢٣٤٥",
	"mixed\twhitespace \n\n\r\n  \u00a0\u3000end  ",
	"digits 0 12 345 6789 1234567890 ٣٤٥٦ ⅫⅣ ½",
	"   leading and trailing   ",
	"\n",
	"I'M don't you'll we've they're she'd 'tis",
	"code: for (int i = 0; i < n; ++i) { x[i] *= 2; }",
	"ünïcödé ßtraße İstanbul ǅemal",
	"<|im_start|>not special unless parsed<|im_end|>",
	"\u2028line\u2029para\u0085nel",
	"zero\u200bwidth\u200djoiner",
	"a\u0000b\u0001c\u007f",
}

func readCorpus(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// trainedConfig trains a byte-level vocabulary on the test corpus and adds
// special tokens after it.
func trainedConfig(tb testing.TB, pre string, vocabSize int) Config {
	tb.Helper()
	tokens, merges, err := TrainBPE(readCorpus(tb), vocabSize, pre)
	if err != nil {
		tb.Fatal(err)
	}
	types := make([]int32, len(tokens), len(tokens)+5)
	for i := range types {
		types[i] = TypeNormal
	}
	base := int32(len(tokens))
	tokens = append(tokens, "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "<|im")
	types = append(types, TypeControl, TypeControl, TypeControl, TypeUserDefined, TypeControl)
	return Config{
		Model: ModelGPT2, Pre: pre, Tokens: tokens, Types: types, Merges: merges,
		BOS: base, EOS: base, EOT: base + 2, PAD: -1, UNK: -1,
	}
}

var (
	trainedMu    sync.Mutex
	trainedCache = map[string]*Tokenizer{}
)

// trained returns a cached tokenizer trained with the given pre-tokenizer.
func trained(tb testing.TB, pre string) *Tokenizer {
	tb.Helper()
	trainedMu.Lock()
	defer trainedMu.Unlock()
	if tk, ok := trainedCache[pre]; ok {
		return tk
	}
	tk, err := New(trainedConfig(tb, pre, 700))
	if err != nil {
		tb.Fatal(err)
	}
	trainedCache[pre] = tk
	return tk
}

// spmBytes is the start of a SentencePiece vocabulary: <unk> <s> </s>, then
// the 256 byte tokens.
func spmBytes() Config {
	cfg := Config{Model: ModelLlama, BOS: 1, EOS: 2, EOT: -1, PAD: -1, UNK: 0, AddBOS: true}
	addToken(&cfg, "<unk>", 0, TypeUnknown)
	addToken(&cfg, "<s>", 0, TypeControl)
	addToken(&cfg, "</s>", 0, TypeControl)
	for b := 0; b < 256; b++ {
		addToken(&cfg, byteTokenName(byte(b)), 0, TypeByte)
	}
	return cfg
}

// addToken appends a token to cfg's vocabulary.
func addToken(cfg *Config, tok string, score float32, ty int32) {
	cfg.Tokens = append(cfg.Tokens, tok)
	cfg.Scores = append(cfg.Scores, score)
	cfg.Types = append(cfg.Types, ty)
}

// spmConfig builds a SentencePiece vocabulary from a trained byte-level one:
// <unk> <s> </s>, the 256 byte tokens, then every trained token that is valid
// UTF-8, spaces written as "▁", scored by merge order.
func spmConfig(tb testing.TB) Config {
	tb.Helper()
	tokens, _, err := TrainBPE(readCorpus(tb), 700, "gpt2")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := spmBytes()
	seen := map[string]bool{}
	for i, tok := range tokens {
		raw := string(byteLevelDecode(nil, tok))
		if !utf8.ValidString(raw) || seen[raw] {
			continue
		}
		seen[raw] = true
		addToken(&cfg, strings.ReplaceAll(raw, " ", spmSpace), -float32(i), TypeNormal)
	}
	return cfg
}

func mustNew(tb testing.TB, cfg Config) *Tokenizer {
	tb.Helper()
	tk, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return tk
}

// idsOf maps token spellings to ids.
func idsOf(tb testing.TB, tk *Tokenizer, toks ...string) []int32 {
	tb.Helper()
	out := make([]int32, len(toks))
	for i, s := range toks {
		id, ok := tk.TokenID(s)
		if !ok {
			tb.Fatalf("token %q not in vocabulary", s)
		}
		out[i] = id
	}
	return out
}

// textsOf maps ids to token spellings.
func textsOf(tb testing.TB, tk *Tokenizer, ids []int32) []string {
	tb.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		s, err := tk.TokenText(id)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = s
	}
	return out
}
