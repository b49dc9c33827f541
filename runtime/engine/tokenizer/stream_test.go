package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCompletePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"a\xc3", 1},            // first byte of é
		{"a\xc3\xa9", 3},        // é
		{"\xf0\x9f", 0},         // half of 😀
		{"\xf0\x9f\x98", 0},     // three quarters of 😀
		{"\xf0\x9f\x98\x80", 4}, // 😀
		{"x\xe2\x82", 1},        // two thirds of €
		{"\xa9", 1},             // stray continuation byte: never valid
		{"\xc3\x41", 2},         // lead byte followed by ASCII: invalid
		{"\xff", 1},             // invalid lead byte
		{"ok\xe0\x41", 4},       // invalid second byte
		{"\x80\x80\x80\x80", 4}, // continuation bytes only
		{"€\xf0\x9f\x98", 3},    // complete € then incomplete 😀
		{"\xe2\x82\xac\xe2", 3}, // € then a new lead byte
		{"\xc3\xa9\xc3\xa9\xc3", 4},
	}
	for _, tt := range tests {
		if got := completePrefix([]byte(tt.in)); got != tt.want {
			t.Errorf("completePrefix(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestStreamDecoderSplitUTF8 feeds byte-fallback tokens of multi-byte
// characters one at a time.
func TestStreamDecoderSplitUTF8(t *testing.T) {
	tk := tinySPM(t, nil)
	text := "hé😀€"
	ids, err := tk.Encode(text, true, false)
	if err != nil {
		t.Fatal(err)
	}
	d := tk.NewStreamDecoder(SkipControl(), StripLeadingSpace())
	var outs []string
	for _, id := range ids {
		s, err := d.Write(id)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, s)
	}
	want := []string{"", "h", "", "é", "", "", "", "😀", "", "", "€"} // <s> ▁h <0xC3> <0xA9> ...
	if strings.Join(outs, "|") != strings.Join(want, "|") {
		t.Errorf("chunks = %q, want %q", outs, want)
	}
	if d.Pending() != 0 || d.Flush() != "" {
		t.Error("bytes left over")
	}

	// Without options the control token and the leading space are kept.
	d = tk.NewStreamDecoder()
	var sb strings.Builder
	for _, id := range ids {
		s, _ := d.Write(id)
		sb.WriteString(s)
	}
	if got := sb.String(); got != "<s> "+text {
		t.Errorf("plain stream = %q", got)
	}
}

func TestStreamDecoderFlush(t *testing.T) {
	tk := tinySPM(t, nil)
	d := tk.NewStreamDecoder()
	// <0xF0> <0x9F>: an unfinished emoji.
	for _, tok := range []string{"h", "<0xF0>", "<0x9F>"} {
		id, _ := tk.TokenID(tok)
		if _, err := d.Write(id); err != nil {
			t.Fatal(err)
		}
	}
	if d.Pending() != 2 {
		t.Errorf("Pending = %d, want 2", d.Pending())
	}
	if got := d.Flush(); got != "\xf0\x9f" {
		t.Errorf("Flush = %q", got)
	}
	if d.Pending() != 0 {
		t.Error("Flush did not reset")
	}
}

// TestStreamDecoderMatchesDecode streams a byte-level encoding of varied
// Unicode and checks every chunk is valid UTF-8 and the whole equals Decode.
func TestStreamDecoderMatchesDecode(t *testing.T) {
	tk := trained(t, "llama3")
	text := strings.Join(unicodeSamples, "\n")
	ids, err := tk.Encode(text, false, false)
	if err != nil {
		t.Fatal(err)
	}
	d := tk.NewStreamDecoder()
	var sb strings.Builder
	for _, id := range ids {
		s, err := d.Write(id)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("chunk %q is not valid UTF-8", s)
		}
		sb.WriteString(s)
	}
	sb.WriteString(d.Flush())
	if sb.String() != text {
		t.Errorf("streamed text differs from input")
	}
}
