package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncodeDecode checks that byte-level BPE encoding is lossless for any
// input, valid UTF-8 or not, with and without special-token parsing, and
// that the SentencePiece tokenizer round-trips valid UTF-8 and never panics.
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range unicodeSamples {
		f.Add(s)
	}
	f.Add("\xff\xfe invalid \xc3(")
	f.Add("<|im_start|>user\n<think>hi<|im_end|><|im")
	f.Add(strings.Repeat("a", 5000))
	f.Add(strings.Repeat("ab ", 100) + strings.Repeat("\n", 50) + strings.Repeat("1", 40))
	toks := []*Tokenizer{trained(f, "gpt2"), trained(f, "llama3"), trained(f, "qwen2")}
	spm := mustNew(f, spmConfig(f))
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range toks {
			for _, parse := range []bool{false, true} {
				ids, err := tk.Encode(s, false, parse)
				if err != nil {
					t.Fatalf("Encode(%q): %v", s, err)
				}
				got, err := tk.Decode(ids)
				if err != nil {
					t.Fatal(err)
				}
				if got != s {
					t.Fatalf("pre %v parse=%v: Decode(Encode(%q)) = %q", tk.pre, parse, s, got)
				}
			}
		}
		ids, err := spm.Encode(s, true, false)
		if err != nil {
			t.Fatalf("spm Encode(%q): %v", s, err)
		}
		got, err := spm.Decode(ids[1:])
		if err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && !strings.Contains(s, spmSpace) && got != s {
			t.Fatalf("spm: Decode(Encode(%q)) = %q", s, got)
		}
	})
}
