package tokenizer

import (
	"reflect"
	"testing"
)

// tinySPM is a SentencePiece vocabulary small enough to follow by hand.
func tinySPM(t *testing.T, mutate func(*Config)) *Tokenizer {
	t.Helper()
	cfg := spmBytes()
	for _, p := range []struct {
		tok   string
		score float32
	}{
		{"▁", -10}, {"h", -10}, {"e", -10}, {"l", -10}, {"o", -10}, {"w", -10}, {"r", -10}, {"d", -10},
		{"▁h", -3}, {"he", -2}, {"ll", -1}, {"llo", -1.5}, {"▁he", -4}, {"hello", -0.5},
		{"▁w", -3}, {"or", -2}, {"ld", -4}, {"rl", -3.5}, {"rld", -3}, {"▁wo", -20},
	} {
		addToken(&cfg, p.tok, p.score, TypeNormal)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return mustNew(t, cfg)
}

func TestSPMKnownEncodings(t *testing.T) {
	tk := tinySPM(t, nil)
	tests := []struct {
		in   string
		want []string
	}{
		// ▁ h e l l o: ll (-1), llo (-1.5), he (-2), hello (-0.5); "▁h"
		// and "▁he" are stale by the time they are popped.
		{"hello", []string{"▁", "hello"}},
		// ▁ w o r l d: or (-2), then ▁w (-3) ("rl" is stale), then ld (-4).
		{"world", []string{"▁w", "or", "ld"}},
		{"hello world", []string{"▁", "hello", "▁w", "or", "ld"}},
		// é has no token: its UTF-8 bytes are used.
		{"hé", []string{"▁h", "<0xC3>", "<0xA9>"}},
		{"  h", []string{"▁", "▁", "▁h"}},
		{"", nil},
	}
	for _, tt := range tests {
		ids, err := tk.Encode(tt.in, false, false)
		if err != nil {
			t.Fatal(err)
		}
		got := textsOf(t, tk, ids)
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Encode(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if dec, _ := tk.Decode(ids); dec != tt.in {
			t.Errorf("Decode(Encode(%q)) = %q", tt.in, dec)
		}
	}
}

// TestSPMScoresDecide checks that raising one score changes the merge order.
func TestSPMScoresDecide(t *testing.T) {
	tk := tinySPM(t, func(c *Config) {
		for i, tok := range c.Tokens {
			switch tok {
			case "▁w":
				c.Scores[i] = -1.9 // now beats "or" (-2)
			case "▁wo":
				c.Scores[i] = -1.5
			}
		}
	})
	ids, _ := tk.Encode("world", false, false)
	// ▁w, then ▁wo (-1.5) beats or (-2); then rl (-3.5) beats ld (-4),
	// and rld (-3) follows.
	if got, want := textsOf(t, tk, ids), []string{"▁wo", "rld"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(world) = %q, want %q", got, want)
	}
}

func TestSPMSpacePrefix(t *testing.T) {
	tk := tinySPM(t, func(c *Config) { c.NoSpacePrefix = true })
	ids, _ := tk.Encode("hello", false, false)
	if got, want := textsOf(t, tk, ids), []string{"hello"}; !reflect.DeepEqual(got, want) {
		t.Errorf("without dummy prefix: Encode(hello) = %q, want %q", got, want)
	}
	if dec, _ := tk.Decode(ids); dec != "hello" {
		t.Errorf("Decode = %q", dec)
	}

	// With the prefix, text after a special token gets its own space, as
	// SentencePiece does for each piece of text.
	tk = tinySPM(t, nil)
	ids, _ = tk.Encode("hello</s>hello", true, true)
	if got, want := textsOf(t, tk, ids), []string{"<s>", "▁", "hello", "</s>", "▁", "hello"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(hello</s>hello) = %q, want %q", got, want)
	}
	if dec, _ := tk.Decode(ids); dec != "<s>hello</s> hello" {
		t.Errorf("Decode = %q", dec)
	}
}

func TestSPMUnknownWithoutByteTokens(t *testing.T) {
	tk := tinySPM(t, func(c *Config) {
		for i := range c.Types {
			if c.Types[i] == TypeByte {
				c.Types[i] = TypeUnused
				c.Tokens[i] = "unused" + c.Tokens[i]
			}
		}
	})
	ids, err := tk.Encode("hé", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := textsOf(t, tk, ids), []string{"▁h", "<unk>", "<unk>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(hé) = %q, want %q", got, want)
	}
}

// TestSPMInferredTypes checks a vocabulary without token types: byte
// tokens are recognized by their spelling and special ids become control.
func TestSPMInferredTypes(t *testing.T) {
	tk := tinySPM(t, func(c *Config) { c.Types = nil })
	if !tk.IsControl(1) || tk.TokenType(3) != TypeByte || tk.TokenType(0) != TypeUnknown {
		t.Errorf("inferred types: bos %d, <0x00> %d, unk %d", tk.TokenType(1), tk.TokenType(3), tk.TokenType(0))
	}
	ids, _ := tk.Encode("hé", false, false)
	if got, _ := tk.Decode(ids); got != "hé" {
		t.Errorf("round trip = %q", got)
	}
}

func TestDecodeUnknown(t *testing.T) {
	tk := tinySPM(t, nil)
	if got, _ := tk.Decode([]int32{0}); got != "\u2585" {
		t.Errorf("Decode(<unk>) = %q", got)
	}
}
