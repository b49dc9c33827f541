package tokenizer

import "unicode/utf8"

// spmSpace is the SentencePiece meta symbol "▁" (U+2581) that stands for a
// space inside tokens.
const spmSpace = "\u2581"

// spmEncode encodes text (spaces already replaced by "▁") with SentencePiece
// BPE: start from single characters and repeatedly merge the adjacent pair
// whose concatenation is the vocabulary token with the highest score, the
// leftmost pair on ties. Characters left without a token fall back to their
// UTF-8 bytes as <0xAB> tokens.
func (t *Tokenizer) spmEncode(out []int32, text string) ([]int32, error) {
	if text == "" {
		return out, nil
	}
	syms := make([]symbol, 0, len(text))
	for i := 0; i < len(text); {
		_, w := utf8.DecodeRuneInString(text[i:])
		n := len(syms)
		syms = append(syms, symbol{start: i, end: i + w, prev: n - 1, next: n + 1})
		i += w
	}
	syms[len(syms)-1].next = -1
	cand := func(l, r int) (candidate, bool) {
		if l < 0 || r < 0 {
			return candidate{}, false
		}
		id, ok := t.vocab[text[syms[l].start:syms[r].end]]
		if !ok || !t.spmUsable(id) {
			return candidate{}, false
		}
		return candidate{prio: -float64(t.scores[id]), left: l, right: r, size: syms[r].end - syms[l].start}, true
	}
	mergeSymbols(syms, cand,
		func(c candidate, l, r *symbol) bool { return r.end-l.start == c.size },
		func(_ candidate, l, r *symbol) { l.end = r.end })
	for i := 0; i >= 0; i = syms[i].next {
		piece := text[syms[i].start:syms[i].end]
		if id, ok := t.vocab[piece]; ok && t.spmUsable(id) {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			id, err := t.byteID(piece[j])
			if err != nil {
				return out, err
			}
			out = append(out, id)
		}
	}
	return out, nil
}

// spmUsable reports whether plain text may be encoded as token id: normal and
// user-defined tokens may, control, unknown and byte tokens may not.
func (t *Tokenizer) spmUsable(id int32) bool {
	return t.isNormal(id) || t.types[id] == TypeUserDefined
}
