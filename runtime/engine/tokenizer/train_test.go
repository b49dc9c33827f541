package tokenizer

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestTrainBPEDeterministic(t *testing.T) {
	corpus := readCorpus(t)
	for _, pre := range []string{"gpt2", "llama3", "qwen2"} {
		tok1, mer1, err := TrainBPE(corpus, 600, pre)
		if err != nil {
			t.Fatal(err)
		}
		tok2, mer2, err := TrainBPE(corpus, 600, pre)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tok1, tok2) || !reflect.DeepEqual(mer1, mer2) {
			t.Errorf("%s: two trainings differ", pre)
		}
		if len(tok1) != 600 {
			t.Errorf("%s: %d tokens, want 600", pre, len(tok1))
		}
		if !slices.Equal(tok1[:256], ByteTokens()) {
			t.Errorf("%s: tokens do not start with the byte tokens", pre)
		}
		seen := map[string]bool{}
		for _, tok := range tok1 {
			if seen[tok] {
				t.Errorf("%s: duplicate token %q", pre, tok)
			}
			seen[tok] = true
		}
		for i, m := range mer1 {
			l, r, ok := strings.Cut(m, " ")
			if !ok || !seen[l] || !seen[r] || !seen[l+r] {
				t.Fatalf("%s: merge %d %q does not join two known tokens into a known token", pre, i, m)
			}
		}
	}
}

// TestTrainBPEKnown follows a tiny corpus by hand: "ab ab ab abc": pieces
// "ab", " ab" ×2, " abc". Pair counts: (a,b) 4, (Ġ,a) 3, (b,c) 1. Merge a+b;
// then (Ġ,ab) 3; then (ab,c) 1 and (Ġab,c) 1 occur once only: stop.
func TestTrainBPEKnown(t *testing.T) {
	tokens, merges, err := TrainBPE("ab ab ab abc", 1000, "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a b", "Ġ ab"}; !reflect.DeepEqual(merges, want) {
		t.Errorf("merges = %q, want %q", merges, want)
	}
	if want := []string{"ab", "Ġab"}; !reflect.DeepEqual(tokens[256:], want) {
		t.Errorf("new tokens = %q, want %q", tokens[256:], want)
	}
	// Ties are broken by token strings. Pieces "ba", " ba", " ab", " ab":
	// (b,a), (a,b) and (Ġ,a) each occur twice, (Ġ,b) once.
	_, merges, err = TrainBPE("ba ba ab ab", 257, "gpt2")
	if err != nil {
		t.Fatal(err)
	}
	// "a" sorts before "b" and "Ġ" (U+0120), so (a,b) is merged.
	if want := []string{"a b"}; !reflect.DeepEqual(merges, want) {
		t.Errorf("tie merges = %q, want %q", merges, want)
	}
}

func TestTrainBPERoundTrip(t *testing.T) {
	corpus := readCorpus(t)
	for _, pre := range []string{"gpt2", "llama3", "qwen2"} {
		tk := mustNew(t, trainedConfig(t, pre, 500))
		for _, s := range append([]string{corpus}, unicodeSamples...) {
			ids, err := tk.Encode(s, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := tk.Decode(ids); got != s {
				t.Errorf("%s: round trip of %q failed", pre, s[:min(len(s), 40)])
			}
		}
	}
}

func TestTrainBPEErrors(t *testing.T) {
	tests := []struct {
		corpus string
		size   int
		pre    string
		want   string
	}{
		{"abc", 255, "gpt2", "out of range"},
		{"abc", 1 << 21, "gpt2", "out of range"},
		{"", 300, "gpt2", "empty training corpus"},
		{"abc", 300, "nope", "unsupported pre-tokenizer"},
	}
	for _, tt := range tests {
		if _, _, err := TrainBPE(tt.corpus, tt.size, tt.pre); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("TrainBPE(%q, %d, %q) error = %v, want %q", tt.corpus, tt.size, tt.pre, err, tt.want)
		}
	}
	// A vocabulary of exactly the byte tokens needs no merges.
	tokens, merges, err := TrainBPE("abc", 256, "gpt2")
	if err != nil || len(tokens) != 256 || len(merges) != 0 {
		t.Errorf("TrainBPE(256) = %d tokens, %d merges, %v", len(tokens), len(merges), err)
	}
}
