package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestPretokenizeKnownSplits(t *testing.T) {
	tests := []struct {
		pre  string
		in   string
		want []string
	}{
		{"gpt2", "Hello world's 12345  !!", []string{"Hello", " world", "'s", " 12345", " ", " !!"}},
		{"gpt2", "a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"gpt2", "I'M here", []string{"I", "'", "M", " here"}},
		{"gpt2", "\tfoo  ", []string{"\t", "foo", "  "}},
		{"gpt2", "don't", []string{"don", "'t"}},
		{"gpt2", "'sun", []string{"'s", "un"}},
		{"gpt2", "x=1+2", []string{"x", "=", "1", "+", "2"}},
		{"gpt2", "héllo wörld", []string{"héllo", " wörld"}},
		{"gpt2", "日本語 テスト", []string{"日本語", " テスト"}},
		{"gpt2", "  hi", []string{" ", " hi"}},
		{"gpt2", "1234567", []string{"1234567"}},
		{"gpt2", "a  \n b", []string{"a", "  \n", " b"}},
		{"default", "we'll", []string{"we", "'ll"}},
		{"llama3", "Hello world's 12345  !!", []string{"Hello", " world", "'s", " ", "123", "45", " ", " !!"}},
		{"llama3", "a\n\nb", []string{"a", "\n\n", "b"}},
		{"llama3", "I'M here", []string{"I", "'M", " here"}},
		{"llama3", "WE'LL", []string{"WE", "'LL"}},
		{"llama3", "\tfoo  ", []string{"\tfoo", "  "}},
		{"llama3", "...\n\nHi", []string{"...\n\n", "Hi"}},
		{"llama3", "1234567", []string{"123", "456", "7"}},
		{"llama3", "x=1+2", []string{"x", "=", "1", "+", "2"}},
		{"llama3", " \n  x", []string{" \n", " ", " x"}},
		{"llama3", "'hello", []string{"'hello"}},
		{"llama3", "٣٤٥٦", []string{"٣٤٥", "٦"}},
		{"llama3", "(hi) !?", []string{"(hi", ")", " !?"}},
		{"llama3", "a \r\n\tb", []string{"a", " \r\n", "\tb"}},
		{"llama3", "end.  ", []string{"end", ".", "  "}},
		{"llama-bpe", "x2y", []string{"x", "2", "y"}},
		{"qwen2", "Hello world's 12345  !!", []string{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " ", " !!"}},
		{"qwen2", "1234567", []string{"1", "2", "3", "4", "5", "6", "7"}},
		{"qwen2", "a\n\nb", []string{"a", "\n\n", "b"}},
		{"qwen2", "I'd", []string{"I", "'d"}},
	}
	for _, tt := range tests {
		t.Run(tt.pre+"/"+tt.in, func(t *testing.T) {
			kind, err := parsePre(tt.pre)
			if err != nil {
				t.Fatal(err)
			}
			got := pretokenizeAll(kind, tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pretokenize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPretokenizeCovers checks that pieces are non-empty and concatenate to
// the input, for random strings over an alphabet of every class.
func TestPretokenizeCovers(t *testing.T) {
	alphabet := []string{"a", "Z", "é", "日", "1", "٣", " ", "  ", "\n", "\r", "\t", "'", "'s", "'LL", ".", "!", "😀", "\u0301", "\u00a0", "\xff", "\xe2\x82"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []preKind{preGPT2, preLlama3, preQwen2} {
		for n := 0; n < 2000; n++ {
			var sb strings.Builder
			for k := rng.IntN(12); k >= 0; k-- {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			in := sb.String()
			pieces := pretokenizeAll(kind, in)
			for _, p := range pieces {
				if p == "" {
					t.Fatalf("%v: empty piece for %q", kind, in)
				}
			}
			if got := strings.Join(pieces, ""); got != in {
				t.Fatalf("%v: pieces %q do not concatenate to %q", kind, pieces, in)
			}
		}
	}
}

func TestParsePre(t *testing.T) {
	for _, name := range []string{"", "default", "gpt2", "gpt-2", "llama3", "llama-bpe", "qwen2"} {
		if _, err := parsePre(name); err != nil {
			t.Errorf("parsePre(%q): %v", name, err)
		}
	}
	if _, err := parsePre("klingon"); err == nil || !strings.Contains(err.Error(), "klingon") {
		t.Errorf("parsePre(klingon) error = %v", err)
	}
}

// TestPretokenizeReferenceCases compares the scanners with splits of random
// strings made by a backtracking regex engine running the original patterns
// (testdata/pretokenize_cases.json).
func TestPretokenizeReferenceCases(t *testing.T) {
	b, err := os.ReadFile("testdata/pretokenize_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Pre  string   `json:"pre"`
		In   string   `json:"in"`
		Want []string `json:"want"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		kind, err := parsePre(c.Pre)
		if err != nil {
			t.Fatal(err)
		}
		if got := pretokenizeAll(kind, c.In); !reflect.DeepEqual(got, c.Want) {
			t.Errorf("%s: pretokenize(%q) = %q, want %q", c.Pre, c.In, got, c.Want)
		}
	}
}
