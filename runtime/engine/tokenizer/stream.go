package tokenizer

import "unicode/utf8"

// StreamDecoder turns a stream of token ids into text while a UTF-8
// character may be split across tokens (byte-fallback tokens, byte-level
// merges). Bytes of an incomplete character are held until the character is
// complete; bytes that can never become valid UTF-8 are passed through.
// A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	t           *Tokenizer
	buf         []byte
	skipControl bool
	stripSpace  bool
}

// StreamOption configures a StreamDecoder.
type StreamOption func(*StreamDecoder)

// SkipControl makes the decoder drop the text of control tokens.
func SkipControl() StreamOption { return func(d *StreamDecoder) { d.skipControl = true } }

// StripLeadingSpace removes the leading space of the first non-control token,
// as Decode does for SentencePiece vocabularies with the dummy prefix. Use it
// when the stream starts at the beginning of a text rather than continuing a
// prompt.
func StripLeadingSpace() StreamOption { return func(d *StreamDecoder) { d.stripSpace = true } }

// NewStreamDecoder returns a decoder for ids of t.
func (t *Tokenizer) NewStreamDecoder(opts ...StreamOption) *StreamDecoder {
	d := &StreamDecoder{t: t}
	for _, o := range opts {
		o(d)
	}
	d.stripSpace = d.stripSpace && t.spacePrefix
	return d
}

// Write adds one token and returns the text that became complete, possibly
// empty.
func (d *StreamDecoder) Write(id int32) (string, error) {
	if err := d.t.checkID(id); err != nil {
		return "", err
	}
	ty := d.t.types[id]
	if ty == TypeControl && d.skipControl {
		return "", nil
	}
	p := d.t.pieces[id]
	if d.stripSpace && ty != TypeControl {
		d.stripSpace = false
		if len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
	}
	d.buf = append(d.buf, p...)
	n := completePrefix(d.buf)
	if n == 0 {
		return "", nil
	}
	s := string(d.buf[:n])
	d.buf = append(d.buf[:0], d.buf[n:]...)
	return s, nil
}

// Flush returns the held bytes of an unfinished character, as they are, and
// resets the decoder's buffer.
func (d *StreamDecoder) Flush() string {
	s := string(d.buf)
	d.buf = d.buf[:0]
	return s
}

// Pending reports how many bytes are held back.
func (d *StreamDecoder) Pending() int { return len(d.buf) }

// completePrefix returns the length of the longest prefix of b that does not
// end inside an incomplete UTF-8 sequence that more bytes could complete.
func completePrefix(b []byte) int {
	// A UTF-8 sequence is at most 4 bytes: only the last 3 can be pending.
	for k := 1; k <= 3 && k <= len(b); k++ {
		i := len(b) - k
		c := b[i]
		if c < 0x80 {
			return len(b) // ASCII: everything after it was examined already
		}
		if c >= 0xC0 { // lead byte of the last sequence
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}
